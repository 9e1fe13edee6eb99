//! The per-service lifecycle settings of a service definition (api-v1.md, "v1 additions"):
//! `stop_signal`, `stop_grace_secs`, `reload_grace_secs`, `restart`, `monitoring` and `after`, with
//! their pure validation (shared by the UI form and the server), including the start-order cycle check.
//!
//! Durations left `null` take Warden's defaults (stop grace 10 s, reload grace 2 s, monitoring grace
//! 10 s / interval 30 s / timeout 10 s), so records written before these fields existed behave as before.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::FieldError;

/// The signal a stop starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "UPPERCASE")]
pub enum StopSignalName {
    #[default]
    Term,
    Int,
    Quit,
    Hup,
    Usr1,
    Usr2,
    Kill,
}

impl StopSignalName {
    pub const ALL: [StopSignalName; 7] = [
        StopSignalName::Term,
        StopSignalName::Int,
        StopSignalName::Quit,
        StopSignalName::Hup,
        StopSignalName::Usr1,
        StopSignalName::Usr2,
        StopSignalName::Kill,
    ];

    /// `TERM`, `INT`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            StopSignalName::Term => "TERM",
            StopSignalName::Int => "INT",
            StopSignalName::Quit => "QUIT",
            StopSignalName::Hup => "HUP",
            StopSignalName::Usr1 => "USR1",
            StopSignalName::Usr2 => "USR2",
            StopSignalName::Kill => "KILL",
        }
    }

    /// The name as the form shows and reads it.
    pub fn parse(text: &str) -> Option<StopSignalName> {
        let text = text.trim().trim_start_matches("SIG");
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// What an exit of the main process leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RestartPolicy {
    /// Restarted whenever it stops (the seed's behaviour).
    #[default]
    Always,
    /// An exit 0 ends the service as `exited` (not a failure); any other exit restarts it.
    OnFailure,
    /// Never restarted: any exit ends the service as `exited`.
    Never,
}

impl RestartPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            RestartPolicy::Always => "always",
            RestartPolicy::OnFailure => "on_failure",
            RestartPolicy::Never => "never",
        }
    }

    pub fn parse(text: &str) -> Option<RestartPolicy> {
        [
            RestartPolicy::Always,
            RestartPolicy::OnFailure,
            RestartPolicy::Never,
        ]
        .into_iter()
        .find(|p| p.as_str() == text.trim())
    }

    /// Whether an exit (`success` = code 0) is followed by a new start.
    pub fn restarts_after(self, success: bool) -> bool {
        match self {
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure => !success,
            RestartPolicy::Never => false,
        }
    }
}

/// The monitoring schedule of a service; `null` = Warden's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MonitoringTimings {
    /// The first check (and the port checks) this long after a start (default 10).
    #[serde(default)]
    pub grace_secs: Option<u64>,
    /// Then a check every this often (default 30).
    #[serde(default)]
    pub interval_secs: Option<u64>,
    /// A check running longer has failed (default 10).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
}

/// The longest stop grace accepted (1 hour).
pub const MAX_STOP_GRACE_SECS: u64 = 3600;
/// The longest reload grace accepted.
pub const MAX_RELOAD_GRACE_SECS: u64 = 300;
/// The longest monitoring grace, interval or timeout accepted (1 day).
pub const MAX_MONITORING_SECS: u64 = 86_400;

fn check_range(
    field: &str,
    what: &str,
    value: Option<u64>,
    min: u64,
    max: u64,
    invalid: &mut Vec<FieldError>,
) {
    if let Some(v) = value {
        if v < min || v > max {
            invalid.push(FieldError::new(
                field,
                format!("{what}: use a whole number of seconds from {min} to {max}"),
            ));
        }
    }
}

/// The lifecycle fields of one definition, as validation sees them.
#[derive(Debug, Clone, Copy)]
pub struct LifecycleInput<'a> {
    pub name: &'a str,
    pub stop_grace_secs: Option<u64>,
    pub reload_grace_secs: Option<u64>,
    pub monitoring: &'a MonitoringTimings,
    pub after: &'a [String],
}

/// The other services as the start-order check sees them: their names, and the names each starts
/// after (a name missing from `after` starts after nothing).
#[derive(Debug, Clone, Copy)]
pub struct OtherServices<'a> {
    pub names: &'a BTreeSet<String>,
    pub after: &'a BTreeMap<String, Vec<String>>,
}

/// Checks the durations and `after` (known, distinct, not itself, no cycle through the start order of
/// the other services).
pub fn validate_lifecycle(
    input: LifecycleInput<'_>,
    others: OtherServices<'_>,
    invalid: &mut Vec<FieldError>,
) {
    check_range(
        "stop_grace_secs",
        "the stop grace",
        input.stop_grace_secs,
        1,
        MAX_STOP_GRACE_SECS,
        invalid,
    );
    check_range(
        "reload_grace_secs",
        "the reload grace",
        input.reload_grace_secs,
        1,
        MAX_RELOAD_GRACE_SECS,
        invalid,
    );
    let m = input.monitoring;
    check_range(
        "monitoring.grace_secs",
        "the monitoring grace",
        m.grace_secs,
        0,
        MAX_MONITORING_SECS,
        invalid,
    );
    check_range(
        "monitoring.interval_secs",
        "the monitoring interval",
        m.interval_secs,
        1,
        MAX_MONITORING_SECS,
        invalid,
    );
    check_range(
        "monitoring.timeout_secs",
        "the monitoring timeout",
        m.timeout_secs,
        1,
        MAX_MONITORING_SECS,
        invalid,
    );
    let mut seen = BTreeSet::new();
    for name in input.after {
        let problem = if name == input.name {
            Some(format!("{name} cannot start after itself"))
        } else if !others.names.contains(name) {
            Some(format!("there is no service named {name}"))
        } else if !seen.insert(name) {
            Some(format!("{name} is listed twice"))
        } else {
            None
        };
        if let Some(message) = problem {
            invalid.push(FieldError::new("after", message));
            return;
        }
    }
    if let Some(cycle) = find_cycle(input.name, input.after, others.after) {
        invalid.push(FieldError::new(
            "after",
            format!("the start order has a cycle: {}", cycle.join(" → ")),
        ));
    }
}

/// A path `name → … → name` through `after` (this service) and `others` (the rest), if there is one.
fn find_cycle(
    name: &str,
    after: &[String],
    others: &BTreeMap<String, Vec<String>>,
) -> Option<Vec<String>> {
    // Depth-first from each direct dependency, remembering the path; the graph of the others may
    // hold a cycle of its own (written before this check existed): visited nodes are never re-entered.
    let mut visited = BTreeSet::new();
    let mut stack: Vec<(String, Vec<String>)> = after
        .iter()
        .map(|d| (d.clone(), vec![name.to_string(), d.clone()]))
        .collect();
    while let Some((node, path)) = stack.pop() {
        if node == name {
            return Some(path);
        }
        if !visited.insert(node.clone()) {
            continue;
        }
        for next in others.get(&node).into_iter().flatten() {
            let mut path = path.clone();
            path.push(next.clone());
            stack.push((next.clone(), path));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn check(
        name: &str,
        after: &[&str],
        others: &[(&str, &[&str])],
        stop_grace: Option<u64>,
    ) -> Vec<FieldError> {
        let after_of: BTreeMap<String, Vec<String>> = others
            .iter()
            .map(|(n, a)| (n.to_string(), names(a)))
            .collect();
        let other_names: BTreeSet<String> = after_of.keys().cloned().collect();
        let after = names(after);
        let monitoring = MonitoringTimings::default();
        let mut invalid = Vec::new();
        validate_lifecycle(
            LifecycleInput {
                name,
                stop_grace_secs: stop_grace,
                reload_grace_secs: None,
                monitoring: &monitoring,
                after: &after,
            },
            OtherServices {
                names: &other_names,
                after: &after_of,
            },
            &mut invalid,
        );
        invalid
    }

    /// The other services of a start-order case: each name with the names it starts after.
    type Others<'a> = &'a [(&'a str, &'a [&'a str])];

    #[test]
    fn start_order_is_checked() {
        let table: [(&str, &[&str], Others, Option<&str>); 7] = [
            ("web", &[], &[], None),
            ("web", &["db"], &[("db", &[])], None),
            ("web", &["web"], &[], Some("web cannot start after itself")),
            ("web", &["db"], &[], Some("there is no service named db")),
            (
                "web",
                &["db", "db"],
                &[("db", &[])],
                Some("db is listed twice"),
            ),
            (
                "web",
                &["db"],
                &[("db", &["cache"]), ("cache", &["web"])],
                Some("the start order has a cycle: web → db → cache → web"),
            ),
            // A cycle among the others that does not pass through this service is not its problem.
            ("web", &["db"], &[("db", &["a"]), ("a", &["db"])], None),
        ];
        for (name, after, others, expected) in table {
            let errors = check(name, after, others, None);
            assert_eq!(
                errors
                    .first()
                    .map(|e| (e.field.as_str(), e.message.as_str())),
                expected.map(|m| ("after", m)),
                "{name} after {after:?} with {others:?}"
            );
        }
    }

    #[test]
    fn durations_are_checked() {
        assert!(check("web", &[], &[], Some(10)).is_empty());
        let errors = check("web", &[], &[], Some(0));
        assert_eq!(errors[0].field, "stop_grace_secs");
        assert_eq!(check("web", &[], &[], Some(3601)).len(), 1);
    }

    #[test]
    fn names_and_policies_round_trip() {
        for s in StopSignalName::ALL {
            assert_eq!(StopSignalName::parse(s.as_str()), Some(s));
        }
        assert_eq!(StopSignalName::parse("SIGINT"), Some(StopSignalName::Int));
        assert_eq!(StopSignalName::parse("STOP"), None);
        assert_eq!(
            serde_json::to_string(&StopSignalName::Usr1).ok().as_deref(),
            Some("\"USR1\"")
        );
        let table = [
            (RestartPolicy::Always, true, true),
            (RestartPolicy::Always, false, true),
            (RestartPolicy::OnFailure, true, false),
            (RestartPolicy::OnFailure, false, true),
            (RestartPolicy::Never, true, false),
            (RestartPolicy::Never, false, false),
        ];
        for (policy, success, restarts) in table {
            assert_eq!(
                policy.restarts_after(success),
                restarts,
                "{policy:?} {success}"
            );
            assert_eq!(RestartPolicy::parse(policy.as_str()), Some(policy));
        }
    }
}
