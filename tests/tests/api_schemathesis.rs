//! Contract fuzzing: schemathesis (PyPI, installed by `.ci/setup test` into `target/schemathesis-venv`)
//! generates requests from the live binary's OpenAPI document and sends them with a bearer token. The run
//! must find no 5xx, no response whose body violates its documented schema and no undocumented content
//! type, in at least 1 000 generated requests.
//!
//! Warden runs inside a throwaway network namespace with the real `nft`, and schemathesis runs in the same
//! namespace against its loopback address: applies, rollbacks, bans and deactivations are fuzzed for real
//! without touching the host's firewall. Excluded operations, and why:
//! - `POST /auth/logout` revokes the token the run authenticates with (every later request would be 401);
//! - `PATCH /users/{username}` with a `password` ends that user's sessions: for `admin`, the run's own
//!   (covered by `api_accounts.rs`);
//! - `GET /events` and `GET /services/{id}/logs/stream` are endless event streams: each request would only
//!   end at the client timeout (they are covered by the services and settings tests).

#[path = "firewall_e2e_support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use warden_tests::{gate, repo_root, Launch};

fn schemathesis() -> PathBuf {
    repo_root().join("target/schemathesis-venv/bin/schemathesis")
}

fn requirements() -> Result<(), String> {
    warden_testkit::netns::requirements()?;
    let ok = Command::new(schemathesis())
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{} is missing (run `.ci/setup test`)",
            schemathesis().display()
        ))
    }
}

#[test]
fn schemathesis_finds_no_server_error_and_no_schema_violation() {
    if !gate("schemathesis, network namespaces and nft", requirements()) {
        return;
    }
    let ns = warden_testkit::Netns::new("st");
    let warden = Launch::new().in_netns(&ns.name).start();
    let server = warden.host_addr();
    let admin = support::NsClient::new(&ns, server).login();
    let token = admin.token.clone().expect("token");

    let report_dir = tempfile::tempdir().expect("report dir");
    let output = Command::new("ip")
        .args(["netns", "exec", &ns.name])
        .arg(schemathesis())
        .arg("run")
        .arg(format!("http://{server}/api/v1/openapi.json"))
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args([
            "--checks",
            "not_a_server_error,response_schema_conformance,content_type_conformance",
        ])
        .args(["--exclude-operation-id", "logout"])
        .args(["--exclude-operation-id", "update_user"])
        .args(["--exclude-operation-id", "events"])
        .args(["--exclude-operation-id", "service_log_stream"])
        .args(["--max-examples", "25", "--request-timeout", "20"])
        .args(["--report", "json", "--report-dir"])
        .arg(report_dir.path())
        .env("SCHEMATHESIS_HOOKS", "")
        // schemathesis keeps a cache in its working directory: keep it out of the repository.
        .current_dir(report_dir.path())
        .output()
        .expect("run schemathesis");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);

    // Leave nothing running: the fuzzed services are deleted (which stops them) before Warden goes.
    let services = admin.get("/services").json();
    for service in services.as_array().into_iter().flatten() {
        if let Some(id) = service["id"].as_str() {
            let _ = admin.try_request(
                "DELETE",
                &format!("/services/{id}"),
                None,
                Duration::from_secs(5),
            );
        }
    }

    let report_path = std::fs::read_dir(report_dir.path())
        .expect("report dir")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .unwrap_or_else(|| panic!("no JSON report; schemathesis said:\n{stdout}\n{stderr}"));
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).expect("read report"))
            .expect("report is JSON");
    let generated = report["test_cases"]["generated"].as_u64().unwrap_or(0);
    eprintln!(
        "schemathesis: {generated} test cases over {} operations in {:.0} s",
        report["operations"]["tested"],
        report["running_time"].as_f64().unwrap_or(0.0)
    );
    assert!(
        output.status.success() && report["failures"].as_array().is_some_and(Vec::is_empty),
        "schemathesis found problems:\n{stdout}\n{stderr}"
    );
    assert_eq!(report["errors"], serde_json::json!([]), "{stdout}");
    assert!(
        generated >= 1000,
        "only {generated} requests generated:\n{stdout}"
    );
    assert!(
        report["operations"]["tested"].as_u64().unwrap_or(0) >= 40,
        "{}",
        report["operations"]
    );
    assert!(
        !warden.stderr().contains("panicked"),
        "Warden panicked:\n{}",
        warden.stderr()
    );
}
