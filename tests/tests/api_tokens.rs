//! API tokens and the password change over the real binary: create (secret shown once, stored only as a
//! digest), list, use, revoke (stops working at once), validation; password change with the current
//! password, field errors, other sessions ended, the caller's session and API tokens kept.

use serde_json::{json, Value};
use warden_tests::{api_error, Api, Warden, ADMIN_PASSWORD};

/// Every byte under `dir`, for "the secret is not stored" checks.
fn contains_bytes(dir: &std::path::Path, needle: &[u8]) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let p = e.path();
        if p.is_dir() {
            contains_bytes(&p, needle)
        } else {
            std::fs::read(&p).is_ok_and(|data| data.windows(needle.len()).any(|w| w == needle))
        }
    })
}

#[tokio::test]
async fn tokens_are_shown_once_work_and_stop_working_when_revoked() {
    let w = Warden::start();
    let admin = Api::login(&w).await;

    let resp = admin.post("/tokens", &json!({"name": "ci"})).await;
    assert_eq!(resp.status(), 201);
    let created: Value = resp.json().await.unwrap();
    let secret = created["token"].as_str().expect("secret").to_string();
    let id = created["id"].as_str().expect("id").to_string();
    assert_eq!(created["name"], "ci");
    assert!(created["created_at"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    assert!(secret.len() >= 40);

    // The list never shows a secret.
    let list = admin.get_json("/tokens").await;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list[0]["id"], id.as_str());
    assert!(list[0].get("token").is_none(), "{list}");
    assert!(list[0]["last_used_at"].is_null());
    assert!(!list.to_string().contains(&secret));

    // The token works against the REST API, and its use is noted.
    let ci = Api::with_token(&w, &secret);
    assert_eq!(ci.get("/services").await.status(), 200);
    let list = admin.get_json("/tokens").await;
    assert!(list[0]["last_used_at"].as_str().is_some(), "{list}");

    // Stored as a digest only: the secret's bytes are nowhere in the data dir.
    assert!(!contains_bytes(w.data_dir(), secret.as_bytes()));

    // Validation: empty, control characters, too long → 422 on `name`; duplicate → 409; unknown field → 400.
    for bad in [
        json!({"name": ""}),
        json!({"name": "a\nb"}),
        json!({"name": "x".repeat(65)}),
    ] {
        let (status, code, field) = api_error(admin.post("/tokens", &bad).await).await;
        assert_eq!(
            (status, code.as_str(), field.as_deref()),
            (422, "validation_failed", Some("name")),
            "{bad}"
        );
    }
    let (status, code, _) = api_error(admin.post("/tokens", &json!({"name": "ci"})).await).await;
    assert_eq!((status, code.as_str()), (409, "conflict"));
    let (status, _, _) = api_error(
        admin
            .post("/tokens", &json!({"name": "x", "admin": true}))
            .await,
    )
    .await;
    assert_eq!(status, 400);

    // Revoke: 204, then the token fails at once; revoking again → 404.
    assert_eq!(admin.delete(&format!("/tokens/{id}")).await.status(), 204);
    let (status, code, _) = api_error(ci.get("/services").await).await;
    assert_eq!((status, code.as_str()), (401, "unauthorized"));
    let (status, code, _) = api_error(admin.delete(&format!("/tokens/{id}")).await).await;
    assert_eq!((status, code.as_str()), (404, "not_found"));
    assert_eq!(admin.get_json("/tokens").await, json!([]));
}

#[tokio::test]
async fn a_token_can_revoke_itself_and_tokens_survive_a_restart() {
    let mut w = Warden::start();
    let admin = Api::login(&w).await;
    let created: Value = admin
        .post("/tokens", &json!({"name": "deploy bot ✓"}))
        .await
        .json()
        .await
        .unwrap();
    let secret = created["token"].as_str().unwrap().to_string();
    w.restart();
    let bot = Api::with_token(&w, &secret);
    let list = bot.get_json("/tokens").await;
    assert_eq!(list[0]["name"], "deploy bot ✓");
    let id = list[0]["id"].as_str().unwrap().to_string();
    assert_eq!(bot.delete(&format!("/tokens/{id}")).await.status(), 204);
    assert_eq!(bot.get("/tokens").await.status(), 401);
}

#[tokio::test]
async fn password_change_requires_the_current_password_and_ends_other_sessions() {
    let w = Warden::start();
    let caller = Api::login(&w).await;
    let other = Api::login(&w).await;
    let api_token: Value = caller
        .post("/tokens", &json!({"name": "keeps working"}))
        .await
        .json()
        .await
        .unwrap();
    let api_token = Api::with_token(&w, api_token["token"].as_str().unwrap());
    let new_password = "a-brand-new-password-42";

    // Wrong current password → 422 on current_password; nothing changes.
    let (status, code, field) = api_error(
        caller
            .post(
                "/auth/password",
                &json!({"current_password": "wrong-password", "new_password": new_password}),
            )
            .await,
    )
    .await;
    assert_eq!(
        (status, code.as_str(), field.as_deref()),
        (422, "validation_failed", Some("current_password"))
    );
    // Too short → 422 on new_password.
    let (status, _, field) = api_error(
        caller
            .post(
                "/auth/password",
                &json!({"current_password": ADMIN_PASSWORD, "new_password": "short"}),
            )
            .await,
    )
    .await;
    assert_eq!((status, field.as_deref()), (422, Some("new_password")));
    assert_eq!(
        other.get("/services").await.status(),
        200,
        "failed changes end no session"
    );

    let resp = caller
        .post(
            "/auth/password",
            &json!({"current_password": ADMIN_PASSWORD, "new_password": new_password}),
        )
        .await;
    assert_eq!(resp.status(), 204);

    // The caller's session and API tokens go on; the other session ended.
    assert_eq!(caller.get("/services").await.status(), 200);
    assert_eq!(api_token.get("/services").await.status(), 200);
    assert_eq!(other.get("/services").await.status(), 401);

    // Old password refused, new one works.
    let c = w.client();
    let old = c
        .post(w.api("/auth/login"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), 401);
    let new = c
        .post(w.api("/auth/login"))
        .json(&json!({"username": "admin", "password": new_password}))
        .send()
        .await
        .unwrap();
    assert_eq!(new.status(), 200);
}

/// A session is not a way to guess the password: wrong current passwords count as failed logins of the
/// address, and once the failures allowed by the ban settings are used up, password changes (even with
/// the right password) and logins from that address get 429 with Retry-After. (From loopback, so the
/// firewall never bans here; `firewall_e2e` covers the kernel ban of failed logins.)
#[tokio::test]
async fn wrong_current_passwords_are_throttled_like_failed_logins() {
    let w = Warden::start();
    let caller = Api::login(&w).await;
    assert_eq!(
        caller
            .patch(
                "/settings",
                &json!({"ban": {"max_failures": 3, "window_secs": 600, "ban_secs": 120}})
            )
            .await
            .status(),
        200
    );
    for _ in 0..3 {
        let (status, _, field) = api_error(
            caller
                .post(
                    "/auth/password",
                    &json!({"current_password": "a-guess", "new_password": "a-brand-new-password-42"}),
                )
                .await,
        )
        .await;
        assert_eq!((status, field.as_deref()), (422, Some("current_password")));
    }
    let resp = caller
        .post(
            "/auth/password",
            &json!({"current_password": ADMIN_PASSWORD, "new_password": "a-brand-new-password-42"}),
        )
        .await;
    assert_eq!(resp.status(), 429);
    let retry_after: u64 = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After in seconds");
    assert!((1..=120).contains(&retry_after), "{retry_after}");
    let login = w
        .client()
        .post(w.api("/auth/login"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        login.status(),
        429,
        "logins from the address are blocked too"
    );
    // The refused attempts changed nothing: the session still works.
    assert_eq!(caller.get("/services").await.status(), 200);
}
