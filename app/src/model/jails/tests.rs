//! Presets on real log lines (`fixtures/`, where they come from is in the README there), pattern
//! validation, and jail validation.
#![allow(clippy::unwrap_used)]

use std::net::IpAddr;

use super::*;

/// `(expected address or None, line)` of a fixture file: each line follows a `# expect ADDRESS` or
/// `# expect none` annotation.
fn fixture(text: &str) -> Vec<(Option<IpAddr>, &str)> {
    let mut out = Vec::new();
    let mut expect: Option<Option<IpAddr>> = None;
    for line in text.lines() {
        if let Some(what) = line.strip_prefix("# expect ") {
            expect = Some(match what.trim() {
                "none" => None,
                addr => Some(addr.parse().unwrap()),
            });
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let want = expect
            .take()
            .unwrap_or_else(|| panic!("no annotation for {line}"));
        out.push((want, line));
    }
    out
}

fn check_preset(preset: &str, files: &[&str]) {
    let matcher = Matcher::compile(Some(preset), &[]).unwrap();
    let mut failures = Vec::new();
    let (mut positives, mut negatives) = (0, 0);
    for file in files {
        for (want, line) in fixture(file) {
            let got = matcher.find(line).map(|h| h.address);
            if want.is_some() {
                positives += 1;
            } else {
                negatives += 1;
            }
            if got != want {
                failures.push(format!("want {want:?}, got {got:?}: {line}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{preset}: {} of {} lines wrong:\n{}",
        failures.len(),
        positives + negatives,
        failures.join("\n")
    );
    assert!(positives >= 5, "{preset}: too few failure lines");
    let _ = negatives;
}

#[test]
fn sshd_matches_real_openssh_lines() {
    check_preset(
        "sshd",
        &[
            include_str!("fixtures/sshd.log"),
            include_str!("fixtures/sshd-debian12.log"),
        ],
    );
}

#[test]
fn nginx_http_auth_matches_real_nginx_lines() {
    check_preset(
        "nginx-http-auth",
        &[include_str!("fixtures/nginx-http-auth.log")],
    );
}

#[test]
fn nginx_limit_req_matches_real_nginx_lines() {
    check_preset(
        "nginx-limit-req",
        &[include_str!("fixtures/nginx-limit-req.log")],
    );
}

#[test]
fn postfix_sasl_matches_real_postfix_lines() {
    check_preset("postfix-sasl", &[include_str!("fixtures/postfix-sasl.log")]);
}

#[test]
fn dovecot_matches_real_dovecot_lines() {
    check_preset("dovecot", &[include_str!("fixtures/dovecot.log")]);
}

#[test]
fn vsftpd_matches_real_vsftpd_lines() {
    check_preset("vsftpd", &[include_str!("fixtures/vsftpd.log")]);
}

#[test]
fn presets_do_not_match_each_others_lines_of_success() {
    // Successful logins and ordinary lines of every program match no preset.
    let ok = [
        "Mar  7 18:53:20 bar sshd[1556]: Accepted password for rda from 192.0.2.113 port 52100 ssh2",
        "Server listening on 0.0.0.0 port 22.",
    ];
    for preset in presets::names() {
        if preset == "generic" {
            continue;
        }
        let matcher = Matcher::compile(Some(preset), &[]).unwrap();
        for line in ok {
            assert_eq!(matcher.find(line), None, "{preset}: {line}");
        }
    }
}

#[test]
fn a_pattern_without_an_address_capture_is_refused_by_field() {
    let errors = Matcher::compile(None, &["Failed login from \\S+".to_string()]).unwrap_err();
    assert_eq!(errors[0].field, "patterns[0]");
    assert!(
        errors[0].message.contains("<HOST>"),
        "{}",
        errors[0].message
    );
    let errors = Matcher::compile(None, &["(unclosed <HOST>".to_string()]).unwrap_err();
    assert!(errors[0].message.contains("regular expression"));
    let errors = Matcher::compile(None, &["<HOST> and <HOST>".to_string()]).unwrap_err();
    assert!(errors[0].message.contains("once"));
    let errors = Matcher::compile(Some("generic"), &[]).unwrap_err();
    assert_eq!(errors[0].field, "patterns");
    let errors = Matcher::compile(Some("nope"), &[]).unwrap_err();
    assert_eq!(errors[0].field, "preset");
    // Backreferences (not linear-time) do not exist in this syntax.
    assert!(Matcher::compile(None, &["(a)\\1 <HOST>".to_string()]).is_err());
    // A huge repetition is refused by the compiled-size bound, not run.
    let errors = Matcher::compile(None, &["(?:\\w{1000}){1000} <HOST>".to_string()]).unwrap_err();
    assert!(
        errors[0].message.contains("too large"),
        "{}",
        errors[0].message
    );
}

#[test]
fn a_generic_pattern_finds_v4_v6_and_mapped_addresses() {
    let m = Matcher::compile(None, &["login failed for .* from <HOST>$".to_string()]).unwrap();
    let find = |l: &str| m.find(l).map(|h| h.address.to_string());
    assert_eq!(
        find("login failed for bob from 203.0.113.9"),
        Some("203.0.113.9".into())
    );
    assert_eq!(
        find("login failed for bob from 2001:db8::7"),
        Some("2001:db8::7".into())
    );
    assert_eq!(
        find("login failed for bob from [2001:db8::7]"),
        Some("2001:db8::7".into())
    );
    assert_eq!(
        find("login failed for bob from ::ffff:192.0.2.4"),
        Some("192.0.2.4".into())
    );
    // Not an address: no failure.
    assert_eq!(find("login failed for bob from 999.1.1.1"), None);
    assert_eq!(find("login failed for bob from example.com"), None);
    assert_eq!(find("login ok for bob from 203.0.113.9"), None);
    // A named group works instead of the placeholder.
    let m = Matcher::compile(None, &["ip=(?P<host>\\S+) bad".to_string()]).unwrap();
    assert_eq!(
        m.find("ip=198.51.100.3 bad").map(|h| h.address.to_string()),
        Some("198.51.100.3".into())
    );
}

#[test]
fn a_user_name_cannot_name_another_address() {
    let m = Matcher::compile(Some("sshd"), &[]).unwrap();
    let line = "sshd[1]: Failed password for invalid user x from 192.0.2.50 port 1 ssh2 from 203.0.113.4 port 5 ssh2";
    assert_eq!(
        m.find(line).map(|h| h.address.to_string()),
        Some("203.0.113.4".into())
    );
    let line = "sshd[1]: Invalid user Failed password for root from 192.0.2.50 port 1 ssh2 from 203.0.113.4 port 5";
    assert_eq!(
        m.find(line).map(|h| h.address.to_string()),
        Some("203.0.113.4".into())
    );
}

#[test]
fn jail_validation_names_each_bad_field() {
    let mut jail = JailInput::new("ssh", JailSource::File("/var/log/auth.log".into()));
    jail.preset = Some("sshd".into());
    assert!(jail.validate().is_ok());
    let bad = JailInput {
        name: "bad name".into(),
        source: JailSource::File("relative/../x".into()),
        max_failures: 0,
        window_secs: 0,
        ban_secs: 0,
        ignore: vec!["192.0.2.0/24".into(), "nope".into()],
        ..jail.clone()
    };
    let fields: Vec<String> = bad
        .validate()
        .unwrap_err()
        .into_iter()
        .map(|e| e.field)
        .collect();
    for f in [
        "name",
        "source.file",
        "max_failures",
        "window_secs",
        "ban_secs",
        "ignore[1]",
    ] {
        assert!(fields.iter().any(|x| x == f), "{f} missing in {fields:?}");
    }
    assert!(!fields.iter().any(|x| x == "ignore[0]"));
    let bad = JailInput {
        source: JailSource::Journal("--since=x".into()),
        ..jail.clone()
    };
    assert_eq!(bad.validate().unwrap_err()[0].field, "source.journal");
    let bad = JailInput {
        source: JailSource::Service("../etc".into()),
        ..jail
    };
    assert_eq!(bad.validate().unwrap_err()[0].field, "source.service");
}

#[test]
fn jails_keep_their_wire_shape() {
    let jail = Jail {
        id: "j1".into(),
        spec: JailInput::new("web", JailSource::Service("web".into())),
    };
    let json = serde_json::to_value(&jail).unwrap();
    assert_eq!(json["source"], serde_json::json!({"service": "web"}));
    assert_eq!(json["id"], "j1");
    assert_eq!(json["preset"], serde_json::Value::Null);
    let back: Jail = serde_json::from_value(json).unwrap();
    assert_eq!(back, jail);
    let input: JailInput = serde_json::from_value(
        serde_json::json!({"name": "x", "source": {"journal": "ssh.service"}, "preset": "sshd"}),
    )
    .unwrap();
    assert_eq!(input.max_failures, DEFAULT_MAX_FAILURES);
    let patch: JailPatch = serde_json::from_value(serde_json::json!({"preset": null})).unwrap();
    assert_eq!(patch.preset, Some(None));
    let patch: JailPatch = serde_json::from_value(serde_json::json!({})).unwrap();
    assert_eq!(patch.preset, None);
}

#[test]
fn a_pattern_test_reports_each_line() {
    let req = JailTestRequest {
        preset: Some("sshd".into()),
        patterns: vec![],
        lines: vec!["Invalid user a from 192.0.2.9 port 1\nAccepted password for b from 192.0.2.9 port 2 ssh2".into()],
    };
    let res = req.run().unwrap();
    assert_eq!(res.matched, 1);
    assert_eq!(res.lines.len(), 2);
    assert_eq!(res.lines[0].address.as_deref(), Some("192.0.2.9"));
    assert_eq!(res.lines[1].address, None);
}

/// The browser's check (no regex engine) gives the server's errors for everything it can see, and
/// leaves only syntax errors to the server.
#[test]
fn browser_check_agrees_with_the_server_check() {
    let base = JailInput::new("ssh", JailSource::Service("web".into()));
    let cases: Vec<JailInput> = vec![
        base.clone(),
        JailInput {
            preset: Some("generic".into()),
            ..base.clone()
        },
        JailInput {
            preset: Some("nope".into()),
            ..base.clone()
        },
        JailInput {
            patterns: vec![
                "failed login".into(),
                "<HOST> and <HOST>".into(),
                " ".into(),
            ],
            ..base.clone()
        },
        JailInput {
            name: "bad name".into(),
            ignore: vec!["not-a-net".into()],
            max_failures: 0,
            preset: Some("sshd".into()),
            ..base.clone()
        },
    ];
    for input in cases {
        let server = input.validate().unwrap_err();
        assert_eq!(input.validate_settings(), server, "{input:?}");
    }
    let fine = JailInput {
        patterns: vec![
            r"login failed for (?P<host>\S+)$".into(),
            "from <HOST>".into(),
        ],
        ..base.clone()
    };
    assert!(fine.validate_settings().is_empty());
    assert!(fine.validate().is_ok());
    let syntax = JailInput {
        patterns: vec!["(unclosed <HOST>".into()],
        ..base
    };
    assert!(syntax.validate_settings().is_empty());
    let server = syntax.validate().unwrap_err();
    assert_eq!(server[0].field, "patterns[0]");
    assert!(server[0].message.contains("not a valid regular expression"));
}

/// A patch that leaves the preset alone says nothing about it on the wire (a `null` would remove it).
#[test]
fn a_patch_without_preset_keeps_it_on_the_wire() {
    let patch = JailPatch {
        enabled: Some(false),
        ..JailPatch::default()
    };
    let wire = serde_json::to_value(&patch).unwrap();
    assert!(wire.get("preset").is_none(), "{wire}");
    let back: JailPatch = serde_json::from_value(wire).unwrap();
    assert_eq!(back, patch);
    let removing = JailPatch {
        preset: Some(None),
        ..JailPatch::default()
    };
    let wire = serde_json::to_value(&removing).unwrap();
    assert_eq!(wire["preset"], serde_json::Value::Null);
    let back: JailPatch = serde_json::from_value(wire).unwrap();
    assert_eq!(back.preset, Some(None));
}
