//! The pure renderer: a rule set → Warden's whole `inet warden` table, both as the libnftables JSON
//! batch that `apply` sends in **one** transaction and as the equivalent nft text (shown by
//! `GET /api/v1/firewall/ruleset`, diffed by the UI, checked with `nft -c -f`).
//!
//! The batch is `add table` + `delete table` + `add table` + sets + chains + rules: the standard
//! idiom to replace one table atomically (works whether or not it exists). No other table is ever
//! named and the ruleset is never flushed.
//!
//! Table layout (the evaluator in [`mod@crate::evaluate`] walks the same order):
//! - sets `banned_v4` (`ipv4_addr`) and `banned_v6` (`ipv6_addr` holding the network address of each
//!   banned /64), flags `timeout`: hash sets (constant-time lookup; interval sets are trees), created
//!   with the bans of [`ApplyContext::bans`] so an apply keeps them;
//! - chain `prerouting` (filter hook prerouting priority raw, i.e. before connection tracking, policy
//!   accept): `ip saddr @banned_v4 jump prerouting_banned` · `ip6 saddr & ffff:ffff:ffff:ffff::
//!   @banned_v6 jump prerouting_banned`; the regular chain `prerouting_banned`: `iif "lo" accept` ·
//!   anti-lockout accept · `drop`. The same verdicts as exemptions first and ban drops after, but a
//!   source that is not banned (nearly every packet) costs two rules and one hash lookup however many
//!   exemptions there are. A banned source never reaches conntrack; its established connections are
//!   cut too;
//! - chain `output_raw` (filter hook output priority raw, policy accept): `oif "lo" notrack`. Loopback
//!   traffic is always accepted below, so it is not connection-tracked at all (conntrack was most of
//!   the per-packet cost of the table on loopback). Consequence for other tables: NAT and `ct` matches
//!   never apply to loopback traffic while Warden's rule set is applied;
//! - chain `input` (filter hook input priority 0, policy = [`FirewallConfig::default_inbound_policy`]):
//!   `ct state vmap { established : accept, related : accept, invalid : jump input_invalid,
//!   untracked : jump input_untracked }` · `meta l4proto vmap { icmp : jump input_icmp, ipv6-icmp :
//!   jump input_icmpv6 }` · anti-lockout accept · user `in` rules in order · private-cloud guard
//!   (`th dport <service range> meta l4proto { tcp, udp } drop`). The regular chains:
//!   `input_untracked` accepts loopback (`iif "lo" accept`; loopback traffic is untracked, see
//!   `output_raw`), other untracked packets return to `input`; `input_invalid` accepts ICMPv6
//!   neighbour discovery and drops the rest; `input_icmp` / `input_icmpv6` accept neighbour discovery
//!   and the essential ICMP (echo-request, destination-unreachable, time-exceeded, parameter-problem,
//!   packet-too-big), other ICMP returns to `input` (user rules, policy). An established packet passes
//!   one rule, as in the smallest stateful firewall (`ct state established,related accept`); a new TCP
//!   or UDP packet, the one that walks on to the user rules, costs two lookups before them;
//! - chain `output` (filter hook output priority 0, policy accept): `oif "lo" accept` ·
//!   established/related accept · ICMPv6 neighbour discovery accept · user `out` rules in order.
//!   Only rendered when there is at least one (enabled) `out` rule: without one every outgoing
//!   packet would be accepted anyway, and a base chain costs a hook call on every packet sent.
//! - the `forward` hook is left alone (Warden does not route).
//!
//! Loopback comes first in `output`: there the first two rules both accept, so their order changes
//! no verdict, but loopback traffic (local services talking to each other, the busiest path on many
//! hosts) then costs one interface compare and nothing else. In `prerouting` it is an exemption of a
//! banned source like anti-lockout (loopback pays the two ban rules like any packet). In `input` the
//! connection state comes first (established traffic is the busiest path there) and loopback, being
//! untracked, is accepted through the `untracked` case of the same lookup.
//!
//! While no rule set is applied, [`render_bans_only`] gives the minimal table that still enforces
//! bans: the same two sets, the `prerouting` chain and `prerouting_banned` without anti-lockout (no
//! connection tracking at all).
//!
//! Neighbour discovery is accepted before invalid packets are dropped because conntrack classifies
//! NS/NA/RA as invalid (they cannot start a tracked "connection"); dropping them breaks IPv6.
//! Loopback is never dropped as invalid either: the TCP resets and ICMP errors that a `reject` in
//! `output` sends back to a local socket are not part of a confirmed connection, but like all
//! loopback traffic they are untracked (`output_raw`), so they meet `input_untracked`, not
//! `input_invalid` (the local program sees a refusal, not a timeout).
//!
//! Every user rule carries a `counter` and the comment `warden:<id> <annotation>` (at most 128 bytes,
//! `"` replaced by `'`), which is how [`crate::backend`] maps counters back to rule ids. A rule with
//! both IPv4 and IPv6 hosts becomes two nft rules with the same comment. Host and port lists become
//! anonymous sets. Reject is `reject with tcp reset` for TCP and `reject with icmpx port-unreachable`
//! otherwise; a reject rule of protocol `any` becomes a TCP-reset rule followed by the ICMP one (Linux
//! ignores an ICMP error that arrives while `connect()` still holds the socket, so ICMP alone can
//! look like a drop to a TCP client).
//!
//! The statement builders (each nft statement in both forms) and the fixed rules live in
//! `statements`, the chain type and the writing of the batch and text in `table`; this module lays
//! out the table and its chains.

use std::net::IpAddr;

use serde_json::{json, Value};

use crate::compile::{compile, CompiledRule, CompiledRuleset, RenderError};
use crate::model::{
    Action, ApplyContext, Direction, Family, FirewallConfig, Policy, PortRange, Protocol,
};
use crate::network::IpNetwork;
use crate::ruleset::RuleSet;

mod prerouting;
mod statements;
mod table;

use prerouting::prerouting_chains;
pub use prerouting::{ban_key, render_bans_only};

use statements::{
    action_piece, address_match, ct_state, family_name, guard_rule, icmp_types, interface,
    loopback_notrack, m, meta, piece, protocol_and_ports, rule, verdict_map, verdict_piece,
    MapVerdict, NftRule, Piece, ICMP_V4_TYPES, ICMP_V6_TYPES, ND_IN_TYPES, ND_OUT_TYPES,
};
use table::{assemble, Chain, RAW_PRIORITY};

/// nftables family of Warden's table.
pub const TABLE_FAMILY: &str = "inet";
/// Name of Warden's table.
pub const TABLE_NAME: &str = "warden";
/// Named set of banned IPv4 addresses.
pub const BAN_SET_V4: &str = "banned_v4";
/// Named set of banned IPv6 networks (/64), holding each network's address.
pub const BAN_SET_V6: &str = "banned_v6";
/// The mask applied to an IPv6 source before the `banned_v6` lookup (a /64).
pub const BAN_V6_MASK: &str = "ffff:ffff:ffff:ffff::";
/// Prefix of the comment of every user rule: `warden:<rule id>`.
pub const RULE_COMMENT_PREFIX: &str = "warden:";
/// Longest nft rule comment, in bytes (nft refuses longer ones in text form).
pub const MAX_COMMENT_BYTES: usize = 128;

/// The rendered table: JSON batch and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedRuleset {
    /// The libnftables JSON batch (`{"nftables": [...]}`) that replaces the table in one transaction.
    pub batch: Value,
    /// The table as nft text (`table inet warden { ... }`), with a `#` comment line listing the
    /// addresses each hostname resolved to. It includes the ban elements of the context; render
    /// with an empty [`ApplyContext::bans`] for a stable display/diff.
    pub text: String,
}

impl RenderedRuleset {
    /// The batch as a JSON string (what `nft -j -f -` reads).
    pub fn batch_json(&self) -> String {
        self.batch.to_string()
    }

    /// A text script for `nft -f` equivalent to the batch: replaces the table in one transaction.
    pub fn nft_script(&self) -> String {
        format!(
            "table {TABLE_FAMILY} {TABLE_NAME}\ndelete table {TABLE_FAMILY} {TABLE_NAME}\n{}",
            self.text
        )
    }
}

/// Renders the whole table. Fails if an enabled rule is invalid or a hostname is unresolved (the
/// error names the rule and host); disabled rules are skipped.
pub fn render_ruleset(
    rules: &RuleSet,
    config: &FirewallConfig,
    context: &ApplyContext,
) -> Result<RenderedRuleset, RenderError> {
    Ok(render_compiled(&compile(rules, config, context)?))
}

/// The comment of a user rule's nft rule(s).
pub fn rule_comment(id: &str, annotation: &str) -> String {
    let full = if annotation.is_empty() {
        format!("{RULE_COMMENT_PREFIX}{id}")
    } else {
        format!("{RULE_COMMENT_PREFIX}{id} {annotation}")
    };
    let mut comment: String = full
        .chars()
        .map(|c| if c == '"' || c.is_control() { '\'' } else { c })
        .collect();
    if comment.len() > MAX_COMMENT_BYTES {
        let mut cut = MAX_COMMENT_BYTES;
        while !comment.is_char_boundary(cut) {
            cut -= 1;
        }
        comment.truncate(cut);
    }
    comment
}

/// The rule id in a comment made by [`rule_comment`].
pub fn rule_id_from_comment(comment: &str) -> Option<&str> {
    let rest = comment.strip_prefix(RULE_COMMENT_PREFIX)?;
    let id = rest.split(' ').next().unwrap_or(rest);
    (!id.is_empty()).then_some(id)
}

fn user_rules(rule_def: &CompiledRule) -> Vec<NftRule> {
    let comment = rule_comment(&rule_def.id, &rule_def.annotation);
    let field = match rule_def.direction {
        Direction::In => "saddr",
        Direction::Out => "daddr",
    };
    let mut out = Vec::new();
    for (index, addresses) in rule_def.addresses.iter().enumerate() {
        let address_piece = match (addresses.family, &addresses.networks) {
            (Some(family), Some(nets)) => Some(address_match(family, field, nets)),
            (Some(family), None) => Some(piece(
                m(meta("nfproto"), "==", json!(family_name(family))),
                format!("meta nfproto {}", family_name(family)),
            )),
            (None, _) => None,
        };
        // A reject of any protocol answers TCP with a reset first: Linux ignores an ICMP error that
        // arrives while connect() still holds the socket, so ICMP alone can look like a drop.
        let protocols: &[Protocol] = match (rule_def.action, rule_def.protocol) {
            (Action::Reject, Protocol::Any) => &[Protocol::Tcp, Protocol::Any],
            (_, protocol) => &[protocol],
        };
        for (variant, protocol) in protocols.iter().enumerate() {
            let mut pieces: Vec<Piece> = address_piece.iter().cloned().collect();
            pieces.extend(protocol_and_ports(*protocol, rule_def.ports.as_deref()));
            pieces.push(piece(
                json!({"counter": {"packets": 0, "bytes": 0}}),
                "counter",
            ));
            pieces.push(action_piece(rule_def.action, *protocol));
            let mut nft_rule = rule(pieces, Some(&comment));
            if index == 0 && variant == 0 {
                nft_rule.notes = resolved_notes(rule_def);
            }
            out.push(nft_rule);
        }
    }
    if out.is_empty() {
        // Hosts left no address of the rule's IP version: it matches nothing; say so in the text.
        out.push(NftRule {
            pieces: Vec::new(),
            comment: None,
            notes: vec![format!(
                "rule {}: no host address of its IP version, matches nothing",
                rule_def.id
            )],
        });
    }
    out
}

fn resolved_notes(rule_def: &CompiledRule) -> Vec<String> {
    rule_def
        .resolved
        .iter()
        .map(|(name, addrs)| {
            let list: Vec<String> = addrs.iter().map(IpAddr::to_string).collect();
            format!(
                "rule {}: {} resolved to {}",
                rule_def.id,
                name,
                list.join(", ")
            )
        })
        .collect()
}

fn anti_lockout_rules(config: &FirewallConfig) -> Vec<NftRule> {
    let ports: Vec<PortRange> = config
        .anti_lockout_ports()
        .into_iter()
        .map(PortRange::single)
        .collect();
    let mut out = Vec::new();
    for family in [Family::Ipv4, Family::Ipv6] {
        let mut nets: Vec<IpNetwork> = config
            .anti_lockout
            .iter()
            .filter(|a| Family::of(a) == family)
            .map(|a| IpNetwork::host(*a))
            .collect();
        nets.sort();
        nets.dedup();
        if nets.is_empty() {
            continue;
        }
        let mut pieces = vec![address_match(family, "saddr", &nets)];
        pieces.extend(protocol_and_ports(Protocol::Tcp, Some(&ports)));
        pieces.push(verdict_piece("accept"));
        out.push(rule(pieces, Some("anti-lockout")));
    }
    out
}

/// The regular chains the `input` chain jumps to.
const INPUT_UNTRACKED: &str = "input_untracked";
const INPUT_INVALID: &str = "input_invalid";
const INPUT_ICMP: &str = "input_icmp";
const INPUT_ICMPV6: &str = "input_icmpv6";

/// The first rules of `input` and the regular chains they jump to. One `ct state` lookup decides
/// established, related, invalid and untracked packets: an established packet (most of a server's
/// traffic) passes this one rule and nothing else, like the floor's `ct state established,related
/// accept`. Loopback traffic is untracked (`output_raw`), so its accept sits behind `untracked`
/// (`input_untracked`: `iif "lo" accept`; other untracked packets return and go on). One `meta
/// l4proto` lookup sends ICMP to its chain. A new TCP or UDP packet (the one that walks to the user
/// rules) thus passes two rules here. Neighbour discovery is accepted whatever conntrack calls it
/// (untracked or invalid).
fn input_head() -> (Vec<NftRule>, Vec<Chain>) {
    let mut icmpv6 = ND_IN_TYPES.to_vec();
    icmpv6.extend_from_slice(ICMP_V6_TYPES);
    let head = vec![
        verdict_map(
            json!({"ct": {"key": "state"}}),
            "ct state",
            &[
                ("established", MapVerdict::Accept),
                ("related", MapVerdict::Accept),
                ("invalid", MapVerdict::Jump(INPUT_INVALID)),
                ("untracked", MapVerdict::Jump(INPUT_UNTRACKED)),
            ],
        ),
        verdict_map(
            meta("l4proto"),
            "meta l4proto",
            &[
                ("icmp", MapVerdict::Jump(INPUT_ICMP)),
                ("ipv6-icmp", MapVerdict::Jump(INPUT_ICMPV6)),
            ],
        ),
    ];
    let chains = vec![
        Chain::regular(INPUT_UNTRACKED, vec![interface("iif", "lo")]),
        Chain::regular(
            INPUT_INVALID,
            vec![
                icmp_types(Family::Ipv6, ND_IN_TYPES),
                rule(vec![verdict_piece("drop")], None),
            ],
        ),
        Chain::regular(INPUT_ICMP, vec![icmp_types(Family::Ipv4, ICMP_V4_TYPES)]),
        Chain::regular(INPUT_ICMPV6, vec![icmp_types(Family::Ipv6, &icmpv6)]),
    ];
    (head, chains)
}

/// Renders a compiled rule set.
pub fn render_compiled(ruleset: &CompiledRuleset) -> RenderedRuleset {
    let config = &ruleset.config;
    let (mut input, input_chains) = input_head();
    input.extend(anti_lockout_rules(config));
    let mut output = vec![
        interface("oif", "lo"),
        ct_state(&["established", "related"], "accept"),
        icmp_types(Family::Ipv6, ND_OUT_TYPES),
    ];
    for user_rule in &ruleset.rules {
        let target = match user_rule.direction {
            Direction::In => &mut input,
            Direction::Out => &mut output,
        };
        target.extend(user_rules(user_rule));
    }
    input.push(guard_rule(config.service_ports));
    let has_output_rules = ruleset.rules.iter().any(|r| r.direction == Direction::Out);
    let mut chains = Vec::from(prerouting_chains(Some(config)));
    chains.push(Chain {
        name: "output_raw",
        hook: Some("output"),
        priority: RAW_PRIORITY,
        policy: "accept",
        rules: vec![loopback_notrack()],
    });
    // Declared before `input`, whose rules jump to them.
    chains.extend(input_chains);
    chains.extend([Chain {
        name: "input",
        hook: Some("input"),
        priority: 0,
        policy: match config.default_inbound_policy {
            Policy::Accept => "accept",
            Policy::Drop => "drop",
        },
        rules: input,
    }]);
    if has_output_rules {
        chains.push(Chain {
            name: "output",
            hook: Some("output"),
            priority: 0,
            policy: "accept",
            rules: output,
        });
    }
    assemble(&ruleset.bans, &chains)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_carry_the_id_and_fit_nft() {
        assert_eq!(rule_comment("r1", ""), "warden:r1");
        assert_eq!(rule_comment("r1", "say \"hi\""), "warden:r1 say 'hi'");
        let long = rule_comment("r1", &"é".repeat(200));
        assert!(long.len() <= MAX_COMMENT_BYTES);
        assert_eq!(rule_id_from_comment(&long), Some("r1"));
        assert_eq!(rule_id_from_comment("warden:abc def"), Some("abc"));
        assert_eq!(rule_id_from_comment("anti-lockout"), None);
        assert_eq!(rule_id_from_comment("warden:"), None);
    }

    #[test]
    fn script_replaces_the_table() {
        let rendered = render_ruleset(
            &RuleSet::default(),
            &FirewallConfig::default(),
            &ApplyContext::default(),
        )
        .unwrap();
        assert!(rendered
            .nft_script()
            .starts_with("table inet warden\ndelete table inet warden\ntable inet warden {"));
        assert!(rendered
            .text
            .contains("th dport 8300-8499 meta l4proto { tcp, udp } counter drop"));
    }
}
