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

/// One log being tailed: the service that owns it, its file, and its last 100 lines.
struct TailedLog {
    id: String,
    file: std::path::PathBuf,
    expected: Vec<String>,
}

/// A stopped service whose log is grown to `size` bytes.
async fn tailed_log(
    api: &Api,
    data_dir: &Path,
    name: &str,
    size: u64,
) -> anyhow::Result<TailedLog> {
    let s = api
        .create_service(&json!({"name": name, "command": "exec sleep 987609", "enabled": false}))
        .await;
    let id = s["id"].as_str().context("id")?.to_string();
    let file = data_dir
        .join("logs")
        .join("services")
        .join(format!("{name}.log"));
    ensure!(file.exists(), "no log file at {}", file.display());
    tokio::task::block_in_place(|| fill_log(&file, size))?;
    let expected = tokio::task::block_in_place(|| local_tail(&file, 100))?;
    Ok(TailedLog { id, file, expected })
}

/// One API tail of `log`, checked against its last 100 lines.
async fn api_tail(api: &Api, log: &TailedLog) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let r = api
        .get(&format!("/services/{}/logs?lines=100", log.id))
        .await;
    ensure!(r.status() == 200, "logs: {}", r.status());
    let body = r.text().await?;
    let took = started.elapsed();
    ensure!(
        body.lines().eq(log.expected.iter().map(String::as_str)),
        "the API's last 100 lines differ from the file's"
    );
    Ok(took)
}

/// Logs of each size in `sizes`, then both tails of each, measured round-robin (API and local, every
/// size in turn, `TAIL_REQUESTS` rounds): every figure sees the same machine and page cache, so the
/// growth with the size is the code's, not the order of the measurements (the big file measured last,
/// right after writing it, was slower for reasons of its own).
pub async fn tails(api: &Api, data_dir: &Path, sizes: &[(&str, u64)]) -> anyhow::Result<Vec<Tail>> {
    let mut logs = Vec::with_capacity(sizes.len());
    for (name, size) in sizes {
        logs.push(tailed_log(api, data_dir, name, *size).await?);
    }
    let mut api_samples = vec![Vec::with_capacity(TAIL_REQUESTS); logs.len()];
    let mut local_samples = vec![Vec::with_capacity(TAIL_REQUESTS); logs.len()];
    for _ in 0..TAIL_REQUESTS {
        for (i, log) in logs.iter().enumerate() {
            api_samples[i].push(api_tail(api, log).await?);
            let started = Instant::now();
            let lines = tokio::task::block_in_place(|| local_tail(&log.file, 100))?;
            local_samples[i].push(started.elapsed());
            ensure!(lines.len() == 100, "local tail: {} lines", lines.len());
        }
    }
    let mut tails = Vec::with_capacity(logs.len());
    for ((log, mut api_times), mut local_times) in logs.iter().zip(api_samples).zip(local_samples) {
        api_times.sort();
        local_times.sort();
        tails.push(Tail {
            size_bytes: std::fs::metadata(&log.file)?.len(),
            api_p50: percentile(&api_times, 50.0),
            local_p50: percentile(&local_times, 50.0),
        });
        // The big file is removed with the service (and the data dir at the end); free the disk now.
        let r = api.delete(&format!("/services/{}", log.id)).await;
        ensure!(r.status().is_success(), "delete: {}", r.status());
        let _ = std::fs::remove_file(&log.file);
    }
    Ok(tails)
}

/// `DURABLE_WRITES` creations of a (disabled) service and as many fsync'd 4 KiB appends in the same
/// data dir, alternating (a POST, then an fsync), so both see the same disk.
pub async fn durable(api: &Api, data_dir: &Path) -> anyhow::Result<Durable> {
    let scratch = data_dir.join("bench-fsync");
    let mut file = std::fs::File::create(&scratch)?;
    let block = [0x5au8; 4096];
    let mut posts = Vec::with_capacity(DURABLE_WRITES);
    let mut syncs = Vec::with_capacity(DURABLE_WRITES);
    for i in 0..DURABLE_WRITES {
        let body = json!({"name": format!("durable{i}"), "command": "exec sleep 987609", "enabled": false});
        let started = Instant::now();
        let r = api.post("/services", &body).await;
        ensure!(
            r.status() == 201 || r.status() == 200,
            "POST /services: {}",
            r.status()
        );
        r.bytes().await?;
        posts.push(started.elapsed());
        let started = Instant::now();
        tokio::task::block_in_place(|| -> anyhow::Result<()> {
            file.write_all(&block)?;
            file.sync_all()?;
            Ok(())
        })?;
        syncs.push(started.elapsed());
    }
    drop(file);
    let _ = std::fs::remove_file(&scratch);
    posts.sort();
    syncs.sort();
    Ok(Durable {
        post: (percentile(&posts, 50.0), percentile(&posts, 99.0)),
        fsync: (percentile(&syncs, 50.0), percentile(&syncs, 99.0)),
    })
}
