//! Validation tables (good and bad inputs with their exact field errors) and a property test that
//! parsing never panics on arbitrary strings.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use proptest::prelude::*;
use warden_firewall::network::parse_host;
use warden_firewall::ports::{parse_port, PortSpec};
use warden_firewall::{
    FieldError, HostSpec, IpVersion, PortRange, Protocol, Rule, RuleInput, RulePatch, RuleSet,
    RuleSetError,
};

fn input(hosts: &[&str], ports: &[&str], ip_version: IpVersion) -> RuleInput {
    RuleInput {
        hosts: Some(hosts.iter().map(|s| s.to_string()).collect()),
        ports: Some(ports.iter().map(|s| s.to_string()).collect()),
        ip_version: Some(ip_version),
        ..RuleInput::default()
    }
}

fn errors(input: RuleInput) -> Vec<FieldError> {
    input.into_rule("r1").unwrap_err()
}

fn fields(errors: &[FieldError]) -> Vec<&str> {
    errors.iter().map(|e| e.field.as_str()).collect()
}

#[test]
fn good_hosts_are_normalised() {
    let cases = [
        ("192.0.2.7", "192.0.2.7"),
        (" 192.0.2.7 ", "192.0.2.7"),
        ("192.0.2.7/24", "192.0.2.0/24"),
        ("192.0.2.7/32", "192.0.2.7"),
        ("0.0.0.0/0", "0.0.0.0/0"),
        ("2001:DB8::7", "2001:db8::7"),
        ("2001:db8::7/32", "2001:db8::/32"),
        ("Backup.Example.ORG.", "backup.example.org"),
        ("localhost", "localhost"),
        ("a-b.c1", "a-b.c1"),
    ];
    for (raw, normalised) in cases {
        let spec = parse_host(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
        assert_eq!(spec.to_string(), normalised, "{raw}");
    }
    assert!(matches!(
        parse_host("example.org"),
        Ok(HostSpec::Hostname(_))
    ));
}

#[test]
fn bad_hosts_are_refused_with_a_reason() {
    let cases = [
        ("", "must not be empty"),
        ("192.0.2.256", "not a valid IPv4 address"),
        ("1.2.3", "not a valid IPv4 address"),
        (
            "192.0.2.0/33",
            "prefix length must be a number from 0 to 32",
        ),
        ("192.0.2.0/", "prefix length"),
        ("192.0.2.0/-1", "prefix length"),
        ("2001:db8::/129", "from 0 to 128"),
        ("2001:db8:::1", "not a valid IPv6 address"),
        ("fe80::1%eth0", "not a valid IPv6 address"),
        ("host/24", "not a valid CIDR"),
        ("-bad.example", "must not start or end with '-'"),
        ("under_score.example", "letters, digits"),
        ("a..b", "1 to 63 characters"),
        ("example.123", "must not be all digits"),
    ];
    for (raw, reason) in cases {
        let err = parse_host(raw).expect_err(raw);
        assert!(err.contains(reason), "{raw:?}: {err:?} lacks {reason:?}");
    }
    let long_label = format!("{}.example", "a".repeat(64));
    assert!(parse_host(&long_label).is_err());
}

#[test]
fn ports_parse_and_normalise() {
    assert_eq!(parse_port("22"), Ok(PortSpec::Range(PortRange::single(22))));
    assert_eq!(
        parse_port("8300-8499"),
        Ok(PortSpec::Range(PortRange::new(8300, 8499).unwrap()))
    );
    assert_eq!(
        parse_port("8300:8499"),
        Ok(PortSpec::Range(PortRange::new(8300, 8499).unwrap()))
    );
    assert_eq!(parse_port("0:65535"), Ok(PortSpec::All));
    assert_eq!(parse_port("0-65535"), Ok(PortSpec::All));
    assert_eq!(
        parse_port("65535"),
        Ok(PortSpec::Range(PortRange::single(65535)))
    );
    let bad = [
        ("0", "port 0"),
        ("0:80", "port 0"),
        ("65536", "greater than 65535"),
        ("1:70000", "greater than 65535"),
        ("90:80", "reversed range"),
        ("80,443", "its own entry"),
        ("+22", "not a port"),
        ("ssh", "not a port"),
        ("", "must not be empty"),
        ("1:2:3", "not a port"),
        ("-5", "not a port"),
    ];
    for (raw, reason) in bad {
        let err = parse_port(raw).expect_err(raw);
        assert!(err.contains(reason), "{raw:?}: {err:?} lacks {reason:?}");
    }
}

#[test]
fn rule_errors_name_the_exact_fields() {
    let e = errors(input(
        &["192.0.2.1", "2001:db8::1", "nope..", "198.51.100.0/24"],
        &["22"],
        IpVersion::V6,
    ));
    assert_eq!(fields(&e), ["hosts[0]", "hosts[2]", "hosts[3]"]);
    assert_eq!(
        e[0].message,
        "192.0.2.1 is an IPv4 host but the rule is IPv6-only (ip_version \"6\")"
    );

    let e = errors(input(&["2001:db8::1"], &[], IpVersion::V4));
    assert_eq!(fields(&e), ["hosts[0]"]);
    assert!(e[0].message.contains("IPv4-only"));

    let e = errors(input(&[], &["22", "0", "70000", "9:8"], IpVersion::Any));
    assert_eq!(fields(&e), ["ports[1]", "ports[2]", "ports[3]"]);

    let mut long = input(&[], &[], IpVersion::Any);
    long.annotation = Some("x".repeat(257));
    assert_eq!(fields(&errors(long)), ["annotation"]);
    let mut control = input(&[], &[], IpVersion::Any);
    control.annotation = Some("line\nbreak".into());
    assert_eq!(fields(&errors(control)), ["annotation"]);
    let mut ok = input(&[], &[], IpVersion::Any);
    ok.annotation = Some("é".repeat(256));
    assert!(ok.into_rule("r1").is_ok());

    let bad_id = input(&[], &[], IpVersion::Any)
        .into_rule("has space")
        .unwrap_err();
    assert_eq!(fields(&bad_id), ["id"]);
}

#[test]
fn hostnames_are_allowed_on_any_version() {
    let rule = input(&["example.org"], &["443"], IpVersion::V6)
        .into_rule("r1")
        .unwrap();
    assert_eq!(rule.hosts, ["example.org"]);
    let set = RuleSet::new(vec![rule]);
    assert_eq!(set.hostnames(), ["example.org"]);
}

#[test]
fn input_defaults_and_unknown_fields() {
    let rule: RuleInput = serde_json::from_str("{}").unwrap();
    let rule = rule.into_rule("r1").unwrap();
    assert!(rule.enabled);
    assert_eq!(rule.protocol, Protocol::Any);
    let json = serde_json::to_value(&rule).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"id": "r1", "position": 0, "enabled": true, "protocol": "any",
            "action": "accept", "direction": "in", "hosts": [], "ports": [],
            "ip_version": "any", "annotation": ""})
    );
    assert!(serde_json::from_str::<RuleInput>(r#"{"bogus": 1}"#).is_err());
    assert!(serde_json::from_str::<RulePatch>(r#"{"id": "x"}"#).is_err());
    let v6: RuleInput = serde_json::from_str(r#"{"ip_version": "6", "ports": ["80-81"]}"#).unwrap();
    let v6 = v6.into_rule("r2").unwrap();
    assert_eq!(v6.ip_version, IpVersion::V6);
    assert_eq!(v6.ports, ["80:81"]);
}

#[test]
fn ruleset_edits_keep_positions_and_reject_bad_patches() {
    let mk = |id: &str| RuleInput::default().into_rule(id).unwrap();
    let mut set = RuleSet::default();
    set.insert(mk("a"), None).unwrap();
    set.insert(mk("b"), None).unwrap();
    assert_eq!(set.insert(mk("c"), Some(0)).unwrap(), 0);
    let order = |s: &RuleSet| {
        s.rules
            .iter()
            .map(|r| (r.id.clone(), r.position))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        order(&set),
        [("c".into(), 0), ("a".into(), 1), ("b".into(), 2)]
    );
    assert_eq!(set.move_rule("c", 99).unwrap(), 2);
    assert_eq!(
        order(&set),
        [("a".into(), 0), ("b".into(), 1), ("c".into(), 2)]
    );
    assert!(matches!(
        set.insert(mk("a"), None),
        Err(RuleSetError::DuplicateId(_))
    ));
    let before = set.clone();
    let bad = RulePatch {
        ports: Some(vec!["0".into()]),
        ..RulePatch::default()
    };
    match set.patch("b", &bad) {
        Err(RuleSetError::Invalid(e)) => assert_eq!(fields(&e), ["ports[0]"]),
        other => panic!("{other:?}"),
    }
    assert_eq!(set, before, "rejected input changes nothing");
    let good = RulePatch {
        enabled: Some(false),
        position: Some(0),
        ..RulePatch::default()
    };
    assert!(!set.patch("b", &good).unwrap().enabled);
    assert_eq!(set.rules[0].id, "b");
    set.remove("a").unwrap();
    assert_eq!(order(&set), [("b".into(), 0), ("c".into(), 1)]);
    assert!(matches!(set.remove("zz"), Err(RuleSetError::NotFound(_))));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn parsing_never_panics(s in any::<String>()) {
        let _ = parse_host(&s);
        let _ = parse_port(&s);
        let rule = Rule {
            id: s.clone(), position: 0, enabled: true, protocol: Protocol::Any,
            action: warden_firewall::Action::Drop, direction: warden_firewall::Direction::In,
            hosts: vec![s.clone()], ports: vec![s.clone()], ip_version: IpVersion::V4,
            annotation: s.clone(),
        };
        let _ = warden_firewall::validate_rule(&rule);
    }

    #[test]
    fn address_like_strings_never_panic(s in "[0-9a-fA-F:./%-]{0,50}") {
        let _ = parse_host(&s);
        let _ = parse_port(&s);
    }
}
