//! A jail changed while its file grows fast counts every line exactly once: each PATCH restarts its
//! watcher, which must take over where the previous one stopped (the lines it read, the failures it
//! handed over) — none missed, none read twice. The real binary on the host (no firewall needed: the
//! failures name a different address each time, so nothing is banned).

use std::io::Write;
use std::time::Duration;

use serde_json::{json, Value};
use warden_tests::{poll, Api, Warden};

/// Lines written, in bursts; every `FAILURE_EVERY`th one is a failure.
const LINES: u64 = 60_000;
const BURST: u64 = 500;
const FAILURE_EVERY: u64 = 10;
/// Watcher restarts while the lines pour in.
const PATCHES: u64 = 16;

fn append(path: &std::path::Path, text: &str) {
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .expect("open the log");
    file.write_all(text.as_bytes()).expect("append");
}

async fn view(api: &Api, id: &str) -> Value {
    let resp = api.get(&format!("/firewall/jails/{id}")).await;
    assert_eq!(resp.status(), 200);
    resp.json().await.expect("jail view")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jail_changed_while_lines_pour_in_counts_each_line_once() {
    let w = Warden::start();
    let api = Api::login(&w).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("app.log");
    std::fs::write(&path, "").expect("create the log");
    let resp = api
        .post(
            "/firewall/jails",
            &json!({
                "name": "handover",
                "source": {"file": path.to_str().expect("utf-8 path")},
                "patterns": ["bad token from <HOST>"],
                "max_failures": 50,
                "window_secs": 600,
            }),
        )
        .await;
    assert_eq!(
        resp.status(),
        201,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    let id = resp.json::<Value>().await.expect("jail")["id"]
        .as_str()
        .expect("id")
        .to_string();
    // It follows the file from its end: lines that are no failure until its counter moves (it has
    // found the end), then one failure, read once every line before it was.
    let mut marker = 0;
    poll("the jail to read its file", Duration::from_secs(20), || {
        append(&path, "starting up\n");
        marker += 1;
        let (api, id) = (&api, &id);
        async move { (view(api, id).await["lines"].as_u64().unwrap_or(0) > 0).then_some(()) }
    })
    .await;
    append(&path, "bad token from 203.0.113.254\n");
    let opened_at = poll("the first failure", Duration::from_secs(20), || async {
        let v = view(&api, &id).await;
        (v["matched"].as_u64() == Some(1)).then_some(v)
    })
    .await;
    let (lines_before, matched_before) = (
        opened_at["lines"].as_u64().unwrap_or(0),
        opened_at["matched"].as_u64().unwrap_or(0),
    );
    assert!(lines_before <= marker + 1, "{opened_at}");

    // The writer: bursts of lines, each failure from another TEST-NET address (no address reaches
    // 50 failures, so nothing is banned and the counters are the only effect).
    let writer_path = path.clone();
    let writer = tokio::task::spawn_blocking(move || {
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&writer_path)
            .expect("open the log");
        let mut failures = 0u64;
        let mut burst = String::new();
        for i in 0..LINES {
            if i % FAILURE_EVERY == 0 {
                let n = failures % 762;
                let address = match n / 254 {
                    0 => format!("192.0.2.{}", n % 254 + 1),
                    1 => format!("198.51.100.{}", n % 254 + 1),
                    _ => format!("203.0.113.{}", n % 254 + 1),
                };
                failures += 1;
                burst.push_str(&format!("line {i}: bad token from {address}\n"));
            } else {
                burst.push_str(&format!("line {i}: request served in 3 ms\n"));
            }
            if (i + 1) % BURST == 0 {
                file.write_all(burst.as_bytes()).expect("append");
                burst.clear();
                std::thread::sleep(Duration::from_millis(4));
            }
        }
        file.write_all(burst.as_bytes()).expect("append");
        failures
    });

    // Meanwhile the jail is changed again and again: every PATCH restarts its watcher.
    for n in 0..PATCHES {
        let resp = api
            .patch(
                &format!("/firewall/jails/{id}"),
                &json!({"max_failures": 50 + (n % 2)}),
            )
            .await;
        assert_eq!(resp.status(), 200, "patch {n}");
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    let failures = writer.await.expect("writer");

    let expected_lines = lines_before + LINES;
    let expected_matched = matched_before + failures;
    let counted = poll(
        "the jail to read every line",
        Duration::from_secs(30),
        || async {
            let v = view(&api, &id).await;
            (v["lines"].as_u64().unwrap_or(0) >= expected_lines).then_some(v)
        },
    )
    .await;
    eprintln!("expected {expected_lines} lines, {expected_matched} failures; the jail: {counted}");
    assert_eq!(
        counted["lines"].as_u64(),
        Some(expected_lines),
        "lines read more than once across the watcher's restarts: {counted}"
    );
    assert_eq!(
        counted["matched"].as_u64(),
        Some(expected_matched),
        "failures counted more than once (or missed) across the watcher's restarts: {counted}"
    );
    assert_eq!(counted["bans"].as_u64(), Some(0), "{counted}");
    assert!(counted["source_problem"].is_null(), "{counted}");
}
