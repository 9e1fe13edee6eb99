//! Alerts survive a crash in the middle of their retries (real binary, real HTTP receiver): the
//! receiver refuses the first attempt, Warden is killed (`kill -9`) while it waits a long time before
//! the retry, and the restarted Warden resumes the delivery at once from its outbox — the same alert
//! (same `at`), counted as the second attempt in the delivery log.

use std::time::Duration;

use serde_json::{json, Value};

use warden_tests::receivers::WebhookReceiver;
use warden_tests::{poll, Api, Launch};

const T: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_delivery_interrupted_by_a_kill_is_resumed_at_the_next_start() {
    let receiver = WebhookReceiver::start().await;
    receiver.fail_first("ops", 1);
    // Ten minutes before a retry: only a resumed outbox can deliver within the test.
    let mut w = Launch::new()
        .env("WARDEN_NOTIFY_RETRY_MS", "600000")
        .start();
    let api = Api::login(&w).await;
    let created = api
        .post(
            "/notifications/destinations",
            &json!({"name": "ops", "kind": "webhook", "url": receiver.url("ops"), "events": ["address_banned"]}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.unwrap_or_default()["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let resp = api
        .patch(
            "/settings",
            &json!({"ban": {"max_failures": 2, "window_secs": 600, "ban_secs": 600}}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let client = w.client();
    for _ in 0..3 {
        let _ = client
            .post(w.api("/auth/login"))
            .json(&json!({"username": "admin", "password": "wrong-password-123"}))
            .send()
            .await;
    }
    let first = receiver.wait_event("ops", "address_banned", T).await;
    let log_path = format!("/notifications/destinations/{id}/log");
    poll("the refused first attempt in the delivery log", T, || {
        let api = api.clone();
        let path = log_path.clone();
        async move {
            let log = api.get_json(&path).await;
            (log["entries"][0]["ok"] == false).then_some(())
        }
    })
    .await;

    w.kill9();
    w.restart();
    let delivered = poll("the resumed delivery", T, || async {
        let bodies = receiver.bodies("ops");
        (bodies.len() >= 2).then(|| bodies[1].clone())
    })
    .await;
    assert_eq!(delivered["event"], "address_banned");
    assert_eq!(
        delivered["at"], first["at"],
        "the same alert, not a new one"
    );

    let api = Api::login(&w).await;
    let log = api.get_json(&log_path).await;
    assert_eq!(log["entries"][0]["ok"], true, "{log}");
    assert_eq!(log["entries"][0]["attempt"], 2, "{log}");
}
