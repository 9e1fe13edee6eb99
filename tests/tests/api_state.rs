//! Desired state against the real binary: `GET /state` → `PUT /state` of the same document changes
//! nothing and restarts nothing (pids and restart counters compared), explicit defaults read as the
//! `null` the store keeps, a changed command restarts only that service, services the document does not
//! name stay unless `prune`, a bad field anywhere answers 422 naming resource and field with nothing
//! changed, `PUT /services/by-name/{name}` is idempotent, a read token may plan but not apply, and the
//! routes are in the OpenAPI document. Ports used: 8460-8469.

use std::time::Duration;

use serde_json::{json, Value};
use warden_tests::{api_error, pid_alive, Api, Warden};

const T: Duration = Duration::from_secs(20);

/// `(pid, restarts)` of every service, by name.
async fn runs(api: &Api) -> Vec<(String, u64, u64)> {
    let list = api.get_json("/services").await;
    list.as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap_or_default().to_string(),
                s["status"]["pid"].as_u64().unwrap_or(0),
                s["status"]["restarts"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

async fn id_of(api: &Api, name: &str) -> String {
    let s = api.get_json(&format!("/services/by-name/{name}")).await;
    s["id"].as_str().expect("id").to_string()
}

async fn apply(api: &Api, doc: &Value) -> Value {
    let resp = api.put("/state", doc).await;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    assert_eq!(status, 200, "PUT /state: {text}");
    serde_json::from_str(&text).expect("JSON")
}

async fn plan(api: &Api, doc: &Value) -> Vec<(String, String, Vec<String>, bool)> {
    let resp = api.post("/state/plan", doc).await;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    assert_eq!(status, 200, "POST /state/plan: {text}");
    let body: Value = serde_json::from_str(&text).expect("JSON");
    body["changes"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|c| {
            (
                format!(
                    "{} {}",
                    c["kind"].as_str().unwrap_or(""),
                    c["name"].as_str().unwrap_or("")
                ),
                c["action"].as_str().unwrap_or("").to_string(),
                c["fields"]
                    .as_array()
                    .map(|f| {
                        f.iter()
                            .filter_map(|v| v.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
                c["restarts"].as_bool().unwrap_or(false),
            )
        })
        .collect()
}

fn service_mut<'a>(doc: &'a mut Value, name: &str) -> &'a mut Value {
    doc["services"]
        .as_array_mut()
        .expect("services")
        .iter_mut()
        .find(|s| s["name"] == name)
        .expect("service in the document")
}

#[tokio::test]
async fn the_same_document_changes_nothing_and_a_change_restarts_only_its_service() {
    let w = Warden::start();
    let api = Api::login(&w).await;
    for (name, port) in [("alpha", 8460), ("beta", 8461)] {
        let created = api
            .create_service(&json!({
                "name": name,
                "command": format!("exec sleep 84{port}"),
                "ports": [port],
                "stop_grace_secs": 3,
            }))
            .await;
        api.wait_running(created["id"].as_str().unwrap(), T).await;
    }
    assert_eq!(
        api.post(
            "/firewall/rules",
            &json!({"ports": ["22"], "protocol": "tcp", "annotation": "ssh"})
        )
        .await
        .status(),
        201
    );
    let before = runs(&api).await;

    // Export, with the defaults written out as an operator would: nothing to do.
    let mut doc = api.get_json("/state").await;
    assert_eq!(doc["apiVersion"], "warden/v1");
    assert!(doc["services"][0].get("id").is_none() && doc["services"][0].get("status").is_none());
    assert!(doc["firewall"]["rules"][0].get("id").is_none());
    assert_eq!(doc["firewall"]["rules"][0]["ports"], json!(["22"]));
    let s = service_mut(&mut doc, "beta");
    s["reload_grace_secs"] = json!(2);
    s["monitoring"] = json!({"grace_secs": 10, "interval_secs": 30, "timeout_secs": 10});
    let planned = plan(&api, &doc).await;
    assert!(
        planned
            .iter()
            .all(|(_, action, _, _)| action == "unchanged"),
        "{planned:?}"
    );
    assert!(
        planned.iter().any(|(n, _, _, _)| n == "service alpha"),
        "{planned:?}"
    );
    assert!(
        planned.iter().any(|(n, _, _, _)| n == "rule #0 ssh"),
        "{planned:?}"
    );
    let outcome = apply(&api, &doc).await;
    assert_eq!(outcome["changed"], false, "{outcome}");
    assert_eq!(
        runs(&api).await,
        before,
        "the same document restarted something"
    );

    // A changed command restarts that service only; a stop grace change restarts nothing.
    service_mut(&mut doc, "alpha")["command"] = json!("exec sleep 858460");
    service_mut(&mut doc, "beta")["stop_grace_secs"] = json!(4);
    let planned = plan(&api, &doc).await;
    assert!(
        planned.contains(&(
            "service alpha".into(),
            "update".into(),
            vec!["command".into()],
            true
        )),
        "{planned:?}"
    );
    assert!(
        planned.contains(&(
            "service beta".into(),
            "update".into(),
            vec!["stop_grace_secs".into()],
            false
        )),
        "{planned:?}"
    );
    let outcome = apply(&api, &doc).await;
    assert_eq!(outcome["changed"], true, "{outcome}");
    let alpha = id_of(&api, "alpha").await;
    let old_alpha_pid = before
        .iter()
        .find(|r| r.0 == "alpha")
        .map(|r| r.1)
        .unwrap_or(0);
    api.wait_service(&alpha, "alpha restarted with the new command", T, |s| {
        s["status"]["state"] == "running"
            && s["status"]["pid"]
                .as_u64()
                .is_some_and(|p| p != old_alpha_pid)
    })
    .await;
    let after = runs(&api).await;
    let beta_before = before.iter().find(|r| r.0 == "beta").cloned();
    assert_eq!(
        after.iter().find(|r| r.0 == "beta").cloned(),
        beta_before,
        "beta was restarted"
    );
    assert_eq!(
        api.service(&id_of(&api, "beta").await).await["stop_grace_secs"],
        4
    );
    // And again: nothing.
    assert_eq!(apply(&api, &doc).await["changed"], false);

    // beta left out: kept without prune, deleted (and stopped) with it.
    let beta_pid = after
        .iter()
        .find(|r| r.0 == "beta")
        .map(|r| r.1)
        .unwrap_or(0) as u32;
    doc["services"]
        .as_array_mut()
        .unwrap()
        .retain(|s| s["name"] != "beta");
    let planned = plan(&api, &doc).await;
    assert!(
        !planned.iter().any(|(n, _, _, _)| n == "service beta"),
        "{planned:?}"
    );
    assert_eq!(apply(&api, &doc).await["changed"], false);
    doc["prune"] = json!(true);
    let planned = plan(&api, &doc).await;
    assert!(
        planned.contains(&("service beta".into(), "delete".into(), vec![], false)),
        "{planned:?}"
    );
    assert_eq!(apply(&api, &doc).await["changed"], true);
    let names: Vec<String> = runs(&api).await.into_iter().map(|r| r.0).collect();
    assert_eq!(names, ["alpha"]);
    warden_tests::wait_for("beta's process to end", T, || {
        (!pid_alive(beta_pid)).then_some(())
    });

    let audit = api.get_json("/audit").await;
    assert!(audit.to_string().contains("state.apply"), "{audit}");
}

#[tokio::test]
async fn a_bad_field_anywhere_changes_nothing_and_names_resource_and_field() {
    let w = Warden::start();
    let api = Api::login(&w).await;
    let created = api
        .create_service(&json!({"name": "keep", "command": "exec sleep 848462", "ports": [8462]}))
        .await;
    api.wait_running(created["id"].as_str().unwrap(), T).await;
    let before = api.get_json("/state").await;
    let doc = json!({
        "apiVersion": "warden/v1",
        "services": [
            {"name": "keep", "command": "exec sleep 1"},
            {"name": "fresh", "command": "exec sleep 848463", "ports": [8463]},
            {"name": "broken", "command": "  "},
            {"name": "taker", "command": "sleep 1", "ports": [8463]}
        ],
        "firewall": {"rules": [{"ports": ["22"]}, {"ports": ["70000"]}]},
        "settings": {"service_ports": "9000:8000", "environment": {"LANG": "C"}},
        "prune": true
    });
    for (method, path) in [("POST", "/state/plan"), ("PUT", "/state")] {
        let resp = api
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                path,
            )
            .json(&doc)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(status, 422, "{method} {path}: {body}");
        assert_eq!(body["error"]["code"], "validation_failed");
        let fields: Vec<&str> = body["error"]["details"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|d| d["field"].as_str())
            .collect();
        for want in [
            "services[broken].command",
            "firewall.rules[1].ports[0]",
            "settings.service_ports",
        ] {
            assert!(fields.contains(&want), "{want} in {fields:?}");
        }
    }
    assert_eq!(
        api.get_json("/state").await,
        before,
        "a refused document changed something"
    );
    assert!(api.get("/services/by-name/fresh").await.status() == 404);

    // A document the server cannot read is a 400/422 with the field, and nothing changes either.
    for (bad, field) in [
        (json!({"apiVersion": "warden/v2"}), Some("apiVersion")),
        (
            json!({"apiVersion": "warden/v1", "firewall_confirm_within_secs": 999999999}),
            Some("firewall_confirm_within_secs"),
        ),
        (json!({"apiVersion": "warden/v1", "servics": []}), None),
    ] {
        let (status, code, got) = api_error(api.put("/state", &bad).await).await;
        assert!(status == 400 || status == 422, "{bad}: {status}");
        assert_eq!(code, "validation_failed");
        if field.is_some() {
            assert_eq!(got.as_deref(), field, "{bad}");
        }
    }
    assert_eq!(api.get_json("/state").await, before);
}

#[tokio::test]
async fn put_by_name_is_idempotent_and_a_read_token_may_plan_but_not_apply() {
    let w = Warden::start();
    let api = Api::login(&w).await;
    let body = json!({"command": "exec sleep 848464", "ports": [8464], "environment": {"A": "1"}});
    let resp = api.put("/services/by-name/web", &body).await;
    assert_eq!(resp.status(), 201);
    let created: Value = resp.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    let pid = api.wait_running(&id, T).await;

    let resp = api.put("/services/by-name/web", &body).await;
    assert_eq!(resp.status(), 200);
    let again: Value = resp.json().await.unwrap();
    assert_eq!(again["id"], created["id"]);
    let now = api.service(&id).await;
    assert_eq!(now["status"]["pid"], pid, "the same body restarted it");
    assert_eq!(now["status"]["restarts"], created["status"]["restarts"]);

    let (status, _, field) = api_error(
        api.put(
            "/services/by-name/web",
            &json!({"name": "other", "command": "x"}),
        )
        .await,
    )
    .await;
    assert_eq!((status, field.as_deref()), (422, Some("name")));
    let (status, _, field) = api_error(
        api.put("/services/by-name/web", &json!({"command": ""}))
            .await,
    )
    .await;
    assert_eq!((status, field.as_deref()), (422, Some("command")));

    // A whole new definition: restarted with it.
    let resp = api
        .put(
            "/services/by-name/web",
            &json!({"command": "exec sleep 848465", "ports": [8464]}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    api.wait_service(&id, "restarted", T, |s| {
        s["status"]["state"] == "running"
            && s["status"]["pid"] != pid
            && s["environment"] == json!({})
    })
    .await;

    // A read token: plan yes, apply and upsert no.
    let resp = api
        .post("/tokens", &json!({"name": "ci", "scope": "read"}))
        .await;
    let token: Value = resp.json().await.unwrap();
    let reader = Api::with_token(&w, token["token"].as_str().unwrap());
    let doc = reader.get_json("/state").await;
    assert_eq!(reader.post("/state/plan", &doc).await.status(), 200);
    for resp in [
        reader.put("/state", &doc).await,
        reader.put("/services/by-name/web", &body).await,
        reader.get("/backup").await,
    ] {
        let (status, code, _) = api_error(resp).await;
        assert_eq!((status, code.as_str()), (403, "forbidden"));
    }
    assert_eq!(api.get("/backup").await.status(), 200);

    // The routes are documented.
    let openapi = api.get_json("/openapi.json").await;
    for (path, method) in [
        ("/api/v1/state", "get"),
        ("/api/v1/state", "put"),
        ("/api/v1/state/plan", "post"),
        ("/api/v1/services/by-name/{name}", "put"),
        ("/api/v1/backup", "get"),
    ] {
        assert!(
            openapi["paths"][path][method].is_object(),
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn rules_and_settings_follow_the_document_in_order() {
    let w = Warden::start();
    let api = Api::login(&w).await;
    let doc = json!({
        "apiVersion": "warden/v1",
        "firewall": {
            "default_inbound_policy": "drop",
            "rules": [
                {"protocol": "tcp", "ports": ["443"], "annotation": "tls"},
                {"protocol": "tcp", "ports": ["22"], "hosts": ["192.0.2.0/24"], "annotation": "ssh"}
            ]
        },
        "settings": {"environment": {"LANG": "C.UTF-8"}}
    });
    let outcome = apply(&api, &doc).await;
    assert_eq!(outcome["changed"], true);
    // This Warden runs with --firewall off: saved, and said to be not live.
    assert!(outcome["firewall_not_applied"].is_string(), "{outcome}");
    let rules = api.get_json("/firewall/rules").await;
    let annotations: Vec<&str> = rules
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["annotation"].as_str())
        .collect();
    assert_eq!(annotations, ["tls", "ssh"]);
    assert_eq!(
        api.get_json("/settings").await["environment"],
        json!({"LANG": "C.UTF-8"})
    );
    let ids: Vec<Value> = rules
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].clone())
        .collect();
    assert_eq!(apply(&api, &doc).await["changed"], false);

    // Reordered: the same rules (same ids) in the new order.
    let mut reordered = doc.clone();
    reordered["firewall"]["rules"]
        .as_array_mut()
        .unwrap()
        .reverse();
    let planned = plan(&api, &reordered).await;
    assert!(
        planned.iter().any(|(n, a, f, _)| n == "rule #0 ssh"
            && a == "update"
            && f == &vec!["position".to_string()]),
        "{planned:?}"
    );
    apply(&api, &reordered).await;
    let rules = api.get_json("/firewall/rules").await;
    let now: Vec<Value> = rules
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].clone())
        .collect();
    assert_eq!(now, vec![ids[1].clone(), ids[0].clone()]);
    assert_eq!(
        api.get_json("/firewall").await["saved_revision"]
            .as_u64()
            .map(|r| r > 0),
        Some(true)
    );
}
