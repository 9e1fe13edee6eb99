//! Shipped UI size (run by `make bench` after `cargo leptos build --release`): starts the release binary,
//! reads the asset URLs from the login page as a browser would, and fetches each raw and with
//! `accept-encoding: br`. Prints the WASM + JS + CSS sizes and the brotli total against the 250 KB budget.

use std::time::Duration;

use warden_tests::{assets, poll, Warden};

/// The budget for WASM + JS + CSS, brotli-compressed (KB = 1000 bytes).
const BUDGET_BYTES: usize = 250_000;

#[tokio::main]
async fn main() {
    if let Err(reason) = assets::built() {
        eprintln!("bench_assets: {reason}");
        std::process::exit(1);
    }
    let w = Warden::start();
    let client = w.client();
    let html = client
        .get(format!("{}/login", w.url))
        .send()
        .await
        .expect("GET /login")
        .text()
        .await
        .expect("login page");
    let urls = assets::asset_urls(&html);
    println!("| asset | raw | brotli |");
    println!("|---|---:|---:|");
    let (mut raw_total, mut br_total) = (0usize, 0usize);
    for url in &urls {
        let full = format!("{}{url}", w.url);
        let raw = client
            .get(&full)
            .send()
            .await
            .expect("asset")
            .bytes()
            .await
            .expect("asset body")
            .len();
        let br = poll("the brotli twin", Duration::from_secs(120), || {
            let (client, full) = (client.clone(), full.clone());
            async move {
                let resp = client
                    .get(&full)
                    .header("accept-encoding", "br")
                    .send()
                    .await
                    .ok()?;
                let is_br = resp.headers().get("content-encoding")? == "br";
                let len = resp.bytes().await.ok()?.len();
                is_br.then_some(len)
            }
        })
        .await;
        raw_total += raw;
        br_total += br;
        println!(
            "| {} | {:.1} KB | {:.1} KB |",
            url.rsplit('/').next().unwrap_or(url),
            raw as f64 / 1000.0,
            br as f64 / 1000.0
        );
    }
    println!(
        "| total (WASM + JS + CSS) | {:.1} KB | {:.1} KB |",
        raw_total as f64 / 1000.0,
        br_total as f64 / 1000.0
    );
    println!(
        "brotli total {:.1} KB vs budget {:.0} KB: {}",
        br_total as f64 / 1000.0,
        BUDGET_BYTES as f64 / 1000.0,
        if br_total <= BUDGET_BYTES {
            "PASS"
        } else {
            "MISS"
        }
    );
}
