//! API token scope and expiry over the real binary: `POST /api/v1/tokens` with `"scope": "read"` and an
//! `expires_at`; a read token reads everything but gets 403 `forbidden` on every mutation — every
//! documented REST operation other than GET/HEAD (the list comes from the live OpenAPI document) and
//! every server function not listed as a read (the list comes from `warden server-fns`); an expired
//! token gets 401; listings show scope and expiry; bad scopes and expiries are refused.

use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use warden_tests::{api_error, poll, Api, Warden};

/// `"2026-12-02T10:00:05Z"` for now + `secs`.
fn rfc3339_in(secs: i64) -> String {
    let out = Command::new("date")
        .args([
            "-u",
            "-d",
            &format!("@{}", unix_now() + secs),
            "+%Y-%m-%dT%H:%M:%SZ",
        ])
        .output()
        .expect("date");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

async fn assert_forbidden(resp: reqwest::Response, what: &str) {
    let (status, code, _) = api_error(resp).await;
    assert_eq!((status, code.as_str()), (403, "forbidden"), "{what}");
}

#[tokio::test]
async fn a_read_token_reads_but_every_mutation_is_forbidden() {
    let w = Warden::start();
    let admin = Api::login(&w).await;
    let resp = admin
        .post("/tokens", &json!({"name": "monitoring", "scope": "read"}))
        .await;
    assert_eq!(resp.status(), 201);
    let created: Value = resp.json().await.unwrap();
    assert_eq!(created["scope"], "read");
    assert!(created["expires_at"].is_null());
    let reader = Api::with_token(&w, created["token"].as_str().unwrap());
    let id = created["id"].as_str().unwrap().to_string();

    // Reads work.
    for path in [
        "/services",
        "/firewall",
        "/firewall/rules",
        "/settings",
        "/tokens",
        "/audit",
    ] {
        assert_eq!(reader.get(path).await.status(), 200, "GET {path}");
    }

    // Every documented mutation and every mutating server function is refused before anything happens.
    let (rest, fns) = warden_tests::mutations::assert_every_mutation_forbidden(
        &w,
        &reader,
        warden_tests::mutations::Reader::Token,
    )
    .await;
    assert!(rest >= 20, "only {rest} mutations documented");
    assert!(fns >= 10, "only {fns} mutating server functions");
    let reads = warden_tests::server_fn_endpoints(&["--read-only"]);
    assert!(
        reads.iter().any(|(_, p)| p == "/rpc/services/list"),
        "{reads:?}"
    );

    // Nothing changed: the token list is the one token, and a real mutation with it stays refused.
    assert_forbidden(
        reader
            .post("/services", &json!({"name": "x", "command": "sleep 1"}))
            .await,
        "POST /services",
    )
    .await;
    assert_eq!(admin.get_json("/services").await, json!([]));
    let listed = admin.get_json("/tokens").await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    assert_eq!(listed[0]["scope"], "read");
    assert!(listed[0]["expires_at"].is_null());
    // The admin can still revoke it; then it is gone.
    assert_eq!(admin.delete(&format!("/tokens/{id}")).await.status(), 204);
    assert_eq!(reader.get("/services").await.status(), 401);
}

#[tokio::test]
async fn an_expired_token_gets_401_and_bad_requests_are_refused() {
    let w = Warden::start();
    let admin = Api::login(&w).await;

    // Validation: an expiry in the past or not RFC 3339 → 422 on expires_at; an unknown scope → 4xx.
    for bad in ["2020-01-01T00:00:00Z", "tomorrow", "2030-01-01"] {
        let (status, code, field) = api_error(
            admin
                .post("/tokens", &json!({"name": "bad", "expires_at": bad}))
                .await,
        )
        .await;
        assert_eq!(
            (status, code.as_str(), field.as_deref()),
            (422, "validation_failed", Some("expires_at")),
            "{bad}"
        );
    }
    let resp = admin
        .post("/tokens", &json!({"name": "bad", "scope": "root"}))
        .await;
    assert!(resp.status().is_client_error(), "{}", resp.status());
    assert_eq!(admin.get_json("/tokens").await, json!([]));

    // An admin token that expires in 3 s: it works, then 401 (and is listed as expired).
    let expires_at = rfc3339_in(3);
    let resp = admin
        .post(
            "/tokens",
            &json!({"name": "short", "scope": "admin", "expires_at": expires_at}),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let created: Value = resp.json().await.unwrap();
    assert_eq!(created["scope"], "admin");
    assert_eq!(created["expires_at"], expires_at.as_str());
    let short = Api::with_token(&w, created["token"].as_str().unwrap());
    assert_eq!(short.get("/services").await.status(), 200);
    poll("the token to expire", Duration::from_secs(10), || {
        let short = short.clone();
        async move { (short.get("/services").await.status() == 401).then_some(()) }
    })
    .await;
    let (status, code, _) = api_error(short.get("/tokens").await).await;
    assert_eq!((status, code.as_str()), (401, "unauthorized"));
    let listed = admin.get_json("/tokens").await;
    assert_eq!(listed[0]["name"], "short");
    assert_eq!(listed[0]["expires_at"], expires_at.as_str());
    assert_eq!(listed[0]["scope"], "admin");
}
