//! A lab of namespaces: one server namespace joined to client namespaces, each by its own veth pair,
//! addressed from the documentation ranges the suites choose (TEST-NET-1/2/3, 2001:db8::/32; nothing is
//! routed out). Every namespace answers every probe (no ICMP rate limit) and knows its peers' MACs
//! (static neighbours), so a silent probe means a drop and not a slow neighbour discovery.

use crate::netns::{veth, Netns};

/// One veth link of a [`Lab`]: the client namespace it leads to, and each end's interface and
/// addresses (bare addresses; IPv4 are /24, IPv6 /64).
#[derive(Debug, Clone, Copy)]
pub struct LinkPlan<'a> {
    /// The tag in the client namespace's name.
    pub client_tag: &'a str,
    /// The interface on the server's side.
    pub server_if: &'a str,
    /// The interface on the client's side.
    pub client_if: &'a str,
    pub server_addrs: &'a [&'a str],
    pub client_addrs: &'a [&'a str],
}

/// A server namespace and its client namespaces (in the order of the [`LinkPlan`]s); all deleted on
/// drop.
#[derive(Debug)]
pub struct Lab {
    pub server: Netns,
    pub clients: Vec<Netns>,
}

impl Lab {
    /// Builds the server namespace (`server_tag`) and one client namespace per link.
    pub fn new(server_tag: &str, links: &[LinkPlan<'_>]) -> Lab {
        let mut server = Netns::new(server_tag);
        server.answer_every_probe();
        let mut clients = Vec::with_capacity(links.len());
        for link in links {
            let mut client = Netns::new(link.client_tag);
            client.answer_every_probe();
            veth(&server, link.server_if, &client, link.client_if);
            for addr in link.server_addrs {
                server.add_address(link.server_if, addr);
            }
            for addr in link.client_addrs {
                client.add_address(link.client_if, addr);
            }
            server.link_up(link.server_if);
            client.link_up(link.client_if);
            let (server_mac, client_mac) = (server.mac(link.server_if), client.mac(link.client_if));
            for addr in link.client_addrs {
                server.pin_neighbour(link.server_if, addr, &client_mac);
            }
            for addr in link.server_addrs {
                client.pin_neighbour(link.client_if, addr, &server_mac);
            }
            clients.push(client);
        }
        Lab { server, clients }
    }

    /// Takes the lab apart into the server and exactly `N` clients (panics on another count).
    pub fn into_parts<const N: usize>(self) -> (Netns, [Netns; N]) {
        let count = self.clients.len();
        let clients: [Netns; N] = self
            .clients
            .try_into()
            .unwrap_or_else(|_| panic!("the lab has {count} clients, not {N}"));
        (self.server, clients)
    }
}
