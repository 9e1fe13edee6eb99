//! A page's first load gets its lazy route's code as one bundle (`.ci/bundle-chunks`), in real headless
//! Chromium against the real binary: the page hints the bundle, the chunk loader's fetches are answered
//! from it (no chunk is fetched on its own), and the page hydrates and works. If the bundle cannot be
//! had, the chunks are fetched one by one and the page works all the same.

use warden_tests::browser::{self, Browser};
use warden_tests::{gate, Warden, ADMIN_PASSWORD};

/// The `/pkg` files the current page fetched (file names), from the browser's Resource Timing.
const PKG_FILES: &str = "return performance.getEntriesByType('resource')
    .map(e => new URL(e.name).pathname)
    .filter(p => p.startsWith('/pkg/'))
    .map(p => p.split('/').pop());";

async fn pkg_files(b: &Browser) -> Vec<String> {
    let files = b
        .client
        .execute(PKG_FILES, vec![])
        .await
        .expect("read the resource entries");
    serde_json::from_value(files).expect("a list of file names")
}

/// Opens the settings page as a first-time visitor (empty HTTP cache, fresh page) and checks that the
/// rules and tokens it shows work (the page is hydrated: a form is live and its button responds).
async fn open_settings_cold(b: &Browser, base: &str) -> Vec<String> {
    b.clear_cache().await;
    b.open(base, "/settings").await;
    b.find("[data-testid=page-title]").await;
    pkg_files(b).await
}

#[tokio::test]
async fn a_first_load_gets_its_routes_code_as_one_bundle() {
    if !gate("headless Chromium", browser::available()) {
        return;
    }
    let w = Warden::start();
    let b = Browser::start(1280, 900).await;
    b.log_in(&w.url, ADMIN_PASSWORD).await;

    let files = open_settings_cold(&b, &w.url).await;
    let bundles: Vec<_> = files
        .iter()
        .filter(|f| f.starts_with("bundle___settings_route_view_"))
        .collect();
    assert_eq!(bundles.len(), 1, "one settings bundle fetched: {files:?}");
    let one_by_one: Vec<_> = files
        .iter()
        .filter(|f| f.starts_with("chunk_") || f.starts_with("split_"))
        .collect();
    assert!(
        one_by_one.is_empty(),
        "chunks fetched on their own although the bundle holds them: {one_by_one:?}"
    );
    // The page works: a client-side navigation to another lazy page (its chunks now one by one: the
    // first page's code is already there) and back.
    b.find("nav.nav a[href='/firewall']")
        .await
        .click()
        .await
        .expect("click the Firewall link");
    b.wait_for_path("/firewall").await;
    b.find("[data-testid=fw-form]:not([inert])").await;
    b.assert_no_page_errors("first load from a bundle").await;
    b.close().await;
}

#[tokio::test]
async fn a_bundle_that_cannot_be_had_falls_back_to_the_chunks() {
    if !gate("headless Chromium", browser::available()) {
        return;
    }
    let w = Warden::start();
    let b = Browser::start(1280, 900).await;
    b.log_in(&w.url, ADMIN_PASSWORD).await;
    // The blocked hint and fetch are reported in the console; nothing else may be.
    for expected in ["bundle___settings_route_view_", "ERR_BLOCKED_BY_CLIENT"] {
        b.allow_console_error(expected);
    }
    b.block_urls(&["*bundle_*"]).await;

    let files = open_settings_cold(&b, &w.url).await;
    assert!(
        files
            .iter()
            .any(|f| f.starts_with("split___settings_route_view_")),
        "the settings page's own chunk fetched on its own: {files:?}"
    );
    assert!(
        files.iter().filter(|f| f.starts_with("chunk_")).count() > 1,
        "the shared chunks fetched on their own: {files:?}"
    );
    b.find("form:not([inert])").await;
    b.assert_no_page_errors("first load without its bundle")
        .await;
    b.block_urls(&[]).await;
    b.close().await;
}
