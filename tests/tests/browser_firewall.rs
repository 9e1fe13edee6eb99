//! The firewall page and the dashboard in headless Chromium against the real binary.
//!
//! The firewall test runs Warden inside a throwaway network namespace (root only) and joins it to the
//! host by a veth pair with TEST-NET addresses, so Chromium on the host reaches it and every apply
//! changes only that namespace's `inet warden` table (checked with `nft list table inet warden` there).
//! Through the UI: add rules with the form (and see a field error for bad input, nothing saved), move
//! a rule to the top with the keyboard buttons and by drag and drop, toggle one, apply with a short
//! confirm window → the banner counts down, it survives a reload, it expires → the kernel is back to
//! "no table" and the page says the rules were reverted; apply + "Keep these rules" → stays past the
//! window; preset Redis adds its rule; a ban made through the REST API shows up, Unban removes it.
//!
//! The dashboard test (host, no root) shows a crash-looping service first, disabled, with its reason.
#![allow(clippy::unwrap_used)]

mod firewall_e2e_support;

use std::time::{Duration, Instant};

use fantoccini::Locator;
use firewall_e2e_support::host_link::warden_behind_link;
use firewall_e2e_support::ADMIN_PORT;
use serde_json::{json, Value};
use warden_testkit::Netns;
use warden_tests::browser::{self, Browser};
use warden_tests::{gate, Api, Launch, Warden, ADMIN_PASSWORD};

const DEADLINE: Duration = Duration::from_secs(20);

async fn login(b: &Browser, base: &str) {
    b.log_in(base, ADMIN_PASSWORD).await;
}

/// Clicks an element after scrolling it to the middle of the viewport (not under the sticky header).
async fn click(b: &Browser, css: &str) {
    let el = b.find(css).await;
    b.client
        .execute(
            "document.querySelector(arguments[0]).scrollIntoView({block: 'center'}); return true;",
            vec![json!(css)],
        )
        .await
        .unwrap();
    el.click().await.unwrap();
}

/// Runs a script and returns its value.
async fn js(b: &Browser, script: &str, args: Vec<Value>) -> Value {
    b.client.execute(script, args).await.unwrap()
}

/// Polls the page until `script` returns something other than `null`/`false`, or panics naming `what`.
async fn wait_js(b: &Browser, what: &str, script: &str, args: Vec<Value>) -> Value {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let v = js(b, script, args.clone()).await;
        if !(v.is_null() || v == Value::Bool(false)) {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The notes (annotation column) of the rules table, top to bottom.
async fn rule_notes(b: &Browser) -> Vec<String> {
    let v = js(
        b,
        "return [...document.querySelectorAll('[data-testid=fw-rule-note]')].map(e => e.textContent);",
        vec![],
    )
    .await;
    serde_json::from_value(v).unwrap()
}

async fn wait_notes(b: &Browser, want: &[&str]) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let notes = rule_notes(b).await;
        if notes == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "rules table shows {notes:?}, expected {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Types into the form and submits it.
async fn add_rule_via_form(b: &Browser, ports: &str, note: &str) {
    b.find("#fw-ports").await.send_keys(ports).await.unwrap();
    b.find("#fw-annotation")
        .await
        .send_keys(note)
        .await
        .unwrap();
    click(b, "[data-testid=fw-form-submit]").await;
}

/// Sets an input's value as typing would (an `input` event), for fields with a prefilled value.
async fn set_input(b: &Browser, css: &str, value: &str) {
    js(
        b,
        "const el = document.querySelector(arguments[0]); el.value = arguments[1]; \
         el.dispatchEvent(new Event('input', {bubbles: true})); return true;",
        vec![json!(css), json!(value)],
    )
    .await;
}

/// HTML5 drag and drop of the row at `from` (1-based) onto the row at `to`, with real DragEvents.
async fn drag_row(b: &Browser, from: usize, to: usize) {
    js(
        b,
        "const rows = document.querySelectorAll('tr[data-testid=fw-rule]');
         const src = rows[arguments[0] - 1], dst = rows[arguments[1] - 1];
         const dt = new DataTransfer();
         src.dispatchEvent(new DragEvent('dragstart', {bubbles: true, dataTransfer: dt}));
         dst.dispatchEvent(new DragEvent('dragover', {bubbles: true, cancelable: true, dataTransfer: dt}));
         dst.dispatchEvent(new DragEvent('drop', {bubbles: true, cancelable: true, dataTransfer: dt}));
         src.dispatchEvent(new DragEvent('dragend', {bubbles: true, dataTransfer: dt}));
         return true;",
        vec![json!(from), json!(to)],
    )
    .await;
}

fn text_of_js(testid: &str) -> String {
    format!(
        "const e = document.querySelector('[data-testid={testid}]'); return e ? e.textContent : null;"
    )
}

#[tokio::test]
async fn firewall_page_rules_apply_confirm_revert_presets_bans() {
    if !gate(
        "root with nft, ip and python3",
        warden_testkit::netns::requirements(),
    ) || !gate("headless Chromium", browser::available())
    {
        return;
    }
    let ns = Netns::new("bfw");
    let lab = warden_behind_link(&ns);
    let base = lab.base.clone();
    let api = Api::login_at(&base).await;
    // Closed by default: the guard is live before any apply.
    let guard = ns
        .warden_table()
        .expect("the default guard before any apply");
    assert_eq!(api.get_json("/firewall").await["default_guard"], true);

    let b = Browser::start(1280, 1000).await;
    login(&b, &base).await;
    b.client.goto(&format!("{base}/firewall")).await.unwrap();
    b.wait_hydrated().await;
    b.find("[data-testid=fw-rules-empty]").await;
    let note = b
        .find("[data-testid=fw-anti-lockout]")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        note.contains("SSH (port 22,") && note.contains(&ADMIN_PORT.to_string()),
        "{note}"
    );

    // Bad input: a field error next to the ports field, and nothing saved.
    add_rule_via_form(&b, "70000", "bad").await;
    let err = wait_js(
        &b,
        "the ports field error",
        &text_of_js("fw-ports-error"),
        vec![],
    )
    .await;
    assert!(!err.as_str().unwrap().trim().is_empty(), "{err}");
    assert_eq!(api.get_json("/firewall/rules").await, json!([]));
    js(
        &b,
        "for (const id of ['fw-ports', 'fw-annotation']) { const el = document.getElementById(id); \
         el.value = ''; el.dispatchEvent(new Event('input', {bubbles: true})); } return true;",
        vec![],
    )
    .await;

    // Two rules through the form; the second lands at the bottom.
    add_rule_via_form(&b, "8301", "ui-first").await;
    wait_notes(&b, &["ui-first"]).await;
    add_rule_via_form(&b, "8300", "ui-web").await;
    wait_notes(&b, &["ui-first", "ui-web"]).await;

    // Move "ui-web" to the top with its keyboard button, then back down by dragging "ui-first" up,
    // then up again by dragging.
    click(
        &b,
        "tr[data-testid=fw-rule]:nth-child(2) [data-testid=fw-rule-up]",
    )
    .await;
    wait_notes(&b, &["ui-web", "ui-first"]).await;
    drag_row(&b, 2, 1).await;
    wait_notes(&b, &["ui-first", "ui-web"]).await;
    drag_row(&b, 2, 1).await;
    wait_notes(&b, &["ui-web", "ui-first"]).await;
    let saved = api.get_json("/firewall/rules").await;
    assert_eq!(saved[0]["annotation"], "ui-web");
    assert_eq!(saved[0]["position"], 0);

    // Toggle "ui-first" off.
    click(
        &b,
        "tr[data-testid=fw-rule]:nth-child(2) [data-testid=fw-rule-toggle]",
    )
    .await;
    b.find("tr[data-testid=fw-rule].disabled").await;
    let saved = api.get_json("/firewall/rules").await;
    assert_eq!(saved[1]["enabled"], false);

    // The diff shows what Apply will install.
    let diff = wait_js(
        &b,
        "the diff to mention the new rule",
        "const d = document.querySelector('[data-testid=fw-diff]'); return d && d.textContent.includes('8300') ? d.textContent : null;",
        vec![],
    )
    .await;
    assert!(
        diff.as_str().unwrap().contains("+ "),
        "diff lines are marked"
    );

    // Apply with a 4 s window: the banner counts down, survives a reload, and the rules are reverted.
    set_input(&b, "#fw-confirm-secs", "4").await;
    click(&b, "[data-testid=fw-apply]").await;
    b.find("[data-testid=fw-pending-banner]").await;
    let table = ns
        .warden_table()
        .expect("the rules are live in the namespace");
    assert!(table.contains("8300"), "{table}");
    b.screenshot("firewall-pending-banner").await;
    wait_js(
        &b,
        "the reverted notice",
        "const e = document.querySelector('[data-testid=fw-outcome]'); return e && e.textContent.includes('Reverted') ? e.textContent : null;",
        vec![],
    )
    .await;
    assert_eq!(
        ns.warden_table().as_deref(),
        Some(guard.as_str()),
        "after the window the kernel is back to the default guard"
    );
    let status = api.get_json("/firewall").await;
    assert_eq!(status["default_guard"], true, "{status}");
    assert_eq!(status["pending"], Value::Null);
    assert_eq!(status["last_rollback"]["cause"], "timer", "{status}");
    // The server remembers it: a page loaded afterwards still says the rules were reverted, and why.
    b.client.refresh().await.unwrap();
    b.wait_hydrated().await;
    wait_js(
        &b,
        "the reverted notice after a reload",
        "const e = document.querySelector('[data-testid=fw-outcome]'); return e && e.textContent.includes('not confirmed in time') ? e.textContent : null;",
        vec![],
    )
    .await;

    // Apply again with a 5 s window; the banner is still there after a reload; keep → stays.
    set_input(&b, "#fw-confirm-secs", "5").await;
    click(&b, "[data-testid=fw-apply]").await;
    b.find("[data-testid=fw-pending-banner]").await;
    let rollback_at = Instant::now() + Duration::from_secs(5);
    b.client.refresh().await.unwrap();
    b.wait_hydrated().await;
    let countdown = b
        .find("[data-testid=fw-countdown]")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        countdown.ends_with(" s"),
        "countdown after reload: {countdown}"
    );
    click(&b, "[data-testid=fw-keep]").await;
    wait_js(
        &b,
        "the kept notice",
        "const e = document.querySelector('[data-testid=fw-outcome]'); return e && e.textContent.includes('kept') ? true : null;",
        vec![],
    )
    .await;
    assert_eq!(api.get_json("/firewall").await["pending"], Value::Null);
    // Past the original window, the table is still there (checked all along).
    while Instant::now() < rollback_at + Duration::from_secs(2) {
        assert!(ns.warden_table().is_some(), "kept rules were rolled back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(ns.warden_table().unwrap().contains("8300"));
    assert!(b
        .client
        .find(Locator::Css("[data-testid=fw-pending-banner]"))
        .await
        .is_err());

    // Live counters: traffic to 8300 from the host counts on "ui-web"; the row is updated in place
    // (the same DOM node, marked before the traffic), not re-rendered.
    js(
        &b,
        "document.querySelector('tr[data-testid=fw-rule]').__marker = 'same-row'; return true;",
        vec![],
    )
    .await;
    let target: std::net::SocketAddr = format!("{}:8300", lab.link.ns_addr).parse().unwrap();
    for _ in 0..3 {
        // Nothing listens: each SYN is accepted by the rule, then answered with a reset.
        let _ = std::net::TcpStream::connect_timeout(&target, Duration::from_secs(2));
    }
    let packets = wait_js(
        &b,
        "the packet counter of the top rule to count",
        "const row = document.querySelector('tr[data-testid=fw-rule]');
         const n = row.querySelector('[data-testid=fw-rule-packets]').textContent;
         return n !== '–' && n !== '0' ? [row.__marker || null, n] : null;",
        vec![],
    )
    .await;
    assert_eq!(packets[0], "same-row", "the row was re-rendered: {packets}");

    // Preset Redis: one click adds its rule.
    click(&b, "[data-testid=fw-presets] summary").await;
    click(&b, "[data-testid=fw-preset-redis]").await;
    wait_js(
        &b,
        "the Redis rule in the table",
        "return [...document.querySelectorAll('[data-testid=fw-rule-ports]')].some(e => e.textContent.includes('6379'));",
        vec![],
    )
    .await;
    let rules = api.get_json("/firewall/rules").await;
    assert!(
        rules
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["ports"] == json!(["6379"])),
        "{rules}"
    );
    b.find("[data-testid=fw-preset-redis][aria-pressed=true]")
        .await;
    click(&b, "[data-testid=fw-presets] summary").await; // close the menu again

    // A ban made through the API shows up (the page polls), and Unban removes it from the kernel.
    let resp = api
        .post(
            "/firewall/bans",
            &json!({"address": "198.51.100.77", "reason": "browser test", "ban_secs": 600}),
        )
        .await;
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    let row = b
        .find("tr[data-testid=fw-ban][data-address='198.51.100.77']")
        .await;
    assert!(row.text().await.unwrap().contains("browser test"));
    b.screenshot("firewall").await;
    click(
        &b,
        "tr[data-testid=fw-ban][data-address='198.51.100.77'] [data-testid=fw-unban]",
    )
    .await;
    b.find("[data-testid=fw-bans-empty]").await;
    assert_eq!(api.get_json("/firewall/bans").await, json!([]));
    assert!(!ns.warden_table().unwrap().contains("198.51.100.77"));

    // Phone width: nothing overflows the viewport horizontally (tables and the diff scroll inside their
    // own boxes). The resize is asynchronous, so poll until the layout settles.
    b.client.set_window_size(390, 844).await.unwrap();
    let deadline = Instant::now() + DEADLINE;
    loop {
        // `false`, or the sizes and the elements sticking out (for the failure message).
        let overflow = js(
            &b,
            "if (window.innerWidth > 420) return 'not resized yet';
             if (document.documentElement.scrollWidth <= window.innerWidth + 1) return false;
             const clipped = e => { for (let p = e.parentElement; p; p = p.parentElement) {
                 if (getComputedStyle(p).overflowX !== 'visible') return true; } return false; };
             return [document.documentElement.scrollWidth, window.innerWidth].concat(
               [...document.querySelectorAll('body *')]
               .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1 && !clipped(e))
               .slice(0, 8).map(e => e.tagName + '.' + e.className));",
            vec![],
        )
        .await;
        if overflow == Value::Bool(false) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "firewall page wider than a phone: {overflow}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.screenshot("firewall-phone").await;
    b.close().await;
}

#[tokio::test]
async fn dashboard_lists_a_disabled_service_first_with_its_reason() {
    if !gate("headless Chromium", browser::available()) {
        return;
    }
    let w = Warden::start_managed();
    let api = Api::login(&w).await;
    let ok = api
        .create_service(&json!({"name": "aaa-steady", "command": "sleep 600"}))
        .await;
    let crash = api
        .create_service(&json!({"name": "zzz-crashing", "command": "exit 3"}))
        .await;
    api.wait_running(ok["id"].as_str().unwrap(), DEADLINE).await;
    api.wait_service(
        crash["id"].as_str().unwrap(),
        "the crash loop to disable it",
        Duration::from_secs(30),
        |s| s["status"]["state"] == "disabled",
    )
    .await;

    let b = Browser::start(1280, 900).await;
    login(&b, &w.url).await;
    b.wait_hydrated().await;
    let first = b.find("[data-testid=dash-service]").await;
    assert_eq!(
        first.attr("data-state").await.unwrap().as_deref(),
        Some("disabled")
    );
    let text = first.text().await.unwrap();
    assert!(text.contains("zzz-crashing"), "{text}");
    let reason = first
        .find(Locator::Css("[data-testid=dash-service-reason]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(reason.contains("failed"), "reason: {reason}");
    b.find("[data-testid=dash-firewall]").await;
    b.screenshot("dashboard-services").await;
    b.close().await;
}

#[tokio::test]
async fn without_nft_the_firewall_page_is_read_only() {
    if !gate("headless Chromium", browser::available()) {
        return;
    }
    // On the host, with an nft program that does not exist: nothing can reach the kernel.
    let warden = Launch::new()
        .manage_firewall()
        .env("WARDEN_NFT", "/nonexistent/nft")
        .start();
    let b = Browser::start(1280, 900).await;
    login(&b, &warden.url).await;
    b.client
        .goto(&format!("{}/firewall", warden.url))
        .await
        .unwrap();
    b.wait_hydrated().await;
    let notice = b
        .find("[data-testid=fw-capability]")
        .await
        .text()
        .await
        .unwrap();
    assert!(notice.starts_with("Read-only."), "{notice}");
    assert!(notice.contains("/nonexistent/nft"), "{notice}");
    let apply = b.find("[data-testid=fw-apply]").await;
    assert_eq!(
        apply.attr("disabled").await.unwrap().as_deref(),
        Some("true")
    );
    // Editing the saved rules still works.
    add_rule_via_form(&b, "8300", "saved only").await;
    wait_notes(&b, &["saved only"]).await;
    b.close().await;
}
