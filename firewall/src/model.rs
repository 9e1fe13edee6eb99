//! The firewall's data model: rules as the REST API and the UI see them ([`Rule`], [`RuleInput`],
//! [`RulePatch`]), the appliance-level [`FirewallConfig`], and the runtime inputs of an apply
//! ([`ApplyContext`]: resolved hostnames and the bans to carry over).
//!
//! Everything here is plain data with serde shapes matching `api-v1.md`; it imports no validation.
//! Checking and building validated rules is [`crate::validate`]'s job ([`RuleInput::into_rule`],
//! [`Rule::patched`]); ordering is [`crate::ruleset::RuleSet`]'s.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

pub use crate::network::Family;
use crate::network::IpNetwork;
pub use crate::ports::PortRange;

/// Transport protocol a rule matches. `any` matches both TCP and UDP when ports are given, and every
/// protocol (ICMP included) when no ports are given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP only.
    Tcp,
    /// UDP only.
    Udp,
    /// Any protocol (TCP and UDP when the rule has ports).
    #[default]
    Any,
}

/// What happens to a packet a rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Let it through.
    #[default]
    Accept,
    /// Silently discard it (the peer sees a timeout).
    Drop,
    /// Discard it and tell the peer (TCP reset for TCP rules, ICMP port-unreachable otherwise): the
    /// peer sees "connection refused".
    Reject,
}

/// Which way the traffic goes, seen from this host. `in` rules match the packet's **source** address
/// against `hosts`; `out` rules match its **destination**. `ports` are destination ports both ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Inbound (nft `input` chain).
    #[default]
    In,
    /// Outbound (nft `output` chain).
    Out,
}

/// IP version(s) a rule applies to; serialized as `"4"`, `"6"` or `"any"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum IpVersion {
    /// IPv4 only.
    #[serde(rename = "4")]
    V4,
    /// IPv6 only.
    #[serde(rename = "6")]
    V6,
    /// Both.
    #[default]
    #[serde(rename = "any")]
    Any,
}

impl IpVersion {
    /// Whether a rule of this version applies to packets of `family`.
    pub fn includes(self, family: Family) -> bool {
        matches!(
            (self, family),
            (IpVersion::Any, _) | (IpVersion::V4, Family::Ipv4) | (IpVersion::V6, Family::Ipv6)
        )
    }
}

/// Default chain policy for inbound traffic that no rule decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// Accept (the default, like a host without a firewall, minus the service-range guard).
    #[default]
    Accept,
    /// Drop everything not accepted by a rule.
    Drop,
}

/// One firewall rule, exactly as `api-v1.md` shows it.
///
/// `position` is not stored: it is the rule's index in its [`RuleSet`](crate::ruleset::RuleSet) and is refreshed by every
/// `RuleSet` method (and by [`RuleSet::renumber`](crate::ruleset::RuleSet::renumber)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rule {
    /// Server-assigned, stable id; must match `[A-Za-z0-9_.-]{1,64}` (it is embedded in the nft rule
    /// comment as `warden:<id>` so counters can be mapped back).
    pub id: String,
    /// Index in the rule set, 0 = top (the top matching rule wins).
    #[serde(default)]
    pub position: u32,
    /// Disabled rules are kept but never rendered and never match.
    pub enabled: bool,
    /// Transport protocol.
    pub protocol: Protocol,
    /// Verdict on match.
    pub action: Action,
    /// Inbound or outbound.
    pub direction: Direction,
    /// IPv4/IPv6 addresses, CIDRs or hostnames; empty = any host.
    pub hosts: Vec<String>,
    /// `"22"`, `"8300:8499"` or `"8300-8499"`; empty (or `"0:65535"`) = any port.
    pub ports: Vec<String>,
    /// IP version(s).
    pub ip_version: IpVersion,
    /// Free text (≤ 256 characters, no control characters); stored as the nft rule comment.
    pub annotation: String,
}

/// What a client sends to create a rule (`POST /api/v1/firewall/rules`, presets). Every field is
/// optional; defaults: enabled, protocol `any`, action `accept`, direction `in`, no hosts, no ports,
/// ip_version `any`, empty annotation, appended at the end. Unknown fields are refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RuleInput {
    /// Where to insert (0 = top); `None` appends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<u32>,
    /// Defaults to `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Defaults to `any`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    /// Defaults to `accept`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<Action>,
    /// Defaults to `in`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    /// Defaults to `[]` (any host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosts: Option<Vec<String>>,
    /// Defaults to `[]` (any port).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<String>>,
    /// Defaults to `any`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_version: Option<IpVersion>,
    /// Defaults to `""`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotation: Option<String>,
}

/// A partial update (`PATCH /api/v1/firewall/rules/{id}`): every present field replaces the rule's.
/// `position` moves the rule (same as the `move` endpoint). Unknown fields are refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RulePatch {
    /// New position (0 = top), clamped to the end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<u32>,
    /// New enabled flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// New protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    /// New action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<Action>,
    /// New direction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    /// New host list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosts: Option<Vec<String>>,
    /// New port list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<String>>,
    /// New IP version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_version: Option<IpVersion>,
    /// New annotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotation: Option<String>,
}

impl Rule {
    /// The rule as a [`RuleInput`] (what presets list: a rule without id/position).
    pub fn to_input(&self) -> RuleInput {
        RuleInput {
            position: None,
            enabled: Some(self.enabled),
            protocol: Some(self.protocol),
            action: Some(self.action),
            direction: Some(self.direction),
            hosts: Some(self.hosts.clone()),
            ports: Some(self.ports.clone()),
            ip_version: Some(self.ip_version),
            annotation: Some(self.annotation.clone()),
        }
    }
}

/// The reserved service port range, 8300–8499.
pub const DEFAULT_SERVICE_PORTS: PortRange = PortRange {
    first: 8300,
    last: 8499,
};

/// SSH's well-known port: what anti-lockout covers when nothing says otherwise.
pub const SSH_PORT: u16 = 22;

/// Appliance-level firewall settings that are not rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FirewallConfig {
    /// Ports reserved for services (default `"8300:8499"`): new inbound TCP/UDP connections to them
    /// from outside are dropped unless a user rule accepted them first (the private-cloud guard).
    pub service_ports: PortRange,
    /// Policy of the `input` chain for traffic no rule decided (default `accept`). The `output` chain
    /// always accepts.
    pub default_inbound_policy: Policy,
    /// The port of Warden's own admin UI/API (anti-lockout covers it and the SSH ports); 0 = SSH only.
    pub admin_port: u16,
    /// The TCP ports sshd serves (default `[22]`), covered by anti-lockout with the admin port.
    pub ssh_ports: Vec<u16>,
    /// Addresses always allowed to reach TCP `admin_port` and `ssh_ports` (above bans and user rules):
    /// typically the address that performed the apply. Loopback is always allowed anyway.
    pub anti_lockout: Vec<IpAddr>,
}

impl Default for FirewallConfig {
    fn default() -> Self {
        FirewallConfig {
            service_ports: DEFAULT_SERVICE_PORTS,
            default_inbound_policy: Policy::Accept,
            admin_port: 0,
            ssh_ports: vec![SSH_PORT],
            anti_lockout: Vec::new(),
        }
    }
}

impl FirewallConfig {
    /// The TCP ports anti-lockout keeps open (the SSH ports and the admin port), sorted, deduplicated.
    pub fn anti_lockout_ports(&self) -> Vec<u16> {
        let mut ports: Vec<u16> = self.ssh_ports.iter().copied().filter(|p| *p != 0).collect();
        if self.admin_port != 0 {
            ports.push(self.admin_port);
        }
        ports.sort_unstable();
        ports.dedup();
        ports
    }
}

/// One ban: an address (IPv4 /32) or network (IPv6 /64) whose inbound traffic is dropped.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Ban {
    /// The banned network (see [`crate::network::ban_network`]).
    pub network: IpNetwork,
    /// Seconds until the kernel removes the ban by itself; `None` = no timeout.
    pub expires_in_secs: Option<u64>,
}

/// Hostname → addresses, as resolved by the server just before rendering (hostnames are the
/// lower-cased names from [`RuleSet::hostnames`](crate::ruleset::RuleSet::hostnames)).
pub type ResolvedHosts = BTreeMap<String, Vec<IpAddr>>;

/// Runtime inputs of one render/evaluation besides rules and config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ApplyContext {
    /// Resolution of every hostname of [`RuleSet::hostnames`](crate::ruleset::RuleSet::hostnames). A hostname that is missing or maps to
    /// no address makes rendering fail naming the host (the evaluator treats it as matching nothing).
    pub resolved_hosts: ResolvedHosts,
    /// Current bans with their remaining timeouts (from [`crate::backend::NftBackend::bans`]): the
    /// new table is created with them so an apply does not lift bans. Bans covering an anti-lockout
    /// address are left out.
    pub bans: Vec<Ban>,
}
