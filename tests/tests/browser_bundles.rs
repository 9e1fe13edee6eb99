//! A page's first load gets its lazy route's code as one bundle (`.ci/bundle-chunks`), in real headless
//! Chromium against the real binary: the page hints the bundle, the chunk loader's fetches are answered
//! from it (no chunk is fetched on its own), and the page hydrates and works. A client-side navigation
//! fetches the next route's bundle when much of its code is missing, else the missing files. If the
//! bundle cannot be had, the chunks are fetched one by one and the page works all the same.

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
    b.follow_menu_link("/firewall").await;
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

/// The current build's split manifest: lazy function id → its files (without `.wasm`).
fn split_manifest() -> std::collections::HashMap<String, Vec<String>> {
    warden_tests::assets::split_manifest()
        .expect("a split manifest")
        .1
}

/// The files of the lazy route `page` (`settings`, `audit`, ...) in the manifest.
fn route_files<'a>(
    manifest: &'a std::collections::HashMap<String, Vec<String>>,
    page: &str,
) -> &'a Vec<String> {
    let prefix = format!("__{page}_route_view_");
    manifest
        .iter()
        .find(|(id, _)| id.starts_with(&prefix))
        .map(|(_, files)| files)
        .unwrap_or_else(|| panic!("no lazy route {page} in the manifest"))
}

/// Whether a navigation from `from` (all of its code loaded) to `to` should fetch `to`'s bundle: at
/// least 2 in 5 of its files are missing (the rule in `app/src/assets.rs`, BUNDLE_JS).
fn expect_bundle(
    manifest: &std::collections::HashMap<String, Vec<String>>,
    from: &str,
    to: &str,
) -> bool {
    let loaded = route_files(manifest, from);
    let wanted = route_files(manifest, to);
    let missing = wanted.iter().filter(|f| !loaded.contains(f)).count();
    missing * 5 >= wanted.len() * 2
}

/// A client-side navigation to a route much of whose code is missing fetches the route's bundle; one
/// that misses little of it fetches the missing files one by one (smaller then). Which one applies is
/// computed from the build's split manifest, and the two navigations cover both.
#[tokio::test]
async fn a_navigation_fetches_the_bundle_only_when_much_is_missing() {
    if !gate("headless Chromium", browser::available()) {
        return;
    }
    let manifest = split_manifest();
    // Settings holds most of the users page's code; the users page little of settings'.
    let pairs = [("settings", "users"), ("users", "settings")];
    let expected: Vec<bool> = pairs
        .iter()
        .map(|(from, to)| expect_bundle(&manifest, from, to))
        .collect();
    assert!(
        expected.contains(&true) && expected.contains(&false),
        "the pairs {pairs:?} no longer cover both cases ({expected:?}): pick others"
    );
    let w = Warden::start();
    let b = Browser::start(1280, 900).await;
    b.log_in(&w.url, ADMIN_PASSWORD).await;
    for ((from, to), bundle_expected) in pairs.iter().zip(expected) {
        b.clear_cache().await;
        b.open(&w.url, &format!("/{from}")).await;
        b.clear_resource_timings().await;
        b.follow_menu_link(&format!("/{to}")).await;
        let files = pkg_files(&b).await;
        let bundle = format!("bundle___{to}_route_view_");
        let fetched_bundle = files.iter().any(|f| f.starts_with(&bundle));
        let own_split = format!("split___{to}_route_view_");
        let fetched_alone = files.iter().any(|f| f.starts_with(&own_split));
        assert_eq!(
            (fetched_bundle, fetched_alone),
            (bundle_expected, !bundle_expected),
            "/{from} -> /{to}: bundle expected {bundle_expected}, fetched {files:?}"
        );
        b.assert_no_page_errors(&format!("/{from} -> /{to}")).await;
    }
    b.close().await;
}
