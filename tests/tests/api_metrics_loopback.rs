//! The `metrics_loopback_without_token` setting against the real binary on loopback: off (the default)
//! `GET /metrics` needs a token like every other path; on, a direct scraper on this machine gets the
//! exposition without one, but a request carrying proxy headers (a reverse proxy forwarding for
//! someone else) still needs a token, the rest of the API stays closed, and only an admin may turn it
//! on (a read token gets 403). The setting survives a restart.

use serde_json::{json, Value};
use warden_tests::{Api, Warden};

async fn anonymous_get(w: &Warden, path: &str, header: Option<(&str, &str)>) -> (u16, String) {
    let mut req = w.client().get(format!("{}{path}", w.url));
    if let Some((name, value)) = header {
        req = req.header(name, value);
    }
    let resp = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

#[tokio::test]
async fn metrics_open_to_a_loopback_scraper_only_when_the_setting_says_so() {
    let mut w = Warden::start();
    let api = Api::login(&w).await;
    let settings = api.get_json("/settings").await;
    assert_eq!(settings["metrics_loopback_without_token"], false);
    let (status, _) = anonymous_get(&w, "/metrics", None).await;
    assert_eq!(status, 401, "a token is needed by default");

    // A read token may not open it.
    let read = api
        .post("/tokens", &json!({"name": "scraper", "scope": "read"}))
        .await
        .json::<Value>()
        .await
        .unwrap_or_default();
    let read_api = Api::with_token(&w, read["token"].as_str().unwrap_or_default());
    let refused = read_api
        .patch(
            "/settings",
            &json!({"metrics_loopback_without_token": true}),
        )
        .await;
    assert_eq!(refused.status(), 403);

    let changed = api
        .patch(
            "/settings",
            &json!({"metrics_loopback_without_token": true}),
        )
        .await;
    assert_eq!(changed.status(), 200);
    let (status, body) = anonymous_get(&w, "/metrics", None).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("warden_login_failures_total"), "{body}");
    for (name, value) in [
        ("x-forwarded-for", "198.51.100.20"),
        ("forwarded", "for=198.51.100.20"),
        ("x-real-ip", "198.51.100.20"),
    ] {
        let (status, _) = anonymous_get(&w, "/metrics", Some((name, value))).await;
        assert_eq!(
            status, 401,
            "through a proxy ({name}) a token is still needed"
        );
    }
    let (status, _) = anonymous_get(&w, "/api/v1/services", None).await;
    assert_eq!(status, 401, "only /metrics opens");

    // Durable: still open after a restart; and closed again when turned off.
    w.restart();
    let (status, _) = anonymous_get(&w, "/metrics", None).await;
    assert_eq!(status, 200, "the setting survives a restart");
    let api = Api::login(&w).await;
    let changed = api
        .patch(
            "/settings",
            &json!({"metrics_loopback_without_token": false}),
        )
        .await;
    assert_eq!(changed.status(), 200);
    let (status, _) = anonymous_get(&w, "/metrics", None).await;
    assert_eq!(status, 401);
}
