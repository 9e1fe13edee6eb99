//! Accounts in headless Chromium against the real binary: the admin sets up a second factor from the
//! Settings page (the secret read from the page, the code computed by the test as an authenticator app
//! would, ten recovery codes shown), logs out, and the login form then asks for the code and accepts
//! it; a `read` user sees every page with no enabled mutation control. Screenshots go to
//! target/artifacts/.

use std::time::Duration;

use serde_json::json;
use totp_rs::{Algorithm, Secret, TOTP};
use warden_tests::browser::{self, Browser};
use warden_tests::{gate, poll, Api, Warden, ADMIN_PASSWORD};

const READER_PASSWORD: &str = "reader-long-password-1";

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Fills the login form (user, password and, when given, the code) and submits it.
async fn submit_login(b: &Browser, username: &str, password: &str, code: Option<&str>) {
    b.set_input("#username", username).await;
    b.set_input("#password", password).await;
    if let Some(code) = code {
        b.set_input("[data-testid=login-totp]", code).await;
    }
    b.click("[data-testid=login-submit]").await;
}

#[tokio::test]
async fn enroll_a_second_factor_in_settings_then_log_in_with_the_code() {
    if !gate("headless Chromium", browser::available()) {
        return;
    }
    let w = Warden::start();
    let b = Browser::start(1280, 1000).await;
    b.log_in(&w.url, ADMIN_PASSWORD).await;
    b.open(&w.url, "/settings").await;
    b.wait_for_path("/settings").await;
    b.find("[data-testid=totp-enroll]").await;
    b.wait_count(
        "the enroll button to be live",
        "[inert] [data-testid=totp-enroll]",
        |n| n == 0,
    )
    .await;
    b.click("[data-testid=totp-enroll]").await;
    let secret = b
        .find("[data-testid=totp-secret]")
        .await
        .text()
        .await
        .expect("the secret's text");
    assert_eq!(b.count("[data-testid=totp-qr] svg").await, 1, "the QR code");
    let bytes = Secret::Encoded(secret.trim().to_string())
        .to_bytes()
        .expect("a base32 secret");
    let totp = TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        30,
        bytes,
        Some("Warden".into()),
        "admin".into(),
    )
    .expect("a TOTP");
    let t = now();
    b.set_input("[data-testid=totp-code]", &totp.generate(t))
        .await;
    b.click("[data-testid=totp-confirm]").await;
    b.wait_count(
        "ten recovery codes",
        "[data-testid=recovery-codes] li",
        |n| n == 10,
    )
    .await;
    b.screenshot("accounts-recovery-codes").await;

    // Log out; the login form has no code field until the server asks for one.
    b.click("[data-testid=logout]").await;
    b.wait_for_path("/login").await;
    assert_eq!(b.count("[data-testid=login-totp]").await, 0);
    submit_login(&b, "admin", ADMIN_PASSWORD, None).await;
    b.find("[data-testid=login-totp]").await;
    let error = b.find("[data-testid=login-error]").await;
    assert!(error.text().await.unwrap_or_default().contains("code"));
    b.screenshot("accounts-login-code").await;
    // The next step's code (the confirmation used this step's).
    submit_login(&b, "admin", ADMIN_PASSWORD, Some(&totp.generate(t + 30))).await;
    b.wait_for_path("/").await;
    b.wait_hydrated().await;
    b.close().await;
}

#[tokio::test]
async fn a_read_user_sees_no_enabled_mutation_control() {
    if !gate("headless Chromium", browser::available()) {
        return;
    }
    let w = Warden::start();
    let admin = Api::login(&w).await;
    let service = admin
        .create_service(&json!({"name": "web", "command": "sleep 600"}))
        .await;
    let stop = format!("/services/{}/stop", service["id"].as_str().expect("id"));
    let resp = admin
        .post(
            "/users",
            &json!({"username": "reader", "password": READER_PASSWORD, "role": "read"}),
        )
        .await;
    assert_eq!(resp.status(), 201);

    let b = Browser::start(1280, 1000).await;
    b.client
        .goto(&format!("{}/login", w.url))
        .await
        .expect("open the login page");
    submit_login(&b, "reader", READER_PASSWORD, None).await;
    b.wait_for_path("/").await;
    b.wait_hydrated().await;
    const CONTROLS: &str = "main button, main input, main select, main textarea";
    // Controls outside the caller's own account (password, second factor: the Settings page keeps those).
    const ENABLED: &str =
        "main :is(button, input, select, textarea):not(:disabled):not([data-own-account] *)";
    const OWN_ACCOUNT_ENABLED: &str = "main [data-own-account] :is(button, input):not(:disabled)";
    let mut seen = 0;
    for (path, ready) in [
        ("/", "[data-testid=page-title]"),
        ("/services", "tr[data-service=web]"),
        ("/services/web", "[data-testid=status-card]"),
        ("/firewall", "[data-testid=fw-capability]"),
        ("/logs", "[data-testid=log-service]"),
        ("/settings", "[data-testid=tls-status]"),
        ("/audit", "[data-testid=audit-row]"),
        ("/users", "[data-testid=users-table]"),
    ] {
        b.open(&w.url, path).await;
        b.wait_for_path(path).await;
        b.find(ready).await;
        if path == "/settings" {
            // The page disables its other sections itself; the own-account cards stay usable.
            b.find("fieldset[data-testid=settings-scope][disabled]")
                .await;
            b.find("fieldset[data-testid=tokens-scope][disabled]").await;
            let c = b.client.clone();
            poll("own account controls", Duration::from_secs(10), || {
                let c = c.clone();
                async move {
                    let n = c
                        .execute(
                            "return document.querySelectorAll(arguments[0]).length;",
                            vec![json!(OWN_ACCOUNT_ENABLED)],
                        )
                        .await
                        .ok()?
                        .as_u64()?;
                    (n >= 2).then_some(())
                }
            })
            .await;
        } else {
            b.find("fieldset[data-testid=page-scope][disabled]").await;
        }
        let c = b.client.clone();
        poll(
            &format!("no enabled control on {path}"),
            Duration::from_secs(10),
            || {
                let c = c.clone();
                async move {
                    let n = c
                        .execute(
                            "return document.querySelectorAll(arguments[0]).length;",
                            vec![json!(ENABLED)],
                        )
                        .await
                        .ok()?
                        .as_u64()?;
                    (n == 0).then_some(())
                }
            },
        )
        .await;
        seen += b.count(CONTROLS).await;
        b.screenshot(&format!("accounts-read{}", path.replace('/', "-")))
            .await;
    }
    assert!(
        seen >= 10,
        "only {seen} controls on all pages: nothing checked"
    );
    // The server refuses whatever the page would send.
    let resp = w
        .client()
        .post(w.api("/auth/login"))
        .json(&json!({"username": "reader", "password": READER_PASSWORD}))
        .send()
        .await
        .expect("login");
    let token = resp.json::<serde_json::Value>().await.expect("body")["token"]
        .as_str()
        .map(str::to_string)
        .expect("token");
    let reader = Api::with_token(&w, &token);
    assert_eq!(reader.post(&stop, &json!({})).await.status(), 403);
    b.close().await;
}
