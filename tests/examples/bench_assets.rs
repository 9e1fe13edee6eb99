//! Shipped UI size (run by `make bench` after `make build`, i.e. `cargo leptos build --release --split`),
//! measured in real headless Chromium against the release binary: for every page, the brotli bytes a
//! first-time visitor's browser fetches from `/pkg` to show and hydrate it (main JS + main WASM + CSS +
//! the chunk loader and the bundle of that page's lazy route, `.ci/bundle-chunks`), read from the
//! browser's Resource Timing entries (`encodedBodySize`: the compressed body as sent) after emptying its
//! HTTP cache. The largest page is checked against the 250 KB budget. Next to each page, its peer in the
//! same run: the same load with the bundles blocked, i.e. the route's chunks fetched one by one as before
//! bundling. Then a tour of the main menu by client-side navigation, both ways, and the brotli size of
//! the current build's lazy chunks together (what a visitor who navigated to every page would have
//! downloaded at most one by one) and of the bundles.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use warden_tests::browser::{self, Browser};
use warden_tests::{assets, poll, Api, Warden, ADMIN_PASSWORD};

/// The budget for WASM + JS + CSS of one page load, brotli-compressed (KB = 1000 bytes).
const BUDGET_BYTES: u64 = 250_000;

/// The `/pkg` files this page fetched, with their compressed and decoded sizes, once it is hydrated and
/// the network has been quiet for a moment (a lazy route's chunks load before hydration completes).
const PKG_RESOURCES: &str = r#"
const done = arguments[arguments.length - 1];
const settle = () => {
    const entries = performance.getEntriesByType('resource')
        .filter(e => new URL(e.name).pathname.startsWith('/pkg/'))
        .map(e => ({name: new URL(e.name).pathname, encoded: e.encodedBodySize,
                    decoded: e.decodedBodySize, transfer: e.transferSize}));
    done(entries);
};
const wait = () => document.body && document.body.dataset.hydrated === 'true'
    ? setTimeout(settle, 500) : setTimeout(wait, 20);
wait();
"#;

/// One page's cold load.
struct PageLoad {
    path: String,
    files: Vec<(String, u64, u64)>,
}

impl PageLoad {
    fn encoded(&self) -> u64 {
        self.files.iter().map(|f| f.1).sum()
    }
    fn decoded(&self) -> u64 {
        self.files.iter().map(|f| f.2).sum()
    }
}

fn kb(bytes: u64) -> String {
    format!("{}.{} KB", bytes / 1000, (bytes % 1000) / 100)
}

/// The `/pkg` files the current page fetched (see [`PKG_RESOURCES`]).
async fn pkg_entries(b: &Browser) -> Vec<(String, u64, u64)> {
    let entries = b
        .client
        .execute_async(PKG_RESOURCES, vec![])
        .await
        .expect("resource timing");
    let mut files: Vec<(String, u64, u64)> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap_or_default().to_string(),
                e["encoded"].as_u64().unwrap_or_default(),
                e["decoded"].as_u64().unwrap_or_default(),
            )
        })
        // A request that failed (a blocked bundle) transferred nothing.
        .filter(|f| f.2 > 0)
        .collect();
    files.sort();
    files.dedup_by(|a, b| a.0 == b.0);
    files
}

async fn cold_load(b: &Browser, base: &str, path: &str) -> PageLoad {
    b.clear_cache().await;
    b.open(base, path).await;
    PageLoad {
        path: path.to_string(),
        files: pkg_entries(b).await,
    }
}

/// A client-side navigation by the main menu's link to `path`: what it fetched from `/pkg`.
async fn navigate(b: &Browser, path: &str) -> PageLoad {
    b.clear_resource_timings().await;
    b.follow_menu_link(path).await;
    PageLoad {
        path: path.to_string(),
        files: pkg_entries(b).await,
    }
}

/// The pages measured cold, after `/login`.
const PAGES: [&str; 10] = [
    "/",
    "/services",
    "/services/bench-detail",
    "/firewall",
    "/firewall/jails",
    "/logs",
    "/settings",
    "/audit",
    "/users",
    "/import",
];

/// The menu tour measured after a cold load of the dashboard.
const TOUR: [&str; 6] = [
    "/services",
    "/firewall",
    "/logs",
    "/users",
    "/settings",
    "/",
];

/// Every page cold, then the menu tour, in a fresh browser; with `blocked` URL patterns failing (the
/// bundles, for the one-by-one peer).
async fn measure(w: &Warden, blocked: &[&str]) -> (Vec<PageLoad>, Vec<PageLoad>) {
    let b = Browser::start(1280, 900).await;
    b.block_urls(blocked).await;
    let mut loads = vec![cold_load(&b, &w.url, "/login").await];
    b.log_in(&w.url, ADMIN_PASSWORD).await;
    for path in PAGES {
        loads.push(cold_load(&b, &w.url, path).await);
    }
    let mut tour = vec![cold_load(&b, &w.url, "/").await];
    for path in TOUR {
        tour.push(navigate(&b, path).await);
    }
    b.close().await;
    (loads, tour)
}

/// The current build's lazy-loading files in `pkg` (a published site keeps older builds' files too): the
/// chunks its split manifest names (the newest manifest), and the bundles of its bundle index
/// (`.ci/bundle-chunks`), as file names.
fn current_lazy_files() -> (Vec<String>, Vec<String>) {
    let pkg = warden_tests::site_root().join("pkg");
    let Some((manifest, chunks)) = assets::split_manifest() else {
        return (Vec::new(), Vec::new());
    };
    let read = |name: &str| std::fs::read_to_string(pkg.join(name)).ok();
    let mut chunk_files: Vec<String> = chunks
        .into_values()
        .flatten()
        .map(|c| format!("{c}.wasm"))
        .collect();
    chunk_files.sort();
    chunk_files.dedup();
    let index = manifest.replacen("__wasm_split_manifest", "__wasm_split_bundles", 1);
    let bundles: std::collections::HashMap<String, String> = read(&index)
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default();
    let bundle_files = bundles.into_values().map(|b| format!("{b}.wasm")).collect();
    (chunk_files, bundle_files)
}

/// The total raw and brotli size (as the server sends it) of `names` in `pkg`.
async fn brotli_total(w: &Warden, names: &[String]) -> (u64, u64) {
    let pkg = warden_tests::site_root().join("pkg");
    let client = w.client();
    let (mut raw_total, mut br_total) = (0u64, 0u64);
    for name in names {
        raw_total += std::fs::metadata(pkg.join(name)).unwrap().len();
        let url = format!("{}/pkg/{name}", w.url);
        // Files under 1 KB have no brotli twin and are sent as they are.
        let small = std::fs::metadata(pkg.join(name)).unwrap().len() < 1024;
        br_total += poll("the brotli twin", Duration::from_secs(10), || {
            let (client, url) = (client.clone(), url.clone());
            async move {
                let resp = client
                    .get(&url)
                    .header("accept-encoding", "br")
                    .send()
                    .await
                    .ok()?;
                let is_br = resp
                    .headers()
                    .get("content-encoding")
                    .is_some_and(|v| v == "br");
                let len = resp.bytes().await.ok()?.len() as u64;
                (is_br || small).then_some(len)
            }
        })
        .await;
    }
    (raw_total, br_total)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if let Err(reason) = assets::built().and_then(|_| browser::available()) {
        eprintln!("bench_assets: {reason}");
        std::process::exit(1);
    }
    let w = Warden::start();
    let api = Api::login(&w).await;
    api.create_service(
        &serde_json::json!({"name": "bench-detail", "command": "exec sleep 100000"}),
    )
    .await;
    // The brotli twins are written by the build (`make build`); their sizes as the server sends them.
    let (chunk_files, bundle_files) = current_lazy_files();
    let (chunks_raw, chunks_br) = brotli_total(&w, &chunk_files).await;
    let (bundles_raw, bundles_br) = brotli_total(&w, &bundle_files).await;

    // The peer: the same loads with the bundles blocked, so that every page fetches its chunks one
    // by one, as before `.ci/bundle-chunks` (a blocked request transfers nothing).
    let (loads, tour) = measure(&w, &[]).await;
    let (one_by_one, tour_one_by_one) = measure(&w, &["*/pkg/bundle_*"]).await;

    println!("| page | files | brotli (as sent) | decoded | main JS+WASM+CSS | loader + bundle | chunks one by one: files, brotli |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (load, peer) in loads.iter().zip(&one_by_one) {
        let (main, lazy): (Vec<_>, Vec<_>) = load
            .files
            .iter()
            .partition(|f| f.0.starts_with("/pkg/warden."));
        let sum = |v: &[&(String, u64, u64)]| v.iter().map(|f| f.1).sum::<u64>();
        println!(
            "| {} | {} | {} | {} | {} | {} | {}, {} |",
            load.path,
            load.files.len(),
            kb(load.encoded()),
            kb(load.decoded()),
            kb(sum(&main)),
            kb(sum(&lazy)),
            peer.files.len(),
            kb(peer.encoded()),
        );
    }
    println!();
    println!("menu tour after a cold load of /: what each client-side navigation fetched");
    println!("| to | files | brotli | chunks one by one: files, brotli |");
    println!("|---|---:|---:|---:|");
    for (step, peer) in tour.iter().zip(&tour_one_by_one).skip(1) {
        println!(
            "| {} | {} | {} | {}, {} |",
            step.path,
            step.files.len(),
            kb(step.encoded()),
            peer.files.len(),
            kb(peer.encoded())
        );
    }
    let total = |t: &[PageLoad]| t.iter().skip(1).map(PageLoad::encoded).sum::<u64>();
    println!(
        "whole tour: {} with bundles, {} one by one",
        kb(total(&tour)),
        kb(total(&tour_one_by_one))
    );
    println!();
    let worst = loads.iter().max_by_key(|l| l.encoded()).unwrap();
    let verdict = if worst.encoded() <= BUDGET_BYTES {
        "PASS"
    } else {
        "MISS"
    };
    println!(
        "largest page load: {} at {} (brotli) vs budget {}: {verdict}",
        worst.path,
        kb(worst.encoded()),
        kb(BUDGET_BYTES)
    );
    // Which files the largest page fetched, biggest first.
    let mut by_size: BTreeMap<u64, Vec<&str>> = BTreeMap::new();
    for f in &worst.files {
        by_size.entry(f.1).or_default().push(f.0.as_str());
    }
    for (size, names) in by_size.iter().rev().take(6) {
        println!("  {} {}", kb(*size), names.join(", "));
    }
    println!(
        "the lazy functions' chunks ({} files; what client-side navigation to every page fetches at most): {} raw, {} brotli",
        chunk_files.len(),
        kb(chunks_raw),
        kb(chunks_br)
    );
    println!(
        "their bundles ({} files, one per lazy function; a first load fetches its page's): {} raw, {} brotli",
        bundle_files.len(),
        kb(bundles_raw),
        kb(bundles_br)
    );
}
