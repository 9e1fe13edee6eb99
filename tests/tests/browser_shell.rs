//! The real UI in headless Chromium against the real binary: redirect to login, log in, the dashboard and
//! its navigation (hydrated WASM), reload keeps the session, log out. Screenshots go to target/artifacts/.

use fantoccini::Locator;
use warden_tests::browser::{self, Browser};

use warden_tests::{gate, Warden, ADMIN_PASSWORD};

#[tokio::test]
async fn login_dashboard_reload_logout() {
    if !gate("headless Chromium", browser::available()) {
        return;
    }
    let w = Warden::start();
    let b = Browser::start(1280, 900).await;
    let c = &b.client;

    // Not logged in: / redirects to the login page.
    c.goto(&format!("{}/", w.url)).await.unwrap();
    b.wait_for_path("/login").await;
    b.screenshot("login").await;

    // A wrong password shows an error and stays on the login page.
    b.find("#password")
        .await
        .send_keys("wrong-password")
        .await
        .unwrap();
    b.find("[data-testid=login-submit]")
        .await
        .click()
        .await
        .unwrap();
    let err = b.find("[data-testid=login-error]").await;
    assert!(err.text().await.unwrap().contains("Wrong"));

    // The right one lands on the dashboard.
    b.find("#password")
        .await
        .send_keys(ADMIN_PASSWORD)
        .await
        .unwrap();
    b.find("[data-testid=login-submit]")
        .await
        .click()
        .await
        .unwrap();
    b.wait_for_path("/").await;
    let title = b.find("[data-testid=page-title]").await;
    assert_eq!(title.text().await.unwrap(), "Dashboard");
    // The WASM bundle loaded and hydrated the page.
    b.wait_hydrated().await;
    let nav = b.find("nav.nav").await;
    let nav_text = nav.text().await.unwrap();
    for item in ["Dashboard", "Services", "Firewall", "Logs", "Settings"] {
        assert!(nav_text.contains(item), "nav has {item}: {nav_text}");
    }
    let host = b.find("[data-testid=hostname]").await;
    assert!(!host.text().await.unwrap().trim().is_empty());
    let shot = b.screenshot("dashboard").await;
    assert!(std::fs::metadata(&shot).unwrap().len() > 1000);

    // Client-side navigation through the nav.
    c.find(Locator::LinkText("Firewall"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait_for_path("/firewall").await;
    b.find("[data-testid=fw-capability]").await;
    b.screenshot("firewall").await;

    // Reload: still logged in.
    c.refresh().await.unwrap();
    b.wait_for_path("/firewall").await;
    assert_eq!(
        b.find("[data-testid=page-title]")
            .await
            .text()
            .await
            .unwrap(),
        "Firewall"
    );

    // Log out: back to the login page, and / redirects there again.
    b.find("[data-testid=logout]").await.click().await.unwrap();
    b.wait_for_path("/login").await;
    c.goto(&format!("{}/", w.url)).await.unwrap();
    b.wait_for_path("/login").await;
    b.close().await;
}

#[tokio::test]
async fn phone_width_is_usable() {
    if !gate("headless Chromium", browser::available()) {
        return;
    }
    let w = Warden::start();
    let b = Browser::start(390, 844).await;
    b.client.goto(&format!("{}/login", w.url)).await.unwrap();
    b.find("#password")
        .await
        .send_keys(ADMIN_PASSWORD)
        .await
        .unwrap();
    b.find("[data-testid=login-submit]")
        .await
        .click()
        .await
        .unwrap();
    b.wait_for_path("/").await;
    b.wait_hydrated().await;
    // Nothing overflows the viewport horizontally.
    assert!(
        !b.overflows_horizontally().await,
        "page wider than a phone screen"
    );
    b.screenshot("dashboard-phone").await;
    b.close().await;
}

/// A page whose code cannot be fetched (the network fails during a client-side navigation to it) does
/// not pretend to work: a banner says the page stopped, and its link is a real page load that works
/// once the network is back.
#[tokio::test]
async fn a_page_chunk_that_fails_to_load_shows_the_stopped_banner() {
    if !gate("headless Chromium", browser::available()) {
        return;
    }
    let w = Warden::start();
    let b = Browser::start(1280, 900).await;
    b.log_in(&w.url, ADMIN_PASSWORD).await;
    assert_eq!(b.count("[data-testid=page-stopped]").await, 0);

    // The firewall page's own WASM chunk fails to download (and its bundle, which the navigation would
    // fetch instead when much of the page's code is missing). The WASM stops on that (on purpose here):
    // its panic message and the `unreachable` trap that follows are expected in the console.
    for expected in [
        "split___firewall_route_view",
        "panicked at",
        "unreachable",
        "Failed to fetch",
    ] {
        b.allow_console_error(expected);
    }
    b.block_urls(&[
        "*split___firewall_route_view*",
        "*bundle___firewall_route_view*",
    ])
    .await;
    b.find("nav.nav a[href='/firewall']")
        .await
        .click()
        .await
        .expect("click the Firewall link");
    let banner = b.find("[data-testid=page-stopped]").await;
    let text = banner.text().await.expect("the banner's text");
    assert!(text.contains("stopped working"), "{text}");
    b.screenshot("page-stopped").await;

    // Network back: the banner's link is a real page load (of the page the browser was on: the router
    // changes the address only once the new page's code is there), and the Firewall page then works.
    b.block_urls(&[]).await;
    b.find("[data-testid=page-stopped-reload]")
        .await
        .click()
        .await
        .expect("click the reload link");
    b.wait_count(
        "the reloaded page without the banner",
        "[data-testid=page-stopped]",
        |n| n == 0,
    )
    .await;
    b.wait_hydrated().await;
    b.find("nav.nav a[href='/firewall']")
        .await
        .click()
        .await
        .expect("click the Firewall link again");
    b.wait_for_path("/firewall").await;
    b.find("[data-testid=fw-form]:not([inert])").await;
    assert_eq!(b.count("[data-testid=page-stopped]").await, 0);
    b.close().await;
}

/// A network blip on a lazy page's code is survived: the first fetch of each file carrying the firewall
/// page's code fails (a wrapper the test puts around `fetch` before the page's scripts run rejects it, as
/// a dropped connection does): its bundle if the navigation fetches one (`.ci/bundle-chunks`; the page
/// then fetches the files one by one), and the page's own chunk, which the page fetches once more. The
/// page works without the banner.
#[tokio::test]
async fn a_page_chunk_that_fails_once_is_fetched_again() {
    if !gate("headless Chromium", browser::available()) {
        return;
    }
    let w = Warden::start();
    let b = Browser::start(1280, 900).await;
    b.script_on_new_documents(
        "(() => { const real = window.fetch; const failed = []; \
           window.__chunkFailures = () => failed; \
           window.fetch = function (input, init) { \
             const url = String(input && (input.href || input.url) || input); \
             if (url.includes('firewall_route_view') && !failed.includes(url)) { \
               failed.push(url); return Promise.reject(new TypeError('Failed to fetch (test)')); } \
             return real.call(this, input, init); }; })();",
    )
    .await;
    b.log_in(&w.url, ADMIN_PASSWORD).await;
    b.find("nav.nav a[href='/firewall']")
        .await
        .click()
        .await
        .expect("click the Firewall link");
    b.wait_for_path("/firewall").await;
    b.find("[data-testid=page-title]").await;
    let failures = b
        .client
        .execute("return window.__chunkFailures();", vec![])
        .await
        .expect("read the failure count");
    let failures: Vec<String> = serde_json::from_value(failures).expect("a list of URLs");
    assert!(
        failures
            .iter()
            .any(|u| u.contains("/split___firewall_route_view")),
        "the first fetch of the page's own chunk failed: {failures:?}"
    );
    assert!(
        failures
            .iter()
            .all(|u| u.contains("/split___firewall_route_view")
                || u.contains("/bundle___firewall_route_view")),
        "only the page's chunk and bundle failed: {failures:?}"
    );
    assert_eq!(
        b.count("[data-testid=page-stopped]").await,
        0,
        "no banner after the retry"
    );
    b.close().await;
}

/// A test that panics never calls `Browser::close`: dropping the browser must still end its Chromium
/// (every process of the session names its own profile directory), or it stays behind after the suite.
#[tokio::test]
async fn a_dropped_browser_leaves_no_chromium_behind() {
    if !gate("headless Chromium", browser::chromium_installed()) {
        return;
    }
    let b = Browser::start(800, 600).await;
    let profile = format!("--user-data-dir={}", b.profile_dir().display());
    let of_this_session = || warden_tests::processes_matching(&profile).len();
    assert!(of_this_session() > 0, "no Chromium process names {profile}");
    drop(b);
    warden_tests::wait_for(
        "every Chromium process of the dropped session to end",
        std::time::Duration::from_secs(10),
        || (of_this_session() == 0).then_some(()),
    );
}
