//! The firewall integration tests' part of the namespace lab: the root gate, the [`Pair`] topology
//! (a server and a client namespace over one veth pair, with the addresses below: TEST-NET-1 and
//! 2001:db8:1::/64) and the nft backend of a namespace ([`NsBackend`]). The namespaces, listeners and
//! probes themselves are `warden_testkit`'s. Also [`rule`], the rule builder every test file uses.
#![allow(dead_code)]

#[cfg(feature = "nft")]
use warden_firewall::backend::NftBackend;
use warden_firewall::{Action, Direction, IpVersion, Protocol, Rule};
use warden_testkit::{Lab, LinkPlan, Netns};

/// Whether root-only tests can run here (root with `nft`, `ip` and `python3`); see
/// [`warden_testkit::gate`] for what happens when they cannot.
pub fn require_root_netns() -> bool {
    warden_testkit::gate(
        "root with nft, ip and python3",
        warden_testkit::netns::requirements(),
    )
}

/// Server address (IPv4) in the server namespace.
pub const SERVER_V4: &str = "192.0.2.1";
/// Server address (IPv6).
pub const SERVER_V6: &str = "2001:db8:1::1";
/// Client addresses (IPv4): the first is the default source.
pub const CLIENT_V4: [&str; 2] = ["192.0.2.2", "192.0.2.3"];
/// Client addresses (IPv6): the first is the default source.
pub const CLIENT_V6: [&str; 2] = ["2001:db8:1::2", "2001:db8:1::3"];

/// A server namespace and a client namespace joined by a veth pair (`veth0` on both sides).
pub struct Pair {
    pub server: Netns,
    pub client: Netns,
}

impl Pair {
    pub fn new() -> Pair {
        let link = LinkPlan {
            client_tag: "c",
            server_if: "veth0",
            client_if: "veth0",
            server_addrs: &[SERVER_V4, SERVER_V6],
            client_addrs: &[CLIENT_V4[0], CLIENT_V4[1], CLIENT_V6[0], CLIENT_V6[1]],
        };
        let (server, [client]) = Lab::new("s", &[link]).into_parts();
        Pair { server, client }
    }
}

/// The nft backend that drives a namespace's nftables.
#[cfg(feature = "nft")]
pub trait NsBackend {
    fn backend(&self) -> NftBackend;
}

#[cfg(feature = "nft")]
impl NsBackend for Netns {
    fn backend(&self) -> NftBackend {
        NftBackend::with_command(self.nft_command())
    }
}

/// An enabled inbound rule `id` accepting any protocol from anywhere, changed by `f`.
pub fn rule(id: &str, f: impl FnOnce(&mut Rule)) -> Rule {
    let mut r = Rule {
        id: id.to_string(),
        position: 0,
        enabled: true,
        protocol: Protocol::Any,
        action: Action::Accept,
        direction: Direction::In,
        hosts: vec![],
        ports: vec![],
        ip_version: IpVersion::Any,
        annotation: String::new(),
    };
    f(&mut r);
    r
}
