//! The `notifications` section of the desired-state document against the real binary: exported
//! without the SMTP password, applied back unchanged, created and changed by a document (a left-out
//! password kept, a named one an unshown `smtp.password` change), a bad destination answers 422 naming
//! it with nothing changed, `prune` deletes destinations the document does not name, and what `PUT
//! /state` answered survives `kill -9`. A read-only token sees webhook URLs shortened to scheme and
//! host, and its export leaves them out.

use serde_json::{json, Value};
use warden_tests::state_doc::{named, plan_lines};
use warden_tests::{Api, Warden};

const SECRET: &str = "hunter2-smtp-secret";
const NEW_SECRET: &str = "correct-horse-battery";

async fn destinations(api: &Api) -> Vec<Value> {
    api.get_json("/notifications/destinations")
        .await
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn put_state(api: &Api, doc: &Value) -> Value {
    let resp = api.put("/state", doc).await;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    assert_eq!(status, 200, "PUT /state: {text}");
    assert!(
        !text.contains(SECRET) && !text.contains(NEW_SECRET),
        "{text}"
    );
    serde_json::from_str(&text).unwrap_or_default()
}

#[tokio::test]
async fn notification_destinations_follow_the_document_and_the_password_stays_write_only() {
    let mut w = Warden::start();
    let api = Api::login(&w).await;
    let created = api
        .post(
            "/notifications/destinations",
            &json!({
                "name": "mail", "kind": "email",
                "smtp": {"host": "mail.example.org", "port": 587, "from": "warden@example.org",
                         "username": "warden", "password": SECRET},
                "to": ["ops@example.org"], "events": ["service_disabled"]
            }),
        )
        .await;
    assert_eq!(created.status(), 201);

    // Exported without the password, and applied back: nothing changes.
    let resp = api.get("/state").await;
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap_or_default();
    assert!(
        !text.contains(SECRET) && !text.contains("password"),
        "{text}"
    );
    let mut doc: Value = serde_json::from_str(&text).unwrap_or_default();
    assert_eq!(doc["notifications"][0]["name"], "mail");
    assert_eq!(doc["notifications"][0]["smtp"]["port"], 587);
    let again = put_state(&api, &doc).await;
    assert_eq!(again["changed"], false, "{again}");
    assert_eq!(
        plan_lines(&again, "notification"),
        [("mail".to_string(), "unchanged".to_string(), vec![])]
    );

    // A new webhook and a changed port: the stored password is kept.
    doc["notifications"][0]["smtp"]["port"] = json!(2525);
    if let Some(list) = doc["notifications"].as_array_mut() {
        list.push(
            json!({"name": "pager", "kind": "webhook", "url": "https://hooks.example.org/warden",
                         "events": ["firewall_drift", "service_disabled"]}),
        );
    }
    let plan = api.post("/state/plan", &doc).await.json::<Value>().await;
    let plan = plan.unwrap_or_default();
    assert_eq!(
        plan_lines(&plan, "notification"),
        [
            (
                "mail".to_string(),
                "update".to_string(),
                vec!["smtp".to_string()]
            ),
            ("pager".to_string(), "create".to_string(), vec![]),
        ]
    );
    assert_eq!(destinations(&api).await.len(), 1, "a plan changes nothing");
    let applied = put_state(&api, &doc).await;
    assert_eq!(applied["changed"], true);
    let list = destinations(&api).await;
    assert_eq!(named(&list, "mail")["smtp"]["port"], 2525);
    assert_eq!(named(&list, "mail")["smtp"]["password_set"], true);
    assert_eq!(
        named(&list, "pager")["url"],
        "https://hooks.example.org/warden"
    );

    // A webhook URL is often the credential itself: a read-only token sees scheme and host only, and
    // its export leaves the URL out.
    let read = api
        .post("/tokens", &json!({"name": "reader", "scope": "read"}))
        .await
        .json::<Value>()
        .await
        .unwrap_or_default();
    let reader = Api::with_token(&w, read["token"].as_str().unwrap_or_default());
    let seen = reader.get_json("/notifications/destinations").await;
    let seen = seen.as_array().cloned().unwrap_or_default();
    assert_eq!(named(&seen, "pager")["url"], "https://hooks.example.org/…");
    assert_eq!(named(&seen, "pager")["url_redacted"], true);
    let id = named(&seen, "pager")["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let one = reader
        .get_json(&format!("/notifications/destinations/{id}"))
        .await;
    assert_eq!(one["url"], "https://hooks.example.org/…");
    let exported = reader.get("/state").await.text().await.unwrap_or_default();
    assert!(
        exported.contains("\"pager\"") && !exported.contains("/warden"),
        "{exported}"
    );
    assert!(named(&destinations(&api).await, "pager")
        .get("url_redacted")
        .is_none());

    // A password named in the document is a change the plan names but never shows.
    doc["notifications"][0]["smtp"]["password"] = json!(NEW_SECRET);
    let changed = put_state(&api, &doc).await;
    assert_eq!(
        plan_lines(&changed, "notification")[0],
        (
            "mail".to_string(),
            "update".to_string(),
            vec!["smtp.password".to_string()]
        )
    );
    let same = put_state(&api, &doc).await;
    assert_eq!(same["changed"], false, "the same password twice: {same}");

    // A bad destination anywhere: 422 naming it, and nothing changes (not even the valid service).
    let bad = json!({
        "apiVersion": "warden/v1",
        "services": [{"name": "never-created", "command": "sleep 1000"}],
        "notifications": [{"name": "pager", "kind": "webhook", "url": "ftp://example.org/", "events": ["service_disabled"]}]
    });
    let resp = api.put("/state", &bad).await;
    assert_eq!(resp.status(), 422);
    let body: Value = resp.json().await.unwrap_or_default();
    assert_eq!(body["error"]["code"], "validation_failed", "{body}");
    let fields: Vec<&str> = body["error"]["details"]
        .as_array()
        .map(|d| d.iter().filter_map(|d| d["field"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(fields, ["notifications[pager].url"], "{body}");
    assert!(api
        .get_json("/services")
        .await
        .as_array()
        .is_some_and(|s| s.is_empty()));
    assert_eq!(
        named(&destinations(&api).await, "pager")["url"],
        "https://hooks.example.org/warden"
    );

    // Prune: only what the document names stays; other sections are left alone.
    let pruned = put_state(
        &api,
        &json!({
            "apiVersion": "warden/v1", "prune": true,
            "notifications": [{"name": "pager", "kind": "webhook", "url": "https://hooks.example.org/warden",
                               "events": ["firewall_drift", "service_disabled"]}]
        }),
    )
    .await;
    assert_eq!(
        plan_lines(&pruned, "notification"),
        [
            ("pager".to_string(), "unchanged".to_string(), vec![]),
            ("mail".to_string(), "delete".to_string(), vec![]),
        ]
    );

    // What was answered survives kill -9.
    w.kill9();
    w.restart();
    let api = Api::login(&w).await;
    let list = destinations(&api).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["name"], "pager");
}
