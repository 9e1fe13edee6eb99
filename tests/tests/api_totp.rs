//! The second factor over the real binary, with codes computed by the test from the enrolled secret
//! (`totp-rs`, as an authenticator app would): enroll, confirm (recovery codes), then a login without a
//! code is 401 `totp_required`, a wrong code is 401 and a counted failure, the right code is 200, the
//! same code twice is refused, a recovery code works once; an admin can reset another user's second
//! factor, and the user can remove its own.

use serde_json::{json, Value};
use totp_rs::TOTP;
use warden_tests::{api_error, Api, Warden};

const PASSWORD: &str = "carol-long-password-1";

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

async fn login(w: &Warden, body: Value) -> reqwest::Response {
    w.client()
        .post(w.api("/auth/login"))
        .json(&body)
        .send()
        .await
        .expect("login request")
}

#[tokio::test]
async fn totp_enrollment_login_reuse_and_recovery_codes() {
    let w = Warden::start();
    let admin = Api::login(&w).await;
    let resp = admin
        .post(
            "/users",
            &json!({"username": "carol", "password": PASSWORD, "role": "admin"}),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let resp = login(&w, json!({"username": "carol", "password": PASSWORD})).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.expect("login body");
    let carol = Api::with_token(&w, body["token"].as_str().expect("token"));

    // Enroll: the secret as base32 and as an otpauth URI (and its QR code as SVG).
    let resp = carol.post_empty("/auth/totp/enroll").await;
    assert_eq!(resp.status(), 200);
    let enrollment: Value = resp.json().await.expect("enrollment");
    let secret = enrollment["secret"].as_str().expect("secret");
    let uri = enrollment["otpauth_uri"].as_str().expect("uri");
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains(secret), "{uri}");
    assert!(
        enrollment["qr_svg"]
            .as_str()
            .is_some_and(|s| s.contains("<svg")),
        "{enrollment}"
    );
    let totp = TOTP::from_url(uri).expect("the URI an authenticator app reads");
    // Not confirmed yet: the password alone still logs in.
    assert_eq!(
        login(&w, json!({"username": "carol", "password": PASSWORD}))
            .await
            .status(),
        200
    );
    // A wrong code does not confirm; the current one does and yields ten recovery codes.
    let t = now();
    let window: Vec<String> = (0..4).map(|i| totp.generate(t - 30 + i * 30)).collect();
    let wrong = (0..1_000_000)
        .map(|n| format!("{n:06}"))
        .find(|c| !window.contains(c))
        .expect("a wrong code");
    let (status, code, field) = api_error(
        carol
            .post("/auth/totp/confirm", &json!({"code": wrong}))
            .await,
    )
    .await;
    assert_eq!(
        (status, code.as_str(), field.as_deref()),
        (422, "validation_failed", Some("code"))
    );
    let resp = carol
        .post("/auth/totp/confirm", &json!({"code": totp.generate(t)}))
        .await;
    assert_eq!(resp.status(), 200);
    let confirmed: Value = resp.json().await.expect("recovery codes");
    let recovery: Vec<String> = confirmed["recovery_codes"]
        .as_array()
        .expect("recovery_codes")
        .iter()
        .filter_map(|c| c.as_str().map(str::to_string))
        .collect();
    assert_eq!(recovery.len(), 10);
    let users = admin.get_json("/users").await;
    let listed = users
        .as_array()
        .and_then(|u| u.iter().find(|u| u["username"] == "carol"))
        .expect("carol listed");
    assert_eq!(listed["totp"], true);

    // Without a code: 401 totp_required. With a wrong code: 401, counted as a failed login.
    let (status, code, _) =
        api_error(login(&w, json!({"username": "carol", "password": PASSWORD})).await).await;
    assert_eq!((status, code.as_str()), (401, "totp_required"));
    let (status, code, _) = api_error(
        login(
            &w,
            json!({"username": "carol", "password": PASSWORD, "totp": wrong}),
        )
        .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (401, "unauthorized"));
    let audit = admin.get_json("/audit?limit=1000").await;
    assert!(
        audit
            .as_array()
            .is_some_and(|a| a.iter().any(|e| e["action"] == "auth.login"
                && e["outcome"] == "failed"
                && e["actor"] == "carol")),
        "the wrong code is a failed login: {audit:#}"
    );

    // The code of the next step (the confirmation used this one's): 200; the same code again: refused.
    let next = totp.generate(t + 30);
    let with_next = json!({"username": "carol", "password": PASSWORD, "totp": next});
    assert_eq!(login(&w, with_next.clone()).await.status(), 200);
    let (status, code, _) = api_error(login(&w, with_next).await).await;
    assert_eq!((status, code.as_str()), (401, "unauthorized"));

    // A recovery code works once (case and dashes do not matter).
    let first = recovery[0].to_uppercase();
    let with_recovery = json!({"username": "carol", "password": PASSWORD, "recovery_code": first});
    assert_eq!(login(&w, with_recovery.clone()).await.status(), 200);
    assert_eq!(login(&w, with_recovery).await.status(), 401);

    // Enrolling again while active: 409. An admin resets carol's second factor: password alone again.
    let (status, code, _) = api_error(carol.post_empty("/auth/totp/enroll").await).await;
    assert_eq!((status, code.as_str()), (409, "conflict"));
    assert_eq!(admin.delete("/users/carol/totp").await.status(), 204);
    assert_eq!(
        login(&w, json!({"username": "carol", "password": PASSWORD}))
            .await
            .status(),
        200
    );
    // Carol enrolls again and removes it herself.
    assert_eq!(carol.post_empty("/auth/totp/enroll").await.status(), 200);
    assert_eq!(carol.delete("/auth/totp").await.status(), 204);
    let audit = admin.get_json("/audit?limit=1000").await;
    let actions: Vec<(String, String)> = audit
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| (e["action"].to_string(), e["actor"].to_string()))
                .collect()
        })
        .unwrap_or_default();
    for (action, actor) in [
        ("auth.totp.enroll", "carol"),
        ("auth.totp.confirm", "carol"),
        ("auth.totp.remove", "admin"),
        ("auth.totp.remove", "carol"),
    ] {
        assert!(
            actions.contains(&(format!("\"{action}\""), format!("\"{actor}\""))),
            "{action} by {actor}: {actions:?}"
        );
    }
}

/// The locked-out admin: `warden admin reset-password --clear-totp` (Warden stopped) sets a new password
/// and removes the second factor; old sessions end; both are audited as done by `cli`.
#[tokio::test]
async fn reset_password_on_the_host_clears_the_admins_second_factor() {
    let mut w = Warden::start();
    let admin = Api::login(&w).await;
    let enrollment: Value = admin
        .post_empty("/auth/totp/enroll")
        .await
        .json()
        .await
        .expect("enrollment");
    let totp = TOTP::from_url(enrollment["otpauth_uri"].as_str().expect("uri")).expect("uri");
    let resp = admin
        .post("/auth/totp/confirm", &json!({"code": totp.generate(now())}))
        .await;
    assert_eq!(resp.status(), 200);
    let (status, code, _) = api_error(
        login(
            &w,
            json!({"username": "admin", "password": warden_tests::ADMIN_PASSWORD}),
        )
        .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (401, "totp_required"));

    assert!(w.terminate(std::time::Duration::from_secs(20)).is_some());
    let out = std::process::Command::new(warden_tests::warden_bin())
        .args(["admin", "reset-password", "--clear-totp", "--data-dir"])
        .arg(w.data_dir())
        .env("WARDEN_NEW_PASSWORD", "a-brand-new-password-9")
        .output()
        .expect("run warden admin reset-password");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    w.restart();

    let resp = login(
        &w,
        json!({"username": "admin", "password": "a-brand-new-password-9"}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.expect("login body");
    let fresh = Api::with_token(&w, body["token"].as_str().expect("token"));
    assert_eq!(
        Api::with_token(&w, &admin.token)
            .get("/services")
            .await
            .status(),
        401
    );
    let users = fresh.get_json("/users").await;
    assert_eq!(users[0]["totp"], false);
    let audit = fresh.get_json("/audit?limit=1000").await;
    for action in ["auth.reset_password", "auth.totp.remove"] {
        assert!(
            audit.as_array().is_some_and(|a| a
                .iter()
                .any(|e| e["action"] == action && e["actor"] == "cli" && e["target"] == "admin")),
            "{action}: {audit:#}"
        );
    }
}

/// Wrong second-factor codes are failed logins: with the ban settings' allowance at 3, three logins with
/// the right password and a wrong code use it up, and the next attempt (even with the right code) is 429.
#[tokio::test]
async fn wrong_codes_use_up_the_failed_login_allowance() {
    let w = Warden::start();
    let admin = Api::login(&w).await;
    let resp = admin
        .patch("/settings", &json!({"ban": {"max_failures": 3}}))
        .await;
    assert_eq!(resp.status(), 200);
    let enrollment: Value = admin
        .post_empty("/auth/totp/enroll")
        .await
        .json()
        .await
        .expect("enrollment");
    let totp = TOTP::from_url(enrollment["otpauth_uri"].as_str().expect("uri")).expect("uri");
    let t = now();
    let resp = admin
        .post("/auth/totp/confirm", &json!({"code": totp.generate(t)}))
        .await;
    assert_eq!(resp.status(), 200);
    let window: Vec<String> = (0..4).map(|i| totp.generate(t - 30 + i * 30)).collect();
    let wrong = (0..1_000_000)
        .map(|n| format!("{n:06}"))
        .find(|c| !window.contains(c))
        .expect("a wrong code");
    let attempt = |code: String| {
        login(
            &w,
            json!({"username": "admin", "password": warden_tests::ADMIN_PASSWORD, "totp": code}),
        )
    };
    for _ in 0..3 {
        let (status, code, _) = api_error(attempt(wrong.clone()).await).await;
        assert_eq!((status, code.as_str()), (401, "unauthorized"));
    }
    let (status, code, _) = api_error(attempt(totp.generate(t + 30)).await).await;
    assert_eq!((status, code.as_str()), (429, "rate_limited"));
}
