//! A veth link from the host into a test namespace, so programs on the host (headless Chromium) reach
//! a Warden running inside it ([`warden_behind_link`]).

use std::process::{Command, Stdio};

use warden_testkit::Netns;
use warden_tests::{Launch, Warden};

use super::ADMIN_PORT;

/// Warden started inside a namespace, listening on all its addresses, and the host's way to it.
pub struct LinkedWarden {
    /// Declared first: stopped before the link goes.
    pub warden: Warden,
    pub link: HostLink,
    /// `http://<namespace side>:<ADMIN_PORT>`.
    pub base: String,
}

/// Links `ns` to the host and starts Warden in it (the firewall managed there).
pub fn warden_behind_link(ns: &Netns) -> LinkedWarden {
    let link = HostLink::new(ns);
    let warden = Launch::new()
        .in_netns(&ns.name)
        .listen(format!("0.0.0.0:{ADMIN_PORT}"))
        .start();
    let base = format!("http://{}:{ADMIN_PORT}", link.ns_addr);
    LinkedWarden { warden, link, base }
}

/// A veth pair between the host and a namespace, with a /30 of 203.0.113.0/24 chosen by pid (so
/// parallel runs do not collide); removed on drop (deleting the host end deletes the pair).
pub struct HostLink {
    host_if: String,
    /// The namespace side's address (where Warden listens).
    pub ns_addr: String,
}

impl HostLink {
    pub fn new(ns: &Netns) -> HostLink {
        let pid = std::process::id();
        let block = (pid % 60) * 4 + 4;
        let (host_addr, ns_addr) = (
            format!("203.0.113.{}", block + 1),
            format!("203.0.113.{}", block + 2),
        );
        let host_if = format!("wbf{}", pid % 1_000_000);
        let run = |args: &[&str]| {
            let status = Command::new(args[0])
                .args(&args[1..])
                .stdout(Stdio::null())
                .status()
                .unwrap();
            assert!(status.success(), "{args:?} failed");
        };
        run(&[
            "ip", "link", "add", &host_if, "type", "veth", "peer", "name", "eth0", "netns",
            &ns.name,
        ]);
        let link = HostLink {
            host_if: host_if.clone(),
            ns_addr: ns_addr.clone(),
        };
        run(&[
            "ip",
            "addr",
            "add",
            &format!("{host_addr}/30"),
            "dev",
            &host_if,
        ]);
        // IPv4 only: without this the host end gets an IPv6 link-local address whose duplicate-address
        // detection finishes a second or two later, and Chromium, seeing the host's addresses change,
        // aborts its requests in flight (net::ERR_NETWORK_CHANGED) — a WASM chunk of the page being
        // loaded then never arrives and the page never hydrates (seen once in a full run).
        std::fs::write(
            format!("/proc/sys/net/ipv6/conf/{host_if}/disable_ipv6"),
            "1",
        )
        .expect("disable IPv6 on the host end of the link");
        run(&["ip", "link", "set", &host_if, "up"]);
        ns.exec(&["ip", "addr", "add", &format!("{ns_addr}/30"), "dev", "eth0"]);
        ns.exec(&["ip", "link", "set", "eth0", "up"]);
        link
    }
}

impl Drop for HostLink {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .stderr(Stdio::null())
            .status();
    }
}
