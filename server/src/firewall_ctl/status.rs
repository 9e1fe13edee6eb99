//! The firewall's answers as the REST API serialises them: status with the pending commit-confirm
//! window and the last rollback, rules with live counters, bans, presets, exposure.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use warden_firewall::backend::Capability;
use warden_firewall::{DecidedBy, PacketProtocol, Policy, Rule, RuleInput};

use super::RollbackCause;

/// `GET /api/v1/firewall`: the contract's fields, then extras.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FirewallStatus {
    /// Warden's rule set is live.
    pub active: bool,
    /// The saved revision that is live.
    pub applied_revision: Option<u64>,
    /// The revision of the saved rule set.
    pub saved_revision: u64,
    /// An apply waiting for confirmation.
    pub pending: Option<PendingStatus>,
    /// The live table differs from what Warden applied (someone changed or deleted it).
    pub drift: bool,
    /// Whether Warden can drive nft here.
    pub capability: Capability,
    /// Policy for inbound traffic no rule decides (saved).
    pub default_inbound_policy: Policy,
    /// Addresses that always reach the admin port and SSH under the live rule set.
    #[schema(value_type = Vec<String>)]
    pub anti_lockout: Vec<IpAddr>,
    /// Warden's admin port (covered by anti-lockout together with 22).
    pub admin_port: u16,
    /// The last apply that was rolled back (kept until the next apply).
    pub last_rollback: Option<RollbackStatus>,
}

/// The last rollback, in [`FirewallStatus`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RollbackStatus {
    /// RFC 3339: when the previous state came back.
    pub at: String,
    /// The revision that was rolled back.
    pub revision: u64,
    /// `timer` (not confirmed in time), `request` or `restart` (Warden started during the window).
    pub cause: RollbackCause,
}

/// The pending part of [`FirewallStatus`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PendingStatus {
    /// The applied revision.
    pub revision: u64,
    /// RFC 3339: when the previous state comes back unless confirmed.
    pub rollback_at: String,
}

/// A rule with its live counters (`null` when the firewall is not active).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RuleView {
    /// The rule.
    #[serde(flatten)]
    pub rule: Rule,
    /// Packets matched since the last apply.
    pub packets: Option<u64>,
    /// Bytes matched since the last apply.
    pub bytes: Option<u64>,
}

/// One ban as the API lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BanView {
    /// The banned address (IPv4) or /64 network (IPv6).
    pub address: String,
    /// Why, if Warden made the ban.
    pub reason: Option<String>,
    /// RFC 3339, if Warden made the ban.
    pub banned_at: Option<String>,
    /// RFC 3339, read back from the kernel's timeout; `null` = no timeout.
    pub expires_at: Option<String>,
}

/// A preset with whether it is open in the saved rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PresetView {
    /// Slug.
    pub name: String,
    /// Display title.
    pub title: String,
    /// One sentence.
    pub description: String,
    /// The rules it adds.
    pub rules: Vec<RuleInput>,
    /// All its rules are in the saved rule set and enabled.
    pub open: bool,
}

/// The ports a service reserves (input of [`FirewallHandle::exposure`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePorts {
    /// Service id.
    pub service_id: String,
    /// Its ports.
    pub ports: Vec<u16>,
}

/// One entry of `GET /api/v1/firewall/exposure`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExposureView {
    /// The service.
    pub service_id: String,
    /// Its port.
    pub port: u16,
    /// `tcp` or `udp` (every port is listed for both).
    pub protocol: PacketProtocol,
    /// Under the saved rule set, some outside host can connect.
    pub reachable_from_outside: bool,
    /// The user rule that decides, if a rule decides (else the guard or the policy does).
    pub deciding_rule: Option<String>,
    /// Every outside host can connect.
    pub reachable_from_everywhere: bool,
    /// What decides.
    pub decided_by: DecidedBy,
    /// Whether Warden's rule set is live.
    pub firewall_active: bool,
    /// Reachability under what is live now (`true` when no rule set is applied: nothing filters).
    pub live_reachable_from_outside: bool,
    /// Hostnames in the hosts of the saved inbound rules that cover this port and protocol: the
    /// answer depends on what they resolve to. They were resolved now, as `apply` resolves them.
    pub hostnames: Vec<String>,
    /// Those of `hostnames` that do not resolve now: they match nothing in this answer, and `apply`
    /// would refuse the rule set naming them.
    pub unresolved_hostnames: Vec<String>,
}
