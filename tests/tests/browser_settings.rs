//! The settings and audit pages in headless Chromium against the real binary: a changed setting is
//! persisted (seen over REST), invalid values get field errors (from the shared validation in the browser,
//! and from the server), an API token is created (secret shown once, works against REST) and revoked, the
//! password is changed and works at the next login, and the audit page lists all of it. Screenshots go to
//! target/artifacts/.

use std::time::Duration;

use serde_json::{json, Value};
use warden_tests::browser::{self, Browser};
use warden_tests::{gate, poll, Api, Warden, ADMIN_PASSWORD};

const NEW_PASSWORD: &str = "browser-new-password-1";

/// Waits until the page's text contains `needle`.
async fn wait_text(b: &Browser, needle: &str) {
    let c = b.client.clone();
    let needle_owned = needle.to_string();
    poll(
        &format!("the page to show {needle:?}"),
        Duration::from_secs(20),
        move || {
            let c = c.clone();
            let needle = needle_owned.clone();
            async move {
                let text = c
                    .execute("return document.body.innerText;", vec![])
                    .await
                    .ok()?;
                text.as_str()
                    .is_some_and(|t| t.contains(&needle))
                    .then_some(())
            }
        },
    )
    .await;
}

async fn login(b: &Browser, w: &Warden, password: &str) {
    b.log_in(&w.url, password).await;
}

async fn open(b: &Browser, w: &Warden, path: &str) {
    b.open(&w.url, path).await;
    b.wait_for_path(path).await;
}

#[tokio::test]
async fn settings_tokens_password_and_audit_in_the_browser() {
    if !gate("headless Chromium", browser::available()) {
        return;
    }
    let w = Warden::start();
    let rest = Api::login(&w).await;
    let b = Browser::start(1280, 1000).await;
    login(&b, &w, ADMIN_PASSWORD).await;

    // ---- a setting changed in the form is persisted ----
    open(&b, &w, "/settings").await;
    b.find("[data-testid=settings-form]:not([inert])").await;
    b.set_input("[data-testid=hostname-input]", "browser-host")
        .await;
    b.set_input("[data-testid=ban-window-input]", "900").await;
    b.set_input("[data-testid=ssh-ports-input]", "2222").await;
    b.click("[data-testid=metrics-loopback-input]").await;
    b.click("[data-testid=env-add]").await;
    let last_key = "[data-testid=env-row]:last-child [data-testid=env-key]";
    let last_value = "[data-testid=env-row]:last-child [data-testid=env-value]";
    b.set_input(last_key, "GREETING").await;
    b.set_input(last_value, "hello world").await;
    b.click("[data-testid=settings-save]").await;
    wait_text(&b, "Settings saved.").await;
    let saved = poll("the settings over REST", Duration::from_secs(10), || {
        let rest = rest.clone();
        async move {
            let s = rest.get_json("/settings").await;
            (s["hostname"] == "browser-host").then_some(s)
        }
    })
    .await;
    assert_eq!(saved["ban"]["window_secs"], 900);
    assert_eq!(saved["ssh_ports"], serde_json::json!([2222]));
    assert_eq!(saved["metrics_loopback_without_token"], true);
    assert_eq!(saved["environment"]["GREETING"], "hello world");
    b.screenshot("settings-saved").await;

    // ---- invalid values: field errors, nothing saved ----
    b.set_input("[data-testid=ssh-ports-input]", "2222, ssh")
        .await;
    b.click("[data-testid=settings-save]").await;
    let err = b.find("[data-testid=error-ssh_ports]").await;
    assert!(err.text().await.unwrap().contains("not a port"));
    b.set_input("[data-testid=ssh-ports-input]", "2222").await;
    b.set_input("[data-testid=service-ports-input]", "9000:8000")
        .await;
    b.click("[data-testid=settings-save]").await;
    let err = b.find("[data-testid=error-service_ports]").await;
    assert!(err.text().await.unwrap().contains("range"));
    b.set_input("[data-testid=service-ports-input]", "8300:8499")
        .await;
    // A user name that is well-formed but does not exist: only the server knows.
    b.set_input("[data-testid=service-user-input]", "no-such-user-zz")
        .await;
    b.click("[data-testid=settings-save]").await;
    let err = b.find("[data-testid=error-service_user]").await;
    assert!(!err.text().await.unwrap().is_empty());
    b.screenshot("settings-field-error").await;
    assert_ne!(
        rest.get_json("/settings").await["service_user"],
        "no-such-user-zz"
    );

    // ---- API token: the secret is shown once and works ----
    b.set_input("[data-testid=token-name]", "browser-ci").await;
    b.click("[data-testid=token-create]").await;
    b.find("[data-testid=token-secret-box]").await;
    let secret: Value = b
        .client
        .execute(
            "return document.querySelector('[data-testid=token-secret]').value;",
            vec![],
        )
        .await
        .unwrap();
    let secret = secret.as_str().expect("the secret").to_string();
    assert!(secret.len() >= 40, "{secret}");
    b.find("[data-testid=token-copy]").await;
    b.screenshot("settings-token-created").await;
    let bot = Api::with_token(&w, &secret);
    assert_eq!(bot.get("/services").await.status(), 200);
    // Shown once: after a reload only the list row is there.
    open(&b, &w, "/settings").await;
    b.find("[data-testid=token-row][data-token-name=browser-ci]")
        .await;
    assert_eq!(b.count("[data-testid=token-secret-box]").await, 0);
    let page: Value = b
        .client
        .execute("return document.documentElement.outerHTML;", vec![])
        .await
        .unwrap();
    assert!(
        !page.as_str().unwrap_or_default().contains(&secret),
        "the secret is not in the page again"
    );

    // Revoke, with a confirmation.
    b.click("[data-testid=token-revoke]").await;
    b.click("[data-testid=token-revoke-confirm]").await;
    wait_text(&b, "Token browser-ci revoked.").await;
    b.find("[data-testid=no-tokens]").await;
    assert_eq!(bot.get("/services").await.status(), 401);

    // A read-only token with an expiry date: listed with both; it reads, and may not change anything.
    b.set_input("[data-testid=token-name]", "browser-monitor")
        .await;
    b.set_input("[data-testid=token-scope]", "read").await;
    b.set_input("[data-testid=token-expires]", "2999-12-31")
        .await;
    b.click("[data-testid=token-create]").await;
    b.find("[data-testid=token-secret-box]").await;
    let secret: Value = b
        .client
        .execute(
            "return document.querySelector('[data-testid=token-secret]').value;",
            vec![],
        )
        .await
        .unwrap();
    let monitor = Api::with_token(&w, secret.as_str().expect("the secret"));
    let row = b
        .find("[data-testid=token-row][data-token-name=browser-monitor]")
        .await;
    let text = row.text().await.unwrap();
    assert!(
        text.contains("read") && text.contains("2999-12-31"),
        "{text}"
    );
    b.screenshot("settings-read-token").await;
    assert_eq!(monitor.get("/services").await.status(), 200);
    let (status, code, _) =
        warden_tests::api_error(monitor.post("/tokens", &json!({"name": "escalate"})).await).await;
    assert_eq!((status, code.as_str()), (403, "forbidden"));
    let listed = rest.get_json("/tokens").await;
    assert_eq!(listed[0]["scope"], "read");
    assert_eq!(listed[0]["expires_at"], "2999-12-31T23:59:59Z");
    // A date in the past is refused under its field, by the same validation as the server's.
    b.set_input("[data-testid=token-name]", "too-late").await;
    b.set_input("[data-testid=token-expires]", "2001-01-01")
        .await;
    b.click("[data-testid=token-create]").await;
    let err = b.find("[data-testid=error-expires_at]").await;
    assert!(err.text().await.unwrap().contains("future"));
    b.click("[data-testid=token-revoke]").await;
    b.click("[data-testid=token-revoke-confirm]").await;
    b.find("[data-testid=no-tokens]").await;

    // ---- password: wrong current → field error; then a real change ----
    b.set_input("[data-testid=current-password]", "not-the-password")
        .await;
    b.set_input("[data-testid=new-password]", NEW_PASSWORD)
        .await;
    b.set_input("[data-testid=repeat-password]", NEW_PASSWORD)
        .await;
    b.click("[data-testid=password-save]").await;
    b.find("[data-testid=error-current_password]").await;
    b.set_input("[data-testid=current-password]", ADMIN_PASSWORD)
        .await;
    b.click("[data-testid=password-save]").await;
    wait_text(&b, "Password changed.").await;
    // The REST session (another session) ended.
    assert_eq!(rest.get("/settings").await.status(), 401);
    b.screenshot("settings-password-changed").await;

    // Log out and in with the new password.
    b.click("[data-testid=logout]").await;
    b.wait_for_path("/login").await;
    login(&b, &w, NEW_PASSWORD).await;

    // ---- the audit page lists these actions ----
    open(&b, &w, "/audit").await;
    b.find("[data-testid=audit-table]").await;
    for action in [
        "settings.update",
        "token.create",
        "token.revoke",
        "auth.password",
        "auth.login",
    ] {
        let n = b
            .count(&format!("[data-testid=audit-row][data-action='{action}']"))
            .await;
        assert!(n >= 1, "the audit page lists {action}");
    }
    let text: Value = b
        .client
        .execute(
            "return document.querySelector('[data-testid=audit-table]').innerText;",
            vec![],
        )
        .await
        .unwrap();
    let text = text.as_str().unwrap_or_default();
    assert!(
        text.contains("admin") && text.contains("127.0.0.1") && text.contains("browser-ci"),
        "{text}"
    );
    // Refresh picks up new entries.
    let before = b.count("[data-testid=audit-row]").await;
    let fresh = Api::with_token(&w, &{
        let c = w.client();
        let r: Value = c
            .post(w.api("/auth/login"))
            .json(&json!({"username": "admin", "password": NEW_PASSWORD}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["token"].as_str().unwrap().to_string()
    });
    assert_eq!(
        fresh
            .patch("/settings", &json!({"hostname": "after-refresh"}))
            .await
            .status(),
        200
    );
    b.click("[data-testid=audit-refresh]").await;
    b.wait_count(
        "the refreshed audit table",
        "[data-testid=audit-row]",
        |n| n >= before + 2,
    )
    .await;
    b.screenshot("audit").await;

    // The Logs page and the Settings page link to the audit log.
    open(&b, &w, "/logs").await;
    b.find("[data-testid=audit-link][href='/audit']").await;
    b.close().await;
}

#[tokio::test]
async fn settings_page_fits_a_phone() {
    if !gate("headless Chromium", browser::available()) {
        return;
    }
    let w = Warden::start();
    let b = Browser::start(390, 844).await;
    login(&b, &w, ADMIN_PASSWORD).await;
    open(&b, &w, "/settings").await;
    b.find("[data-testid=settings-form]:not([inert])").await;
    assert!(
        !b.overflows_horizontally().await,
        "the settings page is wider than a phone screen"
    );
    b.screenshot("settings-phone").await;
    b.close().await;
}

/// The opening tag of the `<form>` with this `data-testid` in a page's HTML.
fn form_tag<'a>(html: &'a str, testid: &str) -> &'a str {
    let marker = format!("data-testid=\"{testid}\"");
    let at = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {marker} in the page"));
    let start = html[..at].rfind("<form").expect("the form's opening tag");
    let end = at + html[at..].find('>').expect("the tag's end");
    &html[start..=end]
}

/// Forms arrive from the server `inert` (typing into a form the WASM has not reached would be shown
/// but not saved) and are live once hydrated.
#[tokio::test]
async fn server_rendered_forms_are_inert_until_live() {
    if !gate("headless Chromium", browser::available()) {
        return;
    }
    let w = Warden::start();
    let session = w.cookie_client().await;
    for (path, forms) in [
        (
            "/settings",
            &["settings-form", "password-form", "token-form"][..],
        ),
        ("/firewall", &["fw-form"][..]),
    ] {
        let resp = session
            .get(format!("{}{path}", w.url))
            .send()
            .await
            .expect("GET the page");
        assert_eq!(resp.status(), 200, "{path}");
        let html = resp.text().await.expect("the page's HTML");
        for testid in forms {
            let tag = form_tag(&html, testid);
            assert!(tag.contains(" inert"), "{path}: {tag}");
        }
    }

    let b = Browser::start(1280, 1000).await;
    login(&b, &w, ADMIN_PASSWORD).await;
    for (path, live_form) in [("/settings", "settings-form"), ("/firewall", "fw-form")] {
        open(&b, &w, path).await;
        b.find(&format!("[data-testid={live_form}]:not([inert])"))
            .await;
        assert_eq!(b.count("form[inert]").await, 0, "{path}");
    }
    b.close().await;
}

/// The UI over HTTPS: Chromium negotiates HTTP/2 for the page and its WASM chunks, and a change made in
/// the settings form (a server function: a POST with `Origin` and, over HTTP/2, no `Host` header)
/// passes the cross-origin guard and is saved.
#[tokio::test]
async fn the_ui_over_https_uses_http2_and_saves() {
    if !gate("headless Chromium", browser::available()) {
        return;
    }
    let w = Warden::start_with_args(&["--tls", "self-signed"]);
    // The test server's own self-signed certificate, on loopback.
    let b = Browser::start_with_args(1280, 1000, &["--ignore-certificate-errors"]).await;
    login(&b, &w, ADMIN_PASSWORD).await;
    open(&b, &w, "/settings").await;
    let protocols: Value = b
        .client
        .execute(
            "return [performance.getEntriesByType('navigation')[0].nextHopProtocol]
               .concat(performance.getEntriesByType('resource')
                 .filter(r => r.name.includes('/pkg/')).map(r => r.nextHopProtocol));",
            vec![],
        )
        .await
        .expect("the page's protocols");
    let protocols = protocols.as_array().cloned().unwrap_or_default();
    assert!(protocols.len() > 1, "{protocols:?}");
    assert!(protocols.iter().all(|p| p == "h2"), "{protocols:?}");

    b.set_input("[data-testid=hostname-input]", "https-host")
        .await;
    b.click("[data-testid=settings-save]").await;
    wait_text(&b, "Settings saved.").await;
    // A full page load shows the saved value.
    b.client.refresh().await.expect("reload the page");
    b.wait_hydrated().await;
    let value = b
        .find("[data-testid=hostname-input]")
        .await
        .prop("value")
        .await
        .expect("the hostname field")
        .unwrap_or_default();
    assert_eq!(value, "https-host");
    b.close().await;
}
