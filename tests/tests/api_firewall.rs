//! The firewall REST API against the real binary on the host's loopback: rules CRUD and move, status,
//! presets, ruleset preview, exposure and one-click expose, bans (reads and refusals), the
//! nothing-pending errors, bad input (400/422 with field names, nothing persisted), durability across
//! kill -9, and a Warden that cannot drive nft (reads work, changes answer 503).
//!
//! Nothing here changes the host's nftables: applying, banning and deactivating are tested in
//! `firewall_e2e.rs`, where Warden runs inside a throwaway network namespace.
#![allow(clippy::unwrap_used)]

use serde_json::{json, Value};
use warden_tests::{Launch, Warden};

struct Api {
    w: Warden,
    c: reqwest::Client,
    token: String,
}

/// A Warden on the host's loopback whose `nft` acts inside a throwaway network namespace: it has the
/// firewall capability (and installs its default guard there), while the host's nftables stay
/// untouched. Root only.
struct KernelElsewhere {
    _ns: warden_testkit::Netns,
    dir: tempfile::TempDir,
}

impl KernelElsewhere {
    fn new() -> KernelElsewhere {
        use std::os::unix::fs::PermissionsExt;
        let ns = warden_testkit::Netns::new("afw");
        let dir = tempfile::tempdir().unwrap();
        let script = format!("#!/bin/sh\nexec ip netns exec {} nft \"$@\"\n", ns.name);
        let path = dir.path().join("nft");
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        KernelElsewhere { _ns: ns, dir }
    }

    fn launch(&self) -> Launch {
        Launch::new().manage_firewall().env(
            "WARDEN_NFT",
            &self.dir.path().join("nft").display().to_string(),
        )
    }
}

impl Api {
    async fn start() -> Api {
        Api::start_with(Launch::new()).await
    }

    async fn start_with(launch: Launch) -> Api {
        let w = launch.start();
        let token = w.login_token().await;
        Api {
            c: w.client(),
            w,
            token,
        }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .c
            .request(method, self.w.api(path))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }
    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }
    async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::PATCH, path, Some(body)).await
    }
    async fn delete(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::DELETE, path, None).await
    }

    /// Rules and saved revision: what must not change after a rejected request.
    async fn persisted(&self) -> (Value, Value) {
        let (_, rules) = self.get("/firewall/rules").await;
        let (_, status) = self.get("/firewall").await;
        (rules, status["saved_revision"].clone())
    }
}

fn assert_error(got: &(u16, Value), status: u16, code: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["error"]["code"], code, "{}", got.1);
    assert!(
        got.1["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{}",
        got.1
    );
}

#[tokio::test]
async fn rules_crud_move_and_status() {
    let api = Api::start().await;

    let (code, status) = api.get("/firewall").await;
    assert_eq!(code, 200);
    for key in [
        "active",
        "applied_revision",
        "saved_revision",
        "pending",
        "drift",
    ] {
        assert!(status.get(key).is_some(), "status lacks {key}: {status}");
    }
    assert_eq!(status["active"], false);
    assert_eq!(status["applied_revision"], Value::Null);
    assert_eq!(status["saved_revision"], 0);
    assert_eq!(status["pending"], Value::Null);
    assert_eq!(status["drift"], false);
    assert_eq!(api.get("/firewall/rules").await, (200, json!([])));

    // Create: defaults filled in, appended, server-assigned ids.
    let (code, ssh) = api
        .post(
            "/firewall/rules",
            json!({"protocol": "tcp", "ports": ["22"], "annotation": "ssh"}),
        )
        .await;
    assert_eq!(code, 201, "{ssh}");
    assert_eq!(
        (
            &ssh["position"],
            &ssh["enabled"],
            &ssh["action"],
            &ssh["direction"],
            &ssh["ip_version"],
            &ssh["hosts"]
        ),
        (
            &json!(0),
            &json!(true),
            &json!("accept"),
            &json!("in"),
            &json!("any"),
            &json!([])
        )
    );
    let ssh_id = ssh["id"].as_str().unwrap().to_string();
    let (code, web) = api
        .post(
            "/firewall/rules",
            json!({"protocol": "any", "ports": ["8300-8310", "443"], "hosts": ["198.51.100.0/24", "2001:db8::1"],
                   "action": "reject", "direction": "in", "ip_version": "any", "enabled": false, "annotation": "web"}),
        )
        .await;
    assert_eq!(code, 201, "{web}");
    assert_eq!(web["position"], 1);
    assert_eq!(web["ports"], json!(["8300:8310", "443"]), "normalised");
    let web_id = web["id"].as_str().unwrap().to_string();
    let (code, top) = api
        .post(
            "/firewall/rules",
            json!({"position": 0, "action": "drop", "hosts": ["203.0.113.9"]}),
        )
        .await;
    assert_eq!(code, 201);
    assert_eq!(top["position"], 0);
    let top_id = top["id"].as_str().unwrap().to_string();
    let ids = |rules: &Value| -> Vec<String> {
        rules
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, rules) = api.get("/firewall/rules").await;
    assert_eq!(
        ids(&rules),
        [top_id.clone(), ssh_id.clone(), web_id.clone()]
    );
    assert_eq!(
        rules[2]["packets"],
        Value::Null,
        "no counters while inactive"
    );

    // Read one, patch, move.
    let (code, one) = api.get(&format!("/firewall/rules/{ssh_id}")).await;
    assert_eq!(code, 200);
    assert_eq!(one["annotation"], "ssh");
    let (code, patched) = api
        .patch(
            &format!("/firewall/rules/{ssh_id}"),
            json!({"hosts": ["192.0.2.0/24"], "enabled": false}),
        )
        .await;
    assert_eq!(code, 200, "{patched}");
    assert_eq!(patched["hosts"], json!(["192.0.2.0/24"]));
    assert_eq!(patched["enabled"], false);
    assert_eq!(patched["ports"], json!(["22"]), "other fields kept");
    let (code, moved) = api
        .post(
            &format!("/firewall/rules/{web_id}/move"),
            json!({"position": 0}),
        )
        .await;
    assert_eq!(code, 200, "{moved}");
    assert_eq!(moved["position"], 0);
    let (code, moved) = api
        .post(
            &format!("/firewall/rules/{web_id}/move"),
            json!({"position": 99}),
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(moved["position"], 2, "clamped to the end");
    let (_, rules) = api.get("/firewall/rules").await;
    assert_eq!(
        ids(&rules),
        [top_id.clone(), ssh_id.clone(), web_id.clone()]
    );

    // Delete.
    assert_eq!(
        api.delete(&format!("/firewall/rules/{top_id}")).await.0,
        204
    );
    assert_error(
        &api.get(&format!("/firewall/rules/{top_id}")).await,
        404,
        "not_found",
    );
    assert_error(
        &api.delete(&format!("/firewall/rules/{top_id}")).await,
        404,
        "not_found",
    );
    assert_error(
        &api.patch(
            &format!("/firewall/rules/{top_id}"),
            json!({"enabled": true}),
        )
        .await,
        404,
        "not_found",
    );
    assert_error(
        &api.post(
            &format!("/firewall/rules/{top_id}/move"),
            json!({"position": 0}),
        )
        .await,
        404,
        "not_found",
    );

    // Every edit bumped the saved revision; nothing was applied.
    let (_, status) = api.get("/firewall").await;
    assert_eq!(status["saved_revision"], 7);
    assert_eq!(status["active"], false);
    assert_eq!(status["applied_revision"], Value::Null);

    // Edits are durable across kill -9.
    let before = api.persisted().await;
    let mut api = api;
    api.w.restart();
    api.token = api.w.login_token().await;
    assert_eq!(api.persisted().await, before);
    // Ids are never reused.
    let (_, again) = api.post("/firewall/rules", json!({})).await;
    let new_id = again["id"].as_str().unwrap();
    assert!(![ssh_id.as_str(), web_id.as_str(), top_id.as_str()].contains(&new_id));
}

#[tokio::test]
async fn bad_rule_input_is_refused_with_field_names_and_changes_nothing() {
    let api = Api::start().await;
    let (_, rule) = api.post("/firewall/rules", json!({"ports": ["22"]})).await;
    let id = rule["id"].as_str().unwrap().to_string();
    let before = api.persisted().await;

    let cases: Vec<(Value, &str)> = vec![
        (json!({"ports": ["0"]}), "ports[0]"),
        (json!({"ports": ["65536"]}), "ports[0]"),
        (json!({"ports": ["22", "9:1"]}), "ports[1]"),
        (json!({"ports": ["http"]}), "ports[0]"),
        (json!({"hosts": ["10.0.0.0/33"]}), "hosts[0]"),
        (
            json!({"hosts": ["192.0.2.1"], "ip_version": "6"}),
            "hosts[0]",
        ),
        (json!({"hosts": ["bad host name!"]}), "hosts[0]"),
        (json!({"annotation": "line\nbreak"}), "annotation"),
        (json!({"annotation": "x".repeat(300)}), "annotation"),
    ];
    for (body, field) in &cases {
        let got = api.post("/firewall/rules", body.clone()).await;
        assert_error(&got, 422, "validation_failed");
        assert_eq!(got.1["error"]["field"], *field, "{body}: {}", got.1);
        let got = api
            .patch(&format!("/firewall/rules/{id}"), body.clone())
            .await;
        assert_error(&got, 422, "validation_failed");
        assert_eq!(got.1["error"]["field"], *field, "{body}: {}", got.1);
    }
    // Malformed JSON, unknown fields, wrong types, wrong enum values → 400.
    for body in [
        json!({"port": ["22"]}),
        json!({"ports": "22"}),
        json!({"action": "allow"}),
        json!({"protocol": "icmp"}),
        json!({"ip_version": 4}),
        json!({"id": "mine"}),
        json!([1, 2]),
    ] {
        assert_error(
            &api.post("/firewall/rules", body.clone()).await,
            400,
            "validation_failed",
        );
        assert_error(
            &api.patch(&format!("/firewall/rules/{id}"), body).await,
            400,
            "validation_failed",
        );
    }
    let raw = api
        .c
        .post(api.w.api("/firewall/rules"))
        .bearer_auth(&api.token)
        .header("content-type", "application/json")
        .body("{\"ports\": [")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    for body in [
        json!({}),
        json!({"position": -1}),
        json!({"position": "top"}),
        json!({"position": 1, "x": 1}),
    ] {
        assert_error(
            &api.post(&format!("/firewall/rules/{id}/move"), body).await,
            400,
            "validation_failed",
        );
    }
    assert_eq!(
        api.persisted().await,
        before,
        "rejected input changed nothing"
    );
}

#[tokio::test]
async fn presets_open_close_and_list() {
    let api = Api::start().await;
    let (code, presets) = api.get("/firewall/presets").await;
    assert_eq!(code, 200);
    let names: Vec<&str> = presets
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for name in [
        "ssh",
        "http",
        "https",
        "smtp",
        "imap",
        "pop3",
        "ftp",
        "postgresql",
        "mysql",
        "redis",
        "mongodb",
        "memcached",
        "mattermost",
        "service-range",
    ] {
        assert!(names.contains(&name), "missing preset {name}: {names:?}");
    }
    let ssh = presets
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "ssh")
        .unwrap();
    assert!(ssh["description"].as_str().is_some_and(|d| !d.is_empty()));
    assert_eq!(ssh["rules"][0]["ports"], json!(["22"]));
    assert!(ssh["rules"][0].get("id").is_none() && ssh["rules"][0].get("position").is_none());
    assert_eq!(ssh["open"], false);

    let (code, added) = api.post("/firewall/presets/postgresql", json!({})).await;
    assert_eq!(code, 201, "{added}");
    assert_eq!(added[0]["ports"], json!(["5432"]));
    assert_eq!(added[0]["protocol"], "tcp");
    assert!(added[0]["id"].is_string());
    let (_, rules) = api.get("/firewall/rules").await;
    assert_eq!(rules.as_array().unwrap().len(), 1);
    assert_error(
        &api.post("/firewall/presets/postgresql", json!({})).await,
        409,
        "conflict",
    );
    let (_, presets) = api.get("/firewall/presets").await;
    let pg = presets
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "postgresql")
        .unwrap();
    assert_eq!(pg["open"], true);

    let before = api.persisted().await;
    assert_error(
        &api.post("/firewall/presets/gopher", json!({})).await,
        404,
        "not_found",
    );
    assert_error(
        &api.delete("/firewall/presets/gopher").await,
        404,
        "not_found",
    );
    assert_eq!(api.persisted().await, before);

    assert_eq!(api.delete("/firewall/presets/postgresql").await.0, 204);
    assert_eq!(api.get("/firewall/rules").await.1, json!([]));
    assert_error(
        &api.delete("/firewall/presets/postgresql").await,
        404,
        "not_found",
    );
}

#[tokio::test]
async fn ruleset_preview_exposure_and_expose() {
    let api = Api::start().await;
    api.post(
        "/firewall/rules",
        json!({"protocol": "tcp", "ports": ["22"], "annotation": "say \"hi\"; }"}),
    )
    .await;
    let resp = api
        .c
        .get(api.w.api("/firewall/ruleset"))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain")));
    let text = resp.text().await.unwrap();
    assert!(text.starts_with("table inet warden {"), "{text}");
    assert!(text.contains("comment \"warden:r1 say 'hi'; }\""), "{text}");
    let port = api.w.url.rsplit(':').next().unwrap().to_string();
    assert!(
        text.contains(&format!(
            "ip saddr 127.0.0.1 tcp dport {{ 22, {port} }} accept"
        )),
        "anti-lockout of the caller: {text}"
    );
    assert!(
        text.contains("th dport 8300-8499 meta l4proto { tcp, udp } counter drop"),
        "{text}"
    );
    assert_error(
        &api.get("/firewall/ruleset?applied=true").await,
        404,
        "not_found",
    );
    assert_error(
        &api.get("/firewall/ruleset?applied=maybe").await,
        400,
        "validation_failed",
    );

    // Exposure: one entry per service port and protocol.
    assert_eq!(api.get("/firewall/exposure").await, (200, json!([])));
    let (code, service) = api
        .post(
            "/services",
            json!({"name": "exposed", "command": "sleep 600", "ports": [8301]}),
        )
        .await;
    if code != 201 {
        eprintln!("SKIP exposure with a service: the services API answered {code}: {service}");
        return;
    }
    let sid = service["id"].as_str().unwrap().to_string();
    let (code, exposure) = api.get("/firewall/exposure").await;
    assert_eq!(code, 200);
    let entries = exposure.as_array().unwrap();
    assert_eq!(entries.len(), 2, "{exposure}");
    let tcp = entries.iter().find(|e| e["protocol"] == "tcp").unwrap();
    assert_eq!(tcp["service_id"], sid.as_str());
    assert_eq!(tcp["port"], 8301);
    assert_eq!(
        tcp["reachable_from_outside"], false,
        "the guard closes the range"
    );
    assert_eq!(tcp["deciding_rule"], Value::Null);
    assert_eq!(tcp["firewall_active"], false);

    let before = api.persisted().await;
    assert_error(
        &api.post(&format!("/firewall/exposure/{sid}/8302"), json!({}))
            .await,
        422,
        "validation_failed",
    );
    assert_error(
        &api.post(&format!("/firewall/exposure/{sid}/port"), json!({}))
            .await,
        422,
        "validation_failed",
    );
    assert_error(
        &api.post("/firewall/exposure/nope/8301", json!({})).await,
        404,
        "not_found",
    );
    assert_eq!(api.persisted().await, before);

    let (code, rule) = api
        .post(&format!("/firewall/exposure/{sid}/8301"), json!({}))
        .await;
    assert_eq!(code, 201, "{rule}");
    assert_eq!(rule["position"], 0);
    assert_eq!(rule["ports"], json!(["8301"]));
    let (_, exposure) = api.get("/firewall/exposure").await;
    for entry in exposure.as_array().unwrap() {
        assert_eq!(entry["reachable_from_outside"], true, "{entry}");
        assert_eq!(entry["deciding_rule"], rule["id"], "{entry}");
    }
    api.delete(&format!("/services/{sid}")).await;
}

#[tokio::test]
async fn exposure_resolves_hostnames_like_apply_and_names_them() {
    let api = Api::start().await;
    let (code, service) = api
        .post(
            "/services",
            json!({"name": "by-name", "command": "sleep 600", "ports": [8310]}),
        )
        .await;
    if code != 201 {
        eprintln!("SKIP exposure with a service: the services API answered {code}: {service}");
        return;
    }
    let sid = service["id"].as_str().unwrap().to_string();
    // TCP from a name that does not resolve (`.invalid` never does) or from one address; UDP from
    // `localhost` only.
    let (code, by_name) = api
        .post(
            "/firewall/rules",
            json!({"protocol": "tcp", "ports": ["8310"],
                   "hosts": ["no-such-host.invalid", "198.51.100.9"]}),
        )
        .await;
    assert_eq!(code, 201, "{by_name}");
    let (code, _) = api
        .post(
            "/firewall/rules",
            json!({"protocol": "udp", "ports": ["8310"], "hosts": ["localhost"]}),
        )
        .await;
    assert_eq!(code, 201);
    let (code, exposure) = api.get("/firewall/exposure").await;
    assert_eq!(code, 200, "{exposure}");
    let entry = |protocol: &str| {
        exposure
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["service_id"] == sid.as_str() && e["protocol"] == protocol)
            .cloned()
            .unwrap()
    };
    let tcp = entry("tcp");
    // The unresolvable name matches nothing, the address still counts, and the answer says which
    // name it could not resolve.
    assert_eq!(tcp["reachable_from_outside"], true, "{tcp}");
    assert_eq!(tcp["reachable_from_everywhere"], false, "{tcp}");
    assert_eq!(tcp["deciding_rule"], by_name["id"], "{tcp}");
    assert_eq!(tcp["hostnames"], json!(["no-such-host.invalid"]), "{tcp}");
    assert_eq!(
        tcp["unresolved_hostnames"],
        json!(["no-such-host.invalid"]),
        "{tcp}"
    );
    // `localhost` resolves (to loopback only, which is not "outside").
    let udp = entry("udp");
    assert_eq!(udp["hostnames"], json!(["localhost"]), "{udp}");
    assert_eq!(udp["unresolved_hostnames"], json!([]), "{udp}");
    assert_eq!(udp["reachable_from_outside"], false, "{udp}");
    assert_eq!(udp["decided_by"]["kind"], "service_range_guard", "{udp}");
    api.delete(&format!("/services/{sid}")).await;
}

#[tokio::test]
async fn bans_and_commit_confirm_refusals_without_touching_the_kernel() {
    if !warden_tests::gate(
        "root with nft and ip (nft runs in a throwaway namespace)",
        warden_testkit::netns::requirements(),
    ) {
        return;
    }
    let kernel = KernelElsewhere::new();
    let api = Api::start_with(kernel.launch()).await;
    assert_eq!(api.get("/firewall/bans").await, (200, json!([])));
    // Loopback (the caller here) is never banned.
    assert_error(
        &api.post("/firewall/bans", json!({"address": "127.0.0.1"}))
            .await,
        409,
        "conflict",
    );
    assert_error(
        &api.post("/firewall/bans", json!({"address": "not-an-ip"}))
            .await,
        422,
        "validation_failed",
    );
    assert_error(
        &api.post("/firewall/bans", json!({"address": "192.0.2.0/24"}))
            .await,
        422,
        "validation_failed",
    );
    assert_error(
        &api.post(
            "/firewall/bans",
            json!({"address": "192.0.2.7", "ban_secs": 0}),
        )
        .await,
        422,
        "validation_failed",
    );
    assert_error(
        &api.post("/firewall/bans", json!({"addr": "192.0.2.7"}))
            .await,
        400,
        "validation_failed",
    );
    assert_error(
        &api.delete("/firewall/bans/not-an-ip").await,
        422,
        "validation_failed",
    );
    // Lifting a ban that does not exist is idempotent (the contract's 204).
    assert_eq!(api.delete("/firewall/bans/192.0.2.55").await.0, 204);

    // Nothing pending.
    assert_error(
        &api.post("/firewall/confirm", json!({})).await,
        409,
        "conflict",
    );
    assert_error(
        &api.post("/firewall/rollback", json!({})).await,
        409,
        "conflict",
    );
    // Apply's body is checked before anything else.
    assert_error(
        &api.post("/firewall/apply", json!({"confirm_within_secs": -1}))
            .await,
        400,
        "validation_failed",
    );
    assert_error(
        &api.post(
            "/firewall/apply",
            json!({"confirm_within_secs": 60, "now": true}),
        )
        .await,
        400,
        "validation_failed",
    );
    let got = api
        .post(
            "/firewall/apply",
            json!({"confirm_within_secs": 100_000_000}),
        )
        .await;
    assert_error(&got, 422, "validation_failed");
    assert_eq!(got.1["error"]["field"], "confirm_within_secs");
    assert_error(
        &api.patch("/firewall", json!({"default_inbound_policy": "reject"}))
            .await,
        400,
        "validation_failed",
    );
    // Nothing changed: still the default guard, nothing pending.
    let (_, status) = api.get("/firewall").await;
    assert_eq!(
        (status["default_guard"].clone(), status["pending"].clone()),
        (json!(true), Value::Null)
    );

    // Failed logins from loopback are throttled (429) but loopback is never banned.
    let c = api.w.client();
    let mut last = 0;
    for _ in 0..55 {
        let resp = c
            .post(api.w.api("/auth/login"))
            .json(&json!({"username": "admin", "password": "nope"}))
            .send()
            .await
            .unwrap();
        last = resp.status().as_u16();
        if last == 429 {
            assert!(resp.headers().get("retry-after").is_some());
            break;
        }
    }
    assert_eq!(last, 429);
    assert_eq!(api.get("/firewall/bans").await, (200, json!([])));
}

#[tokio::test]
async fn every_firewall_route_needs_auth() {
    let w = Warden::start();
    let c = w.client();
    for (method, path) in [
        ("GET", "/firewall"),
        ("PATCH", "/firewall"),
        ("GET", "/firewall/rules"),
        ("POST", "/firewall/rules"),
        ("GET", "/firewall/rules/r1"),
        ("PATCH", "/firewall/rules/r1"),
        ("DELETE", "/firewall/rules/r1"),
        ("POST", "/firewall/rules/r1/move"),
        ("POST", "/firewall/apply"),
        ("POST", "/firewall/confirm"),
        ("POST", "/firewall/rollback"),
        ("POST", "/firewall/deactivate"),
        ("POST", "/firewall/reapply"),
        ("GET", "/firewall/ruleset"),
        ("GET", "/firewall/bans"),
        ("POST", "/firewall/bans"),
        ("DELETE", "/firewall/bans/192.0.2.1"),
        ("GET", "/firewall/presets"),
        ("POST", "/firewall/presets/ssh"),
        ("DELETE", "/firewall/presets/ssh"),
        ("GET", "/firewall/exposure"),
        ("POST", "/firewall/exposure/s1/8300"),
    ] {
        let resp = c
            .request(method.parse().unwrap(), w.api(path))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "{method} {path}");
    }
}

/// Warden without the capability to drive nft: reads work, changes of kernel state answer 503 with
/// the reason, rule edits still work.
#[tokio::test]
async fn without_nft_reads_work_and_kernel_changes_answer_503() {
    let w = Launch::new()
        .manage_firewall()
        .env("WARDEN_NFT", "/nonexistent/nft")
        .start();
    let c = reqwest::Client::new();
    let base = format!("{}/api/v1", w.url);
    let token: String = c
        .post(format!("{base}/auth/login"))
        .json(&json!({"username": "admin", "password": warden_tests::ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let call = |method: &str, path: &str| {
        c.request(method.parse().unwrap(), format!("{base}{path}"))
            .bearer_auth(&token)
            .json(&json!({}))
    };
    let status: Value = call("GET", "/firewall")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["capability"]["available"], false);
    assert!(
        status["capability"]["reason"]
            .as_str()
            .unwrap()
            .contains("/nonexistent/nft"),
        "{status}"
    );
    assert_eq!(status["active"], false);
    let resp = call("POST", "/firewall/rules").send().await.unwrap();
    assert_eq!(resp.status(), 201);
    for path in [
        "/firewall/apply",
        "/firewall/confirm",
        "/firewall/rollback",
        "/firewall/deactivate",
    ] {
        let resp = call("POST", path).send().await.unwrap();
        assert_eq!(resp.status(), 503, "{path}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "firewall_unavailable", "{body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains("nft"),
            "{body}"
        );
    }
    let resp = c
        .post(format!("{base}/firewall/bans"))
        .bearer_auth(&token)
        .json(&json!({"address": "192.0.2.9"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    let bans: Value = call("GET", "/firewall/bans")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(bans, json!([]));
    let rules: Value = call("GET", "/firewall/rules")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rules.as_array().unwrap().len(), 1);
    let resp = call("GET", "/firewall/ruleset").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    // The rest of Warden keeps working.
    let health = c.get(format!("{}/healthz", w.url)).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

/// Every firewall status change is published on `GET /api/v1/events` as `{"type": "firewall", ...}`.
#[tokio::test]
async fn rule_edits_publish_firewall_events() {
    let api = Api::start().await;
    let mut events = api
        .c
        .get(api.w.api("/events"))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    if events.status() != 200 {
        eprintln!("SKIP: GET /api/v1/events answered {}", events.status());
        return;
    }
    let (code, _) = api.post("/firewall/rules", json!({"ports": ["22"]})).await;
    assert_eq!(code, 201);
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let chunk = tokio::time::timeout_at(deadline, events.chunk())
            .await
            .expect("a firewall event within 10 s")
            .unwrap()
            .expect("the stream stays open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
        let found = seen
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
            .find(|e| e["type"] == "firewall");
        if let Some(event) = found {
            assert_eq!(event["saved_revision"], 1, "{event}");
            assert_eq!(event["active"], false);
            break;
        }
    }
}
