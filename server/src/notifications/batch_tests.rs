//! The pure plan of a document's `notifications` section: matching, fields, the write-only password.

use app::model::notifications::{DestinationKind, SmtpInput, SmtpSecurity};

use super::*;

fn webhook(name: &str, url: &str) -> DestinationInput {
    DestinationInput {
        name: name.into(),
        kind: DestinationKind::Webhook,
        url: Some(url.into()),
        events: vec!["service_disabled".into()],
        enabled: true,
        ..DestinationInput::default()
    }
}

fn email(name: &str, password: Option<&str>) -> DestinationInput {
    DestinationInput {
        name: name.into(),
        kind: DestinationKind::Email,
        smtp: Some(SmtpInput {
            host: "mail.example.org".into(),
            port: 587,
            security: SmtpSecurity::Starttls,
            from: "warden@example.org".into(),
            username: Some("warden".into()),
            password: password.map(str::to_string),
        }),
        to: vec!["ops@example.org".into()],
        events: vec!["firewall_drift".into()],
        enabled: true,
        url: None,
    }
}

fn stored(id: &str, input: &DestinationInput) -> StoredDestination {
    StoredDestination::create(id.into(), input, format!("2026-01-01T00:00:0{id}Z"))
}

fn actions(changes: &[Change]) -> Vec<(String, ChangeAction, Vec<String>)> {
    changes
        .iter()
        .map(|c| (c.name.clone(), c.action, c.fields.clone()))
        .collect()
}

#[test]
fn the_exported_destinations_applied_back_change_nothing() {
    let current = vec![
        stored("1", &webhook("ops", "https://hooks.example.org/a")),
        stored("2", &email("", Some("s3cret"))),
    ];
    let exported: Vec<DestinationInput> = current.iter().map(StoredDestination::as_input).collect();
    let (changes, steps) = plan_destinations(&current, &exported, true);
    assert!(steps.is_empty(), "{steps:?}");
    assert!(changes
        .iter()
        .all(|c| c.action == ChangeAction::Unchanged && c.kind == ChangeKind::Notification));
    assert_eq!(changes[1].name, "#1 email");
    let json = serde_json::to_string(&exported).unwrap_or_default();
    assert!(
        !json.contains("s3cret") && !json.contains("password"),
        "{json}"
    );
}

#[test]
fn a_destination_is_matched_by_settings_then_by_name() {
    let current = vec![stored("1", &webhook("ops", "https://hooks.example.org/a"))];
    let desired = vec![webhook("ops", "https://hooks.example.org/b")];
    let (changes, steps) = plan_destinations(&current, &desired, false);
    assert_eq!(
        actions(&changes),
        [(
            "ops".to_string(),
            ChangeAction::Update,
            vec!["url".to_string()]
        )]
    );
    assert_eq!(
        steps,
        [DestinationStep::Update {
            id: "1".into(),
            index: 0
        }]
    );
    // Renamed but the same settings: still the same destination.
    let (changes, _) = plan_destinations(
        &current,
        &[webhook("pager", "https://hooks.example.org/a")],
        false,
    );
    assert_eq!(
        actions(&changes),
        [(
            "pager".to_string(),
            ChangeAction::Update,
            vec!["name".to_string()]
        )]
    );
}

#[test]
fn unnamed_destinations_are_deleted_only_when_pruning() {
    let current = vec![
        stored("1", &webhook("ops", "https://hooks.example.org/a")),
        stored("2", &webhook("", "https://other.example.org/")),
    ];
    let desired = vec![webhook("ops", "https://hooks.example.org/a")];
    let (changes, steps) = plan_destinations(&current, &desired, false);
    assert_eq!(changes.len(), 1);
    assert!(steps.is_empty());
    let (changes, steps) = plan_destinations(&current, &desired, true);
    assert_eq!(changes[1].action, ChangeAction::Delete);
    assert_eq!(changes[1].name, "#1 webhook");
    assert_eq!(steps, [DestinationStep::Delete { id: "2".into() }]);
}

#[test]
fn a_left_out_password_is_kept_and_a_named_one_is_an_unshown_change() {
    let current = vec![stored("1", &email("mail", Some("old-secret")))];
    let (changes, steps) = plan_destinations(&current, &[email("mail", None)], false);
    assert_eq!(changes[0].action, ChangeAction::Unchanged);
    assert!(steps.is_empty());

    let (changes, steps) = plan_destinations(&current, &[email("mail", Some("old-secret"))], false);
    assert_eq!(changes[0].action, ChangeAction::Unchanged, "{changes:?}");
    assert!(steps.is_empty());

    let (changes, _) = plan_destinations(&current, &[email("mail", Some("new-secret"))], false);
    assert_eq!(
        actions(&changes),
        [(
            "mail".to_string(),
            ChangeAction::Update,
            vec!["smtp.password".to_string()]
        )]
    );
    assert!(!format!("{changes:?}").contains("new-secret"));

    let mut changed_port = email("mail", None);
    if let Some(smtp) = changed_port.smtp.as_mut() {
        smtp.port = 2525;
    }
    let next = stored_from(&changed_port, current.first());
    assert_eq!(
        next.smtp.and_then(|s| s.password),
        Some("old-secret".to_string())
    );
}

#[test]
fn field_errors_name_the_destination() {
    let mut bad = webhook("ops", "ftp://example.org");
    bad.events = vec!["no_such_event".into()];
    let errors = validate_all(&[bad, webhook("", "https://ok.example.org/")]);
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert!(fields.contains(&"notifications[ops].url"), "{fields:?}");
    assert!(
        fields
            .iter()
            .any(|f| f.starts_with("notifications[ops].events")),
        "{fields:?}"
    );
    assert_eq!(errors.len(), 2, "{errors:?}");
}
