//! Firewall benchmark (`make bench`; root only, never part of the tests), in throwaway network
//! namespaces:
//! 1. apply time of a 1 000-rule / 10 000-host rule set through Warden's renderer and nft backend
//!    (render + one JSON transaction), next to `nft -f` of the equivalent hand-written text file in the
//!    same run (target: ≤ 1.5×);
//! 2. UDP packet rate with Warden's table holding 10 000 banned /64s, relative to no firewall (target:
//!    ≥ 95 %), on loopback (as the issue asks) and over a veth pair between two namespaces (the worst
//!    case: a one-way UDP flow never becomes "established" to conntrack, so every packet walks the input
//!    chain including the ban-set lookup). Also shown: bans vs the same table without bans, which
//!    isolates the cost of the ban set from that of conntrack. Every round measures the three
//!    configurations back to back with the same traffic (same sockets' addresses, same payload, same
//!    duration), so a ratio is taken within a round: the machine's load drifts less in a few seconds
//!    than across the whole run. The median of the per-round ratios is reported, with their range
//!    (the noise).
//!
//! Addresses: 2001:db8::/32 only (documentation prefix), nothing routed out. The namespaces are
//! `warden_testkit`'s.
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use warden_firewall::backend::NftBackend;
use warden_firewall::{
    render_ruleset, ApplyContext, Ban, FirewallConfig, IpNetwork, Rule, RuleInput, RuleSet,
};
use warden_testkit::netns::veth;
use warden_testkit::{in_netns, Netns};

const RULES: usize = 1_000;
const HOSTS_PER_RULE: usize = 10;
const BANS: usize = 10_000;
const APPLY_ROUNDS: usize = 5;
/// Seconds of one packet-rate sample (`BENCH_RATE_SECS` overrides). Short samples, many rounds: the
/// three configurations of a round are then measured within a few seconds of each other.
fn rate_secs() -> f64 {
    std::env::var("BENCH_RATE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.75)
}
/// Rounds of the packet-rate measurement (`BENCH_RATE_ROUNDS` overrides); odd, for a true median.
fn rate_rounds() -> usize {
    std::env::var("BENCH_RATE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(21)
}
const SERVER: &str = "2001:db8:1::1";
const CLIENT: &str = "2001:db8:1::2";

/// The nft backend of a namespace.
fn backend(ns: &Netns) -> NftBackend {
    NftBackend::with_command(ns.nft_command())
}

fn big_ruleset() -> RuleSet {
    let mut rules = Vec::with_capacity(RULES);
    for r in 0..RULES {
        let hosts = (0..HOSTS_PER_RULE)
            .map(|h| format!("2001:db8:{:x}::{:x}", r + 0x100, h + 1))
            .collect();
        let input = RuleInput {
            protocol: Some(if r % 2 == 0 {
                warden_firewall::Protocol::Tcp
            } else {
                warden_firewall::Protocol::Udp
            }),
            action: Some(if r % 3 == 0 {
                warden_firewall::Action::Drop
            } else {
                warden_firewall::Action::Accept
            }),
            hosts: Some(hosts),
            ports: Some(vec![
                format!("{}", 10_000 + r),
                format!("{}:{}", 20_000 + r, 20_010 + r),
            ]),
            annotation: Some(format!("bench rule {r}")),
            ..RuleInput::default()
        };
        let rule: Rule = input.into_rule(format!("r{r}")).expect("valid rule");
        rules.push(rule);
    }
    RuleSet::new(rules)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn bench_apply() -> (f64, f64) {
    let ns = Netns::new("apply");
    let backend = backend(&ns);
    let rules = big_ruleset();
    let config = FirewallConfig::default();
    let context = ApplyContext::default();
    // The equivalent hand-written file: the same table in nft's text syntax, replacing the table.
    let script = render_ruleset(&rules, &config, &context)
        .expect("render")
        .nft_script();
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), &script).expect("write nft file");
    let mut warden = Vec::new();
    let mut raw = Vec::new();
    for _ in 0..APPLY_ROUNDS {
        let start = Instant::now();
        let rendered = render_ruleset(&rules, &config, &context).expect("render");
        backend.apply(&rendered).expect("apply");
        warden.push(start.elapsed().as_secs_f64());

        let start = Instant::now();
        let path = file.path().to_str().expect("utf-8 path").to_string();
        ns.exec(&["nft", "-f", &path]);
        raw.push(start.elapsed().as_secs_f64());
    }
    (median(warden), median(raw))
}

/// CPU time this thread has run, in nanoseconds (`/proc/thread-self/schedstat`, first field).
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Phases of one rate measurement, shared by the sender and receiver threads.
const WARMUP: u8 = 0;
const MEASURING: u8 = 1;
const STOPPED: u8 = 2;

/// Records a thread's CPU time when it first sees each phase after the warm-up.
struct CpuWindow {
    seen: u8,
    start: u64,
    end: u64,
}

impl CpuWindow {
    fn new() -> CpuWindow {
        CpuWindow {
            seen: WARMUP,
            start: 0,
            end: 0,
        }
    }

    /// Returns `true` once the measurement has stopped.
    fn observe(&mut self, phase: &AtomicU8) -> bool {
        let now = phase.load(Ordering::Relaxed);
        if now != self.seen {
            if now >= MEASURING && self.seen == WARMUP {
                self.start = thread_cpu_ns();
            }
            if now == STOPPED {
                self.end = thread_cpu_ns();
            }
            self.seen = now;
        }
        now == STOPPED
    }

    fn nanos(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }
}

/// One measurement: received UDP datagrams per second of wall-clock time, and per second of CPU time
/// used by the sending and receiving threads (the kernel's send, filter and receive work runs in
/// their context; this figure does not depend on what else the shared machine is doing).
#[derive(Clone, Copy)]
struct Rate {
    per_sec: f64,
    per_cpu_sec: f64,
}

/// Received UDP datagrams from `source` (in `client`) to `target` (in `server`).
fn udp_rate(server: &Netns, client: &Netns, source: &str, target: SocketAddr) -> Rate {
    let phase = Arc::new(AtomicU8::new(WARMUP));
    let received = Arc::new(AtomicU64::new(0));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let receiver = {
        let (phase, received, ns) = (phase.clone(), received.clone(), server.name.clone());
        std::thread::spawn(move || {
            in_netns(Some(&ns), move || {
                let socket = UdpSocket::bind(target).expect("bind receiver");
                socket
                    .set_read_timeout(Some(Duration::from_millis(100)))
                    .expect("timeout");
                ready_tx.send(()).expect("ready");
                let mut buf = [0u8; 64];
                let mut window = CpuWindow::new();
                let mut first = 0;
                let mut count = 0u64;
                let mut was_measuring = false;
                let last = loop {
                    if socket.recv(&mut buf).is_ok() {
                        count += 1;
                        received.fetch_add(1, Ordering::Relaxed);
                    }
                    let stopped = window.observe(&phase);
                    if !was_measuring && window.seen >= MEASURING {
                        first = count;
                        was_measuring = true;
                    }
                    if stopped {
                        break count;
                    }
                };
                (last - first, window.nanos())
            })
        })
    };
    ready_rx.recv().expect("receiver ready");
    let sender = {
        let (phase, ns, source) = (phase.clone(), client.name.clone(), source.to_string());
        std::thread::spawn(move || {
            in_netns(Some(&ns), move || {
                let socket = UdpSocket::bind(format!("[{source}]:0")).expect("bind sender");
                socket.connect(target).expect("connect");
                let payload = [0u8; 32];
                let mut window = CpuWindow::new();
                while !window.observe(&phase) {
                    let _ = socket.send(&payload);
                }
                window.nanos()
            })
        })
    };
    // Warm up, then count for rate_secs().
    std::thread::sleep(Duration::from_millis(200));
    let before = received.load(Ordering::Relaxed);
    let start = Instant::now();
    phase.store(MEASURING, Ordering::Relaxed);
    std::thread::sleep(Duration::from_secs_f64(rate_secs()));
    let count = received.load(Ordering::Relaxed) - before;
    let elapsed = start.elapsed().as_secs_f64();
    phase.store(STOPPED, Ordering::Relaxed);
    let sender_ns = sender.join().expect("sender");
    let (window_count, receiver_ns) = receiver.join().expect("receiver");
    let cpu_secs = (sender_ns + receiver_ns) as f64 / 1e9;
    Rate {
        per_sec: count as f64 / elapsed,
        per_cpu_sec: window_count as f64 / cpu_secs.max(1e-9),
    }
}

/// The smallest stateful firewall there is, for reference: one `input` chain accepting established
/// and related traffic, nothing else. Any connection-tracking firewall (ufw, firewalld, Warden) pays
/// at least this: the chain's hook plus conntrack's own hooks on every packet, loopback included.
const MINIMAL_STATEFUL_TABLE: &str = "table inet bench_minimal {
    chain input {
        type filter hook input priority filter; policy accept;
        ct state established,related accept
    }
}
";

/// Packet rates per path over the rounds: no firewall, the minimal stateful firewall, Warden's
/// table without bans, with bans.
struct Rates {
    none: Vec<Rate>,
    minimal: Vec<Rate>,
    empty: Vec<Rate>,
    banned: Vec<Rate>,
}

impl Rates {
    /// Median of the per-round ratios `a[i] / b[i]` of `figure`, with the smallest and largest.
    fn ratio(a: &[Rate], b: &[Rate], figure: fn(&Rate) -> f64) -> (f64, f64, f64) {
        let ratios: Vec<f64> = a
            .iter()
            .zip(b)
            .map(|(x, y)| figure(x) / figure(y).max(1.0))
            .collect();
        let min = ratios.iter().copied().fold(f64::INFINITY, f64::min);
        let max = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (median(ratios), min, max)
    }
}

/// Runs an nft script (text, on stdin) inside `ns`.
fn nft_script(ns: &Netns, script: &str) {
    use std::io::Write as _;
    let mut child = ns
        .command("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("nft");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("write the script");
    assert!(child.wait().expect("nft").success(), "nft -f - failed");
}

fn bench_packet_rate() -> (Rates, Rates) {
    let mut server = Netns::new("srv");
    let mut client = Netns::new("cli");
    veth(&server, "veth0", &client, "veth0");
    for (ns, addr) in [(&mut server, SERVER), (&mut client, CLIENT)] {
        ns.add_address("veth0", addr);
        ns.link_up("veth0");
    }
    let bans: Vec<Ban> = (0..BANS)
        .map(|i| Ban {
            network: IpNetwork::new(
                format!("2001:db8:{:x}:{:x}::", 0x1000 + i / 0x10000, i % 0x10000)
                    .parse::<IpAddr>()
                    .unwrap(),
                64,
            )
            .unwrap(),
            expires_in_secs: Some(3600),
        })
        .collect();
    let render = |bans: Vec<Ban>| {
        render_ruleset(
            &RuleSet::default(),
            &FirewallConfig::default(),
            &ApplyContext {
                resolved_hosts: Default::default(),
                bans,
            },
        )
        .expect("render")
    };
    let (empty_table, banned_table) = (render(Vec::new()), render(bans));
    let backend = backend(&server);
    let veth_target: SocketAddr = format!("[{SERVER}]:9999").parse().unwrap();
    let loopback_target: SocketAddr = "[::1]:9998".parse().unwrap();
    let minimal = |present: bool| {
        let script = if present {
            MINIMAL_STATEFUL_TABLE
        } else {
            "table inet bench_minimal\ndelete table inet bench_minimal\n"
        };
        nft_script(&server, script);
    };
    let mut veth: [Vec<Rate>; 4] = Default::default();
    let mut loopback: [Vec<Rate>; 4] = Default::default();
    for _ in 0..rate_rounds() {
        for (config, (veth, loopback)) in veth.iter_mut().zip(loopback.iter_mut()).enumerate() {
            match config {
                0 => backend.delete_table().expect("no table"),
                1 => minimal(true),
                2 => {
                    minimal(false);
                    backend.apply(&empty_table).expect("apply")
                }
                _ => backend.apply(&banned_table).expect("apply"),
            }
            veth.push(udp_rate(&server, &client, CLIENT, veth_target));
            loopback.push(udp_rate(&server, &server, "::1", loopback_target));
        }
    }
    assert_eq!(
        backend.bans().expect("bans").len(),
        BANS,
        "the kernel holds every ban"
    );
    let rates = |path: &mut [Vec<Rate>; 4]| Rates {
        none: std::mem::take(&mut path[0]),
        minimal: std::mem::take(&mut path[1]),
        empty: std::mem::take(&mut path[2]),
        banned: std::mem::take(&mut path[3]),
    };
    (rates(&mut veth), rates(&mut loopback))
}

fn main() {
    if let Err(reason) = warden_testkit::netns::requirements() {
        println!("bench_firewall skipped: {reason}");
        return;
    }
    let (warden_apply, raw_apply) = bench_apply();
    let (veth, loopback) = bench_packet_rate();
    let apply_ratio = warden_apply / raw_apply;
    let verdict = |ok: bool| if ok { "ok" } else { "MISSED" };
    println!(
        "firewall benchmark ({RULES} rules x {HOSTS_PER_RULE} hosts = {} hosts; {BANS} banned /64s)",
        RULES * HOSTS_PER_RULE
    );
    println!(
        "{:<66} {:>12} {:>12} {:>8} {:>8} {:>7}",
        "measure", "warden", "baseline", "ratio", "target", ""
    );
    println!(
        "{:<66} {:>10.0}ms {:>10.0}ms {:>7.2}x {:>8} {:>7}",
        "apply: render + one nft -j transaction vs nft -f text",
        warden_apply * 1000.0,
        raw_apply * 1000.0,
        apply_ratio,
        "<=1.50x",
        verdict(apply_ratio <= 1.5)
    );
    println!(
        "(packet rates: {} rounds of {} s; ratio = median of the per-round ratios, their range in brackets;",
        rate_rounds(),
        rate_secs()
    );
    println!(
        " per CPU-second = datagrams per second of CPU used by the sending and receiving threads, which the"
    );
    println!(
        " load of a shared machine does not skew: the target is judged on it; wall-clock rates are shown too)"
    );
    let per_sec: fn(&Rate) -> f64 = |r| r.per_sec;
    let per_cpu: fn(&Rate) -> f64 = |r| r.per_cpu_sec;
    for (path, r) in [("loopback", &loopback), ("veth, one-way UDP", &veth)] {
        let (ratio, _, _) = Rates::ratio(&r.banned, &r.none, per_cpu);
        let target = format!("{:>8} {:>7}", ">=95%", verdict(ratio >= 0.95));
        let row = |label: &str, measured: &[Rate], baseline: &[Rate], figure, judged: &str| {
            print_rate_row(
                &format!("{path}: {label}"),
                measured,
                baseline,
                figure,
                judged,
            )
        };
        row(
            "per CPU-second, 10 000 bans vs no firewall",
            &r.banned,
            &r.none,
            per_cpu,
            &target,
        );
        row(
            "per CPU-second, minimal stateful fw vs none",
            &r.minimal,
            &r.none,
            per_cpu,
            "(floor)",
        );
        row(
            "per CPU-second, 10 000 bans vs minimal stateful fw",
            &r.banned,
            &r.minimal,
            per_cpu,
            "(info)",
        );
        row(
            "per CPU-second, 10 000 bans vs table without bans",
            &r.banned,
            &r.empty,
            per_cpu,
            "(info)",
        );
        row(
            "wall-clock, 10 000 bans vs no firewall",
            &r.banned,
            &r.none,
            per_sec,
            "(info)",
        );
    }
}

/// One packet-rate line: both medians, the median of the per-round ratios and their range.
fn print_rate_row(
    label: &str,
    measured: &[Rate],
    baseline: &[Rate],
    figure: fn(&Rate) -> f64,
    judged: &str,
) {
    let med = |rates: &[Rate]| median(rates.iter().map(figure).collect());
    let (ratio, low, high) = Rates::ratio(measured, baseline, figure);
    println!(
        "{:<66} {:>10.0}/s {:>10.0}/s {:>7.1}% {:<16}  [{:.1}-{:.1}%]",
        label,
        med(measured),
        med(baseline),
        ratio * 100.0,
        judged,
        low * 100.0,
        high * 100.0
    );
}
