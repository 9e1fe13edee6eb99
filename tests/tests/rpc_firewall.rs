//! The UI's firewall server functions, called over HTTP exactly as the hydrated UI calls them: each one
//! refuses an unauthenticated caller; with a session they edit the saved rules through the same
//! firewall domain as the REST API, with the crate's field errors for bad input. Nothing here applies
//! anything (the host's kernel is never touched; applying is covered in a namespace by
//! `browser_firewall`).

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

const ENDPOINTS: [&str; 15] = [
    "firewall/state",
    "firewall/rules",
    "firewall/rules/add",
    "firewall/rules/update",
    "firewall/rules/delete",
    "firewall/rules/move",
    "firewall/presets",
    "firewall/presets/set",
    "firewall/ruleset",
    "firewall/apply",
    "firewall/control",
    "firewall/bans",
    "firewall/unban",
    "firewall/exposure",
    "firewall/expose",
];

#[tokio::test]
async fn every_firewall_server_fn_requires_a_session() {
    let w = Warden::start();
    let anon = w.client();
    for name in ENDPOINTS {
        let (status, _) = rpc(&w, &anon, name, json!({})).await;
        assert_eq!(status, 401, "{name} must refuse an anonymous caller");
    }
}

#[tokio::test]
async fn rules_presets_and_texts_through_server_fns() {
    let w = Warden::start();
    let c = w.cookie_client().await;

    let (status, state) = rpc(&w, &c, "firewall/state", json!({})).await;
    assert_eq!(status, 200, "{state}");
    assert_eq!(state["your_address"], "127.0.0.1");
    assert_eq!(state["pending"], Value::Null);

    // Bad input: the crate's field errors, nothing saved.
    let (status, err) = rpc(
        &w,
        &c,
        "firewall/rules/add",
        json!({"input": {"ports": ["70000"], "hosts": ["10.0.0.0/33"]}}),
    )
    .await;
    assert!(status >= 400, "{status} {err}");
    let fields: Vec<&str> = err["Invalid"]
        .as_array()
        .unwrap_or_else(|| panic!("field errors expected: {err}"))
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert!(
        fields.contains(&"ports[0]") && fields.contains(&"hosts[0]"),
        "{err}"
    );
    let (_, rules) = rpc(&w, &c, "firewall/rules", json!({})).await;
    assert_eq!(rules, json!([]));

    // Two rules; the second moves to the top; the first is disabled; counters are null (not active).
    let (status, a) = rpc(
        &w,
        &c,
        "firewall/rules/add",
        json!({"input": {"ports": ["8300"], "protocol": "tcp", "annotation": "a"}}),
    )
    .await;
    assert_eq!(status, 200, "{a}");
    let (_, b) = rpc(
        &w,
        &c,
        "firewall/rules/add",
        json!({"input": {"ports": ["8301"], "annotation": "b"}}),
    )
    .await;
    let (status, moved) = rpc(
        &w,
        &c,
        "firewall/rules/move",
        json!({"id": b["id"], "position": 0}),
    )
    .await;
    assert_eq!(status, 200, "{moved}");
    let (status, _) = rpc(
        &w,
        &c,
        "firewall/rules/update",
        json!({"id": a["id"], "patch": {"enabled": false}}),
    )
    .await;
    assert_eq!(status, 200);
    let (_, rules) = rpc(&w, &c, "firewall/rules", json!({})).await;
    let notes: Vec<&str> = rules
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["annotation"].as_str().unwrap())
        .collect();
    assert_eq!(notes, ["b", "a"]);
    assert_eq!(rules[1]["enabled"], false);
    assert_eq!(rules[0]["packets"], Value::Null);

    // Presets: Redis opens with one call and shows as open.
    let (status, added) = rpc(
        &w,
        &c,
        "firewall/presets/set",
        json!({"name": "redis", "open": true}),
    )
    .await;
    assert_eq!(status, 200, "{added}");
    let (_, presets) = rpc(&w, &c, "firewall/presets", json!({})).await;
    let redis = presets
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "redis")
        .unwrap();
    assert_eq!(redis["open"], true);
    // The same preset as the REST API lists it (the page words its ports from the rules).
    assert_eq!(redis["rules"][0]["protocol"], "tcp", "{redis}");
    assert_eq!(redis["rules"][0]["ports"], json!(["6379"]), "{redis}");

    // The diff's texts: nothing applied, the preview names the rules' ports.
    let (status, texts) = rpc(&w, &c, "firewall/ruleset", json!({})).await;
    assert_eq!(status, 200, "{texts}");
    assert_eq!(texts["applied"], Value::Null);
    assert!(
        texts["preview"].as_str().unwrap().contains("6379"),
        "{texts}"
    );

    // Deleting works; an unparsable ban address is a field error.
    let (status, _) = rpc(&w, &c, "firewall/rules/delete", json!({"id": a["id"]})).await;
    assert_eq!(status, 200);
    let (status, err) = rpc(&w, &c, "firewall/unban", json!({"address": "not an ip"})).await;
    assert!(
        status >= 400 && err["Invalid"][0]["field"] == "address",
        "{status} {err}"
    );
    let (status, exposure) = rpc(&w, &c, "firewall/exposure", json!({})).await;
    assert_eq!((status, exposure), (200, json!([])));
}

#[tokio::test]
async fn expose_adds_an_accept_rule_that_opens_a_reserved_port() {
    let w = Warden::start_managed();
    let c = w.cookie_client().await;
    let created = c
        .post(format!("{}/api/v1/services", w.url))
        .header("origin", &w.url)
        .json(
            &json!({"name": "exposed", "command": "sleep 600", "ports": [8300], "enabled": false}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 201);
    let service: Value = created.json().await.unwrap();
    let id = service["id"].as_str().unwrap().to_string();
    let port_row = |rows: &Value| -> Value {
        rows.as_array()
            .unwrap_or_else(|| panic!("exposure rows expected: {rows}"))
            .iter()
            .find(|r| r["service_id"] == id.as_str() && r["port"] == 8300)
            .cloned()
            .unwrap_or_else(|| panic!("no row for port 8300: {rows}"))
    };

    // The service range is closed from outside until a rule opens it.
    let (status, rows) = rpc(&w, &c, "firewall/exposure", json!({})).await;
    assert_eq!(status, 200, "{rows}");
    assert_eq!(port_row(&rows)["reachable_from_outside"], false, "{rows}");

    // A port the service does not reserve: a field error, nothing added.
    let (status, err) = rpc(
        &w,
        &c,
        "firewall/expose",
        json!({"service_id": id, "port": 8301}),
    )
    .await;
    assert!(status >= 400, "{status} {err}");
    assert_eq!(err["Invalid"][0]["field"], "port", "{err}");
    let (_, rules) = rpc(&w, &c, "firewall/rules", json!({})).await;
    assert_eq!(rules.as_array().unwrap().len(), 0, "{rules}");

    let (status, rule) = rpc(
        &w,
        &c,
        "firewall/expose",
        json!({"service_id": id, "port": 8300}),
    )
    .await;
    assert_eq!(status, 200, "{rule}");
    assert_eq!(rule["action"], "accept", "{rule}");
    let (_, rows) = rpc(&w, &c, "firewall/exposure", json!({})).await;
    let row = port_row(&rows);
    assert_eq!(row["reachable_from_outside"], true, "{rows}");
    assert_eq!(row["deciding_rule"], rule["id"], "{rows}");
    let (_, rules) = rpc(&w, &c, "firewall/rules", json!({})).await;
    assert_eq!(rules[0]["id"], rule["id"], "the new rule is first: {rules}");
}
