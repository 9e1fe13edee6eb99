//! The pure plan of a document's `jails` section: matching by name, changed fields, prune, the field
//! names of errors and the jail limit.

use app::model::jails::JailSource;

use super::*;

fn jail(name: &str) -> JailInput {
    JailInput {
        preset: Some("sshd".into()),
        ..JailInput::new(name, JailSource::Journal("ssh.service".into()))
    }
}

fn stored(list: &[JailInput]) -> Vec<(String, JailInput)> {
    list.iter()
        .enumerate()
        .map(|(i, j)| (format!("id{i}"), j.clone()))
        .collect()
}

fn actions(changes: &[Change]) -> Vec<(String, ChangeAction, Vec<String>)> {
    changes
        .iter()
        .map(|c| (c.name.clone(), c.action, c.fields.clone()))
        .collect()
}

fn line(name: &str, action: ChangeAction, fields: &[&str]) -> (String, ChangeAction, Vec<String>) {
    (
        name.to_string(),
        action,
        fields.iter().map(|f| f.to_string()).collect(),
    )
}

#[test]
fn the_exported_jails_applied_back_change_nothing() {
    let current = stored(&[jail("nginx"), jail("sshd")]);
    let exported: Vec<JailInput> = current.iter().map(|(_, j)| j.clone()).collect();
    let (changes, steps) = plan_jails(&current, &exported, true);
    assert!(steps.is_empty(), "{steps:?}");
    assert_eq!(
        actions(&changes),
        [
            line("nginx", ChangeAction::Unchanged, &[]),
            line("sshd", ChangeAction::Unchanged, &[])
        ]
    );
    assert!(changes
        .iter()
        .all(|c| c.kind == ChangeKind::Jail && !c.restarts));
}

#[test]
fn a_jail_is_matched_by_name_and_its_changed_fields_are_named() {
    let current = stored(&[jail("sshd"), jail("web")]);
    let mut sshd = jail("sshd");
    sshd.max_failures = 3;
    sshd.ignore = vec!["192.0.2.0/24".into()];
    let desired = vec![sshd.clone(), jail("mail")];
    let (changes, steps) = plan_jails(&current, &desired, false);
    assert_eq!(
        actions(&changes),
        [
            line("sshd", ChangeAction::Update, &["ignore", "max_failures"]),
            line("mail", ChangeAction::Create, &[]),
        ]
    );
    assert_eq!(
        steps,
        [
            JailStep::Update {
                id: "id0".into(),
                spec: sshd
            },
            JailStep::Create(jail("mail")),
        ],
        "web is kept without prune"
    );
}

#[test]
fn prune_deletes_only_the_jails_the_document_does_not_name() {
    let current = stored(&[jail("sshd"), jail("web")]);
    let (changes, steps) = plan_jails(&current, &[jail("web")], true);
    assert_eq!(
        actions(&changes),
        [
            line("web", ChangeAction::Unchanged, &[]),
            line("sshd", ChangeAction::Delete, &[]),
        ]
    );
    assert_eq!(steps, [JailStep::Delete { id: "id0".into() }]);
    let (changes, steps) = plan_jails(&current, &[], true);
    assert_eq!(changes.len(), 2);
    assert_eq!(
        steps.len(),
        2,
        "an empty section with prune deletes every jail"
    );
}

#[test]
fn a_disabled_jail_is_an_update_of_enabled() {
    let current = stored(&[jail("sshd")]);
    let mut off = jail("sshd");
    off.enabled = false;
    let (changes, _) = plan_jails(&current, &[off], false);
    assert_eq!(
        actions(&changes),
        [line("sshd", ChangeAction::Update, &["enabled"])]
    );
}

#[test]
fn errors_name_the_jail_and_the_field() {
    let mut bad = jail("sshd");
    bad.preset = None;
    bad.patterns = vec!["Failed password for .* from".into()];
    let mut unnamed = jail("");
    unnamed.max_failures = 0;
    let errors = validate_all(&[bad, unnamed, jail("web"), jail("web")]);
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert!(fields.contains(&"jails[sshd].patterns[0]"), "{fields:?}");
    assert!(fields.contains(&"jails[#1].name"), "{fields:?}");
    assert!(fields.contains(&"jails[#1].max_failures"), "{fields:?}");
    assert!(fields.contains(&"jails[web].name"), "{fields:?}");
    assert_eq!(
        errors
            .iter()
            .filter(|e| e.field == "jails[web].name")
            .count(),
        1,
        "only the second web is named twice: {fields:?}"
    );
    assert!(validate_all(&[jail("sshd"), jail("web")]).is_empty());
}

#[test]
fn the_jail_limit_is_checked_on_the_result() {
    let current = stored(
        &(0..MAX_JAILS)
            .map(|i| jail(&format!("j{i}")))
            .collect::<Vec<_>>(),
    );
    let (_, steps) = plan_jails(&current, &[jail("one-more")], false);
    assert!(check_count(current.len(), &steps).is_some_and(|e| e.field == "jails"));
    // With prune the others go: one jail is left.
    let (_, steps) = plan_jails(&current, &[jail("one-more")], true);
    assert!(check_count(current.len(), &steps).is_none());
    let (_, steps) = plan_jails(&current, &[jail("j0")], false);
    assert!(check_count(current.len(), &steps).is_none());
}
