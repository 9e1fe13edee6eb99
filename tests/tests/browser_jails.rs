//! Firewall → Jails in headless Chromium against the real binary.
//!
//! On the host (no root): the form refuses bad input with the shared check (a name with a space, a
//! pattern without `<HOST>`) and shows the server's error for a pattern that does not compile, nothing
//! saved; the pattern test on real OpenSSH lines (the preset's fixture, captured from Debian's sshd)
//! marks exactly the failure lines with their address; a jail added with the sshd preset on a service's
//! log counts that service's failure lines live (counters, failing address, recent lines); disable,
//! edit (saved over REST) and delete.
//!
//! In a network namespace (root): a jail's ban is listed on the Firewall page with its jail, its
//! failure count and the lines that led to it, and the jail's row counts the ban.
#![allow(clippy::unwrap_used)]

mod firewall_e2e_support;

use std::time::Duration;

use firewall_e2e_support::host_link::warden_behind_link;
use serde_json::{json, Value};
use warden_testkit::Netns;
use warden_tests::browser::{self, Browser};
use warden_tests::{gate, poll, Api, Warden, ADMIN_PASSWORD};

const T: Duration = Duration::from_secs(20);

/// Real sshd lines (Debian 12's OpenSSH) with their `# expect` annotations, from the preset's fixture.
const SSHD_FIXTURE: &str = include_str!("../../app/src/model/jails/fixtures/sshd-debian12.log");

/// The fixture's lines and how many of them the sshd preset must match.
fn fixture_lines() -> (Vec<&'static str>, usize) {
    let mut lines = Vec::new();
    let mut failures = 0;
    let mut expect_failure = false;
    for line in SSHD_FIXTURE.lines() {
        if let Some(what) = line.strip_prefix("# expect ") {
            expect_failure = what.trim() != "none";
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        lines.push(line);
        failures += usize::from(expect_failure);
    }
    (lines, failures)
}

async fn text_of(b: &Browser, css: &str) -> String {
    b.find(css).await.text().await.unwrap_or_default()
}

async fn attribute(b: &Browser, css: &str, name: &str) -> String {
    b.find(css)
        .await
        .attr(name)
        .await
        .unwrap()
        .unwrap_or_default()
}

/// Chooses an option of a `<select>` as a user does (a `change` event).
async fn select(b: &Browser, css: &str, value: &str) {
    b.find(css).await;
    b.client
        .execute(
            "const el = document.querySelector(arguments[0]); el.value = arguments[1]; \
             el.dispatchEvent(new Event('change', {bubbles: true})); return true;",
            vec![json!(css), json!(value)],
        )
        .await
        .unwrap();
}

async fn jails(api: &Api) -> Vec<Value> {
    api.get_json("/firewall/jails")
        .await
        .as_array()
        .cloned()
        .unwrap()
}

#[tokio::test]
async fn jails_page_checks_tests_patterns_counts_and_edits() {
    if !gate("headless Chromium", browser::available()) {
        return;
    }
    let w = Warden::start();
    let api = Api::login(&w).await;
    let b = Browser::start(1280, 1400).await;
    b.log_in(&w.url, ADMIN_PASSWORD).await;
    b.open(&w.url, "/firewall").await;
    b.click("[data-testid=fw-jails-link]").await;
    b.wait_for_path("/firewall/jails").await;
    b.find("[data-testid=jails-empty]").await;
    b.find("[data-testid=jail-form]:not([inert])").await;

    // The shared check: a name with a space and a pattern without <HOST>, refused before sending.
    b.set_input("[data-testid=jail-name]", "web ssh").await;
    b.set_input("[data-testid=jail-source]", "web").await;
    b.set_input("[data-testid=jail-patterns]", "Failed password for .*")
        .await;
    b.click("[data-testid=jail-save]").await;
    assert!(text_of(&b, "[data-testid=error-name]")
        .await
        .contains("letters, digits"));
    let error = text_of(&b, "[data-testid=error-patterns]").await;
    assert!(
        error.contains("line 1") && error.contains("<HOST>"),
        "{error}"
    );
    // A pattern that does not compile: the server's error, under the same field.
    b.set_input("[data-testid=jail-name]", "web-ssh").await;
    b.set_input(
        "[data-testid=jail-patterns]",
        "(Failed password .* from <HOST>",
    )
    .await;
    b.click("[data-testid=jail-save]").await;
    poll("the server's pattern error", T, || async {
        let error = text_of(&b, "[data-testid=error-patterns]").await;
        error
            .contains("not a valid regular expression")
            .then_some(())
    })
    .await;
    assert!(jails(&api).await.is_empty(), "nothing saved");

    // The pattern test on real sshd lines: exactly the failure lines match, with their address.
    b.set_input("[data-testid=jail-patterns]", "").await;
    select(&b, "[data-testid=jail-preset]", "sshd").await;
    b.find("[data-testid=jail-preset-patterns]").await;
    let (lines, failures) = fixture_lines();
    b.set_input("[data-testid=jail-test-lines]", &lines.join("\n"))
        .await;
    b.click("[data-testid=jail-test-run]").await;
    let matched = attribute(&b, "[data-testid=jail-test-summary]", "data-matched").await;
    assert_eq!(matched, failures.to_string());
    assert_eq!(b.count("[data-testid=jail-test-line]").await, lines.len());
    assert!(
        b.count("[data-testid=jail-test-line][data-address='::1']")
            .await
            >= 1
    );
    assert!(jails(&api).await.is_empty(), "a test saves nothing");

    // Saved with the preset; durations typed in units.
    b.set_input("[data-testid=jail-max-failures]", "4").await;
    b.set_input("[data-testid=jail-window]", "10m").await;
    b.set_input("[data-testid=jail-ban]", "1h").await;
    b.click("[data-testid=jail-save]").await;
    b.find("[data-testid=jail-row][data-name=web-ssh]").await;
    let saved = jails(&api).await;
    let jail = &saved[0];
    assert_eq!(jail["source"], json!({"service": "web"}), "{jail}");
    assert_eq!(jail["preset"], "sshd");
    assert_eq!(jail["patterns"], json!([]));
    assert_eq!(
        (
            &jail["max_failures"],
            &jail["window_secs"],
            &jail["ban_secs"]
        ),
        (&json!(4), &json!(600), &json!(3600))
    );
    let rule = text_of(
        &b,
        "[data-testid=jail-row][data-name=web-ssh] td:nth-child(2)",
    )
    .await;
    assert!(
        rule.contains("4 failures in 10 min") && rule.contains("1 h"),
        "{rule}"
    );

    // The service appears after the jail: its failure lines count, live on the page.
    let script = "for i in 1 2 3; do echo \"Failed password for invalid user admin from 192.0.2.7 port 4242 ssh2\"; done; \
                  echo \"Accepted password for ops from 192.0.2.8 port 4243 ssh2\"; exec sleep 600";
    let resp = api
        .post("/services", &json!({"name": "web", "command": script}))
        .await;
    assert_eq!(resp.status(), 201);
    poll("the jail's counters on the page", T, || async {
        let matched = attribute(&b, "[data-testid=jail-counters]", "data-matched").await;
        (matched == "3").then_some(())
    })
    .await;
    let failing = text_of(&b, "[data-testid=jail-failing]").await;
    assert!(failing.contains("192.0.2.7 (3)"), "{failing}");
    b.click("[data-testid=jail-recent-open]").await;
    b.wait_count(
        "three recent failure lines",
        "[data-testid=jail-recent-line][data-address='192.0.2.7']",
        |n| n == 3,
    )
    .await;
    b.screenshot("jails-counting").await;

    // Disable, then edit (the form keeps it disabled), then delete after the confirmation.
    b.click("[data-testid=jail-toggle]").await;
    b.find("[data-testid=jail-row][data-enabled=false] [data-testid=jail-disabled]")
        .await;
    assert_eq!(jails(&api).await[0]["enabled"], false);
    b.click("[data-testid=jail-edit]").await;
    poll("the form to load the jail", T, || async {
        let name = b
            .find("[data-testid=jail-name]")
            .await
            .prop("value")
            .await
            .ok()
            .flatten();
        (name.as_deref() == Some("web-ssh")).then_some(())
    })
    .await;
    b.set_input("[data-testid=jail-ban]", "2h").await;
    b.click("[data-testid=jail-save]").await;
    poll("the edit saved", T, || async {
        let all = jails(&api).await;
        (all[0]["ban_secs"] == 7200).then_some(all)
    })
    .await;
    let edited = &jails(&api).await[0];
    assert_eq!(
        (
            &edited["enabled"],
            &edited["preset"],
            &edited["max_failures"]
        ),
        (&json!(false), &json!("sshd"), &json!(4)),
        "{edited}"
    );
    // The row shows the new ban time (it is rebuilt for the new settings) before it is clicked.
    poll("the edited rule on the page", T, || async {
        let rule = b
            .find("[data-testid=jail-row][data-name=web-ssh] td:nth-child(2)")
            .await
            .text()
            .await
            .ok()?;
        rule.contains("banned for 2 h").then_some(())
    })
    .await;
    b.click("[data-testid=jail-delete]").await;
    b.click("[data-testid=jail-delete-confirm]").await;
    b.find("[data-testid=jails-empty]").await;
    assert!(jails(&api).await.is_empty());
    b.assert_no_page_errors("the jails page").await;
    b.close().await;
}

#[tokio::test]
async fn a_jails_ban_shows_its_jail_and_lines_on_the_firewall_page() {
    if !gate(
        "root with nft, ip and python3",
        warden_testkit::netns::requirements(),
    ) || !gate("headless Chromium", browser::available())
    {
        return;
    }
    let ns = Netns::new("bjl");
    let lab = warden_behind_link(&ns);
    let base = lab.base.clone();
    let api = Api::login_at(&base).await;
    let resp = api
        .post(
            "/firewall/jails",
            &json!({
                "name": "app-auth",
                "source": {"service": "authapp"},
                "patterns": ["auth failure for \\S+ from <HOST>$"],
                "max_failures": 3,
                "ban_secs": 600,
            }),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let script =
        "for u in bob eve mallory; do echo \"auth failure for $u from 198.51.100.77\"; done; \
                  exec sleep 600";
    let resp = api
        .post("/services", &json!({"name": "authapp", "command": script}))
        .await;
    assert_eq!(resp.status(), 201);
    poll("the jail's ban", T, || async {
        let bans = api.get_json("/firewall/bans").await;
        bans.as_array()?
            .iter()
            .any(|b| b["address"] == "198.51.100.77")
            .then_some(())
    })
    .await;

    let b = Browser::start(1280, 1200).await;
    b.log_in(&base, ADMIN_PASSWORD).await;
    b.open(&base, "/firewall").await;
    let row = "[data-testid=fw-ban][data-address='198.51.100.77']";
    let jail = text_of(&b, &format!("{row} [data-testid=fw-ban-jail]")).await;
    assert!(
        jail.contains("jail app-auth") && jail.contains("3 failure(s)"),
        "{jail}"
    );
    b.click(&format!("{row} [data-testid=fw-ban-lines] summary"))
        .await;
    let lines = text_of(&b, &format!("{row} [data-testid=fw-ban-lines]")).await;
    for user in ["bob", "eve", "mallory"] {
        assert!(
            lines.contains(&format!("auth failure for {user} from 198.51.100.77")),
            "{lines}"
        );
    }
    b.screenshot("jails-ban-on-firewall-page").await;
    b.click(&format!("{row} [data-testid=fw-ban-jail] a")).await;
    b.wait_for_path("/firewall/jails").await;
    b.wait_hydrated().await;
    let counters = "[data-testid=jail-row][data-name=app-auth] [data-testid=jail-counters]";
    assert_eq!(attribute(&b, counters, "data-bans").await, "1");
    assert_eq!(attribute(&b, counters, "data-matched").await, "3");
    b.assert_no_page_errors("the firewall and jails pages")
        .await;
    b.close().await;
}
