//! The pure evaluator: what the kernel will do with one TCP/UDP packet under a rule set, and which
//! part of the ruleset decides. It walks the same chain order as the renderer ([`crate::render`]):
//!
//! Inbound, `prerouting` (before conntrack, so for every packet, established or not): loopback →
//! accept · anti-lockout (TCP to 22/admin port from an anti-lockout address) → accept · banned source
//! → drop. (The kernel looks the source up in the ban sets first and checks the two exemptions only
//! for a banned one: the same verdicts, fewer rules per packet.) Then `input`: established/related →
//! accept · loopback (untracked) → accept · (essential ICMP, not modelled: packets here are TCP/UDP)
//! · anti-lockout → accept · user `in` rules, top first · private-cloud guard (TCP/UDP to the
//! service range) → drop · chain policy. Loopback traffic is
//! never connection-tracked under Warden's table, so a loopback packet is decided by
//! [`DecidedBy::Loopback`] whatever its `new_connection`.
//!
//! `output` (rendered only when there are `out` rules; without it everything goes out):
//! loopback → accept · established/related → accept · user `out` rules · accept. An
//! outbound packet to a banned address that `output` accepts gets `Drop` decided by [`DecidedBy::Ban`]:
//! the replies are dropped in `prerouting` (bans come before connection tracking), so nothing can be
//! exchanged with a banned address in either direction.
//!
//! [`exposure`] answers "is this port reachable from outside, and which rule decides?".

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use crate::compile::{compile_lenient, CompiledRule, CompiledRuleset};
use crate::model::{Action, ApplyContext, Direction, Family, FirewallConfig, Policy};
use crate::network::IpNetwork;
use crate::ruleset::RuleSet;

/// Transport protocol of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum PacketProtocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

/// One packet as the evaluator sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Packet {
    /// `In`: arriving for a local socket (input chain); `Out`: sent by a local socket (output chain).
    pub direction: Direction,
    /// Source address.
    pub src: IpAddr,
    /// Destination address (same family as `src`).
    pub dst: IpAddr,
    /// Protocol.
    pub protocol: PacketProtocol,
    /// Destination port.
    pub dst_port: u16,
    /// `true` for the first packet of a connection (conntrack state new); `false` for packets of an
    /// established or related connection.
    pub new_connection: bool,
    /// Arrived on (`In`) or leaves through (`Out`) the loopback interface.
    pub loopback: bool,
}

impl Packet {
    /// A new inbound connection attempt from `src` to `dst:port` on a non-loopback interface.
    pub fn inbound(src: IpAddr, dst: IpAddr, protocol: PacketProtocol, dst_port: u16) -> Packet {
        Packet {
            direction: Direction::In,
            src,
            dst,
            protocol,
            dst_port,
            new_connection: true,
            loopback: false,
        }
    }

    /// A new outbound connection attempt from `src` to `dst:port` on a non-loopback interface.
    pub fn outbound(src: IpAddr, dst: IpAddr, protocol: PacketProtocol, dst_port: u16) -> Packet {
        Packet {
            direction: Direction::Out,
            ..Packet::inbound(src, dst, protocol, dst_port)
        }
    }

    /// The far end: the source of an inbound packet, the destination of an outbound one.
    pub fn remote(&self) -> IpAddr {
        match self.direction {
            Direction::In => self.src,
            Direction::Out => self.dst,
        }
    }
}

/// What decided a verdict.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case", tag = "kind", content = "rule_id")]
pub enum DecidedBy {
    /// Part of an established or related connection.
    Established,
    /// Loopback traffic.
    Loopback,
    /// Anti-lockout (admin port / SSH from an anti-lockout address).
    AntiLockout,
    /// The source is banned.
    Ban,
    /// A user rule (its id).
    Rule(String),
    /// The private-cloud guard of the service port range.
    ServiceRangeGuard,
    /// The chain policy.
    DefaultPolicy,
}

/// The evaluator's answer for one packet.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Verdict {
    /// What happens to the packet.
    pub action: Action,
    /// Which part of the ruleset decided.
    pub decided_by: DecidedBy,
}

impl Verdict {
    fn new(action: Action, decided_by: DecidedBy) -> Verdict {
        Verdict { action, decided_by }
    }
}

/// Evaluates `packet` under `rules`/`config`/`context` (bans and resolved hostnames). Invalid rules
/// are inert and unresolved hostnames match nothing while the rule's other hosts still count
/// (rendering would refuse both).
///
/// For many packets against one rule set, compile once with [`crate::compile::compile_lenient`]
/// and call [`evaluate_compiled`].
pub fn evaluate(
    rules: &RuleSet,
    config: &FirewallConfig,
    context: &ApplyContext,
    packet: &Packet,
) -> Verdict {
    evaluate_compiled(&compile_lenient(rules, config, context), packet)
}

/// Evaluates `packet` against a compiled rule set.
pub fn evaluate_compiled(ruleset: &CompiledRuleset, packet: &Packet) -> Verdict {
    let verdict = evaluate_chains(ruleset, packet);
    if packet.direction == Direction::Out
        && verdict.action == Action::Accept
        && !packet.loopback
        && ruleset.bans.iter().any(|b| b.network.contains(&packet.dst))
    {
        return Verdict::new(Action::Drop, DecidedBy::Ban);
    }
    verdict
}

/// The verdict of the chains a packet traverses on its way in or out.
fn evaluate_chains(ruleset: &CompiledRuleset, packet: &Packet) -> Verdict {
    let config = &ruleset.config;
    if packet.direction == Direction::In {
        // The `prerouting` chain, before connection tracking.
        if packet.loopback {
            return Verdict::new(Action::Accept, DecidedBy::Loopback);
        }
        if packet.protocol == PacketProtocol::Tcp
            && config.anti_lockout.contains(&packet.src)
            && config.anti_lockout_ports().contains(&packet.dst_port)
        {
            return Verdict::new(Action::Accept, DecidedBy::AntiLockout);
        }
        if ruleset.bans.iter().any(|b| b.network.contains(&packet.src)) {
            return Verdict::new(Action::Drop, DecidedBy::Ban);
        }
    }
    if packet.loopback {
        return Verdict::new(Action::Accept, DecidedBy::Loopback);
    }
    if !packet.new_connection {
        return Verdict::new(Action::Accept, DecidedBy::Established);
    }
    let remote = packet.remote();
    if let Some(rule) = ruleset
        .rules
        .iter()
        .find(|r| r.direction == packet.direction && rule_matches(r, packet, &remote))
    {
        return Verdict::new(rule.action, DecidedBy::Rule(rule.id.clone()));
    }
    match packet.direction {
        Direction::In => {
            if config.service_ports.contains(packet.dst_port) {
                return Verdict::new(Action::Drop, DecidedBy::ServiceRangeGuard);
            }
            let action = match config.default_inbound_policy {
                Policy::Accept => Action::Accept,
                Policy::Drop => Action::Drop,
            };
            Verdict::new(action, DecidedBy::DefaultPolicy)
        }
        Direction::Out => Verdict::new(Action::Accept, DecidedBy::DefaultPolicy),
    }
}

fn rule_matches(rule: &CompiledRule, packet: &Packet, remote: &IpAddr) -> bool {
    let protocol_ok = match rule.protocol {
        crate::model::Protocol::Any => true,
        crate::model::Protocol::Tcp => packet.protocol == PacketProtocol::Tcp,
        crate::model::Protocol::Udp => packet.protocol == PacketProtocol::Udp,
    };
    let port_ok = match &rule.ports {
        None => true,
        Some(ranges) => ranges.iter().any(|r| r.contains(packet.dst_port)),
    };
    protocol_ok && port_ok && rule.addresses.iter().any(|a| a.matches(remote))
}

/// Whether a local port is reachable from outside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exposure {
    /// Some outside host (any non-loopback source that is neither an anti-lockout address nor banned)
    /// can open a new connection to the port.
    pub reachable_from_outside: bool,
    /// Every such outside host can (no host filter or drop rule narrows it).
    pub reachable_from_everywhere: bool,
    /// The user rule that decides: the accepting rule if reachable, otherwise the rule that blocks
    /// an arbitrary outside host; `None` when no user rule decides (guard or policy).
    pub deciding_rule: Option<String>,
    /// What decides for that host (see `deciding_rule`).
    pub decided_by: DecidedBy,
}

/// Whether `port`/`protocol` is reachable from outside (see [`Exposure`] for the definition).
///
/// Host-restricted accept rules count: a port opened only to `198.51.100.0/24` is
/// `reachable_from_outside` (from those hosts) but not `reachable_from_everywhere`. The check
/// evaluates a new inbound connection from witness addresses of both families: the edges of every
/// network used by a rule or a ban (and their neighbours), plus documentation addresses, which covers
/// every region of the address space that the rule set distinguishes.
pub fn exposure(
    rules: &RuleSet,
    config: &FirewallConfig,
    context: &ApplyContext,
    port: u16,
    protocol: PacketProtocol,
) -> Exposure {
    exposure_compiled(&compile_lenient(rules, config, context), port, protocol)
}

/// [`exposure`] on a compiled rule set.
pub fn exposure_compiled(
    ruleset: &CompiledRuleset,
    port: u16,
    protocol: PacketProtocol,
) -> Exposure {
    let witnesses = witness_addresses(ruleset);
    let mut first_accept: Option<Verdict> = None;
    let mut first_block: Option<Verdict> = None;
    for src in &witnesses {
        let dst = match src {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
        };
        let verdict = evaluate_compiled(ruleset, &Packet::inbound(*src, dst, protocol, port));
        if verdict.action == Action::Accept {
            first_accept.get_or_insert(verdict);
        } else {
            first_block.get_or_insert(verdict);
        }
    }
    let reachable = first_accept.is_some();
    let everywhere = first_block.is_none();
    let decisive = if reachable {
        first_accept.or(first_block)
    } else {
        first_block.or(first_accept)
    }
    .unwrap_or(Verdict::new(Action::Accept, DecidedBy::DefaultPolicy));
    Exposure {
        reachable_from_outside: reachable,
        reachable_from_everywhere: everywhere,
        deciding_rule: match &decisive.decided_by {
            DecidedBy::Rule(id) => Some(id.clone()),
            _ => None,
        },
        decided_by: decisive.decided_by,
    }
}

/// The hostnames an exposure answer for `port`/`protocol` depends on: those named in the hosts of
/// enabled, valid inbound rules that cover the port and protocol (sorted, without duplicates). The
/// answer is only as right as their resolution: evaluate with them resolved (as apply resolves them);
/// a name that does not resolve matches nothing.
pub fn exposure_hostnames(rules: &RuleSet, port: u16, protocol: PacketProtocol) -> Vec<String> {
    let mut names: Vec<String> = rules
        .rules
        .iter()
        .filter(|r| r.enabled && r.direction == Direction::In)
        .filter_map(|r| crate::validate::validate_rule(r).ok())
        .filter(|r| match r.protocol {
            crate::model::Protocol::Any => true,
            crate::model::Protocol::Tcp => protocol == PacketProtocol::Tcp,
            crate::model::Protocol::Udp => protocol == PacketProtocol::Udp,
        })
        .filter(|r| {
            r.ports
                .as_ref()
                .is_none_or(|ranges| ranges.iter().any(|range| range.contains(port)))
        })
        .flat_map(|r| r.hosts)
        .filter_map(|host| match host {
            crate::network::HostSpec::Hostname(name) => Some(name),
            crate::network::HostSpec::Network(_) => None,
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Outside source addresses that together reach every region the rule set distinguishes; the first
/// ones are "arbitrary" documentation addresses, so `decided_by` describes an ordinary host.
fn witness_addresses(ruleset: &CompiledRuleset) -> Vec<IpAddr> {
    let mut networks: Vec<IpNetwork> = ruleset
        .rules
        .iter()
        .filter(|r| r.direction == Direction::In)
        .flat_map(|r| r.addresses.iter())
        .filter_map(|a| a.networks.as_ref())
        .flatten()
        .copied()
        .collect();
    networks.extend(ruleset.bans.iter().map(|b| b.network));
    let mut out = vec![
        IpAddr::V4(Ipv4Addr::new(203, 0, 113, 77)),
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 0x77)),
    ];
    for net in networks {
        let first = net.addr();
        let last = net.last();
        out.extend([first, last]);
        out.extend(step(first, -1));
        out.extend(step(first, 1));
        out.extend(step(last, -1));
        out.extend(step(last, 1));
    }
    let anti_lockout = &ruleset.config.anti_lockout;
    let mut seen = std::collections::HashSet::new();
    out.retain(|a| is_outside_source(a) && !anti_lockout.contains(a) && seen.insert(*a));
    out
}

fn step(addr: IpAddr, delta: i8) -> Option<IpAddr> {
    match addr {
        IpAddr::V4(a) => {
            let n = u32::from(a);
            let n = if delta < 0 {
                n.checked_sub(1)?
            } else {
                n.checked_add(1)?
            };
            Some(IpAddr::V4(Ipv4Addr::from(n)))
        }
        IpAddr::V6(a) => {
            let n = u128::from(a);
            let n = if delta < 0 {
                n.checked_sub(1)?
            } else {
                n.checked_add(1)?
            };
            Some(IpAddr::V6(Ipv6Addr::from(n)))
        }
    }
}

/// A source address a packet from another host can plausibly carry.
fn is_outside_source(addr: &IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => {
            !(a.is_loopback() || a.is_unspecified() || a.is_multicast() || a.is_broadcast())
        }
        IpAddr::V6(a) => {
            !(a.is_loopback() || a.is_unspecified() || a.is_multicast())
                && a.to_ipv4_mapped().is_none()
        }
    }
}

/// The family of a packet (of its source address).
pub fn packet_family(packet: &Packet) -> Family {
    Family::of(&packet.src)
}
