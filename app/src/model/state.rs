//! The desired-state document (`apiVersion: warden/v1`) and its plan: the shapes `GET /api/v1/state`
//! exports, `POST /api/v1/state/plan` and `PUT /api/v1/state` read, and the CLI reads and writes as
//! YAML or JSON. A section that is absent from a document is not managed: it is left as it is.
//! Secrets (passwords, tokens) have no place here. The diff itself is the server's (`server::desired`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use warden_firewall::{Action, Direction, IpVersion, Policy, Protocol, Rule, RuleInput};

use super::jails::JailInput;
use super::notifications::DestinationInput;
use super::service::ServiceInput;
use super::settings::{BanSettings, CrashLoopSettings, Settings};

/// The only document version this Warden reads and writes.
pub const API_VERSION: &str = "warden/v1";

fn is_false(b: &bool) -> bool {
    !*b
}

/// A desired-state document. Every section is optional: absent = not managed (left alone).
/// `prune` and `firewall_confirm_within_secs` are request options, never exported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StateDocument {
    /// Always `warden/v1`.
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// Services by name (spec fields only: no `id`, no `status`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<ServiceInput>>,
    /// The saved rules in order (first = position 0) and the default inbound policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firewall: Option<FirewallDocument>,
    /// Global settings; absent fields are left alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<SettingsDocument>,
    /// Notification destinations (webhook, e-mail), matched by name, else by their settings. The SMTP
    /// password is never exported; a destination that leaves it out keeps the stored one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notifications: Option<Vec<DestinationInput>>,
    /// Jails (fail2ban built in) by name, without ids. Their runtime state (counts, repeat offenders)
    /// is not part of the document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jails: Option<Vec<JailInput>>,
    /// Plan/apply only: delete services, rules, notification destinations and jails the document does
    /// not name (in the sections it has). Default false.
    #[serde(default, skip_serializing_if = "is_false")]
    pub prune: bool,
    /// Apply only: the commit-confirm window of a firewall change (0 or absent: no window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firewall_confirm_within_secs: Option<u64>,
}

impl StateDocument {
    /// An empty document (nothing managed).
    pub fn empty() -> StateDocument {
        StateDocument {
            api_version: API_VERSION.to_string(),
            services: None,
            firewall: None,
            settings: None,
            notifications: None,
            jails: None,
            prune: false,
            firewall_confirm_within_secs: None,
        }
    }
}

/// The firewall section: both parts optional (absent = left alone).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FirewallDocument {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_inbound_policy: Option<Policy>,
    /// Ordered: the first rule is position 0 (the top; it wins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<Vec<RuleDocument>>,
}

fn default_true() -> bool {
    true
}

/// A rule without `id` and `position` (its place in the list is its position). Absent fields take the
/// defaults of `POST /firewall/rules`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RuleDocument {
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default)]
    pub protocol: Protocol,
    #[serde(default)]
    pub action: Action,
    #[serde(default)]
    pub direction: Direction,
    #[serde(default)]
    pub hosts: Vec<String>,
    #[serde(default)]
    pub ports: Vec<String>,
    #[serde(default)]
    pub ip_version: IpVersion,
    #[serde(default)]
    pub annotation: String,
}

impl From<&Rule> for RuleDocument {
    fn from(r: &Rule) -> Self {
        RuleDocument {
            enabled: r.enabled,
            protocol: r.protocol,
            action: r.action,
            direction: r.direction,
            hosts: r.hosts.clone(),
            ports: r.ports.clone(),
            ip_version: r.ip_version,
            annotation: r.annotation.clone(),
        }
    }
}

impl From<RuleDocument> for RuleInput {
    fn from(r: RuleDocument) -> Self {
        RuleInput {
            position: None,
            enabled: Some(r.enabled),
            protocol: Some(r.protocol),
            action: Some(r.action),
            direction: Some(r.direction),
            hosts: Some(r.hosts),
            ports: Some(r.ports),
            ip_version: Some(r.ip_version),
            annotation: Some(r.annotation),
        }
    }
}

/// The settings section: every field optional (absent = left alone); `crash_loop` and `ban` are whole
/// objects.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SettingsDocument {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// The global environment (replaced as a whole).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_ports: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crash_loop: Option<CrashLoopSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ban: Option<BanSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_hosts: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_proxies: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_ports: Option<Vec<u16>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_loopback_without_token: Option<bool>,
}

impl From<&Settings> for SettingsDocument {
    fn from(s: &Settings) -> Self {
        SettingsDocument {
            hostname: Some(s.hostname.clone()),
            environment: Some(s.environment.clone()),
            service_user: Some(s.service_user.clone()),
            service_ports: Some(s.service_ports.clone()),
            crash_loop: Some(s.crash_loop.clone()),
            ban: Some(s.ban.clone()),
            allowed_hosts: Some(s.allowed_hosts.clone()),
            trusted_proxies: Some(s.trusted_proxies.clone()),
            ssh_ports: Some(s.ssh_ports.clone()),
            metrics_loopback_without_token: Some(s.metrics_loopback_without_token),
        }
    }
}

impl SettingsDocument {
    /// `current` with every field this section names replaced.
    pub fn apply_to(&self, current: &Settings) -> Settings {
        let mut next = current.clone();
        fn set<T: Clone>(target: &mut T, value: &Option<T>) {
            if let Some(v) = value {
                *target = v.clone();
            }
        }
        set(&mut next.hostname, &self.hostname);
        set(&mut next.environment, &self.environment);
        set(&mut next.service_user, &self.service_user);
        set(&mut next.service_ports, &self.service_ports);
        set(&mut next.crash_loop, &self.crash_loop);
        set(&mut next.ban, &self.ban);
        set(&mut next.allowed_hosts, &self.allowed_hosts);
        set(&mut next.trusted_proxies, &self.trusted_proxies);
        set(&mut next.ssh_ports, &self.ssh_ports);
        set(
            &mut next.metrics_loopback_without_token,
            &self.metrics_loopback_without_token,
        );
        next
    }
}

/// What a change is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Service,
    Rule,
    /// The firewall's default inbound policy.
    FirewallPolicy,
    Settings,
    /// A notification destination.
    Notification,
    /// A jail.
    Jail,
}

/// What a plan does to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ChangeAction {
    Create,
    Update,
    Delete,
    Unchanged,
}

/// One line of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Change {
    pub kind: ChangeKind,
    /// The service's, destination's or jail's name; a rule's `#position` and annotation; `settings`;
    /// `default_inbound_policy`.
    pub name: String,
    pub action: ChangeAction,
    /// The fields an update changes (empty otherwise).
    pub fields: Vec<String>,
    /// Whether applying it restarts a running service (only service updates may).
    pub restarts: bool,
}

impl Change {
    /// Whether applying it changes anything.
    pub fn is_change(&self) -> bool {
        self.action != ChangeAction::Unchanged
    }
}

/// The answer of `POST /api/v1/state/plan`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Plan {
    pub changes: Vec<Change>,
}

impl Plan {
    /// Whether applying it changes anything.
    pub fn changes_anything(&self) -> bool {
        self.changes.iter().any(Change::is_change)
    }
}

/// The answer of `PUT /api/v1/state`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ApplyOutcome {
    /// Whether anything changed.
    pub changed: bool,
    pub changes: Vec<Change>,
    /// Set when the firewall section changed the saved rules but they could not be made live here (no
    /// nft, `--firewall off`): the reason. The saved rules are changed either way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firewall_not_applied: Option<String>,
}

/// The answer of `PUT /api/v1/services/by-name/{name}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UpsertOutcome {
    pub created: bool,
    pub change: Change,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_import_document_has_only_services_and_leaves_the_rest_unmanaged() {
        let doc: StateDocument = serde_json::from_value(serde_json::json!({
            "apiVersion": "warden/v1",
            "services": [{"name": "web", "command": "sleep 100"}]
        }))
        .unwrap();
        assert!(doc.firewall.is_none() && doc.settings.is_none() && !doc.prune);
        let back = serde_json::to_value(&doc).unwrap();
        assert!(back.get("firewall").is_none() && back.get("prune").is_none());
    }

    #[test]
    fn unknown_fields_are_refused_at_every_level() {
        for bad in [
            serde_json::json!({"apiVersion": "warden/v1", "servces": []}),
            serde_json::json!({"apiVersion": "warden/v1", "firewall": {"rules": [{"port": "22"}]}}),
            serde_json::json!({"apiVersion": "warden/v1", "settings": {"hostnam": "x"}}),
            serde_json::json!({"apiVersion": "warden/v1", "services": [{"name": "a", "command": "b", "id": "x"}]}),
            serde_json::json!({"apiVersion": "warden/v1", "jails": [{"name": "a", "source": {"file": "/x"}, "id": "x"}]}),
        ] {
            assert!(
                serde_json::from_value::<StateDocument>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_rule_document_takes_the_rule_defaults() {
        let r: RuleDocument = serde_json::from_value(serde_json::json!({"ports": ["22"]})).unwrap();
        let rule = RuleInput::from(r).into_rule("r1").unwrap();
        assert!(rule.enabled);
        assert_eq!(rule.action, Action::Accept);
        assert_eq!(rule.direction, Direction::In);
    }

    #[test]
    fn settings_sections_replace_only_what_they_name() {
        let current = Settings::defaults("h".into(), "nobody".into());
        let section = SettingsDocument {
            environment: Some(BTreeMap::from([("LANG".into(), "C".into())])),
            ..SettingsDocument::default()
        };
        let next = section.apply_to(&current);
        assert_eq!(next.hostname, "h");
        assert_eq!(next.environment.get("LANG").map(String::as_str), Some("C"));
        assert_eq!(SettingsDocument::from(&current).apply_to(&next), current);
    }
}
