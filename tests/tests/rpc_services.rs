//! The UI's server functions for services, called over HTTP exactly as the hydrated UI calls them:
//! each one refuses an unauthenticated caller, and they drive the same supervisor as the REST API.

use std::time::Duration;

use serde_json::{json, Value};
use warden_tests::Warden;

async fn rpc(w: &Warden, c: &reqwest::Client, name: &str, body: Value) -> (u16, Value) {
    let resp = c
        .post(format!("{}/rpc/{name}", w.url))
        .header("origin", &w.url)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

#[tokio::test]
async fn every_service_server_fn_requires_a_session() {
    let w = Warden::start();
    let anon = w.client();
    for name in [
        "services/list",
        "services/get",
        "services/create",
        "services/update",
        "services/delete",
        "services/action",
        "services/logs",
        "services/processes",
        "services/port_range",
        "services/capabilities",
        "shell_info",
        "firewall_capability",
    ] {
        let (status, _) = rpc(&w, &anon, name, json!({})).await;
        assert_eq!(status, 401, "{name} must refuse an anonymous caller");
    }
}

/// The UI's texts about the service range (dashboard, firewall, exposure) come from this server fn: it
/// follows the settings, in their `"first:last"` format.
#[tokio::test]
async fn the_port_range_server_fn_follows_the_settings() {
    let w = Warden::start();
    let c = w.cookie_client().await;
    let (status, range) = rpc(&w, &c, "services/port_range", json!({})).await;
    assert_eq!((status, range), (200, json!("8300:8499")));

    let (_, mut settings) = rpc(&w, &c, "admin/settings", json!({})).await;
    settings["service_ports"] = json!("9000-9010");
    let (status, saved) = rpc(
        &w,
        &c,
        "admin/settings/update",
        json!({ "settings": settings }),
    )
    .await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["service_ports"], "9000-9010", "kept as written");
    let (status, range) = rpc(&w, &c, "services/port_range", json!({})).await;
    assert_eq!((status, range), (200, json!("9000:9010")));
}

#[tokio::test]
async fn create_act_and_read_through_server_fns() {
    let w = Warden::start();
    let c = w.cookie_client().await;

    // Invalid input: field errors come back, nothing is created.
    let (status, err) = rpc(
        &w,
        &c,
        "services/create",
        json!({"input": {"name": "Bad Name!", "command": "", "ports": [70000]}}),
    )
    .await;
    assert!(status >= 400, "{status} {err}");
    let (_, list) = rpc(&w, &c, "services/list", json!({})).await;
    assert_eq!(list, json!([]), "nothing saved after invalid input: {err}");
    let (status, err) = rpc(
        &w,
        &c,
        "services/create",
        json!({"input": {"name": "bad name", "command": "sleep 100", "ports": []}}),
    )
    .await;
    assert!(status >= 400);
    let invalid = &err["Invalid"];
    assert!(
        invalid
            .as_array()
            .is_some_and(|a| a.iter().any(|e| e["field"] == "name")),
        "a field error for name: {err}"
    );

    // A real service.
    let (status, svc) = rpc(
        &w,
        &c,
        "services/create",
        json!({"input": {"name": "ticker", "command": "while true; do echo tick; sleep 0.2; done", "ports": []}}),
    )
    .await;
    assert_eq!(status, 200, "{svc}");
    let id = svc["id"].as_str().unwrap().to_string();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, s) = rpc(&w, &c, "services/get", json!({"id": id})).await;
        if s["status"]["state"] == "running" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never running: {s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Logs show its output.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, lines) = rpc(&w, &c, "services/logs", json!({"id": id, "lines": 50})).await;
        if lines.as_array().is_some_and(|l| {
            l.iter()
                .any(|x| x.as_str().unwrap_or("").contains("out tick"))
        }) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no output in logs: {lines}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, procs) = rpc(&w, &c, "services/processes", json!({"id": id})).await;
    assert!(procs.as_array().is_some_and(|p| !p.is_empty()), "{procs}");

    // Stop, then delete.
    let (status, s) = rpc(
        &w,
        &c,
        "services/action",
        json!({"id": id, "action": "stop"}),
    )
    .await;
    assert_eq!(status, 200, "{s}");
    assert_eq!(s["status"]["state"], "stopped");
    let (status, _) = rpc(&w, &c, "services/delete", json!({"id": id})).await;
    assert_eq!(status, 200);
    let (status, _) = rpc(&w, &c, "services/get", json!({"id": id})).await;
    assert!(status >= 400);
}
