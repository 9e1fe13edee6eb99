//! The tail and durable-write figures, each next to the same operation done bare in this process:
//! `GET …/logs?lines=100` on a 10 MB and a 1 GB log against reading the last 100 lines with a seek from
//! the end, and `POST /services` (flushed before it answers) against an fsync'd 4 KiB write.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use serde_json::json;
use warden_tests::Api;

use crate::common::percentile;

pub const TAIL_REQUESTS: usize = 50;
pub const DURABLE_WRITES: usize = 200;

/// p50 of each way of reading the last 100 lines of a log of one size.
pub struct Tail {
    pub size_bytes: u64,
    pub api_p50: Duration,
    pub local_p50: Duration,
}

/// p50 and p99 of `POST /services` and of a bare fsync'd 4 KiB write.
pub struct Durable {
    pub post: (Duration, Duration),
    pub fsync: (Duration, Duration),
}

/// Appends Warden-formatted lines to `path` until it holds `size` bytes.
fn fill_log(path: &Path, size: u64) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new().append(true).open(path)?;
    let mut block = Vec::with_capacity(1 << 20);
    let mut written = file.metadata()?.len();
    let mut n: u64 = 0;
    while written < size {
        block.clear();
        while block.len() < (1 << 20) {
            writeln!(
                block,
                "2026-12-03T02:00:00.000Z out filler line {n:012} {:060}",
                0
            )?;
            n += 1;
        }
        file.write_all(&block)?;
        written += block.len() as u64;
    }
    file.sync_all()?;
    Ok(())
}

/// The last `n` lines of `path`: one seek from the end, one read of a 64 KiB block.
fn local_tail(path: &Path, n: usize) -> anyhow::Result<Vec<String>> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let start = len.saturating_sub(64 * 1024);
    file.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::with_capacity((len - start) as usize);
    file.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().collect();
    Ok(lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|s| s.to_string())
        .collect())
}

async fn timed<F, Fut>(times: usize, mut op: F) -> anyhow::Result<Vec<Duration>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut samples = Vec::with_capacity(times);
    for _ in 0..times {
        let started = Instant::now();
        op().await?;
        samples.push(started.elapsed());
    }
    samples.sort();
    Ok(samples)
}

/// The p50 of `GET …/logs?lines=0` (the request without reading the file: the HTTP overhead).
pub async fn http_overhead(api: &Api, id: &str) -> anyhow::Result<Duration> {
    let path = format!("/services/{id}/logs?lines=0");
    let samples = timed(TAIL_REQUESTS, || async {
        let r = api.get(&path).await;
        ensure!(r.status() == 200, "logs?lines=0: {}", r.status());
        r.bytes().await?;
        Ok(())
    })
    .await?;
    Ok(percentile(&samples, 50.0))
}

/// A stopped service whose log is grown to `size` bytes, then both tails of it.
pub async fn tail(api: &Api, data_dir: &Path, name: &str, size: u64) -> anyhow::Result<Tail> {
    let s = api
        .create_service(&json!({"name": name, "command": "exec sleep 987609", "enabled": false}))
        .await;
    let id = s["id"].as_str().context("id")?.to_string();
    let log = data_dir
        .join("logs")
        .join("services")
        .join(format!("{name}.log"));
    ensure!(log.exists(), "no log file at {}", log.display());
    tokio::task::block_in_place(|| fill_log(&log, size))?;
    let path = format!("/services/{id}/logs?lines=100");
    let expected = tokio::task::block_in_place(|| local_tail(&log, 100))?;
    let api_samples = timed(TAIL_REQUESTS, || async {
        let r = api.get(&path).await;
        ensure!(r.status() == 200, "logs: {}", r.status());
        let body = r.text().await?;
        ensure!(
            body.lines().eq(expected.iter().map(String::as_str)),
            "the API's last 100 lines differ from the file's"
        );
        Ok(())
    })
    .await?;
    let local_samples = timed(TAIL_REQUESTS, || async {
        let lines = tokio::task::block_in_place(|| local_tail(&log, 100))?;
        ensure!(lines.len() == 100, "local tail: {} lines", lines.len());
        Ok(())
    })
    .await?;
    let size_bytes = std::fs::metadata(&log)?.len();
    // The big file is removed with the service (and the data dir at the end); free the disk now.
    let r = api.delete(&format!("/services/{id}")).await;
    ensure!(r.status().is_success(), "delete: {}", r.status());
    let _ = std::fs::remove_file(&log);
    Ok(Tail {
        size_bytes,
        api_p50: percentile(&api_samples, 50.0),
        local_p50: percentile(&local_samples, 50.0),
    })
}

/// `DURABLE_WRITES` creations of a (disabled) service, then as many fsync'd 4 KiB appends in the
/// same data dir.
pub async fn durable(api: &Api, data_dir: &Path) -> anyhow::Result<Durable> {
    let mut i = 0;
    let posts = timed(DURABLE_WRITES, || {
        i += 1;
        let body = json!({"name": format!("durable{i}"), "command": "exec sleep 987609", "enabled": false});
        async move {
            let r = api.post("/services", &body).await;
            ensure!(r.status() == 201 || r.status() == 200, "POST /services: {}", r.status());
            r.bytes().await?;
            Ok(())
        }
    })
    .await?;
    let scratch = data_dir.join("bench-fsync");
    let mut file = std::fs::File::create(&scratch)?;
    let block = [0x5au8; 4096];
    let syncs = timed(DURABLE_WRITES, || {
        let outcome = tokio::task::block_in_place(|| -> anyhow::Result<()> {
            file.write_all(&block)?;
            file.sync_all()?;
            Ok(())
        });
        async move { outcome }
    })
    .await?;
    drop(file);
    let _ = std::fs::remove_file(&scratch);
    Ok(Durable {
        post: (percentile(&posts, 50.0), percentile(&posts, 99.0)),
        fsync: (percentile(&syncs, 50.0), percentile(&syncs, 99.0)),
    })
}
