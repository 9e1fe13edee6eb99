//! `GET /metrics` against the real binary, in a throwaway network namespace with the real `nft` (so the
//! firewall's rule counters are real): a bearer token is needed (a read-only one suffices), the
//! exposition passes `promtool check metrics` (Debian's prometheus package), and the values follow real
//! changes — a `kill -9` of a service bumps its restarts, a stop flips `up`, an applied rule's packet
//! counter counts real packets, a failed login counts.

mod firewall_e2e_support;

use std::process::{Command, Stdio};
use std::time::Duration;

use firewall_e2e_support::{add_rule, other_port, runs, tcp_probe, Lab, NsClient};
use serde_json::json;
use warden_tests::{gate, wait_for};

fn promtool() -> Result<(), String> {
    let ok = Command::new("promtool")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        Ok(())
    } else {
        Err("promtool is missing (Debian package prometheus; run `.ci/setup test`)".into())
    }
}

/// The value of the sample `name{labels}` (labels as written in the exposition), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn scrape(client: &NsClient) -> String {
    let resp = client.get_outside_api("/metrics");
    assert_eq!(resp.status, 200, "{}", resp.body);
    resp.body
}

#[test]
fn metrics_pass_promtool_and_follow_real_changes() {
    if !runs() || !gate("promtool", promtool()) {
        return;
    }
    let lab = Lab::new();
    let _warden = lab.start_warden();
    let admin = NsClient::new(&lab.admin, lab.admin_side()).login();

    // A token is needed; a read-only one suffices.
    let anonymous = NsClient::new(&lab.admin, lab.admin_side());
    assert_eq!(anonymous.get_outside_api("/metrics").status, 401);
    let created = admin.post("/tokens", json!({"name": "prometheus", "scope": "read"}));
    assert_eq!(created.status, 201, "{}", created.body);
    let mut reader = NsClient::new(&lab.admin, lab.admin_side());
    reader.token = created.json()["token"].as_str().map(str::to_string);

    // A service, a rule that counts real packets, a failed login.
    let service = admin.post(
        "/services",
        json!({"name": "ticker", "command": "exec sleep 1000"}),
    );
    assert_eq!(service.status, 201, "{}", service.body);
    let id = service.json()["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let rule = add_rule(
        &admin,
        json!({"protocol": "tcp", "ports": ["9000"], "action": "drop", "annotation": "probe"}),
    );
    let rule_id = rule["id"].as_str().unwrap_or_default().to_string();
    let applied = admin.post("/firewall/apply", json!({"confirm_within_secs": 0}));
    assert_eq!(applied.status, 202, "{}", applied.body);
    for _ in 0..3 {
        let _ = tcp_probe(&lab.other, other_port(9000));
    }
    let wrong = NsClient::new(&lab.other, lab.other_side()).request(
        "POST",
        "/auth/login",
        Some(json!({"username": "admin", "password": "wrong"})),
    );
    assert_eq!(wrong.status, 401);

    let up = r#"warden_service_up{service="ticker"}"#;
    let text = wait_for(
        "the service up in the metrics",
        Duration::from_secs(15),
        || {
            let text = scrape(&reader);
            (sample(&text, up) == Some(1.0)).then_some(text)
        },
    );

    // The exposition is valid for Prometheus' own checker.
    let mut check = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool");
    {
        use std::io::Write;
        let mut stdin = check.stdin.take().expect("stdin");
        stdin.write_all(text.as_bytes()).expect("write");
    }
    let out = check.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool: {}{}\n--- exposition:\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    for series in [
        r#"warden_service_state{service="ticker",value="running"}"#,
        "warden_firewall_active",
        "warden_firewall_pending",
        "warden_firewall_drift",
        "warden_firewall_bans",
        "warden_login_failures_total",
        "process_resident_memory_bytes",
        "process_open_fds",
    ] {
        assert!(sample(&text, series).is_some(), "{series} missing:\n{text}");
    }
    assert_eq!(sample(&text, "warden_firewall_active"), Some(1.0));
    assert!(sample(&text, "warden_login_failures_total") >= Some(1.0));
    let packets =
        format!(r#"warden_firewall_rule_packets_total{{id="{rule_id}",annotation="probe"}}"#);
    assert!(sample(&text, &packets) >= Some(3.0), "{packets}:\n{text}");
    assert!(
        text.contains("warden_http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(
        sample(&text, r#"warden_service_memory_bytes{service="ticker"}"#) > Some(0.0),
        "{text}"
    );

    // A kill -9 of the service bumps its restarts.
    let restarts = r#"warden_service_restarts_total{service="ticker"}"#;
    let before = sample(&text, restarts).unwrap_or(-1.0);
    let pid = admin.get(&format!("/services/{id}")).json()["status"]["pid"]
        .as_i64()
        .expect("a pid");
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap_or(0)),
        nix::sys::signal::Signal::SIGKILL,
    );
    wait_for("the restart counted", Duration::from_secs(15), || {
        (sample(&scrape(&reader), restarts) > Some(before)).then_some(())
    });

    // A stop flips up.
    assert_eq!(
        admin
            .post(&format!("/services/{id}/stop"), json!({}))
            .status,
        200
    );
    wait_for("up 0 after the stop", Duration::from_secs(15), || {
        (sample(&scrape(&reader), up) == Some(0.0)).then_some(())
    });
    let deleted = admin.delete(&format!("/services/{id}"));
    assert_eq!(deleted.status, 204);
}
