//! Differential test (root only): for random rule sets and random probes, the pure evaluator's
//! verdict equals what the kernel does with real packets between two namespaces. The seed is fixed
//! (override with `WARDEN_DIFF_SEED=<n>`); every mismatch is reported with its rule set.
#![cfg(feature = "nft")]
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::collections::BTreeMap;
use std::net::IpAddr;

use common::{require_root_netns, NsBackend, Pair, CLIENT_V4, CLIENT_V6, SERVER_V4, SERVER_V6};
use warden_firewall::{
    compile_lenient, evaluate_compiled, render_ruleset, Action, ApplyContext, Ban, Direction,
    FirewallConfig, IpVersion, Packet, PacketProtocol, Policy, Protocol, Rule, RuleSet,
};
use warden_testkit::{probe_all, probe_all_within, Listener, Outcome, Probe};

const RULE_SETS: usize = 24;
const PROBES_PER_SET: usize = 12;
/// The silence timeout of a second look at a probe that seemed dropped.
const PATIENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);
const PORTS: [u16; 9] = [22, 8080, 8300, 8301, 8350, 8499, 8500, 9000, 9001];
const HOSTS: [&str; 13] = [
    "192.0.2.2",
    "192.0.2.3",
    "192.0.2.0/30",
    "192.0.2.2/31",
    "192.0.2.0/24",
    "198.51.100.0/24",
    "2001:db8:1::2",
    "2001:db8:1::3",
    "2001:db8:1::/64",
    "2001:db8:1::2/127",
    "2001:db8:2::/64",
    "client3.test",
    "2001:db8:1::3/128",
];
const RULE_PORTS: [&str; 10] = [
    "22",
    "8080",
    "8300",
    "8301:8350",
    "8300-8499",
    "8499",
    "8500",
    "9000:9001",
    "0:65535",
    "1:8300",
];

/// xorshift64*: small, seeded, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn random_rule(rng: &mut Rng, index: usize) -> Rule {
    let ip_version = *rng.pick(&[IpVersion::V4, IpVersion::V6, IpVersion::Any, IpVersion::Any]);
    let mut hosts = Vec::new();
    if rng.chance(50) {
        for _ in 0..1 + rng.below(3) {
            let host = *rng.pick(&HOSTS);
            let is_v4 = host.starts_with("19");
            let is_v6 = host.contains(':');
            let fits = match ip_version {
                IpVersion::V4 => !is_v6,
                IpVersion::V6 => !is_v4,
                IpVersion::Any => true,
            };
            if fits {
                hosts.push(host.to_string());
            }
        }
    }
    let ports = if rng.chance(75) {
        (0..1 + rng.below(2))
            .map(|_| rng.pick(&RULE_PORTS).to_string())
            .collect()
    } else {
        Vec::new()
    };
    Rule {
        id: format!("r{index}"),
        position: 0,
        enabled: rng.chance(85),
        protocol: *rng.pick(&[Protocol::Tcp, Protocol::Udp, Protocol::Any]),
        action: *rng.pick(&[Action::Accept, Action::Drop, Action::Reject]),
        direction: if rng.chance(70) {
            Direction::In
        } else {
            Direction::Out
        },
        hosts,
        ports,
        ip_version,
        annotation: String::new(),
    }
}

fn random_setup(rng: &mut Rng) -> (RuleSet, FirewallConfig, ApplyContext) {
    let rules = (0..rng.below(7)).map(|i| random_rule(rng, i)).collect();
    let anti_lockout = match rng.below(4) {
        0 => vec![CLIENT_V4[1].parse().unwrap()],
        1 => vec![CLIENT_V6[1].parse().unwrap()],
        _ => vec![],
    };
    let config = FirewallConfig {
        default_inbound_policy: if rng.chance(40) {
            Policy::Drop
        } else {
            Policy::Accept
        },
        admin_port: 8080,
        anti_lockout,
        ..FirewallConfig::default()
    };
    let mut resolved = BTreeMap::new();
    resolved.insert(
        "client3.test".to_string(),
        vec![
            CLIENT_V4[1].parse::<IpAddr>().unwrap(),
            CLIENT_V6[1].parse().unwrap(),
        ],
    );
    let bans = match rng.below(5) {
        0 => vec![Ban {
            network: CLIENT_V4[1].parse().unwrap(),
            expires_in_secs: Some(600),
        }],
        1 => vec![Ban {
            network: "2001:db8:1::/64".parse().unwrap(),
            expires_in_secs: Some(600),
        }],
        _ => vec![],
    };
    (
        RuleSet::new(rules),
        config,
        ApplyContext {
            resolved_hosts: resolved,
            bans,
        },
    )
}

struct Case {
    packet: Packet,
    probe: Probe,
}

fn random_case(rng: &mut Rng) -> Case {
    let tcp = rng.chance(50);
    let port = *rng.pick(&PORTS);
    let v6 = rng.chance(50);
    let client = if v6 {
        *rng.pick(&CLIENT_V6)
    } else {
        *rng.pick(&CLIENT_V4)
    };
    let server = if v6 { SERVER_V6 } else { SERVER_V4 };
    let inbound = rng.chance(70);
    let (src, dst) = if inbound {
        (client, server)
    } else {
        (server, client)
    };
    let protocol = if tcp {
        PacketProtocol::Tcp
    } else {
        PacketProtocol::Udp
    };
    let (src_ip, dst_ip) = (src.parse().unwrap(), dst.parse().unwrap());
    let packet = if inbound {
        Packet::inbound(src_ip, dst_ip, protocol, port)
    } else {
        Packet::outbound(src_ip, dst_ip, protocol, port)
    };
    let probe = if tcp {
        Probe::tcp(Some(src), dst, port)
    } else {
        Probe::udp(Some(src), dst, port)
    };
    Case { packet, probe }
}

fn expected(action: Action) -> Outcome {
    match action {
        Action::Accept => Outcome::Open,
        Action::Drop => Outcome::Dropped,
        Action::Reject => Outcome::Refused,
    }
}

#[test]
fn evaluator_agrees_with_the_kernel() {
    if !require_root_netns() {
        return;
    }
    let seed = std::env::var("WARDEN_DIFF_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_F1BE_u64);
    eprintln!("differential seed: {seed}");
    let mut rng = Rng(seed.max(1));
    let pair = Pair::new();
    let backend = pair.server.backend();
    let _server_listener = Listener::start(&pair.server, &PORTS, &PORTS);
    let _client_listener = Listener::start(&pair.client, &PORTS, &PORTS);

    let mut cases_run = 0;
    let mut mismatches = Vec::new();
    for set_index in 0..RULE_SETS {
        let (rules, config, context) = random_setup(&mut rng);
        let rendered = render_ruleset(&rules, &config, &context).expect("valid random rule set");
        backend.apply(&rendered).expect("apply");
        let compiled = compile_lenient(&rules, &config, &context);
        let cases: Vec<Case> = (0..PROBES_PER_SET).map(|_| random_case(&mut rng)).collect();
        let (inbound, outbound): (Vec<&Case>, Vec<&Case>) = cases
            .iter()
            .partition(|c| c.packet.direction == Direction::In);
        for (ns, group) in [(&pair.client, inbound), (&pair.server, outbound)] {
            let probes: Vec<Probe> = group.iter().map(|c| c.probe.clone()).collect();
            let outcomes = probe_all(ns, &probes);
            for (case, mut got) in group.iter().zip(outcomes) {
                cases_run += 1;
                let verdict = evaluate_compiled(&compiled, &case.packet);
                if got == Outcome::Dropped && expected(verdict.action) != Outcome::Dropped {
                    // Silence within the short timeout; on a loaded machine the answer may just be
                    // late. Ask once more, patiently, before calling it a disagreement.
                    got =
                        probe_all_within(ns, std::slice::from_ref(&case.probe), PATIENT_TIMEOUT)[0];
                }
                if got != expected(verdict.action) {
                    mismatches.push(format!(
                        "set {set_index}: {:?} → kernel {got:?}, evaluator {verdict:?}\n{}",
                        case.packet, rendered.text
                    ));
                }
            }
        }
    }
    eprintln!(
        "differential: {cases_run} cases, {} mismatches",
        mismatches.len()
    );
    assert!(cases_run >= 200, "only {cases_run} cases");
    assert!(
        mismatches.is_empty(),
        "{} of {cases_run} cases disagree:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
