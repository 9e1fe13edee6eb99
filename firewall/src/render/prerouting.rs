//! The `prerouting` chains, before connection tracking: the ban lookups first (`ip saddr
//! @banned_v4`, `ip6 saddr & ffff:ffff:ffff:ffff:: @banned_v6`), each jumping to
//! `prerouting_banned` on a hit, which accepts the exemptions (loopback, anti-lockout) and drops the
//! rest. Also the bans-only table ([`render_bans_only`]) and the key of a ban in its set.

use std::net::IpAddr;

use serde_json::json;

use super::statements::{
    family_header, interface, m, payload, piece, rule, verdict_piece, NftRule,
};
use super::table::{assemble, Chain, RAW_PRIORITY};
use super::{anti_lockout_rules, RenderedRuleset, BAN_SET_V4, BAN_SET_V6, BAN_V6_MASK};
use crate::model::{Ban, Family, FirewallConfig};
use crate::network::IpNetwork;

/// `ip saddr @<set> jump prerouting_banned` (IPv6: the source masked to its /64 first).
fn ban_rule(family: Family, set: &str) -> NftRule {
    let header = family_header(family);
    let (left, text) = match family {
        Family::Ipv4 => (payload(header, "saddr"), format!("{header} saddr")),
        Family::Ipv6 => (
            json!({"&": [payload(header, "saddr"), BAN_V6_MASK]}),
            format!("{header} saddr & {BAN_V6_MASK}"),
        ),
    };
    rule(
        vec![
            piece(
                m(left, "==", json!(format!("@{set}"))),
                format!("{text} @{set}"),
            ),
            piece(
                json!({"jump": {"target": PREROUTING_BANNED}}),
                format!("jump {PREROUTING_BANNED}"),
            ),
        ],
        None,
    )
}

/// The regular chain a banned source jumps to from `prerouting`.
const PREROUTING_BANNED: &str = "prerouting_banned";

/// The `prerouting` chain and the regular chain it jumps to. The ban lookups come first: a source
/// that is not banned (nearly every packet) passes two rules (one lookup, one family compare) and
/// nothing else, whatever the anti-lockout list. Only a banned source meets the exemptions in
/// `prerouting_banned`: loopback and anti-lockout accept (never banned), the rest is dropped. The
/// verdicts are those of exemptions first and ban drops after.
pub(super) fn prerouting_chains(config: Option<&FirewallConfig>) -> [Chain; 2] {
    let mut exemptions = vec![interface("iif", "lo")];
    if let Some(config) = config {
        exemptions.extend(anti_lockout_rules(config));
    }
    exemptions.push(rule(vec![verdict_piece("drop")], Some("banned")));
    [
        // Declared before `prerouting`, whose rules jump to it.
        Chain::regular(PREROUTING_BANNED, exemptions),
        Chain {
            name: "prerouting",
            hook: Some("prerouting"),
            priority: RAW_PRIORITY,
            policy: "accept",
            rules: vec![
                ban_rule(Family::Ipv4, BAN_SET_V4),
                ban_rule(Family::Ipv6, BAN_SET_V6),
            ],
        },
    ]
}

/// The minimal table Warden keeps while no rule set is applied but addresses are banned: the two
/// ban sets (with `bans`) and the `prerouting` chains, which only drop banned sources (loopback
/// exempt). Failed logins are banned at the kernel even before the first apply; everything
/// else passes.
pub fn render_bans_only(bans: &[Ban]) -> RenderedRuleset {
    assemble(bans, &prerouting_chains(None))
}

/// The element of a ban in its hash set: the address (IPv4) or the /64's network address (IPv6).
pub fn ban_key(network: &IpNetwork) -> IpAddr {
    match network.addr() {
        IpAddr::V4(addr) => IpAddr::V4(addr),
        IpAddr::V6(addr) => {
            let masked = u128::from(addr) & (u128::MAX << 64);
            IpAddr::V6(std::net::Ipv6Addr::from(masked))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bans_only_table_drops_banned_sources_and_nothing_else() {
        let ban = Ban {
            network: "192.0.2.9".parse().unwrap(),
            expires_in_secs: Some(30),
        };
        let rendered = render_bans_only(&[ban]);
        assert!(rendered
            .text
            .contains("ip saddr @banned_v4 jump prerouting_banned"));
        assert!(rendered
            .text
            .contains("ip6 saddr & ffff:ffff:ffff:ffff:: @banned_v6 jump prerouting_banned"));
        let banned = &rendered.text[rendered
            .text
            .find("chain prerouting_banned {")
            .expect("the chain of banned sources")..];
        let exemptions: Vec<&str> = banned.lines().skip(1).take(2).map(str::trim).collect();
        assert_eq!(exemptions, ["iif \"lo\" accept", "drop comment \"banned\""]);
        assert!(rendered.text.contains("hook prerouting priority raw;"));
        assert!(!rendered.text.contains("chain input"));
        assert!(rendered
            .text
            .contains("elements = { 192.0.2.9 timeout 30s }"));
        assert!(rendered.text.contains("policy accept;"));
        assert!(
            !rendered.text.contains("8300"),
            "no guard: {}",
            rendered.text
        );
        assert!(!rendered.text.contains("chain output"));
    }
}
