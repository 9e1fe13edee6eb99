//! Benchmark (`make bench`, never part of the tests): log capture, Warden next to supervisord 4.x and
//! to the bare operation, measured in the same run on the same machine (issue 18, part 1).
//!
//! 1. Chatty child CPU: 200 services, one writing 1 MB/s as 100-byte lines with a write per line
//!    (the same Python writer under both), 199 idle `sleep`s: the supervisor process's own CPU
//!    (utime + stime of its `/proc/<pid>/stat`, not its children's) over 20 s. Target: Warden ≤ 1/30
//!    of supervisord's.
//! 2. Capture ceiling: one unthrottled writer (blocks of ~64 KiB of numbered 100-byte lines) for 10 s;
//!    the payload bytes a second that reach the log file (the pipe back-pressures a slow reader, so
//!    the writer's own rate is the reader's), next to the same writer piped through `cat` into a file
//!    (the physical ceiling) and to supervisord. Rotation on (10 MB × 5 files for both); the kept
//!    files are checked: every line from the first kept to the writer's last one, whole and in
//!    order. Target: ≥ 50 % of the raw rate and ≥ 3× supervisord's.
//! 3. Tail cost: `GET …/logs?lines=100` on a 10 MB and a 1 GB log, p50 of 50, next to reading the last
//!    100 lines with one seek from the end in this process. Target: ≤ 3× that plus the HTTP overhead
//!    (p50 of `logs?lines=0`), and no growth with the file size (1 GB ≤ 1.5× 10 MB).
//! 4. Durable write: p50/p99 of `POST /services` (flushed before it answers) next to an fsync'd
//!    4 KiB write in the same data dir. Target: p99 ≤ 2× the fsync's p99.
//!
//! Disk: the 1 GB log and the raw run's file live in temp dirs and are removed right after use.

#[path = "bench_logs/capture.rs"]
mod capture;
#[path = "bench_logs/tail.rs"]
mod tail;

#[path = "common/mod.rs"]
mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use serde_json::json;
use warden_tests::{live_processes, Api, Launch};

use capture::{check, Checked, Writer};
use common::{cpu_percent, ms, supervisord_bin, verdict, Program, Supervisord};

const SERVICES: usize = 200;
const CHATTY_LINES_PER_SEC: u32 = 10_000;
const CPU_SAMPLE: Duration = Duration::from_secs(20);
const FLOOD_SECS: u32 = 10;
/// Markers in the command lines of this benchmark's processes (unique on the machine).
const IDLE_CMD: &str = "sleep 987605";
const MARKERS: [&str; 3] = ["sleep 987605", "sleep 987609", "/bench-logs-"];

/// Ends any process of this benchmark still alive.
fn sweep() {
    for p in live_processes() {
        if MARKERS.iter().any(|m| p.cmdline.contains(m)) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p.pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

struct SweepOnDrop;

impl Drop for SweepOnDrop {
    fn drop(&mut self) {
        sweep();
    }
}

/// Waits (bounded) until `count` processes run `marker`.
fn wait_procs(marker: &str, count: usize, limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if live_processes()
            .iter()
            .filter(|p| p.cmdline.contains(marker))
            .count()
            >= count
        {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    anyhow::bail!("not {count} processes running `{marker}` within {limit:?}")
}

/// Polls (bounded) the check of a log until the writer's end is there and nothing is missing.
fn wait_checked(log: &Path, prefix_fields: usize) -> anyhow::Result<Checked> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        // A check that runs into a rotation (a file renamed away under it) is simply repeated.
        let checked = check(log, prefix_fields);
        if let Ok(c) = &checked {
            if c.intact() {
                return checked;
            }
        }
        if Instant::now() > deadline {
            return checked;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// The supervisor's CPU while one child writes 1 MB/s and 199 idle; lines a second that reached the
/// log, for information.
struct Chatty {
    cpu: f64,
    lines_per_sec: f64,
}

fn sample_chatty(pid: u32, log: &Path, prefix_fields: usize) -> anyhow::Result<Chatty> {
    wait_procs(IDLE_CMD, SERVICES - 1, Duration::from_secs(120))?;
    std::thread::sleep(Duration::from_secs(3));
    let last = || {
        (0..10)
            .find_map(|_| check(log, prefix_fields).ok())
            .and_then(|c| c.last)
            .unwrap_or(0)
    };
    let before = last();
    let started = Instant::now();
    let cpu = cpu_percent(pid, CPU_SAMPLE)?;
    let after = last();
    Ok(Chatty {
        cpu,
        lines_per_sec: after.saturating_sub(before) as f64 / started.elapsed().as_secs_f64(),
    })
}

async fn warden_chatty(writer: &Writer) -> anyhow::Result<Chatty> {
    let mut w = Launch::new().start();
    let api = Api::login(&w).await;
    let pid = w.pid().context("warden pid")?;
    for i in 0..SERVICES - 1 {
        api.create_service(
            &json!({"name": format!("idle{i}"), "command": format!("exec {IDLE_CMD}")}),
        )
        .await;
    }
    let command = format!("exec {}", writer.paced(CHATTY_LINES_PER_SEC, 60));
    api.create_service(&json!({"name": "chatty", "command": command}))
        .await;
    let log = w.data_dir().join("logs/services/chatty.log");
    let chatty = tokio::task::block_in_place(|| sample_chatty(pid, &log, 2));
    w.terminate(Duration::from_secs(60));
    chatty
}

fn supervisord_chatty(bin: &Path, writer: &Writer) -> anyhow::Result<Chatty> {
    let mut programs: Vec<Program> = (0..SERVICES - 1)
        .map(|i| Program::new(format!("idle{i}"), IDLE_CMD))
        .collect();
    programs.push(Program::new(
        "chatty",
        writer.paced(CHATTY_LINES_PER_SEC, 60),
    ));
    let sup = Supervisord::start(bin, &programs)?;
    let chatty = sample_chatty(sup.pid(), &sup.log_path("chatty"), 0);
    sup.stop();
    chatty
}

async fn warden_flood(writer: &Writer) -> anyhow::Result<Checked> {
    let mut w = Launch::new().start();
    let api = Api::login(&w).await;
    let command = format!("exec {}", writer.flood(FLOOD_SECS));
    api.create_service(&json!({"name": "flood", "command": command, "restart": "never"}))
        .await;
    let log = w.data_dir().join("logs/services/flood.log");
    let checked = tokio::task::block_in_place(|| wait_checked(&log, 2));
    w.terminate(Duration::from_secs(60));
    checked
}

fn supervisord_flood(bin: &Path, writer: &Writer) -> anyhow::Result<Checked> {
    let sup = Supervisord::start(
        bin,
        &[Program::new("flood", writer.flood(FLOOD_SECS)).once()],
    )?;
    let checked = wait_checked(&sup.log_path("flood"), 0);
    sup.stop();
    checked
}

/// The same writer piped through `cat` into a file; only the writer's end line is read back (the
/// file is as big as the rate allows), then the file is removed.
fn raw_flood(writer: &Writer) -> anyhow::Result<Checked> {
    let out = writer.dir().join("raw.log");
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{} 2>&1 | cat > {}",
            writer.flood(FLOOD_SECS),
            out.display()
        ))
        .status()?;
    ensure!(status.success(), "raw writer: {status}");
    let text = std::fs::read(&out)?;
    let _ = std::fs::remove_file(&out);
    let end = String::from_utf8_lossy(&text[text.len().saturating_sub(4096)..])
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("W-END ").map(str::to_string))
        .context("raw: no end line")?;
    let mut parts = end.split_whitespace();
    Ok(Checked {
        written: parts.next().and_then(|n| n.parse().ok()).unwrap_or(0),
        secs: parts.next().and_then(|n| n.parse().ok()).unwrap_or(0.0),
        ..Checked::default()
    })
}

struct TailAndDurable {
    http: Duration,
    small: tail::Tail,
    big: tail::Tail,
    durable: tail::Durable,
}

async fn warden_tail_and_durable() -> anyhow::Result<TailAndDurable> {
    let mut w = Launch::new().start();
    let api = Api::login(&w).await;
    let s = api
        .create_service(&json!({"name": "plain", "command": "exec sleep 987609", "enabled": false}))
        .await;
    let http = tail::http_overhead(&api, s["id"].as_str().context("id")?).await?;
    let mut tails = tail::tails(
        &api,
        w.data_dir(),
        &[("tail10m", 10_000_000), ("tail1g", 1_000_000_000)],
    )
    .await?
    .into_iter();
    let (small, big) = tails.next().zip(tails.next()).context("two tails")?;
    let durable = tail::durable(&api, w.data_dir()).await?;
    w.terminate(Duration::from_secs(60));
    Ok(TailAndDurable {
        http,
        small,
        big,
        durable,
    })
}

fn mb(bytes_per_sec: f64) -> f64 {
    bytes_per_sec / 1e6
}

fn intact(c: &Checked) -> String {
    format!(
        "{} ({} lines kept, {} torn, {} gaps, {} rotated files)",
        if c.intact() { "intact" } else { "BROKEN" },
        c.found,
        c.torn,
        c.gaps,
        c.rotated
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    sweep();
    let _sweep = SweepOnDrop;
    let started = Instant::now();
    eprintln!("warden binary: {}", warden_tests::warden_bin().display());
    let bin = supervisord_bin()?;
    eprintln!("supervisord {}", common::supervisord_version(&bin));
    let writer = Writer::new()?;

    let w_chatty = warden_chatty(&writer).await?;
    sweep();
    let s_chatty = tokio::task::block_in_place(|| supervisord_chatty(&bin, &writer))?;
    sweep();
    let w_flood = warden_flood(&writer).await?;
    sweep();
    let raw = tokio::task::block_in_place(|| raw_flood(&writer))?;
    let s_flood = tokio::task::block_in_place(|| supervisord_flood(&bin, &writer))?;
    sweep();
    let td = warden_tail_and_durable().await?;
    sweep();

    let cpu_ratio = w_chatty.cpu / s_chatty.cpu.max(f64::MIN_POSITIVE);
    let w_rate = w_flood.bytes_per_sec();
    let raw_ratio = w_rate / raw.bytes_per_sec().max(f64::MIN_POSITIVE);
    let sup_ratio = w_rate / s_flood.bytes_per_sec().max(f64::MIN_POSITIVE);
    println!();
    println!("log capture ({SERVICES} services; chatty child {CHATTY_LINES_PER_SEC} lines/s of 100 bytes; flood {FLOOD_SECS} s):");
    println!();
    println!("| metric                                  |     warden |       peer | warden/peer | target           | result |");
    println!("|-----------------------------------------|-----------:|-----------:|------------:|------------------|--------|");
    println!(
        "| chatty child: supervisor CPU (% core)   | {:10.2} | {:10.2} | {:11.3} | ≤ 0.033 (1/30)   | {:6} |",
        w_chatty.cpu,
        s_chatty.cpu,
        cpu_ratio,
        verdict(cpu_ratio <= 1.0 / 30.0)
    );
    println!(
        "|   CPU µs per line (peer: supervisord)   | {:10.2} | {:10.2} |             | (info)           |        |",
        w_chatty.cpu * 1e4 / w_chatty.lines_per_sec.max(1.0),
        s_chatty.cpu * 1e4 / s_chatty.lines_per_sec.max(1.0),
    );
    println!(
        "| capture ceiling (MB/s; peer: raw pipe)  | {:10.1} | {:10.1} | {:11.3} | ≥ 0.50           | {:6} |",
        mb(w_rate),
        mb(raw.bytes_per_sec()),
        raw_ratio,
        verdict(raw_ratio >= 0.5 && w_flood.intact())
    );
    println!(
        "| capture ceiling (MB/s; peer: supervisord)| {:9.1} | {:10.1} | {:11.3} | ≥ 3.0            | {:6} |",
        mb(w_rate),
        mb(s_flood.bytes_per_sec()),
        sup_ratio,
        verdict(sup_ratio >= 3.0 && w_flood.intact())
    );
    for t in [&td.small, &td.big] {
        let budget = 3.0 * ms(t.local_p50) + ms(td.http);
        println!(
            "| tail 100 lines, {:4} MB log (ms p50)   | {:10.3} | {:10.3} | {:11.2} | ≤ 3×peer+{:.2} ms | {:6} |",
            t.size_bytes / 1_000_000,
            ms(t.api_p50),
            ms(t.local_p50),
            ms(t.api_p50) / ms(t.local_p50).max(f64::MIN_POSITIVE),
            ms(td.http),
            verdict(ms(t.api_p50) <= budget)
        );
    }
    let growth = ms(td.big.api_p50) / ms(td.small.api_p50).max(f64::MIN_POSITIVE);
    println!(
        "| tail growth, 1 GB / 10 MB (API p50)     | {:10.2} |            |             | ≤ 1.5            | {:6} |",
        growth,
        verdict(growth <= 1.5)
    );
    let (pp50, pp99) = td.durable.post;
    let (fp50, fp99) = td.durable.fsync;
    println!(
        "| durable POST /services p50 (ms; fsync)  | {:10.2} | {:10.2} | {:11.2} | (info)           |        |",
        ms(pp50),
        ms(fp50),
        ms(pp50) / ms(fp50).max(f64::MIN_POSITIVE)
    );
    let durable_ratio = ms(pp99) / ms(fp99).max(f64::MIN_POSITIVE);
    println!(
        "| durable POST /services p99 (ms; fsync)  | {:10.2} | {:10.2} | {:11.2} | ≤ 2.0            | {:6} |",
        ms(pp99),
        ms(fp99),
        durable_ratio,
        verdict(durable_ratio <= 2.0)
    );
    println!();
    println!(
        "chatty lines/s reaching the log: warden {:.0}, supervisord {:.0}",
        w_chatty.lines_per_sec, s_chatty.lines_per_sec
    );
    println!("flood, warden: {}", intact(&w_flood));
    println!("flood, supervisord: {}", intact(&s_flood));
    println!(
        "(total benchmark time {:.0} s)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
