//! The services UI in headless Chromium against the real binary and real child processes: create a
//! service through the form and watch it run and log live, restart it, a crash loop disabling a service
//! and Start re-enabling it, field errors (client-side and from the server) with nothing saved, the logs
//! page, and client-side navigation. Screenshots go to target/artifacts/.

use std::time::{Duration, Instant};

use fantoccini::Locator;
use warden_tests::browser::{self, Browser};
use warden_tests::{gate, Api, Warden, ADMIN_PASSWORD};

const WAIT: Duration = Duration::from_secs(20);

async fn log_in(b: &Browser, w: &Warden) {
    b.log_in(&w.url, ADMIN_PASSWORD).await;
}

/// Opens `path` and waits until the WASM has hydrated it.
async fn open(b: &Browser, w: &Warden, path: &str) {
    b.open(&w.url, path).await;
}

/// Evaluates a JS expression (returning JSON) until `pred` holds, or panics after `timeout`.
async fn wait_js_for(
    b: &Browser,
    what: &str,
    timeout: Duration,
    expr: &str,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + timeout;
    let script = format!("return ({expr});");
    loop {
        let v = b.client.execute(&script, vec![]).await.unwrap();
        if pred(&v) {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}; last value: {v}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn wait_js(b: &Browser, what: &str, expr: &str) -> serde_json::Value {
    wait_js_for(b, what, WAIT, expr, |v| v.as_bool() == Some(true)).await
}

async fn fill(b: &Browser, css: &str, text: &str) {
    let el = b.find(css).await;
    el.clear().await.unwrap();
    el.send_keys(text).await.unwrap();
}

async fn click(b: &Browser, css: &str) {
    b.find(css).await.click().await.unwrap();
}

fn row(name: &str) -> String {
    format!("tr[data-service={name}]")
}

/// The texts of the log lines in the panel.
const LOG_TEXTS: &str =
    "Array.from(document.querySelectorAll('[data-testid=log-line] .log-text')).map(e => e.textContent)";

#[tokio::test]
async fn create_run_follow_log_restart_and_logs_page() {
    if !gate("headless Chromium", browser::available()) {
        return;
    }
    let w = Warden::start_managed();
    let api = Api::login(&w).await;
    let b = Browser::start(1280, 900).await;
    log_in(&b, &w).await;

    // Client-side navigation: the main nav changes the page without a full load.
    b.client
        .execute("window.__sameDocument = 'yes';", vec![])
        .await
        .unwrap();
    b.client
        .find(Locator::LinkText("Services"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait_for_path("/services").await;
    b.find("[data-testid=services-empty]").await;
    wait_js(
        &b,
        "the page to change without reloading",
        "window.__sameDocument === 'yes' && document.querySelector('[data-testid=page-title]').textContent === 'Services'",
    )
    .await;
    b.screenshot("services-empty").await;

    // Create a service through the form: a real shell loop printing a line every 200 ms.
    click(&b, "[data-testid=new-service]").await;
    fill(&b, "#new-svc-name", "ticker").await;
    fill(
        &b,
        "#new-svc-command",
        "echo started; while true; do echo tick-$(date +%s%N); sleep 0.2; done",
    )
    .await;
    click(&b, "[data-testid=suggest-port]").await;
    assert_eq!(
        b.find("#new-svc-ports")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("8300"),
        "the first free port of the range is suggested"
    );
    click(&b, "[data-testid=env-add]").await;
    fill(&b, "[data-testid=env-key]", "GREETING").await;
    fill(&b, "[data-testid=env-value]", "hello").await;
    // A pasted .env adds rows (comments skipped, `export` and quotes understood).
    click(&b, "[data-testid=env-paste-toggle]").await;
    fill(
        &b,
        "[data-testid=env-paste]",
        "# from .env\nexport MODE='dev build'\nLEVEL=3\n",
    )
    .await;
    click(&b, "[data-testid=env-import]").await;
    wait_js(
        &b,
        "three environment rows",
        "document.querySelectorAll('[data-testid=env-row]').length === 3",
    )
    .await;
    click(&b, "[data-testid=service-save]").await;

    // It appears, running, without a reload.
    wait_js(
        &b,
        "the new row to show running",
        &format!(
            "!!document.querySelector('{} [data-state=running]')",
            row("ticker")
        ),
    )
    .await;
    wait_js(&b, "no reload", "window.__sameDocument === 'yes'").await;
    b.find(&format!("{} [data-port=\"8300\"]", row("ticker")))
        .await;
    let services = api.get_json("/services").await;
    let svc = &services[0];
    assert_eq!(svc["name"], "ticker");
    assert_eq!(svc["environment"]["GREETING"], "hello");
    assert_eq!(svc["environment"]["MODE"], "dev build");
    assert_eq!(svc["environment"]["LEVEL"], "3");
    assert_eq!(svc["ports"], serde_json::json!([8300]));
    let id = svc["id"].as_str().unwrap().to_string();
    b.screenshot("services-list").await;

    // The detail page (through its link): status, processes and the live log.
    b.client
        .find(Locator::LinkText("ticker"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait_for_path("/services/ticker").await;
    b.find("[data-testid=processes]").await;
    wait_js(
        &b,
        "tick lines in the log",
        &format!("{LOG_TEXTS}.some(t => t.startsWith('tick-'))"),
    )
    .await;
    // New lines arrive live: within 1 s a tick line shows up that was not there before.
    let before = b
        .client
        .execute(&format!("return {LOG_TEXTS};"), vec![])
        .await
        .unwrap();
    let seen: Vec<String> = serde_json::from_value(before).unwrap();
    let seen_json = serde_json::to_string(&seen).unwrap();
    wait_js_for(
        &b,
        "a new live log line within 1 s",
        Duration::from_secs(1),
        &format!(
            "(() => {{ const seen = new Set({seen_json}); return {LOG_TEXTS}.some(t => t.startsWith('tick-') && !seen.has(t)); }})()"
        ),
        |v| v.as_bool() == Some(true),
    )
    .await;
    b.screenshot("service-detail").await;

    // Restart: the restart count goes to 1 and the log shows the SIGHUP restart.
    assert_eq!(
        b.find("[data-testid=status-card] [data-testid=restarts]")
            .await
            .text()
            .await
            .unwrap(),
        "0"
    );
    // Tag a line already shown: following on after the restart must keep it (no reload of the panel).
    b.client
        .execute(
            "document.querySelector('[data-testid=log-line]').dataset.kept = 'yes';",
            vec![],
        )
        .await
        .unwrap();
    click(&b, "button[data-action=restart]").await;
    // The action's toast (it goes away by itself after a few seconds: look for it first).
    wait_js(
        &b,
        "the restart toast",
        "Array.from(document.querySelectorAll('[data-testid=toast]')).some(t => t.textContent.includes('ticker restarted'))",
    )
    .await;
    wait_js(
        &b,
        "restarts = 1",
        "document.querySelector('[data-testid=status-card] [data-testid=restarts]').textContent === '1'",
    )
    .await;
    wait_js(
        &b,
        "the restart lines in the log",
        &format!(
            "{LOG_TEXTS}.some(t => t.includes('SIGHUP')) && {LOG_TEXTS}.some(t => t.includes('restart requested'))"
        ),
    )
    .await;
    assert!(
        b.client
            .find(Locator::Css("[data-testid=log-line][data-kept=yes]"))
            .await
            .is_ok(),
        "the log panel kept its lines across the restart (it follows on, it does not reload)"
    );
    assert_eq!(api.service(&id).await["status"]["restarts"], 1);

    // Edit (the same form, filled in): add the next free port; the service restarts with it.
    click(&b, "[data-testid=edit-service]").await;
    click(&b, "[data-testid=service-form] [data-testid=suggest-port]").await;
    assert_eq!(
        b.find("#edit-svc-ports")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("8300, 8301")
    );
    click(&b, "[data-testid=service-form] [data-testid=service-save]").await;
    b.find("[data-testid=status-card]").await;
    wait_js(
        &b,
        "the new port on the detail page",
        "!!document.querySelector('.facts [data-port=\"8301\"]')",
    )
    .await;
    assert_eq!(
        api.service(&id).await["ports"],
        serde_json::json!([8300, 8301])
    );

    // The logs page: pick by address, filter by stream and by text, pause.
    open(&b, &w, "/logs?service=ticker").await;
    wait_js(
        &b,
        "the log on the logs page",
        &format!("{LOG_TEXTS}.some(t => t.startsWith('tick-'))"),
    )
    .await;
    // Pause holds new lines back; resume shows them.
    click(&b, "[data-testid=log-pause]").await;
    wait_js(
        &b,
        "new lines held while paused",
        "/Paused · [1-9]/.test(document.querySelector('[data-testid=log-status]').textContent)",
    )
    .await;
    let shown_while_paused = b
        .client
        .execute(&format!("return {LOG_TEXTS}.length;"), vec![])
        .await
        .unwrap();
    click(&b, "[data-testid=log-pause]").await;
    wait_js(
        &b,
        "held lines shown after resume",
        &format!("{LOG_TEXTS}.length > {shown_while_paused}"),
    )
    .await;
    click(&b, "[data-testid=log-show-out]").await;
    wait_js(
        &b,
        "only warden lines",
        &format!(
            "{LOG_TEXTS}.length > 0 && Array.from(document.querySelectorAll('[data-testid=log-line]')).every(e => e.classList.contains('warden'))"
        ),
    )
    .await;
    fill(&b, "[data-testid=log-filter]", "SIGHUP").await;
    wait_js(
        &b,
        "the text filter",
        &format!("{LOG_TEXTS}.length > 0 && {LOG_TEXTS}.every(t => t.includes('SIGHUP'))"),
    )
    .await;
    b.screenshot("logs-page").await;
    let href = b
        .find("[data-testid=log-download]")
        .await
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(href, format!("/api/v1/services/{id}/logs/file"));
    let file = api.get(&format!("/services/{id}/logs/file")).await;
    assert_eq!(file.status(), 200);
    assert!(file
        .headers()
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("ticker.log")));
    assert!(file.text().await.unwrap().contains(" out tick-"));

    // Delete asks first, then removes the row.
    open(&b, &w, "/services").await;
    click(&b, &format!("{} button[data-action=delete]", row("ticker"))).await;
    click(
        &b,
        &format!("{} button[data-action=confirm-delete]", row("ticker")),
    )
    .await;
    b.find("[data-testid=services-empty]").await;
    assert_eq!(api.get_json("/services").await, serde_json::json!([]));
    b.close().await;
}

#[tokio::test]
async fn crash_loop_disables_and_start_reenables() {
    if !gate("headless Chromium", browser::available()) {
        return;
    }
    let w = Warden::start_managed();
    let api = Api::login(&w).await;
    // The service runs only once a marker file exists (readable by the unprivileged service user).
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let marker = dir.path().join("ok");
    let svc = api
        .create_service(&serde_json::json!({
            "name": "crasher",
            "command": format!("test -f {} && exec sleep 600; echo dying >&2; exit 1", marker.display()),
        }))
        .await;
    let id = svc["id"].as_str().unwrap().to_string();

    let b = Browser::start(1280, 900).await;
    log_in(&b, &w).await;
    open(&b, &w, "/services").await;
    wait_js(
        &b,
        "the crash loop to disable the service",
        &format!(
            "!!document.querySelector('{} [data-state=disabled]')",
            row("crasher")
        ),
    )
    .await;
    let reason = b
        .find(&format!("{} [data-testid=disabled-reason]", row("crasher")))
        .await
        .text()
        .await
        .unwrap();
    let api_reason = api.service(&id).await["status"]["disabled_reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(reason, api_reason);
    assert!(reason.contains("fail"), "{reason}");
    b.screenshot("services-disabled").await;

    // Fix the cause, press Start: it runs again.
    std::fs::write(&marker, b"").unwrap();
    click(&b, &format!("{} button[data-action=start]", row("crasher"))).await;
    wait_js(
        &b,
        "the service running again",
        &format!(
            "!!document.querySelector('{} [data-state=running]')",
            row("crasher")
        ),
    )
    .await;
    b.find(&format!("{} [data-testid=pid]", row("crasher")))
        .await;
    let s = api.service(&id).await;
    assert_eq!(s["status"]["state"], "running");
    assert_eq!(s["enabled"], true);
    assert!(s["status"]["disabled_reason"].is_null());
    b.close().await;
}

#[tokio::test]
async fn invalid_input_shows_field_errors_and_saves_nothing() {
    if !gate("headless Chromium", browser::available()) {
        return;
    }
    let w = Warden::start_managed();
    let api = Api::login(&w).await;
    let b = Browser::start(1280, 1100).await;
    log_in(&b, &w).await;
    open(&b, &w, "/services").await;
    click(&b, "[data-testid=new-service]").await;
    fill(&b, "#new-svc-name", "bad").await;
    fill(&b, "#new-svc-command", "sleep 100").await;
    fill(&b, "#new-svc-ports", "70000").await;
    fill(&b, "#new-svc-working_directory", "srv/app").await;
    click(&b, "[data-testid=env-add]").await;
    fill(&b, "[data-testid=env-key]", "1BAD").await;
    fill(&b, "[data-testid=env-value]", "x").await;
    click(&b, "[data-testid=service-save]").await;

    // Client-side errors, from the shared validation, next to each field.
    let ports = b
        .find("[data-testid=error-ports]")
        .await
        .text()
        .await
        .unwrap();
    assert!(ports.contains("70000"), "{ports}");
    let dir = b
        .find("[data-testid=error-working_directory]")
        .await
        .text()
        .await
        .unwrap();
    assert!(dir.contains("absolute"), "{dir}");
    let env = b
        .find("[data-testid=error-environment]")
        .await
        .text()
        .await
        .unwrap();
    assert!(env.contains("1BAD"), "{env}");
    assert_eq!(
        b.find("#new-svc-ports")
            .await
            .attr("aria-invalid")
            .await
            .unwrap()
            .as_deref(),
        Some("true")
    );
    b.screenshot("service-form-errors").await;
    assert_eq!(api.get_json("/services").await, serde_json::json!([]));

    // Valid in shape, but the directory does not exist: the server's field error lands on the field.
    fill(&b, "#new-svc-ports", "8301").await;
    fill(
        &b,
        "#new-svc-working_directory",
        "/nonexistent/warden-test-dir",
    )
    .await;
    fill(&b, "[data-testid=env-key]", "GOOD_KEY").await;
    click(&b, "[data-testid=service-save]").await;
    wait_js(
        &b,
        "the server's error on the working directory",
        "(() => { const e = document.querySelector('[data-testid=error-working_directory]'); \
          return !!e && !e.textContent.includes('absolute') && !document.querySelector('[data-testid=error-ports]') \
          && !document.querySelector('[data-testid=error-environment]'); })()",
    )
    .await;
    let body_text = b.find("body").await.text().await.unwrap();
    assert!(
        !body_text.contains("{\"") && !body_text.contains("Invalid(["),
        "errors are sentences, not JSON: {body_text}"
    );
    b.screenshot("service-form-server-error").await;
    assert_eq!(api.get_json("/services").await, serde_json::json!([]));
    b.close().await;
}

#[tokio::test]
async fn services_page_at_phone_width() {
    if !gate("headless Chromium", browser::available()) {
        return;
    }
    let w = Warden::start_managed();
    let api = Api::login(&w).await;
    api.create_service(&serde_json::json!({
        "name": "phone-svc", "command": "exec sleep 600", "ports": [8302]
    }))
    .await;
    let b = Browser::start(390, 844).await;
    log_in(&b, &w).await;
    open(&b, &w, "/services").await;
    b.find(&format!("{} [data-state]", row("phone-svc"))).await;
    assert!(!b.overflows_horizontally().await, "wider than a phone");
    b.screenshot("services-phone").await;
    b.close().await;
}

#[tokio::test]
async fn main_navigation_is_client_side() {
    if !gate("headless Chromium", browser::available()) {
        return;
    }
    let w = Warden::start_managed();
    let api = Api::login(&w).await;
    api.create_service(&serde_json::json!({"name": "nav-svc", "command": "exec sleep 600"}))
        .await;
    let b = Browser::start(1280, 900).await;
    log_in(&b, &w).await;
    b.wait_hydrated().await;
    b.client
        .execute("window.__sameDocument = 'yes';", vec![])
        .await
        .unwrap();
    // Every page (several with resources in Transition/Suspense), twice round, then back and forward.
    let pages = [
        ("Services", "/services", "Services"),
        ("Firewall", "/firewall", "Firewall"),
        ("Logs", "/logs", "Logs"),
        ("Settings", "/settings", "Settings"),
        ("Dashboard", "/", "Dashboard"),
    ];
    for _ in 0..2 {
        for (link, path, title) in pages {
            b.client
                .find(Locator::LinkText(link))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
            b.wait_for_path(path).await;
            wait_js(
                &b,
                &format!("the {title} page without a reload"),
                &format!(
                    "window.__sameDocument === 'yes' && document.querySelector('[data-testid=page-title]')?.textContent === '{title}' \
                     && document.querySelector('nav a[aria-current=page]')?.textContent === '{link}'"
                ),
            )
            .await;
        }
    }
    // Into a service's detail page and back with the browser's history.
    b.client
        .find(Locator::LinkText("Services"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::LinkText("nav-svc"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait_for_path("/services/nav-svc").await;
    b.find("[data-testid=status-card]").await;
    b.client.back().await.unwrap();
    b.wait_for_path("/services").await;
    b.find(&format!("{} [data-state]", row("nav-svc"))).await;
    wait_js(&b, "still one document", "window.__sameDocument === 'yes'").await;
    b.close().await;
}
