//! Benchmark (`make bench`, never part of the tests): a jail under a log flood (issue 19).
//!
//! A supervised service writes 100 000 lines a second for 10 s (a Python writer pacing pre-built
//! blocks of 100 lines, one `write` per block, timing each `write` itself); 1 line in 200 is an sshd
//! failure naming one of 256 TEST-NET-3 addresses, 1 in 200 a failure for a pathological pattern naming
//! one of 256 TEST-NET-2 addresses, the rest runs of `a` or `x` that match nothing (the worst case of
//! the pathological patterns for a backtracking engine; the `regex` crate is linear). The jail follows
//! that service's log with the `sshd` preset plus `(a|aa)*(a|aa)*c from <HOST>` and
//! `(x+x+)+y <HOST>`.
//!
//! The same flood runs twice in one Warden: first without a jail (the cost of capturing the log
//! alone), then with the jail. Printed:
//! - the writer's achieved lines/s (target ≥ 95 % of 100 000) and its longest single `write` (a write
//!   the pipe blocked: target ≤ 100 ms), both as the writer measured them;
//! - Warden's CPU in % of one core over each flood (`utime + stime` of `/proc/<pid>/stat`), and the
//!   jail reader thread's own (`/proc/<pid>/task/*/stat` of the `warden-jail` thread): the jail is
//!   one thread, so its cost is at most one core whatever the flood (target: the jail thread ≤ 100 %
//!   and Warden with the jail ≤ 150 % of one core);
//! - the jail's `lines` counter next to the lines written: the reader never slows the writer (it only
//!   reads the file), so when matching is slower than the flood it lags, and a lag longer than the
//!   log's rotation (5 files) skips the files rotated away meanwhile (source.rs reads the rest of the
//!   file it holds, then the new current file) — that is the design's overload behaviour, reported;
//! - the matching cost per line (the jail thread's CPU over the lines it read: reading and matching).
//!
//! Warden runs with `--firewall off` (as `warden_tests::Launch` does on the host), so the bans the jail
//! asks for fail ("firewall unavailable") and are not counted: `matched` counts the failure lines.

#[path = "common/mod.rs"]
mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};
use warden_tests::{live_processes, Api, Launch};

use common::{cpu_ticks, verdict, TICKS_PER_SEC};

const RATE: u32 = 100_000;
const FLOOD_SECS: u32 = 10;
/// Failures of one address that ask for a ban (`BENCH_JAIL_MAX_FAILURES` overrides).
fn max_failures() -> u32 {
    std::env::var("BENCH_JAIL_MAX_FAILURES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10)
}
/// Marker in the writer's command line (unique on the machine).
const MARKER: &str = "/bench-jails-";

const WRITER: &str = r#"import os, sys, time
rate, secs = int(sys.argv[1]), float(sys.argv[2])
BATCH = 100
def block(k):
    out = []
    for j in range(BATCH):
        n = k * BATCH + j
        if n % 200 == 0:
            out.append(b"sshd[%d]: Failed password for invalid user admin from 203.0.113.%d port %d ssh2\n" % (1000 + k, k % 256, 1024 + n % 60000))
        elif n % 200 == 100:
            out.append(b"%sc from 198.51.100.%d\n" % (b"a" * 60, k % 256))
        elif n % 2:
            out.append(b"%s no match %d\n" % (b"a" * 80, n))
        else:
            out.append(b"%s z %d\n" % (b"x" * 80, n))
    return b"".join(out)
blocks = [block(k) for k in range(512)]
def put(buf):
    view = memoryview(buf)
    while view:
        view = view[os.write(1, view):]
i = 0
max_write = 0.0
max_behind = 0
start = time.monotonic()
end = start + secs
while True:
    now = time.monotonic()
    if now >= end:
        break
    due = int((now - start) * rate / BATCH)
    max_behind = max(max_behind, due - i)
    while i < due:
        t0 = time.monotonic()
        put(blocks[i % 512])
        max_write = max(max_write, time.monotonic() - t0)
        i += 1
    time.sleep(0.0005)
took = time.monotonic() - start
os.write(2, b"W-END %d %.6f %.6f %d\n" % (i * BATCH, took, max_write, max_behind * BATCH))
"#;

/// Ends any writer of this benchmark still alive.
fn sweep() {
    for p in live_processes() {
        if p.cmdline.contains(MARKER) {
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

/// What the writer reported (`W-END lines secs max_write behind`).
#[derive(Debug, Default, Clone, Copy)]
struct Written {
    lines: u64,
    secs: f64,
    max_write: Duration,
    max_behind_lines: u64,
}

impl Written {
    fn rate(&self) -> f64 {
        self.lines as f64 / self.secs.max(f64::MIN_POSITIVE)
    }
}

/// The writer's end line in the log `current` or its rotated files (their last 64 KiB).
fn find_end(current: &Path) -> Option<Written> {
    let mut files = vec![current.to_path_buf()];
    for index in 1..10 {
        let mut os = current.as_os_str().to_owned();
        os.push(format!(".{index}"));
        files.push(PathBuf::from(os));
    }
    files.iter().find_map(|path| {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = std::fs::File::open(path).ok()?;
        let len = f.metadata().ok()?.len();
        f.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)))
            .ok()?;
        let mut tail = Vec::new();
        f.read_to_end(&mut tail).ok()?;
        let text = String::from_utf8_lossy(&tail);
        let end = text.lines().rev().find_map(|l| {
            l.split_once("W-END ")
                .map(|(_, rest)| rest.trim().to_string())
        })?;
        let mut parts = end.split_whitespace();
        Some(Written {
            lines: parts.next()?.parse().ok()?,
            secs: parts.next()?.parse().ok()?,
            max_write: Duration::from_secs_f64(parts.next()?.parse().ok()?),
            max_behind_lines: parts.next()?.parse().ok()?,
        })
    })
}

/// `utime + stime` (ticks) of the threads of `pid` named `name`.
fn thread_ticks(pid: u32, name: &str) -> u64 {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    dir.filter_map(|e| {
        let stat = std::fs::read_to_string(e.ok()?.path().join("stat")).ok()?;
        let comm = &stat[stat.find('(')? + 1..stat.rfind(')')?];
        if comm != name {
            return None;
        }
        let rest = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
    })
    .sum()
}

/// One flood: what the writer reported and the CPU Warden (and its jail thread) used meanwhile.
struct Flood {
    written: Written,
    wall: Duration,
    warden_cpu: f64,
    jail_cpu: f64,
}

/// Runs the writer as service `name` and waits for its end line in the log.
async fn flood(
    api: &Api,
    pid: u32,
    data_dir: &Path,
    script: &Path,
    name: &str,
) -> anyhow::Result<Flood> {
    let command = format!("exec python3 {} {RATE} {FLOOD_SECS}", script.display());
    let before = (
        cpu_ticks(pid).context("warden's stat")?,
        thread_ticks(pid, "warden-jail"),
    );
    let started = Instant::now();
    api.create_service(&json!({"name": name, "command": command, "restart": "never"}))
        .await;
    let log = data_dir.join(format!("logs/services/{name}.log"));
    let deadline = started + Duration::from_secs(u64::from(FLOOD_SECS) + 60);
    let written = loop {
        if let Some(w) = find_end(&log) {
            break w;
        }
        if Instant::now() > deadline {
            bail!("no end line from the writer in {}", log.display());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let wall = started.elapsed();
    let after = (
        cpu_ticks(pid).context("warden's stat")?,
        thread_ticks(pid, "warden-jail"),
    );
    let percent = |ticks: u64| ticks as f64 / TICKS_PER_SEC / wall.as_secs_f64() * 100.0;
    Ok(Flood {
        written,
        wall,
        warden_cpu: percent(after.0.saturating_sub(before.0)),
        jail_cpu: percent(after.1.saturating_sub(before.1)),
    })
}

/// The jail's view once its `lines` counter stopped moving for a second (bounded).
async fn settled(api: &Api, id: &str) -> anyhow::Result<(Value, Duration)> {
    let started = Instant::now();
    let mut last = (u64::MAX, Instant::now());
    loop {
        let view = api.get_json(&format!("/firewall/jails/{id}")).await;
        let lines = view["lines"].as_u64().unwrap_or(0);
        if lines != last.0 {
            last = (lines, Instant::now());
        } else if last.1.elapsed() >= Duration::from_secs(1) {
            return Ok((view, last.1.duration_since(started)));
        }
        if started.elapsed() > Duration::from_secs(120) {
            bail!("the jail still reads after 120 s: {view}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn writer_script() -> anyhow::Result<tempfile::TempDir> {
    let dir = tempfile::Builder::new().prefix("bench-jails-").tempdir()?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
    let script = dir.path().join("writer.py");
    std::fs::write(&script, WRITER)?;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644))?;
    Ok(dir)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    sweep();
    let _sweep = SweepOnDrop;
    let started = Instant::now();
    let bin = warden_tests::warden_bin();
    eprintln!("warden binary: {}", bin.display());
    let dir = writer_script()?;
    let script = dir.path().join("writer.py");

    let mut w = Launch::new().start();
    let api = Api::login(&w).await;
    let pid = w.pid().context("warden pid")?;

    // 1. The flood without a jail: the cost of capturing the log alone.
    let plain = flood(&api, pid, w.data_dir(), &script, "plain").await?;

    // 2. The same flood with a jail on the service's log.
    let resp = api
        .post(
            "/firewall/jails",
            &json!({
                "name": "flood",
                "source": {"service": "flood"},
                "preset": "sshd",
                "patterns": ["(a|aa)*(a|aa)*c from <HOST>", "(x+x+)+y <HOST>"],
                "max_failures": max_failures(),
            }),
        )
        .await;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    if status != 201 {
        bail!("create jail: {status} {text}");
    }
    let jail: Value = serde_json::from_str(&text)?;
    let id = jail["id"].as_str().context("jail id")?.to_string();
    let jailed = flood(&api, pid, w.data_dir(), &script, "flood").await?;
    let jail_ticks_before_drain = thread_ticks(pid, "warden-jail");
    let (view, drained_after) = settled(&api, &id).await?;
    let jail_ticks = thread_ticks(pid, "warden-jail");
    let drain_extra = jail_ticks.saturating_sub(jail_ticks_before_drain);
    w.terminate(Duration::from_secs(60));

    let lines_read = view["lines"].as_u64().unwrap_or(0);
    let matched = view["matched"].as_u64().unwrap_or(0);
    // The writer's lines plus its end line (Warden's own notes in that log, e.g. the service's start,
    // come on top).
    let written = jailed.written.lines + 1;
    let expected_failures = jailed.written.lines / 100;
    // The jail thread's CPU over the flood plus its drain, per line it read.
    let jail_total_secs =
        jailed.jail_cpu / 100.0 * jailed.wall.as_secs_f64() + drain_extra as f64 / TICKS_PER_SEC;
    let us_per_line = jail_total_secs * 1e6 / (lines_read.max(1) as f64);

    println!();
    println!(
        "jail under a flood ({RATE} lines/s for {FLOOD_SECS} s; sshd preset + 2 pathological patterns; \
         1 line in 100 a failure; warden {})",
        bin.display()
    );
    println!();
    println!("| metric                                       |    no jail |  with jail | target       | result |");
    println!("|----------------------------------------------|-----------:|-----------:|--------------|--------|");
    for (label, f) in [
        ("writer's rate (lines/s)", 0),
        ("writer's longest write (ms)", 1),
    ] {
        let (a, b) = match f {
            0 => (plain.written.rate(), jailed.written.rate()),
            _ => (
                plain.written.max_write.as_secs_f64() * 1e3,
                jailed.written.max_write.as_secs_f64() * 1e3,
            ),
        };
        let (target, ok) = match f {
            0 => ("≥ 95 000", b >= 0.95 * f64::from(RATE)),
            _ => ("≤ 100 ms", b <= 100.0),
        };
        println!(
            "| {label:44} | {a:10.1} | {b:10.1} | {target:12} | {:6} |",
            verdict(ok)
        );
    }
    println!(
        "| writer's worst lag behind its pace (lines)   | {:10} | {:10} | (info)       |        |",
        plain.written.max_behind_lines, jailed.written.max_behind_lines
    );
    println!(
        "| Warden CPU over the flood (% of one core)    | {:10.1} | {:10.1} | ≤ 150        | {:6} |",
        plain.warden_cpu,
        jailed.warden_cpu,
        verdict(jailed.warden_cpu <= 150.0)
    );
    println!(
        "|   of which the jail thread (% of one core)   | {:10.1} | {:10.1} | ≤ 100        | {:6} |",
        plain.jail_cpu,
        jailed.jail_cpu,
        // One thread cannot use more than one core; the 1 % is the ticks' rounding.
        verdict(jailed.jail_cpu <= 101.0)
    );
    println!(
        "| jail: reading + matching per line (µs)       |            | {us_per_line:10.2} | (info)       |        |"
    );
    println!();
    println!(
        "jail counters: lines {lines_read} read for {written} the service wrote ({:.1} %), matched {matched} of {expected_failures} \
         failure lines, bans {} (firewall off: the bans it asked for failed), source problem {}",
        lines_read as f64 * 100.0 / written as f64,
        view["bans"],
        view["source_problem"]
    );
    println!(
        "the jail's counter settled {:.1} s after the writer's end line was seen; the jail thread used {:.2} s of CPU in all",
        drained_after.as_secs_f64(),
        jail_total_secs
    );
    println!(
        "(total benchmark time {:.0} s)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
