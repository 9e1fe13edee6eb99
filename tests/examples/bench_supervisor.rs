//! Benchmark (`make bench`, never part of the tests): Warden's supervisor next to supervisord 4.x, measured
//! in the same run on the same machine.
//!
//! 1. Restart latency after `kill -9`: one trivial service/program; per trial a random pause (0-1 s, so
//!    the kill lands at a random phase of any polling loop), `kill -9` of its main process, then the time
//!    until its replacement is running (a new child of the supervisor has exec'd the command; observed
//!    through /proc every 0.5 ms). 100 trials each; p50 and p99. Before each Warden trial the service is
//!    stopped and started through the API, so every kill is a first failure (the backoff and crash-loop
//!    rules stay at their defaults); supervisord restarts a RUNNING program that dies at once by design.
//! 2. Footprint with 200 trivial services (`sleep`): the supervisor's own RSS (and, for information, the
//!    anonymous part of it: RSS also counts the mapped pages of the program and its libraries), and its
//!    idle CPU over 10 s. With cgroups on where the host has them (the figures), and again with process
//!    groups only, to print what a service's cgroup costs (Warden's RSS and start time per service).
//!
//! Targets (issue 3): restart p99 ≤ 1/20 of supervisord's; RSS with 200 services ≤ 0.5× supervisord's.
//! supervisord comes from PyPI (`supervisor`), installed into `target/bench-venv` if missing. It listens
//! on a unix socket in a temp dir only. Every wait is bounded; every process started here is ended.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::json;
use warden_tests::{live_processes, Api, Launch, Warden};

#[path = "common/mod.rs"]
mod common;
use common::{ms, percentile, rss_and_ticks, supervisord_bin, Program, Supervisord};

/// Kill trials per supervisor (`BENCH_TRIALS` overrides, for a quick look).
fn trials() -> usize {
    std::env::var("BENCH_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
}
const SERVICES: usize = 200;
const IDLE_SAMPLE: Duration = Duration::from_secs(10);
/// Markers in the command lines of the benchmark's processes (unique on the machine).
const LATENCY_CMD: &str = "sleep 987601";
const FOOTPRINT_CMD: &str = "sleep 987602";

/// A tiny xorshift generator: random pauses without another dependency.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9_7F4A_7C15);
        Rng(seed | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// Children of `pid` (all its threads) whose command line contains `marker`.
fn children_running(pid: u32, marker: &str) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        let Ok(text) = std::fs::read_to_string(task.path().join("children")) else {
            continue;
        };
        for child in text
            .split_whitespace()
            .filter_map(|c| c.parse::<u32>().ok())
        {
            let cmdline = std::fs::read(format!("/proc/{child}/cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(marker) {
                out.push(child);
            }
        }
    }
    out
}

/// Waits (bounded) until `pid` has exactly one running child with `marker` other than `not`.
fn wait_new_child(pid: u32, marker: &str, not: Option<u32>, limit: Duration) -> Option<u32> {
    let deadline = Instant::now() + limit;
    loop {
        let found: Vec<u32> = children_running(pid, marker)
            .into_iter()
            .filter(|c| Some(*c) != not)
            .collect();
        if found.len() == 1 {
            return found.first().copied();
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_micros(500));
    }
}

fn kill9(pid: u32) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
}

/// What [`footprint`] measures.
struct Footprint {
    /// Resident set (MiB): anonymous memory plus the mapped pages of the program and its libraries.
    rss_mib: f64,
    /// The anonymous part of it (MiB): heap, stacks, interpreter objects.
    anon_mib: f64,
    /// CPU use in % of one core.
    cpu: f64,
    /// Where the RSS is.
    split: common::RssSplit,
}

/// The supervisor's RSS and its CPU use (% of one core) over `sample` while idle.
fn footprint(pid: u32, sample: Duration) -> anyhow::Result<Footprint> {
    let ticks_per_sec = 100.0; // USER_HZ on Linux
    let (_, _, before) = rss_and_ticks(pid).context("reading /proc")?;
    let started = Instant::now();
    std::thread::sleep(sample);
    let (rss, anon, after) = rss_and_ticks(pid).context("reading /proc")?;
    let secs = started.elapsed().as_secs_f64();
    let cpu = (after.saturating_sub(before)) as f64 / ticks_per_sec / secs * 100.0;
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    Ok(Footprint {
        rss_mib: mib(rss),
        anon_mib: mib(anon),
        cpu,
        split: common::rss_split(pid).unwrap_or_default(),
    })
}

// ---------------------------------------------------------------- measurements

/// Runs `TRIALS` kill -9 trials against the child of `parent` running `marker`; `prepare` runs before
/// each trial (and may return the pid to kill).
fn latency_trials(
    label: &str,
    parent: u32,
    marker: &str,
    mut prepare: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<Vec<Duration>> {
    let mut rng = Rng::new();
    let mut samples = Vec::with_capacity(trials());
    for trial in 0..trials() {
        prepare()?;
        let Some(pid) = wait_new_child(parent, marker, None, Duration::from_secs(10)) else {
            bail!("{label}: no running process before trial {trial}");
        };
        std::thread::sleep(Duration::from_millis(rng.below(1000)));
        let killed = Instant::now();
        kill9(pid);
        let Some(_new) = wait_new_child(parent, marker, Some(pid), Duration::from_secs(40)) else {
            bail!("{label}: no restart within 40 s in trial {trial}");
        };
        samples.push(killed.elapsed());
    }
    samples.sort();
    Ok(samples)
}

/// Ends any process of this benchmark still alive (a crash mid-run must not leave 200 sleeps behind).
fn sweep() {
    for p in live_processes() {
        if p.cmdline.contains(LATENCY_CMD) || p.cmdline.contains(FOOTPRINT_CMD) {
            kill9(p.pid);
        }
    }
}

/// Sweeps on drop, so a panic (e.g. a supervisor that does not exit in time) still cleans up.
struct SweepOnDrop;

impl Drop for SweepOnDrop {
    fn drop(&mut self) {
        sweep();
    }
}

struct Figures {
    p50: Duration,
    p99: Duration,
    rss_mib: f64,
    anon_mib: f64,
    idle_cpu: f64,
    split: common::RssSplit,
}

/// Warden's footprint with `SERVICES` services, launched as `launch` says, and the time until all of them
/// ran.
async fn warden_footprint(launch: Launch) -> anyhow::Result<(Footprint, Duration)> {
    let mut w = launch.start();
    let api = Api::login(&w).await;
    let pid = w.pid().context("warden pid")?;
    let started = Instant::now();
    for i in 0..SERVICES {
        api.create_service(
            &json!({"name": format!("s{i}"), "command": format!("exec {FOOTPRINT_CMD}")}),
        )
        .await;
    }
    let all_up = tokio::task::block_in_place(|| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if children_running(pid, FOOTPRINT_CMD).len() == SERVICES {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    });
    anyhow::ensure!(all_up, "warden: not all {SERVICES} services came up");
    let start_time = started.elapsed();
    drop(api);
    let measured = tokio::task::block_in_place(|| {
        std::thread::sleep(Duration::from_secs(2));
        footprint(pid, IDLE_SAMPLE)
    })?;
    let stopped_at = Instant::now();
    w.terminate(Duration::from_secs(60));
    eprintln!(
        "warden: SIGTERM with {SERVICES} services → exit in {:?}",
        stopped_at.elapsed()
    );
    Ok((measured, start_time))
}

async fn bench_warden() -> anyhow::Result<Figures> {
    // Latency.
    let mut w = Warden::start();
    let api = Api::login(&w).await;
    let pid = w.pid().context("warden pid")?;
    let s = api
        .create_service(&json!({"name": "latency", "command": format!("exec {LATENCY_CMD}")}))
        .await;
    let id = s["id"].as_str().context("id")?.to_string();
    let handle = tokio::runtime::Handle::current();
    let samples = tokio::task::block_in_place(|| {
        latency_trials("warden", pid, LATENCY_CMD, || {
            // Stop + start: every kill is a first failure (backoff and crash-loop counters reset).
            handle.block_on(async {
                let r = api.post_empty(&format!("/services/{id}/stop")).await;
                anyhow::ensure!(r.status() == 200, "stop: {}", r.status());
                let r = api.post_empty(&format!("/services/{id}/start")).await;
                anyhow::ensure!(r.status() == 200, "start: {}", r.status());
                Ok(())
            })
        })
    })?;
    w.terminate(Duration::from_secs(30));

    // Footprint with 200 services, on a fresh instance (cgroups on where this host has them), and
    // the same with process groups only, for the cost of the cgroups.
    let (measured, start_cgroup) = warden_footprint(Launch::new()).await?;
    let (plain, start_plain) =
        warden_footprint(Launch::new().env("WARDEN_CONTAINMENT", "process-group")).await?;
    let per_service_kib = (measured.rss_mib - plain.rss_mib) * 1024.0 / SERVICES as f64;
    eprintln!(
        "warden: cgroup cost per service: {per_service_kib:+.1} KiB of Warden's RSS, {:+.2} ms to start \
         ({SERVICES} services: {:.1} MiB / {start_cgroup:?} with cgroups, {:.1} MiB / {start_plain:?} with \
         process groups only; cgroups available: {})",
        (start_cgroup.as_secs_f64() - start_plain.as_secs_f64()) * 1000.0 / SERVICES as f64,
        measured.rss_mib,
        plain.rss_mib,
        warden_tests::cgroups::available().is_ok()
    );
    Ok(Figures {
        p50: percentile(&samples, 50.0),
        p99: percentile(&samples, 99.0),
        rss_mib: measured.rss_mib,
        anon_mib: measured.anon_mib,
        idle_cpu: measured.cpu,
        split: measured.split,
    })
}

fn bench_supervisord() -> anyhow::Result<Figures> {
    let bin = supervisord_bin()?;
    eprintln!("supervisord {}", common::supervisord_version(&bin));

    let sup = Supervisord::start(&bin, &[Program::new("p0", LATENCY_CMD)])?;
    let samples = latency_trials("supervisord", sup.pid(), LATENCY_CMD, || Ok(()));
    sup.stop();
    let samples = samples?;

    let sup = Supervisord::start(
        &bin,
        &(0..SERVICES)
            .map(|i| Program::new(format!("p{i}"), FOOTPRINT_CMD))
            .collect::<Vec<_>>(),
    )?;
    let pid = sup.pid();
    let deadline = Instant::now() + Duration::from_secs(120);
    while children_running(pid, FOOTPRINT_CMD).len() < SERVICES && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    if children_running(pid, FOOTPRINT_CMD).len() < SERVICES {
        sup.stop();
        bail!("supervisord: not all {SERVICES} programs came up");
    }
    std::thread::sleep(Duration::from_secs(2));
    let figures = footprint(pid, IDLE_SAMPLE);
    sup.stop();
    let measured = figures?;
    Ok(Figures {
        p50: percentile(&samples, 50.0),
        p99: percentile(&samples, 99.0),
        rss_mib: measured.rss_mib,
        anon_mib: measured.anon_mib,
        idle_cpu: measured.cpu,
        split: measured.split,
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    sweep();
    let _sweep = SweepOnDrop;
    eprintln!("warden binary: {}", warden_tests::warden_bin().display());
    let started = Instant::now();
    let warden = bench_warden().await;
    sweep();
    let supervisord = tokio::task::block_in_place(bench_supervisord);
    sweep();
    let warden = warden?;
    let supervisord = supervisord?;

    let ratio_p99 = ms(warden.p99) / ms(supervisord.p99).max(f64::MIN_POSITIVE);
    let ratio_rss = warden.rss_mib / supervisord.rss_mib.max(f64::MIN_POSITIVE);
    let verdict = common::verdict;
    println!();
    println!(
        "restart after kill -9 ({} trials each), footprint with {SERVICES} `sleep` services:",
        trials()
    );
    println!();
    println!("| metric                      |   warden | supervisord | warden/supervisord | target  | result |");
    println!("|-----------------------------|---------:|------------:|-------------------:|---------|--------|");
    println!(
        "| restart latency p50 (ms)    | {:8.1} | {:11.1} | {:18.3} |         |        |",
        ms(warden.p50),
        ms(supervisord.p50),
        ms(warden.p50) / ms(supervisord.p50).max(f64::MIN_POSITIVE)
    );
    println!(
        "| restart latency p99 (ms)    | {:8.1} | {:11.1} | {:18.3} | ≤ 0.050 | {:6} |",
        ms(warden.p99),
        ms(supervisord.p99),
        ratio_p99,
        verdict(ratio_p99 <= 0.05)
    );
    println!(
        "| RSS, {SERVICES} services (MiB)     | {:8.1} | {:11.1} | {:18.3} | ≤ 0.500 | {:6} |",
        warden.rss_mib,
        supervisord.rss_mib,
        ratio_rss,
        verdict(ratio_rss <= 0.5)
    );
    println!(
        "|   of which anonymous (MiB)  | {:8.1} | {:11.1} | {:18.3} | (info)  |        |",
        warden.anon_mib,
        supervisord.anon_mib,
        warden.anon_mib / supervisord.anon_mib.max(f64::MIN_POSITIVE)
    );
    println!(
        "| idle CPU, {SERVICES} services (%)  | {:8.2} | {:11.2} |                    |         |        |",
        warden.idle_cpu, supervisord.idle_cpu
    );
    println!();
    for (who, s) in [("warden", warden.split), ("supervisord", supervisord.split)] {
        println!(
            "{who} RSS (KiB): program file {}, libraries {}, heap {}, other anonymous (stacks, mmaps) {}",
            s.program_kib, s.libraries_kib, s.heap_kib, s.other_anon_kib
        );
    }
    println!(
        "(total benchmark time {:.0} s)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
