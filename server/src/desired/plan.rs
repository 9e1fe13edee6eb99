//! The pure diff between what is and what a desired-state document asks for: per service `create` /
//! `update` (with the changed fields and whether it restarts) / `delete` (only when pruning) /
//! `unchanged`, the ordered rule list (matched by content, then by annotation), the default policy
//! and the settings. No I/O: the domain handles stage what these functions decide.
//!
//! Service fields whose `null` means a default (stop and reload grace, monitoring timings) compare
//! equal to that default written out, so an exported document applied back changes nothing.
//! Whether an update restarts the service is `supervisor::spec_change::classify`, the supervisor's
//! own rule for PATCH.

use std::collections::BTreeMap;

use app::model::service::ServiceSpec;
use app::model::settings::Settings;
use app::model::state::{Change, ChangeAction, ChangeKind};
use warden_firewall::{Policy, Rule};

use crate::supervisor::spec_change::{classify, SpecEffect};

/// The defaults a `null` lifecycle field stands for (the supervisor's configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecDefaults {
    pub stop_grace_secs: u64,
    pub reload_grace_secs: u64,
    pub monitoring_grace_secs: u64,
    pub monitoring_interval_secs: u64,
    pub monitoring_timeout_secs: u64,
}

impl Default for SpecDefaults {
    fn default() -> Self {
        SpecDefaults {
            stop_grace_secs: 10,
            reload_grace_secs: 2,
            monitoring_grace_secs: 10,
            monitoring_interval_secs: 30,
            monitoring_timeout_secs: 10,
        }
    }
}

fn null_if(value: &mut Option<u64>, default: u64) {
    if *value == Some(default) {
        *value = None;
    }
}

/// `spec` with every explicit default written as `null` (the form the store and the API use).
pub fn normalise(mut spec: ServiceSpec, d: &SpecDefaults) -> ServiceSpec {
    null_if(&mut spec.stop_grace_secs, d.stop_grace_secs);
    null_if(&mut spec.reload_grace_secs, d.reload_grace_secs);
    null_if(&mut spec.monitoring.grace_secs, d.monitoring_grace_secs);
    null_if(
        &mut spec.monitoring.interval_secs,
        d.monitoring_interval_secs,
    );
    null_if(&mut spec.monitoring.timeout_secs, d.monitoring_timeout_secs);
    spec
}

/// The top-level fields in which two values differ (by their JSON form), sorted.
pub fn changed_fields<T: serde::Serialize>(old: &T, new: &T) -> Vec<String> {
    let (Ok(serde_json::Value::Object(old)), Ok(serde_json::Value::Object(new))) =
        (serde_json::to_value(old), serde_json::to_value(new))
    else {
        return Vec::new();
    };
    let mut fields: Vec<String> = new
        .iter()
        .filter(|(k, v)| old.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .chain(old.keys().filter(|k| !new.contains_key(*k)).cloned())
        .collect();
    fields.sort();
    fields
}

/// What happens to one service.
#[derive(Debug, Clone, PartialEq)]
pub enum ServiceStep {
    Create(ServiceSpec),
    /// The service `id` gets `spec`.
    Update {
        id: String,
        spec: ServiceSpec,
    },
    Delete {
        id: String,
    },
}

/// The plan for the services: the lines to show and the steps to take. `current` is `(id, spec)`;
/// `desired` are validated specs. Services the document does not name are deleted only when `prune`.
pub fn plan_services(
    current: &[(String, ServiceSpec)],
    desired: &[ServiceSpec],
    prune: bool,
    defaults: &SpecDefaults,
) -> (Vec<Change>, Vec<ServiceStep>) {
    let by_name: BTreeMap<&str, &(String, ServiceSpec)> = current
        .iter()
        .map(|entry| (entry.1.name.as_str(), entry))
        .collect();
    let mut changes = Vec::new();
    let mut steps = Vec::new();
    for want in desired {
        let line = |action, fields, restarts| Change {
            kind: ChangeKind::Service,
            name: want.name.clone(),
            action,
            fields,
            restarts,
        };
        let Some((id, have)) = by_name.get(want.name.as_str()).copied() else {
            changes.push(line(ChangeAction::Create, Vec::new(), false));
            steps.push(ServiceStep::Create(normalise(want.clone(), defaults)));
            continue;
        };
        let old = normalise(have.clone(), defaults);
        let new = normalise(want.clone(), defaults);
        let fields = changed_fields(&old, &new);
        if fields.is_empty() {
            changes.push(line(ChangeAction::Unchanged, Vec::new(), false));
            continue;
        }
        let restarts = classify(&old, &new).effect == SpecEffect::Restart;
        changes.push(line(ChangeAction::Update, fields, restarts));
        steps.push(ServiceStep::Update {
            id: id.clone(),
            spec: new,
        });
    }
    if prune {
        let named: std::collections::BTreeSet<&str> =
            desired.iter().map(|s| s.name.as_str()).collect();
        for (id, have) in current {
            if !named.contains(have.name.as_str()) {
                changes.push(Change {
                    kind: ChangeKind::Service,
                    name: have.name.clone(),
                    action: ChangeAction::Delete,
                    fields: Vec::new(),
                    restarts: false,
                });
                steps.push(ServiceStep::Delete { id: id.clone() });
            }
        }
    }
    (changes, steps)
}

/// Where a rule of the new list comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleSource {
    /// The existing rule with this id, with the desired content.
    Existing(String),
    /// The desired rule at this index is new (it gets a fresh id).
    New(usize),
}

/// Two rules say the same (ids and positions aside).
fn same_content(a: &Rule, b: &Rule) -> bool {
    Rule {
        id: String::new(),
        position: 0,
        ..a.clone()
    } == Rule {
        id: String::new(),
        position: 0,
        ..b.clone()
    }
}

/// How a rule is named in a plan: `#position` and its annotation.
pub fn rule_name(position: usize, rule: &Rule) -> String {
    if rule.annotation.is_empty() {
        format!("#{position}")
    } else {
        format!("#{position} {}", rule.annotation)
    }
}

/// The plan for the ordered rule list. Each desired rule (validated, any id) is matched to an unused
/// existing rule with the same content, else one with the same non-empty annotation (an update of its
/// fields), else it is new. Unmatched existing rules are deleted when `prune`, otherwise kept after
/// the desired ones in their order. Returns the lines and the new list (desired order first).
pub fn plan_rules(
    current: &[Rule],
    desired: &[Rule],
    prune: bool,
) -> (Vec<Change>, Vec<RuleSource>) {
    let mut used = vec![false; current.len()];
    let mut matched: Vec<Option<usize>> = vec![None; desired.len()];
    for (d, want) in desired.iter().enumerate() {
        if let Some(c) = (0..current.len()).find(|&c| !used[c] && same_content(&current[c], want)) {
            used[c] = true;
            matched[d] = Some(c);
        }
    }
    for (d, want) in desired.iter().enumerate() {
        if matched[d].is_some() || want.annotation.is_empty() {
            continue;
        }
        if let Some(c) =
            (0..current.len()).find(|&c| !used[c] && current[c].annotation == want.annotation)
        {
            used[c] = true;
            matched[d] = Some(c);
        }
    }
    let mut changes = Vec::new();
    let mut order = Vec::new();
    for (d, want) in desired.iter().enumerate() {
        let line = |action, fields: Vec<String>| Change {
            kind: ChangeKind::Rule,
            name: rule_name(d, want),
            action,
            fields,
            restarts: false,
        };
        match matched[d] {
            None => {
                changes.push(line(ChangeAction::Create, Vec::new()));
                order.push(RuleSource::New(d));
            }
            Some(c) => {
                let have = &current[c];
                let mut fields = changed_fields(
                    &Rule {
                        id: String::new(),
                        ..have.clone()
                    },
                    &Rule {
                        id: String::new(),
                        position: have.position,
                        ..want.clone()
                    },
                );
                if c != d {
                    fields.push("position".to_string());
                }
                let action = if fields.is_empty() {
                    ChangeAction::Unchanged
                } else {
                    ChangeAction::Update
                };
                changes.push(line(action, fields));
                order.push(RuleSource::Existing(have.id.clone()));
            }
        }
    }
    for (c, have) in current.iter().enumerate() {
        if used[c] {
            continue;
        }
        if prune {
            changes.push(Change {
                kind: ChangeKind::Rule,
                name: rule_name(c, have),
                action: ChangeAction::Delete,
                fields: Vec::new(),
                restarts: false,
            });
        } else {
            let position = order.len();
            changes.push(Change {
                kind: ChangeKind::Rule,
                name: rule_name(position, have),
                action: if position == c {
                    ChangeAction::Unchanged
                } else {
                    ChangeAction::Update
                },
                fields: if position == c {
                    Vec::new()
                } else {
                    vec!["position".to_string()]
                },
                restarts: false,
            });
            order.push(RuleSource::Existing(have.id.clone()));
        }
    }
    (changes, order)
}

/// The line for the default inbound policy.
pub fn plan_policy(current: Policy, desired: Policy) -> Change {
    Change {
        kind: ChangeKind::FirewallPolicy,
        name: "default_inbound_policy".to_string(),
        action: if current == desired {
            ChangeAction::Unchanged
        } else {
            ChangeAction::Update
        },
        fields: if current == desired {
            Vec::new()
        } else {
            vec!["default_inbound_policy".to_string()]
        },
        restarts: false,
    }
}

/// The line for the settings (`next` = the current settings with the document's section over them).
pub fn plan_settings(current: &Settings, next: &Settings) -> Change {
    let fields = changed_fields(current, next);
    Change {
        kind: ChangeKind::Settings,
        name: "settings".to_string(),
        action: if fields.is_empty() {
            ChangeAction::Unchanged
        } else {
            ChangeAction::Update
        },
        fields,
        restarts: false,
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
