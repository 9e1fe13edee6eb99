//! Firewall shapes shared by the REST API, the server functions and the UI: one DTO per concept (status
//! with the pending commit-confirm window, rules with live counters, presets, bans with time left,
//! exposure; the REST API serialises the same values, with `ToSchema` under `ssr`), plus two
//! pure helpers the firewall page uses — the line diff between the applied ruleset and what Apply would
//! install, and the form's client-side check, which is the firewall crate's own validation (the same
//! code the server runs), so the form shows the field errors the server would return.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use warden_firewall::{Capability, DecidedBy, PacketProtocol, Policy, Protocol, Rule, RuleInput};

use super::FieldError;

/// `GET /api/v1/firewall`: the contract's fields, then extras. The firewall page and the dashboard
/// show the same value (the server functions return it too).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
    #[cfg_attr(feature = "ssr", schema(value_type = Vec<String>))]
    pub anti_lockout: Vec<IpAddr>,
    /// Warden's admin port (covered by anti-lockout together with the SSH ports).
    pub admin_port: u16,
    /// The SSH ports the next apply keeps open to the applying address (anti-lockout).
    #[serde(default)]
    pub ssh_ports: Vec<u16>,
    /// Where [`Self::ssh_ports`] come from.
    #[serde(default)]
    pub ssh_ports_source: SshPortsSource,
    /// The SSH ports anti-lockout covers in the live table (empty when nothing is applied).
    #[serde(default)]
    pub live_ssh_ports: Vec<u16>,
    /// The last apply that was rolled back (kept until the next apply).
    pub last_rollback: Option<RollbackStatus>,
    /// The address the request came from: what an apply from this client keeps reaching the admin
    /// port and SSH. Absent where there is no request (the status published as an event).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ssr", schema(value_type = Option<String>))]
    pub your_address: Option<IpAddr>,
    /// The live table is the default guard Warden installed by itself on a start that found nothing
    /// applied: the service range closed to new inbound connections from outside, inbound policy
    /// accept, loopback, anti-lockout and bans. Applying a rule set replaces it.
    #[serde(default)]
    pub default_guard: bool,
    /// Hostnames of live rules that did not resolve when the table was last restored: their rules run
    /// on the addresses of the last successful resolution until a background retry resolves them.
    #[serde(default)]
    pub stale_hosts: Vec<String>,
    /// Why the live table is Warden's minimal guard instead of the applied rule set (the restore at
    /// start or a rollback failed); Warden retries in the background and clears this when it succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
}

impl FirewallStatus {
    /// The status as answered to the client at `addr`.
    pub fn for_client(self, addr: IpAddr) -> FirewallStatus {
        FirewallStatus {
            your_address: Some(addr),
            ..self
        }
    }

    /// Saved edits that are not live yet.
    pub fn has_unapplied_changes(&self) -> bool {
        match self.applied_revision {
            Some(applied) => applied != self.saved_revision,
            // Revision 0 is the empty rule set of a fresh install: nothing to apply yet.
            None => self.saved_revision > 0,
        }
    }
}

/// The last rollback, in [`FirewallStatus`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RollbackStatus {
    /// RFC 3339: when the previous state came back.
    pub at: String,
    /// The revision that was rolled back.
    pub revision: u64,
    /// `timer` (not confirmed in time), `request` or `restart` (Warden started during the window).
    pub cause: RollbackCause,
}

/// Where the SSH ports anti-lockout covers come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SshPortsSource {
    /// The `ssh_ports` setting.
    Setting,
    /// The ports the running sshd listens on.
    Sshd,
    /// Neither: SSH's well-known port 22.
    #[default]
    Default,
}

/// Why an unconfirmed apply was rolled back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RollbackCause {
    /// The confirm window ran out.
    Timer,
    /// Someone asked for it (REST or UI).
    Request,
    /// Warden started while the apply was still unconfirmed.
    Restart,
}

/// The pending part of [`FirewallStatus`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PendingStatus {
    /// The applied revision.
    pub revision: u64,
    /// RFC 3339: when the previous state comes back unless confirmed.
    pub rollback_at: String,
    /// Seconds until then, as the server counted when it answered (a client counts down from it, so
    /// a wrong client clock does not matter).
    #[serde(default)]
    pub seconds_left: u64,
}

/// A rule with its live counters (`null` when the firewall is not active).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct BanView {
    /// The banned address (IPv4) or /64 network (IPv6).
    pub address: String,
    /// Why, if Warden made the ban.
    pub reason: Option<String>,
    /// RFC 3339, if Warden made the ban.
    pub banned_at: Option<String>,
    /// RFC 3339, read back from the kernel's timeout; `null` = no timeout.
    pub expires_at: Option<String>,
    /// Seconds until the kernel lifts it, as the server counted when it answered; `null` = no
    /// timeout.
    #[serde(default)]
    pub seconds_left: Option<u64>,
    /// The jail that banned it; `null` for a ban by hand or after failed logins to Warden.
    #[serde(default)]
    pub jail: Option<String>,
    /// The failures that led to the ban (0 for a ban by hand).
    #[serde(default)]
    pub failures: u32,
    /// The last failure lines that led to it (at most 5), oldest first.
    #[serde(default)]
    pub lines: Vec<String>,
}

/// A preset with whether it is open in the saved rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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

impl PresetView {
    /// The ports its rules open, in words: e.g. `["tcp 80", "tcp 443"]`, `"tcp/udp all ports"`.
    pub fn port_summary(&self) -> Vec<String> {
        self.rules
            .iter()
            .map(|r| {
                let protocol = match r.protocol.unwrap_or_default() {
                    Protocol::Tcp => "tcp",
                    Protocol::Udp => "udp",
                    Protocol::Any => "tcp/udp",
                };
                let ports = r.ports.clone().unwrap_or_default();
                if ports.is_empty() {
                    format!("{protocol} all ports")
                } else {
                    format!("{protocol} {}", ports.join(", "))
                }
            })
            .collect()
    }
}

/// One entry of `GET /api/v1/firewall/exposure`: one service port's exposure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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

/// The two ruleset texts the diff compares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RulesetTexts {
    /// What the live apply installed (`None` when the firewall is not active).
    pub applied: Option<String>,
    /// What Apply would install now (for this browser's address).
    pub preview: Option<String>,
    /// Why the preview cannot be rendered (e.g. a hostname that does not resolve).
    pub preview_error: Option<String>,
}

/// The commit-confirm controls besides apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FirewallControl {
    /// Keep the pending apply ("Keep these rules").
    Confirm,
    /// Restore the state before the pending apply now ("Revert now").
    Rollback,
    /// Remove Warden's table (rules and bans).
    Deactivate,
}

/// One line of a [`line_diff`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DiffLine {
    Same(String),
    Added(String),
    Removed(String),
}

/// The line diff turning `old` into `new` (longest common subsequence; removals before additions at
/// each change). Inputs beyond 4 000 lines each are compared as wholly replaced, to bound the work.
pub fn line_diff(old: &str, new: &str) -> Vec<DiffLine> {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    if a.len() > 4000 || b.len() > 4000 {
        return a
            .iter()
            .map(|l| DiffLine::Removed((*l).to_string()))
            .chain(b.iter().map(|l| DiffLine::Added((*l).to_string())))
            .collect();
    }
    // lcs[i][j] = length of the LCS of a[i..] and b[j..].
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(a.len().max(b.len()));
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            out.push(DiffLine::Same(a[i].to_string()));
            i += 1;
            j += 1;
        } else if lcs[i + 1][j] >= lcs[i][j + 1] {
            out.push(DiffLine::Removed(a[i].to_string()));
            i += 1;
        } else {
            out.push(DiffLine::Added(b[j].to_string()));
            j += 1;
        }
    }
    out.extend(a[i..].iter().map(|l| DiffLine::Removed((*l).to_string())));
    out.extend(b[j..].iter().map(|l| DiffLine::Added((*l).to_string())));
    out
}

/// Splits a comma- or whitespace-separated form field into entries (`"22, 80 443"` → 3 entries).
pub fn split_list(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The rule form's client-side check: the firewall crate's validation (what the server runs on every
/// add and edit), with its field names (`hosts[0]`, `ports[1]`, `annotation`).
pub fn check_rule_input(input: &RuleInput) -> Result<(), Vec<FieldError>> {
    input.clone().into_rule("form").map(|_| ())
}

/// A count in a short human form: 999, 1.2k, 3.4M, 5.6G.
pub fn short_count(n: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")];
    for (size, unit) in UNITS {
        if n >= size {
            let whole = n / size;
            let tenth = (n % size) * 10 / size;
            return if whole >= 100 {
                format!("{whole}{unit}")
            } else {
                format!("{whole}.{tenth}{unit}")
            };
        }
    }
    n.to_string()
}

/// A duration in seconds as "1 h 5 min", "4 min 10 s", "9 s".
pub fn human_duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s} s"),
        (0, _) => format!("{m} min {s} s"),
        _ => format!("{h} h {m} min"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_marks_added_and_removed_lines() {
        let d = line_diff("a\nb\nc\n", "a\nx\nc\nd\n");
        assert_eq!(
            d,
            vec![
                DiffLine::Same("a".into()),
                DiffLine::Removed("b".into()),
                DiffLine::Added("x".into()),
                DiffLine::Same("c".into()),
                DiffLine::Added("d".into()),
            ]
        );
        assert!(line_diff("same\n", "same\n")
            .iter()
            .all(|l| matches!(l, DiffLine::Same(_))));
        assert_eq!(line_diff("", "n"), vec![DiffLine::Added("n".into())]);
    }

    #[test]
    fn form_check_is_the_crate_validation() {
        let bad = RuleInput {
            ports: Some(vec!["70000".into()]),
            hosts: Some(vec!["10.0.0.0/33".into()]),
            ..RuleInput::default()
        };
        let errors = check_rule_input(&bad).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.contains(&"ports[0]"), "{errors:?}");
        assert!(fields.contains(&"hosts[0]"), "{errors:?}");
        let good = RuleInput {
            ports: Some(split_list("22, 8300:8310")),
            ..RuleInput::default()
        };
        assert_eq!(check_rule_input(&good), Ok(()));
    }

    #[test]
    fn preset_ports_in_words() {
        let rule = |protocol, ports: &[&str]| RuleInput {
            protocol: Some(protocol),
            ports: Some(ports.iter().map(ToString::to_string).collect()),
            ..RuleInput::default()
        };
        let preset = PresetView {
            name: "web".into(),
            title: "Web".into(),
            description: "HTTP and HTTPS".into(),
            rules: vec![
                rule(Protocol::Tcp, &["80", "443"]),
                rule(Protocol::Udp, &["443"]),
                rule(Protocol::Any, &[]),
            ],
            open: false,
        };
        assert_eq!(
            preset.port_summary(),
            ["tcp 80, 443", "udp 443", "tcp/udp all ports"]
        );
    }

    #[test]
    fn status_for_a_client_names_it_and_events_omit_it() {
        let status = FirewallStatus {
            active: false,
            applied_revision: None,
            saved_revision: 2,
            pending: None,
            drift: false,
            capability: Capability {
                available: true,
                reason: None,
            },
            default_inbound_policy: Policy::Accept,
            anti_lockout: vec![],
            admin_port: 8443,
            ssh_ports: vec![22],
            ssh_ports_source: SshPortsSource::Default,
            live_ssh_ports: vec![],
            last_rollback: None,
            your_address: None,
            default_guard: false,
            stale_hosts: vec![],
            fallback: None,
        };
        let json = serde_json::to_value(&status).unwrap_or_default();
        assert!(json.get("your_address").is_none(), "{json}");
        let client: IpAddr = [192, 0, 2, 7].into();
        let json = serde_json::to_value(status.clone().for_client(client)).unwrap_or_default();
        assert_eq!(json["your_address"], "192.0.2.7");
        assert!(status.has_unapplied_changes());
    }

    #[test]
    fn short_forms() {
        assert_eq!(short_count(999), "999");
        assert_eq!(short_count(1_234), "1.2k");
        assert_eq!(short_count(123_456_789), "123M");
        assert_eq!(human_duration(9), "9 s");
        assert_eq!(human_duration(250), "4 min 10 s");
        assert_eq!(human_duration(3900), "1 h 5 min");
        assert_eq!(split_list(" a, b  c,,"), vec!["a", "b", "c"]);
    }
}
