//! Notifications end to end, against the real binary, a real HTTP receiver (axum on 127.0.0.1) and a
//! real SMTP server (Debian's aiosmtpd): destinations created over REST; a service that crash-loops into
//! `disabled` (a real child that exits at once) reaches the webhook and the mailbox; a receiver that
//! answers 500 twice gets the alert on the third attempt, and the delivery log shows the two errors;
//! "send test" reports success and, for an unreachable destination, a clear failure; bad input is a
//! 4xx naming the field; a read token gets 403; the SMTP password is never answered nor logged; a
//! `kill -9` is reported as an unclean restart at the next start; failed logins report a ban.

use std::time::Duration;

use serde_json::{json, Value};

use warden_tests::receivers::{free_port, SmtpServer, WebhookReceiver};
use warden_tests::{api_error, poll, Api, Launch, Warden};

const T: Duration = Duration::from_secs(30);
const SECRET: &str = "smtp-Pa55word-never-shown";

/// Warden with short retry pauses (50 ms, 100 ms, ...).
fn start() -> Warden {
    Launch::new().env("WARDEN_NOTIFY_RETRY_MS", "50").start()
}

async fn create(api: &Api, body: Value) -> Value {
    let resp = api.post("/notifications/destinations", &body).await;
    let status = resp.status();
    let created: Value = resp.json().await.unwrap_or_default();
    assert_eq!(status, 201, "{created}");
    created
}

fn email_body(port: u16, events: &[&str]) -> Value {
    json!({
        "name": "ops mail",
        "kind": "email",
        "smtp": {"host": "127.0.0.1", "port": port, "security": "none", "from": "warden@example.org"},
        "to": ["ops@example.org"],
        "events": events,
    })
}

#[tokio::test]
async fn a_disabled_service_reaches_the_webhook_and_the_mailbox_with_retries() {
    let receiver = WebhookReceiver::start().await;
    let smtp = SmtpServer::start().await;
    let w = start();
    let api = Api::login(&w).await;

    let hook = create(
        &api,
        json!({"name": "chat", "kind": "webhook", "url": receiver.url("chat"), "events": ["service_disabled"]}),
    )
    .await;
    assert_eq!(hook["enabled"], true);
    assert_eq!(hook["kind"], "webhook");
    create(&api, email_body(smtp.port, &["service_disabled"])).await;
    receiver.fail_first("flaky", 2);
    let flaky = create(
        &api,
        json!({"kind": "webhook", "url": receiver.url("flaky"), "events": ["service_disabled"]}),
    )
    .await;
    // Not subscribed: gets nothing.
    create(
        &api,
        json!({"kind": "webhook", "url": receiver.url("other"), "events": ["firewall_drift"]}),
    )
    .await;

    let service = api
        .create_service(&json!({"name": "crashy", "command": "exit 3"}))
        .await;
    let id = service["id"].as_str().unwrap_or_default().to_string();
    api.wait_service(&id, "the crash loop to disable it", T, |s| {
        s["status"]["state"] == "disabled"
    })
    .await;

    let body = receiver.wait_event("chat", "service_disabled", T).await;
    assert_eq!(body["service"], "crashy", "{body}");
    assert_eq!(body["service_id"], id.as_str());
    assert!(
        body["reason"]
            .as_str()
            .is_some_and(|r| r.contains("5 times")),
        "{body}"
    );
    assert!(
        body["text"].as_str().is_some_and(|t| t.contains("crashy")),
        "{body}"
    );
    assert!(
        body["subject"]
            .as_str()
            .is_some_and(|t| t.contains("crashy")),
        "{body}"
    );
    assert!(
        body["host"].as_str().is_some_and(|h| !h.is_empty()),
        "{body}"
    );
    assert!(
        body["at"].as_str().is_some_and(|a| a.ends_with('Z')),
        "{body}"
    );

    let mail = smtp.wait_message("Service crashy was disabled", T).await;
    assert!(mail.contains("To: ops@example.org"), "{mail}");
    assert!(mail.contains("From: warden@example.org"), "{mail}");
    assert!(mail.contains("service: crashy"), "{mail}");

    // The flaky receiver: two 500s, then delivered on the third attempt.
    let third = receiver.wait_event("flaky", "service_disabled", T).await;
    assert_eq!(third["service"], "crashy");
    let flaky_id = flaky["id"].as_str().unwrap_or_default();
    let log = poll("three attempts in the delivery log", T, || async {
        let log = api
            .get_json(&format!("/notifications/destinations/{flaky_id}/log"))
            .await;
        (log["entries"].as_array().map_or(0, Vec::len) >= 3).then_some(log)
    })
    .await;
    let entries = log["entries"].as_array().cloned().unwrap_or_default();
    assert_eq!(receiver.bodies("flaky").len(), 3);
    // Newest first: ok on attempt 3, then the two errors with their status.
    assert_eq!(entries[0]["ok"], true, "{log}");
    assert_eq!(entries[0]["attempt"], 3);
    for (entry, attempt) in entries[1..3].iter().zip([2, 1]) {
        assert_eq!(entry["ok"], false, "{log}");
        assert_eq!(entry["attempt"], attempt);
        assert_eq!(entry["status"], 500);
        assert!(
            entry["error"].as_str().is_some_and(|e| e.contains("500")),
            "{log}"
        );
        assert_eq!(entry["event"], "service_disabled");
    }
    let shown = api
        .get_json(&format!("/notifications/destinations/{flaky_id}"))
        .await;
    assert_eq!(shown["last_delivery"]["ok"], true, "{shown}");
    assert_eq!(shown["last_error"]["attempt"], 2, "{shown}");
    assert!(receiver.bodies("other").is_empty());
    assert_eq!(receiver.bodies("chat").len(), 1);
}

#[tokio::test]
async fn send_test_validation_scopes_and_the_secret() {
    let receiver = WebhookReceiver::start().await;
    let smtp = SmtpServer::start().await;
    let w = start();
    let api = Api::login(&w).await;

    // Send test: a real delivery, its outcome in the answer and the log.
    let hook = create(
        &api,
        json!({"kind": "webhook", "url": receiver.url("t"), "events": ["firewall_drift"], "enabled": false}),
    )
    .await;
    let hook_id = hook["id"].as_str().unwrap_or_default();
    let resp = api
        .post_empty(&format!("/notifications/destinations/{hook_id}/test"))
        .await;
    assert_eq!(resp.status(), 200);
    let result: Value = resp.json().await.unwrap_or_default();
    assert_eq!(result["ok"], true, "{result}");
    assert_eq!(result["status"], 200);
    assert_eq!(receiver.bodies("t")[0]["event"], "test");

    // An unreachable destination: the test says why, clearly.
    let dead = create(
        &api,
        json!({"kind": "webhook", "url": format!("http://127.0.0.1:{}/x", free_port()), "events": ["firewall_drift"]}),
    )
    .await;
    let dead_id = dead["id"].as_str().unwrap_or_default();
    let result: Value = api
        .post_empty(&format!("/notifications/destinations/{dead_id}/test"))
        .await
        .json()
        .await
        .unwrap_or_default();
    assert_eq!(result["ok"], false, "{result}");
    let error = result["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("cannot connect") && error.to_lowercase().contains("refused"),
        "{error}"
    );
    let shown = api
        .get_json(&format!("/notifications/destinations/{dead_id}"))
        .await;
    assert_eq!(shown["last_error"]["error"], error);

    // E-mail test through the real SMTP server.
    let mail = create(&api, email_body(smtp.port, &["address_banned"])).await;
    let mail_id = mail["id"].as_str().unwrap_or_default();
    let result: Value = api
        .post_empty(&format!("/notifications/destinations/{mail_id}/test"))
        .await
        .json()
        .await
        .unwrap_or_default();
    assert_eq!(result["ok"], true, "{result}");
    smtp.wait_message("Test notification from Warden", T).await;

    // The SMTP password: stored, answered as password_set, never shown or logged.
    let mut with_secret = email_body(smtp.port, &["firewall_rolled_back"]);
    with_secret["smtp"]["username"] = json!("warden");
    with_secret["smtp"]["password"] = json!(SECRET);
    let secret = create(&api, with_secret).await;
    let secret_id = secret["id"].as_str().unwrap_or_default().to_string();
    assert_eq!(secret["smtp"]["password_set"], true, "{secret}");
    // A patch without the password keeps it.
    let resp = api
        .patch(
            &format!("/notifications/destinations/{secret_id}"),
            &json!({"smtp": {"host": "127.0.0.1", "port": smtp.port, "security": "none", "from": "w@example.org", "username": "warden"}, "enabled": false}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let patched: Value = resp.json().await.unwrap_or_default();
    assert_eq!(patched["smtp"]["password_set"], true, "{patched}");
    assert_eq!(patched["enabled"], false);
    // aiosmtpd offers no AUTH without TLS: the test fails, and says so without the secret.
    let result: Value = api
        .post_empty(&format!("/notifications/destinations/{secret_id}/test"))
        .await
        .json()
        .await
        .unwrap_or_default();
    assert_eq!(result["ok"], false, "{result}");
    let listed = api
        .get("/notifications/destinations")
        .await
        .text()
        .await
        .unwrap_or_default();
    let one = api
        .get(&format!("/notifications/destinations/{secret_id}"))
        .await
        .text()
        .await
        .unwrap_or_default();
    let audit = api.get("/audit").await.text().await.unwrap_or_default();
    for text in [&listed, &one, &audit] {
        assert!(!text.contains(SECRET), "the password leaked: {text}");
    }
    assert!(listed.contains("password_set"));
    assert!(
        audit.contains("notifications.create")
            && audit.contains("notifications.update")
            && audit.contains("notifications.test"),
        "{audit}"
    );

    // Validation: 422 naming the field.
    for (body, field) in [
        (
            json!({"kind": "webhook", "url": "ftp://x", "events": ["service_disabled"]}),
            "url",
        ),
        (
            json!({"kind": "webhook", "url": "http://h/", "events": ["nonsense"]}),
            "events[0]",
        ),
        (
            json!({"kind": "webhook", "url": "http://h/", "events": []}),
            "events",
        ),
        (
            json!({"kind": "email", "smtp": {"host": "h", "port": 0, "from": "a@b.c"}, "to": ["x@y.z"], "events": ["service_disabled"]}),
            "smtp.port",
        ),
        (
            json!({"kind": "email", "smtp": {"host": "h", "port": 25, "from": "a@b.c"}, "to": ["not an address"], "events": ["service_disabled"]}),
            "to[0]",
        ),
        (
            json!({"kind": "email", "smtp": {"host": "h", "port": 25, "from": "a@b.c", "security": "ssl3"}, "to": ["x@y.z"], "events": ["service_disabled"]}),
            "",
        ),
    ] {
        let resp = api.post("/notifications/destinations", &body).await;
        let (status, code, got) = api_error(resp).await;
        if field.is_empty() {
            assert_eq!(status, 400, "{body}: {code}");
        } else {
            assert_eq!(
                (status, got.as_deref()),
                (422, Some(field)),
                "{body}: {code}"
            );
        }
    }
    let resp = api.get("/notifications/destinations/nope").await;
    assert_eq!(api_error(resp).await.0, 404);

    // A read token sees the destinations but may not change or test them.
    let token: Value = api
        .post("/tokens", &json!({"name": "reader", "scope": "read"}))
        .await
        .json()
        .await
        .unwrap_or_default();
    let reader = Api::with_token(&w, token["token"].as_str().unwrap_or_default());
    assert_eq!(
        reader.get("/notifications/destinations").await.status(),
        200
    );
    for resp in [
        reader
            .post(
                "/notifications/destinations",
                &json!({"kind": "webhook", "url": "http://h/", "events": ["service_disabled"]}),
            )
            .await,
        reader
            .post_empty(&format!("/notifications/destinations/{hook_id}/test"))
            .await,
        reader
            .delete(&format!("/notifications/destinations/{hook_id}"))
            .await,
    ] {
        let (status, code, _) = api_error(resp).await;
        assert_eq!((status, code.as_str()), (403, "forbidden"));
    }

    // Delete: gone, with its log.
    assert_eq!(
        api.delete(&format!("/notifications/destinations/{dead_id}"))
            .await
            .status(),
        204
    );
    assert_eq!(
        api.get(&format!("/notifications/destinations/{dead_id}/log"))
            .await
            .status(),
        404
    );
    assert!(
        !w.stderr().contains(SECRET),
        "the password is in Warden's log"
    );
}

#[tokio::test]
async fn an_unclean_stop_and_a_ban_are_reported() {
    let receiver = WebhookReceiver::start().await;
    let mut w = start();
    let api = Api::login(&w).await;
    create(
        &api,
        json!({"kind": "webhook", "url": receiver.url("ops"), "events": ["warden_unclean_restart", "address_banned"]}),
    )
    .await;
    let resp = api
        .patch(
            "/settings",
            &json!({"ban": {"max_failures": 3, "window_secs": 600, "ban_secs": 600}}),
        )
        .await;
    assert_eq!(resp.status(), 200);

    // Failed logins use up the allowance: the address is banned (loopback: refused logins only).
    let client = w.client();
    for _ in 0..4 {
        let _ = client
            .post(w.api("/auth/login"))
            .json(&json!({"username": "admin", "password": "wrong-password-123"}))
            .send()
            .await;
    }
    let banned = receiver.wait_event("ops", "address_banned", T).await;
    assert_eq!(banned["address"], "127.0.0.1", "{banned}");
    assert_eq!(banned["ban_secs"], 600);

    // A clean stop says nothing; a kill -9 is reported at the next start.
    w.terminate(T);
    w.restart();
    w.kill9();
    w.restart();
    let unclean = receiver
        .wait_event("ops", "warden_unclean_restart", T)
        .await;
    assert!(
        unclean["previous_start"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{unclean}"
    );
    let count = receiver
        .bodies("ops")
        .iter()
        .filter(|b| b["event"] == "warden_unclean_restart")
        .count();
    assert_eq!(count, 1, "only the kill -9 is reported");
}
