//! Tests of the service shapes and their shared validation ([`super::validate_service`]).
use super::*;

fn ctx() -> ValidationContext {
    ValidationContext {
        port_range: ServicePortRange::DEFAULT,
        taken_names: BTreeSet::from(["web".to_string()]),
        taken_ports: BTreeMap::from([(8300, "web".to_string())]),
        after: BTreeMap::new(),
    }
}

fn fields(errors: &[FieldError]) -> Vec<&str> {
    errors.iter().map(|e| e.field.as_str()).collect()
}

#[test]
fn valid_input_becomes_a_spec() {
    let mut input = ServiceInput::new("redis-1_a", "redis-server");
    input.ports = vec![8301, 8302];
    input.working_directory = Some("/srv".into());
    input.environment.insert("PATH".into(), "/bin".into());
    input.user = Some("nobody".into());
    let spec = validate_service(&input, &ctx()).unwrap();
    assert_eq!(spec.name, "redis-1_a");
    assert_eq!(spec.ports, vec![8301, 8302]);
    assert!(spec.enabled);
}

#[test]
fn invalid_inputs_name_their_fields() {
    type Edit = fn(&mut ServiceInput);
    let table: Vec<(&str, Edit, Vec<&str>)> = vec![
        ("empty name", |i| i.name = String::new(), vec!["name"]),
        ("uppercase", |i| i.name = "Web".into(), vec!["name"]),
        ("space", |i| i.name = "a b".into(), vec!["name"]),
        ("too long", |i| i.name = "a".repeat(65), vec!["name"]),
        (
            "empty command",
            |i| i.command = "  ".into(),
            vec!["command"],
        ),
        (
            "nul command",
            |i| i.command = "a\0b".into(),
            vec!["command"],
        ),
        (
            "relative dir",
            |i| i.working_directory = Some("srv".into()),
            vec!["working_directory"],
        ),
        (
            "bad env key",
            |i| {
                i.environment.insert("1X".into(), "v".into());
            },
            vec!["environment.1X"],
        ),
        (
            "empty monitor",
            |i| i.monitoring_command = Some(String::new()),
            vec!["monitoring_command"],
        ),
        (
            "port out of range",
            |i| i.ports = vec![80],
            vec!["ports[0]"],
        ),
        ("port zero", |i| i.ports = vec![0], vec!["ports[0]"]),
        (
            "duplicate port",
            |i| i.ports = vec![8400, 8400],
            vec!["ports[1]"],
        ),
        ("bad user", |i| i.user = Some("-x".into()), vec!["user"]),
        (
            "user with slash",
            |i| i.user = Some("a/b".into()),
            vec!["user"],
        ),
    ];
    for (what, edit, expected) in table {
        let mut input = ServiceInput::new("svc", "sleep 1");
        edit(&mut input);
        let err = validate_service(&input, &ctx()).unwrap_err();
        assert_eq!(fields(&err.invalid), expected, "{what}");
        assert!(err.conflicts.is_empty(), "{what}");
    }
}

#[test]
fn boundaries_are_accepted() {
    let mut input = ServiceInput::new("a".repeat(64), "x");
    input.ports = vec![8301, 8499];
    assert!(validate_service(&input, &ctx()).is_ok());
    input.ports = vec![80];
    input.allow_ports_outside_range = true;
    assert!(validate_service(&input, &ctx()).is_ok());
}

#[test]
fn taken_name_and_port_are_conflicts() {
    let mut input = ServiceInput::new("web", "x");
    input.ports = vec![8301, 8300];
    let err = validate_service(&input, &ctx()).unwrap_err();
    assert!(err.invalid.is_empty());
    assert_eq!(fields(&err.conflicts), vec!["name", "ports[1]"]);
    assert!(err.conflicts[1].message.contains("web"));
}

#[test]
fn patch_distinguishes_absent_from_null() {
    let spec = validate_service(
        &ServiceInput {
            working_directory: Some("/srv".into()),
            monitoring_command: Some("true".into()),
            ..ServiceInput::new("a", "x")
        },
        &ctx(),
    )
    .unwrap();
    let patch: ServicePatch =
        serde_json::from_str(r#"{"working_directory": null, "command": "y"}"#).unwrap();
    let input = patch.apply_to(&spec);
    assert_eq!(input.working_directory, None);
    assert_eq!(input.monitoring_command.as_deref(), Some("true"));
    assert_eq!(input.command, "y");
    assert!(serde_json::from_str::<ServicePatch>(r#"{"bogus": 1}"#).is_err());
    assert!(serde_json::from_str::<ServiceInput>(r#"{"name":"a","command":"x","x":1}"#).is_err());
}

#[test]
fn service_serializes_to_the_api_shape() {
    let service = Service {
        id: "abc".into(),
        spec: validate_service(&ServiceInput::new("a", "x"), &ctx()).unwrap(),
        status: ServiceStatus::stopped(),
    };
    let json = serde_json::to_value(&service).unwrap();
    for key in [
        "id",
        "name",
        "command",
        "working_directory",
        "environment",
        "monitoring_command",
        "ports",
        "user",
        "enabled",
        "status",
    ] {
        assert!(json.get(key).is_some(), "{key} missing in {json}");
    }
    assert_eq!(json["status"]["state"], "stopped");
    assert_eq!(json["status"]["health"], "unknown");
    let back: Service = serde_json::from_value(json).unwrap();
    assert_eq!(back, service);
}
