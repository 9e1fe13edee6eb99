//! Firewall benchmark (`make bench`; root only, never part of the tests), in throwaway network
//! namespaces:
//! 1. apply time of a 1 000-rule / 10 000-host rule set through Warden's renderer and nft backend
//!    (render + one JSON transaction), next to `nft -f` of the equivalent hand-written text file in the
//!    same run (target: ≤ 1.5×);
//! 2. UDP packet rate with Warden's default table holding 10 000 banned /64s, relative to the floor:
//!    the smallest stateful firewall there is (one `input` chain, `ct state established,related
//!    accept`), which any connection-tracking firewall pays (target: ≥ 97 %), on loopback and over a
//!    veth pair between two namespaces (the worst case: a one-way UDP flow never becomes
//!    "established" to conntrack, so every packet walks the prerouting chain and the input chain).
//!    The cost is split: floor + an empty `prerouting` chain at raw priority is what a second hook
//!    costs before any rule; floor + Warden's `prerouting` chain alone (its ban sets, the bans-only
//!    table) adds the ban lookup before conntrack; the rest of the full table is the input rules.
//!    No firewall at all is shown for information.
//!
//! The configurations are measured interleaved: many short rounds in the same namespaces, each
//! loading one table after the other and measuring it (the order reversed every other time, so a
//! drift of the machine's load weighs on all alike), the sending and receiving threads pinned to one
//! CPU; a ratio is taken within a round. Reported: the median of the per-round ratios and their
//! interquartile range (the noise). A third path, veth with an established UDP flow, shows what
//! established traffic (most packets of a real server) pays.
//!
//! Addresses: 2001:db8::/32 only (documentation prefix), nothing routed out. The namespaces are
//! `warden_testkit`'s.
#![allow(clippy::unwrap_used)]

#[path = "bench_firewall/rate.rs"]
mod rate;

use std::net::{IpAddr, SocketAddr};
use std::process::Stdio;
use std::time::Instant;

use warden_firewall::backend::NftBackend;
use warden_firewall::{
    render_bans_only, render_ruleset, ApplyContext, Ban, FirewallConfig, IpNetwork,
    RenderedRuleset, Rule, RuleInput, RuleSet,
};
use warden_testkit::netns::veth;
use warden_testkit::Netns;

use rate::{softirq_threads, udp_rate, Rate};

const RULES: usize = 1_000;
const HOSTS_PER_RULE: usize = 10;
const BANS: usize = 10_000;
const APPLY_ROUNDS: usize = 5;
/// Seconds of one packet-rate sample (`BENCH_RATE_SECS` overrides). Short samples, many rounds: the
/// configurations of a round are then measured within a few seconds of each other.
fn rate_secs() -> f64 {
    std::env::var("BENCH_RATE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.25)
}
/// Rounds of the packet-rate measurement (`BENCH_RATE_ROUNDS` overrides); odd, for a true median.
fn rate_rounds() -> usize {
    std::env::var("BENCH_RATE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(41)
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

/// The smallest stateful firewall there is: one `input` chain accepting established and related
/// traffic, nothing else. Any connection-tracking firewall (ufw, firewalld, Warden) pays at least
/// this: the chain's hook plus conntrack's own hooks on every packet, loopback included.
const FLOOR_TABLE: &str = "table inet bench_floor {
    chain input {
        type filter hook input priority filter; policy accept;
        ct state established,related accept
    }
}
";
const FLOOR_DELETE: &str = "table inet bench_floor\ndelete table inet bench_floor\n";
/// Added to the floor: a hook where Warden's bans sit (prerouting, raw priority), with no rule.
const EMPTY_PREROUTING_HOOK: &str = "table inet bench_floor {
    chain prerouting {
        type filter hook prerouting priority raw; policy accept;
    }
}
";

/// The firewalls measured.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Config {
    /// No table at all.
    None,
    /// [`FLOOR_TABLE`].
    Floor,
    /// The floor plus [`EMPTY_PREROUTING_HOOK`]: the cost of the hook itself.
    FloorHook,
    /// The floor plus Warden's `prerouting` chain with the bans (Warden's bans-only table).
    FloorPrerouting,
    /// Warden's whole default table with the bans.
    Warden,
}

/// The order of a forward round: the floor next to Warden (the judged pair) and next to the split.
const CONFIGS: [Config; 5] = [
    Config::None,
    Config::FloorHook,
    Config::FloorPrerouting,
    Config::Floor,
    Config::Warden,
];

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

/// The tables of the server namespace, switched from one configuration to the next.
struct Tables<'a> {
    ns: &'a Netns,
    backend: NftBackend,
    bans_only: RenderedRuleset,
    warden: RenderedRuleset,
}

impl Tables<'_> {
    fn load(&self, config: Config) {
        let floor = matches!(
            config,
            Config::Floor | Config::FloorHook | Config::FloorPrerouting
        );
        // One transaction: the floor table from scratch (no hook of the previous round left in it).
        let mut script = FLOOR_DELETE.to_string();
        if floor {
            script.push_str(FLOOR_TABLE);
        }
        if config == Config::FloorHook {
            script.push_str(EMPTY_PREROUTING_HOOK);
        }
        nft_script(self.ns, &script);
        match config {
            Config::None | Config::Floor | Config::FloorHook => {
                self.backend.delete_table().expect("no table")
            }
            Config::FloorPrerouting => self.backend.apply(&self.bans_only).expect("apply"),
            Config::Warden => self.backend.apply(&self.warden).expect("apply"),
        }
    }
}

/// Which figure of a [`Rate`] a ratio compares.
type Figure = fn(&Rate) -> f64;

/// Per-round rates of each configuration on one path, indexed by [`Config`].
#[derive(Default)]
struct Rates([Vec<Rate>; 5]);

impl Rates {
    fn of(&self, config: Config) -> &[Rate] {
        &self.0[config as usize]
    }

    /// Median and interquartile range of the per-round ratios `a / b` of `figure`.
    fn ratio(&self, a: Config, b: Config, figure: Figure) -> Spread {
        let ratios = self
            .of(a)
            .iter()
            .zip(self.of(b))
            .map(|(x, y)| figure(x) / figure(y).max(1.0))
            .collect();
        Spread::of(ratios)
    }
}

/// Median and quartiles of a sample.
struct Spread {
    median: f64,
    q1: f64,
    q3: f64,
}

impl Spread {
    fn of(mut values: Vec<f64>) -> Spread {
        values.sort_by(|a, b| a.total_cmp(b));
        let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
        Spread {
            median: at(0.5),
            q1: at(0.25),
            q3: at(0.75),
        }
    }
}

fn ten_thousand_bans() -> Vec<Ban> {
    (0..BANS)
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
        .collect()
}

/// Packet rates over loopback, over veth (one-way UDP: new to conntrack) and over veth (established
/// UDP), every configuration in every round.
fn bench_packet_rate() -> [Rates; 3] {
    let mut server = Netns::new("srv");
    let mut client = Netns::new("cli");
    veth(&server, "veth0", &client, "veth0");
    for (ns, addr) in [(&mut server, SERVER), (&mut client, CLIENT)] {
        ns.add_address("veth0", addr);
        ns.link_up("veth0");
    }
    let bans = ten_thousand_bans();
    let warden = render_ruleset(
        &RuleSet::default(),
        &FirewallConfig::default(),
        &ApplyContext {
            resolved_hosts: Default::default(),
            bans: bans.clone(),
        },
    )
    .expect("render");
    let tables = Tables {
        ns: &server,
        backend: backend(&server),
        bans_only: render_bans_only(&bans),
        warden,
    };
    let softirq = softirq_threads();
    let veth_target: SocketAddr = format!("[{SERVER}]:9999").parse().unwrap();
    let loopback_target: SocketAddr = "[::1]:9998".parse().unwrap();
    let mut paths: [Rates; 3] = Default::default();
    let paths_len = paths.len();
    let secs = rate_secs();
    for round in 0..rate_rounds() {
        // One path at a time, so that the samples compared are adjacent in time; the order of the
        // configurations reversed from one path to the next.
        for (index, rates) in paths.iter_mut().enumerate() {
            let mut order = CONFIGS;
            if (round * paths_len + index) % 2 == 1 {
                order.reverse();
            }
            for &config in &order {
                tables.load(config);
                let rate = match index {
                    0 => udp_rate(
                        (&server, &server),
                        "::1",
                        loopback_target,
                        false,
                        secs,
                        &softirq,
                    ),
                    1 => udp_rate(
                        (&server, &client),
                        CLIENT,
                        veth_target,
                        false,
                        secs,
                        &softirq,
                    ),
                    _ => udp_rate(
                        (&server, &client),
                        CLIENT,
                        veth_target,
                        true,
                        secs,
                        &softirq,
                    ),
                };
                rates.0[config as usize].push(rate);
            }
        }
    }
    tables.load(Config::Warden);
    assert_eq!(
        tables.backend.bans().expect("bans").len(),
        BANS,
        "the kernel holds every ban"
    );
    tables.load(Config::None);
    paths
}

fn main() {
    if let Err(reason) = warden_testkit::netns::requirements() {
        println!("bench_firewall skipped: {reason}");
        return;
    }
    let (warden_apply, raw_apply) = bench_apply();
    let [loopback, veth, established] = bench_packet_rate();
    let apply_ratio = warden_apply / raw_apply;
    let verdict = |ok: bool| if ok { "ok" } else { "MISSED" };
    println!(
        "firewall benchmark ({RULES} rules x {HOSTS_PER_RULE} hosts = {} hosts; {BANS} banned /64s)",
        RULES * HOSTS_PER_RULE
    );
    println!(
        "{:<62} {:>12} {:>12} {:>8} {:>8} {:>7}",
        "measure", "warden", "baseline", "ratio", "target", ""
    );
    println!(
        "{:<62} {:>10.0}ms {:>10.0}ms {:>7.2}x {:>8} {:>7}",
        "apply: render + one nft -j transaction vs nft -f text",
        warden_apply * 1000.0,
        raw_apply * 1000.0,
        apply_ratio,
        "<=1.50x",
        verdict(apply_ratio <= 1.5)
    );
    println!(
        "(packet rates: {} interleaved rounds of {} s per configuration; ratio = median of the per-round",
        rate_rounds(),
        rate_secs()
    );
    println!(
        " ratios, their interquartile range in brackets; per CPU-second = datagrams past the firewall per"
    );
    println!(
        " second of CPU used by the sender, the receiver and softirq, which the load of a shared machine"
    );
    println!(" does not skew: the target is judged on it; wall-clock rates are shown too)");
    let per_sec: Figure = |r| r.per_sec;
    let per_cpu: Figure = |r| r.per_cpu_sec;
    let paths = [
        ("loopback", &loopback),
        ("veth, one-way UDP", &veth),
        ("veth, established UDP", &established),
    ];
    for (path, r) in paths {
        let ratio = r.ratio(Config::Warden, Config::Floor, per_cpu).median;
        let target = format!("{:>8} {:>7}", ">=97%", verdict(ratio >= 0.97));
        let rows: [(&str, Config, Config, Figure, &str); 8] = [
            (
                "Warden, 10 000 bans vs floor",
                Config::Warden,
                Config::Floor,
                per_cpu,
                &target,
            ),
            (
                "floor + prerouting (bans) vs floor",
                Config::FloorPrerouting,
                Config::Floor,
                per_cpu,
                "(split)",
            ),
            (
                "floor + empty prerouting hook vs floor (hook)",
                Config::FloorHook,
                Config::Floor,
                per_cpu,
                "(split)",
            ),
            (
                "floor + prerouting (bans) vs empty hook (rules)",
                Config::FloorPrerouting,
                Config::FloorHook,
                per_cpu,
                "(split)",
            ),
            (
                "Warden vs floor + prerouting (input)",
                Config::Warden,
                Config::FloorPrerouting,
                per_cpu,
                "(split)",
            ),
            (
                "floor vs no firewall",
                Config::Floor,
                Config::None,
                per_cpu,
                "(info)",
            ),
            (
                "Warden vs no firewall",
                Config::Warden,
                Config::None,
                per_cpu,
                "(info)",
            ),
            (
                "wall-clock, Warden vs floor",
                Config::Warden,
                Config::Floor,
                per_sec,
                "(info)",
            ),
        ];
        for (label, measured, baseline, figure, judged) in rows {
            print_rate_row(
                &format!("{path}: {label}"),
                r,
                measured,
                baseline,
                figure,
                judged,
            );
        }
    }
}

/// One packet-rate line: both medians, the median of the per-round ratios and their IQR.
fn print_rate_row(
    label: &str,
    rates: &Rates,
    measured: Config,
    baseline: Config,
    figure: Figure,
    judged: &str,
) {
    let med = |config| Spread::of(rates.of(config).iter().map(figure).collect()).median;
    let ratio = rates.ratio(measured, baseline, figure);
    println!(
        "{:<62} {:>10.0}/s {:>10.0}/s {:>7.1}% {:<16}  [{:.1}-{:.1}%]",
        label,
        med(measured),
        med(baseline),
        ratio.median * 100.0,
        judged,
        ratio.q1 * 100.0,
        ratio.q3 * 100.0
    );
}
