//! Table tests of the pure plan.

use std::collections::BTreeMap;

use app::model::service::ServiceSpec;
use app::model::settings::Settings;
use app::model::state::ChangeAction;
use warden_firewall::{Action, Policy, Rule, RuleInput};

use super::*;

fn spec(name: &str) -> ServiceSpec {
    ServiceSpec {
        name: name.into(),
        command: "sleep 100".into(),
        working_directory: None,
        environment: BTreeMap::new(),
        monitoring_command: None,
        ports: vec![],
        user: None,
        enabled: true,
        allow_ports_outside_range: false,
        stop_signal: Default::default(),
        stop_grace_secs: None,
        reload_grace_secs: None,
        restart: Default::default(),
        monitoring: Default::default(),
        after: Vec::new(),
        limits: Default::default(),
    }
}

type Edit = fn(&mut ServiceSpec);

/// One edit of the desired spec per row: the action, the fields named and whether it restarts. Must
/// agree with what the supervisor does on PATCH (`spec_change::classify`).
#[test]
fn each_service_field_plans_as_the_supervisor_acts() {
    let table: &[(&str, Edit, ChangeAction, &[&str], bool)] = &[
        ("nothing", |_| {}, ChangeAction::Unchanged, &[], false),
        (
            "explicit default stop grace",
            |s| s.stop_grace_secs = Some(10),
            ChangeAction::Unchanged,
            &[],
            false,
        ),
        (
            "explicit default reload grace and monitoring",
            |s| {
                s.reload_grace_secs = Some(2);
                s.monitoring.grace_secs = Some(10);
                s.monitoring.interval_secs = Some(30);
                s.monitoring.timeout_secs = Some(10);
            },
            ChangeAction::Unchanged,
            &[],
            false,
        ),
        (
            "command",
            |s| s.command = "sleep 200".into(),
            ChangeAction::Update,
            &["command"],
            true,
        ),
        (
            "environment",
            |s| {
                s.environment.insert("A".into(), "1".into());
            },
            ChangeAction::Update,
            &["environment"],
            true,
        ),
        (
            "stop grace",
            |s| s.stop_grace_secs = Some(3),
            ChangeAction::Update,
            &["stop_grace_secs"],
            false,
        ),
        (
            "monitoring interval",
            |s| s.monitoring.interval_secs = Some(5),
            ChangeAction::Update,
            &["monitoring"],
            false,
        ),
        (
            "limits",
            |s| s.limits.nofile = Some(1024),
            ChangeAction::Update,
            &["limits"],
            true,
        ),
        (
            "disabled",
            |s| s.enabled = false,
            ChangeAction::Update,
            &["enabled"],
            false,
        ),
        (
            "allow_ports_outside_range",
            |s| s.allow_ports_outside_range = true,
            ChangeAction::Update,
            &["allow_ports_outside_range"],
            false,
        ),
    ];
    let current = vec![("id1".to_string(), spec("web"))];
    for (what, edit, action, fields, restarts) in table {
        let mut want = spec("web");
        edit(&mut want);
        let (changes, steps) = plan_services(&current, &[want], false, &SpecDefaults::default());
        assert_eq!(changes.len(), 1, "{what}");
        assert_eq!(changes[0].action, *action, "{what}");
        assert_eq!(changes[0].fields, *fields, "{what}");
        assert_eq!(changes[0].restarts, *restarts, "{what}");
        assert_eq!(
            steps.len(),
            usize::from(*action != ChangeAction::Unchanged),
            "{what}"
        );
    }
}

#[test]
fn explicit_defaults_follow_the_configured_defaults() {
    let current = vec![("id1".to_string(), spec("web"))];
    let mut want = spec("web");
    want.stop_grace_secs = Some(10);
    let fast = SpecDefaults {
        stop_grace_secs: 1,
        ..SpecDefaults::default()
    };
    let (changes, _) = plan_services(&current, &[want], false, &fast);
    assert_eq!(changes[0].action, ChangeAction::Update);
}

#[test]
fn services_not_named_are_deleted_only_when_pruning() {
    let current = vec![
        ("id1".to_string(), spec("a")),
        ("id2".to_string(), spec("b")),
    ];
    let desired = [spec("a"), spec("c")];
    for (prune, expected) in [
        (
            false,
            vec![("a", ChangeAction::Unchanged), ("c", ChangeAction::Create)],
        ),
        (
            true,
            vec![
                ("a", ChangeAction::Unchanged),
                ("c", ChangeAction::Create),
                ("b", ChangeAction::Delete),
            ],
        ),
    ] {
        let (changes, steps) = plan_services(&current, &desired, prune, &SpecDefaults::default());
        let got: Vec<(&str, ChangeAction)> = changes
            .iter()
            .map(|c| (c.name.as_str(), c.action))
            .collect();
        assert_eq!(got, expected, "prune {prune}");
        assert_eq!(
            steps
                .iter()
                .any(|s| matches!(s, ServiceStep::Delete { id } if id == "id2")),
            prune
        );
    }
}

fn rule(id: &str, ports: &str, annotation: &str) -> Rule {
    RuleInput {
        ports: Some(vec![ports.to_string()]),
        annotation: Some(annotation.to_string()),
        ..RuleInput::default()
    }
    .into_rule(id)
    .unwrap()
}

fn actions(changes: &[Change]) -> Vec<(String, ChangeAction, Vec<String>)> {
    changes
        .iter()
        .map(|c| (c.name.clone(), c.action, c.fields.clone()))
        .collect()
}

#[test]
fn rules_are_matched_by_content_then_annotation() {
    let current = vec![
        rule("r1", "22", "ssh"),
        rule("r2", "80", "web"),
        rule("r3", "25", ""),
    ];
    let s = |v: &str| v.to_string();
    type Case = (
        &'static str,
        Vec<Rule>,
        bool,
        Vec<(String, ChangeAction, Vec<String>)>,
        Vec<RuleSource>,
    );
    let cases: Vec<Case> = vec![
        (
            "the same list",
            current.clone(),
            false,
            vec![
                (s("#0 ssh"), ChangeAction::Unchanged, vec![]),
                (s("#1 web"), ChangeAction::Unchanged, vec![]),
                (s("#2"), ChangeAction::Unchanged, vec![]),
            ],
            vec![
                RuleSource::Existing(s("r1")),
                RuleSource::Existing(s("r2")),
                RuleSource::Existing(s("r3")),
            ],
        ),
        (
            "web's port changed, 25 not named, no prune",
            vec![rule("x", "22", "ssh"), rule("x", "8080", "web")],
            false,
            vec![
                (s("#0 ssh"), ChangeAction::Unchanged, vec![]),
                (s("#1 web"), ChangeAction::Update, vec![s("ports")]),
                (s("#2"), ChangeAction::Unchanged, vec![]),
            ],
            vec![
                RuleSource::Existing(s("r1")),
                RuleSource::Existing(s("r2")),
                RuleSource::Existing(s("r3")),
            ],
        ),
        (
            "a new rule on top, pruned",
            vec![rule("x", "443", "tls"), rule("x", "22", "ssh")],
            true,
            vec![
                (s("#0 tls"), ChangeAction::Create, vec![]),
                (s("#1 ssh"), ChangeAction::Update, vec![s("position")]),
                (s("#1 web"), ChangeAction::Delete, vec![]),
                (s("#2"), ChangeAction::Delete, vec![]),
            ],
            vec![RuleSource::New(0), RuleSource::Existing(s("r1"))],
        ),
    ];
    for (what, desired, prune, expected, order) in cases {
        let (changes, got_order) = plan_rules(&current, &desired, prune);
        assert_eq!(actions(&changes), expected, "{what}");
        assert_eq!(got_order, order, "{what}");
    }
}

#[test]
fn an_action_change_is_an_update_of_that_field() {
    let current = vec![rule("r1", "22", "ssh")];
    let mut want = rule("x", "22", "ssh");
    want.action = Action::Drop;
    let (changes, _) = plan_rules(&current, &[want], false);
    assert_eq!(changes[0].fields, vec!["action".to_string()]);
}

#[test]
fn policy_and_settings_lines() {
    assert_eq!(
        plan_policy(Policy::Accept, Policy::Accept).action,
        ChangeAction::Unchanged
    );
    assert_eq!(
        plan_policy(Policy::Accept, Policy::Drop).action,
        ChangeAction::Update
    );
    let current = Settings::defaults("h".into(), "nobody".into());
    assert_eq!(
        plan_settings(&current, &current).action,
        ChangeAction::Unchanged
    );
    let mut next = current.clone();
    next.environment.insert("LANG".into(), "C".into());
    next.hostname = "edge".into();
    let line = plan_settings(&current, &next);
    assert_eq!(line.action, ChangeAction::Update);
    assert_eq!(
        line.fields,
        vec!["environment".to_string(), "hostname".to_string()]
    );
}
