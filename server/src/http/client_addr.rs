//! Who the client is: the one place that decides a request's client address. It is the TCP peer,
//! unless the peer is one of the `trusted_proxies` (CIDRs in the settings): then the rightmost address
//! of `X-Forwarded-For` that is not itself a trusted proxy ([`client_address`]). A header from any
//! other peer is ignored, so nobody can choose the address they are counted under.
//!
//! [`client_address_layer`] runs first on every request and puts the decision where every handler
//! already reads the client address: axum's `ConnectInfo<SocketAddr>` (port kept; IPv4-mapped IPv6
//! turned back into IPv4). Login throttling, bans, the audit log and active-admin tracking therefore
//! all see the same address. The TCP peer itself stays available as [`PeerAddr`].

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;

use crate::state::AppState;

/// The TCP peer of a request (before `X-Forwarded-For` is taken into account).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// Parses the `trusted_proxies` setting (validated on save; an entry that does not parse is skipped).
/// A bare address is a one-address network.
pub fn parse_trusted(entries: &[String]) -> Vec<IpNet> {
    entries
        .iter()
        .filter_map(|e| {
            let e = e.trim();
            e.parse::<IpNet>()
                .ok()
                .or_else(|| e.parse::<IpAddr>().ok().map(IpNet::from))
        })
        .collect()
}

fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    let ip = ip.to_canonical();
    trusted.iter().any(|net| net.contains(&ip))
}

/// One `X-Forwarded-For` element: an address, optionally with a port (`[v6]:port`, `v4:port`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(|ip| ip.to_canonical())
}

/// The client address of a request from `peer` carrying the `X-Forwarded-For` values `forwarded` (in
/// header order). Walks the hops from the right, skipping trusted proxies; the first untrusted hop is
/// the client. A hop that is not an address ends the walk: the last trusted hop before it is taken.
pub fn client_address<'a>(
    peer: IpAddr,
    forwarded: impl IntoIterator<Item = &'a str>,
    trusted: &[IpNet],
) -> IpAddr {
    let peer = peer.to_canonical();
    if !is_trusted(peer, trusted) {
        return peer;
    }
    let hops: Vec<&str> = forwarded
        .into_iter()
        .flat_map(|v| v.split(','))
        .filter(|h| !h.trim().is_empty())
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        match parse_hop(hop) {
            Some(ip) if is_trusted(ip, trusted) => client = ip,
            Some(ip) => return ip,
            None => return client,
        }
    }
    client
}

/// The `X-Forwarded-For` values of a request, in order (values that are not text are skipped).
fn forwarded_for(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
}

/// Decides the client address of every request (see the module documentation).
pub async fn client_address_layer(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| *peer);
    if let Some(peer) = peer {
        let trusted = parse_trusted(&state.settings.current().trusted_proxies);
        let client = client_address(peer.ip(), forwarded_for(req.headers()), &trusted);
        req.extensions_mut().insert(PeerAddr(peer));
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::new(client, peer.port())));
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(s: &[&str]) -> Vec<IpNet> {
        parse_trusted(&s.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client_address(ip("192.0.2.1"), ["203.0.113.9"], &trusted),
            ip("192.0.2.1")
        );
        assert_eq!(
            client_address(ip("192.0.2.1"), ["203.0.113.9"], &[]),
            ip("192.0.2.1")
        );
    }

    #[test]
    fn a_trusted_peer_forwards_the_rightmost_untrusted_hop() {
        let trusted = nets(&["10.0.0.0/8", "2001:db8::/32", "127.0.0.1"]);
        // The client may put anything on the left; only what the proxies appended counts.
        assert_eq!(
            client_address(
                ip("10.0.0.2"),
                ["198.51.100.66, 203.0.113.9", "10.0.0.1"],
                &trusted
            ),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_address(ip("127.0.0.1"), ["203.0.113.9:4711"], &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_address(ip("::1"), ["203.0.113.9"], &nets(&["::1/128"])),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_address(
                ip("2001:db8::1"),
                ["[2001:db8:1::5]:80, ::ffff:192.0.2.4"],
                &trusted
            ),
            ip("192.0.2.4")
        );
    }

    #[test]
    fn missing_or_broken_headers_fall_back_to_the_last_trusted_hop() {
        let trusted = nets(&["10.0.0.0/8"]);
        let none: [&str; 0] = [];
        assert_eq!(
            client_address(ip("10.0.0.2"), none, &trusted),
            ip("10.0.0.2")
        );
        assert_eq!(
            client_address(ip("10.0.0.2"), ["", " "], &trusted),
            ip("10.0.0.2")
        );
        assert_eq!(
            client_address(ip("10.0.0.2"), ["203.0.113.9, garbage, 10.0.0.7"], &trusted),
            ip("10.0.0.7")
        );
        // Every hop trusted: the leftmost one is as far as anyone can tell.
        assert_eq!(
            client_address(ip("10.0.0.2"), ["10.1.1.1, 10.0.0.7"], &trusted),
            ip("10.1.1.1")
        );
    }

    #[test]
    fn ipv4_mapped_peers_are_matched_as_ipv4() {
        let trusted = nets(&["127.0.0.0/8"]);
        assert_eq!(
            client_address(ip("::ffff:127.0.0.1"), ["203.0.113.9"], &trusted),
            ip("203.0.113.9")
        );
        let none: [&str; 0] = [];
        assert_eq!(
            client_address(ip("::ffff:192.0.2.1"), none, &[]),
            ip("192.0.2.1")
        );
    }
}
