//! Real kernel, real packets (root only): rule sets applied with the real backend inside a server
//! namespace, checked with TCP connects and UDP probes from a client namespace over a veth pair.
#![cfg(feature = "nft")]
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::time::{Duration, Instant};

use common::{
    require_root_netns, rule, NsBackend, Pair, CLIENT_V4, CLIENT_V6, SERVER_V4, SERVER_V6,
};
use warden_firewall::backend::{NftBackend, NftError};
use warden_firewall::{
    preset, render_ruleset, Action, ApplyContext, Direction, FirewallConfig, IpVersion, Policy,
    Protocol, Rule, RuleSet,
};
use warden_testkit::{probe, probe_all, wait_for_outcome, Listener, Outcome, Probe};
use Outcome::{Dropped, Open, Refused};

fn ports(p: &[&str]) -> Vec<String> {
    p.iter().map(|s| s.to_string()).collect()
}

fn apply(backend: &NftBackend, rules: Vec<Rule>, config: &FirewallConfig, ctx: &ApplyContext) {
    let rendered = render_ruleset(&RuleSet::new(rules), config, ctx).expect("render");
    backend.apply(&rendered).expect("apply");
}

/// `(tcp, port)` probes from the client's first address to the server, v4 and v6.
fn both_families(tcp: bool, port: u16, src_index: usize) -> [Probe; 2] {
    let make = if tcp { Probe::tcp } else { Probe::udp };
    [
        make(Some(CLIENT_V4[src_index]), SERVER_V4, port),
        make(Some(CLIENT_V6[src_index]), SERVER_V6, port),
    ]
}

fn expect(pair: &Pair, cases: &[(Probe, Outcome)]) {
    let probes: Vec<Probe> = cases.iter().map(|(p, _)| p.clone()).collect();
    let got = probe_all(&pair.client, &probes);
    for ((p, want), got) in cases.iter().zip(got) {
        assert_eq!(got, *want, "{p:?}");
    }
}

fn cases(tcp: bool, port: u16, src: usize, want: Outcome) -> Vec<(Probe, Outcome)> {
    both_families(tcp, port, src)
        .into_iter()
        .map(|p| (p, want))
        .collect()
}

#[test]
fn default_state_blocks_service_range_from_outside_but_not_loopback() {
    if !require_root_netns() {
        return;
    }
    let pair = Pair::new();
    let backend = pair.server.backend();
    assert!(backend.probe().available);
    let _listener = Listener::start(&pair.server, &[8300, 8499, 8080], &[8300, 8450]);
    // Before any apply everything is open.
    expect(&pair, &cases(true, 8300, 0, Open));
    apply(
        &backend,
        vec![],
        &FirewallConfig::default(),
        &ApplyContext::default(),
    );
    let mut all = Vec::new();
    all.extend(cases(true, 8300, 0, Dropped));
    all.extend(cases(true, 8499, 0, Dropped));
    all.extend(cases(false, 8300, 0, Dropped));
    all.extend(cases(false, 8450, 0, Dropped));
    all.extend(cases(true, 8080, 0, Open));
    expect(&pair, &all);
    let local = [
        Probe::tcp(None, "127.0.0.1", 8300),
        Probe::tcp(None, "::1", 8499),
        Probe::tcp(None, SERVER_V4, 8300),
        Probe::tcp(None, SERVER_V6, 8300),
        Probe::udp(None, "127.0.0.1", 8300),
        Probe::udp(None, "::1", 8450),
    ];
    assert_eq!(probe_all(&pair.server, &local), vec![Open; local.len()]);
}

#[test]
fn accept_reject_drop_order_and_disabled_rules() {
    if !require_root_netns() {
        return;
    }
    let pair = Pair::new();
    let backend = pair.server.backend();
    let tcp_ports = [8300, 8301, 8302, 8303, 8304];
    let _listener = Listener::start(&pair.server, &tcp_ports, &[8300, 8301, 8305]);
    let rules = vec![
        rule("rej-tcp", |r| {
            r.protocol = Protocol::Tcp;
            r.action = Action::Reject;
            r.ports = ports(&["8301"]);
        }),
        rule("drop-first", |r| {
            r.action = Action::Drop;
            r.ports = ports(&["8302"]);
        }),
        rule("rej-any", |r| {
            r.action = Action::Reject;
            r.ports = ports(&["8303", "8305"]);
        }),
        rule("disabled", |r| {
            r.enabled = false;
            r.ports = ports(&["8304"]);
        }),
        rule("open-range", |r| r.ports = ports(&["8300-8303"])),
    ];
    apply(
        &backend,
        rules,
        &FirewallConfig::default(),
        &ApplyContext::default(),
    );
    let mut all = Vec::new();
    all.extend(cases(true, 8300, 0, Open));
    all.extend(cases(false, 8300, 0, Open));
    all.extend(cases(true, 8301, 0, Refused));
    all.extend(cases(false, 8301, 0, Open)); // rej-tcp is TCP only
    all.extend(cases(true, 8302, 0, Dropped)); // top rule wins over open-range
    all.extend(cases(true, 8303, 0, Refused)); // icmpx port-unreachable
    all.extend(cases(false, 8305, 0, Refused));
    all.extend(cases(true, 8304, 0, Dropped)); // disabled accept is inert: guard drops
    expect(&pair, &all);
    let counters = backend.counters().unwrap();
    assert!(counters["open-range"].packets >= 4, "{counters:?}");
    assert!(counters["rej-tcp"].packets >= 2, "{counters:?}");
    assert!(!counters.contains_key("disabled"));
}

#[test]
fn host_filters_v4_v6_and_hostnames() {
    if !require_root_netns() {
        return;
    }
    let pair = Pair::new();
    let backend = pair.server.backend();
    let _listener = Listener::start(&pair.server, &[8300, 8301, 8302], &[]);
    let mut ctx = ApplyContext::default();
    ctx.resolved_hosts.insert(
        "second.client.test".into(),
        vec![CLIENT_V4[1].parse().unwrap(), CLIENT_V6[1].parse().unwrap()],
    );
    let rules = vec![
        rule("first-only", |r| {
            r.hosts = vec![CLIENT_V4[0].into(), CLIENT_V6[0].into()];
            r.ports = ports(&["8300"]);
        }),
        rule("v6-net", |r| {
            r.ip_version = IpVersion::V6;
            r.hosts = vec!["2001:db8:1::/64".into()];
            r.ports = ports(&["8301"]);
        }),
        rule("by-name", |r| {
            r.hosts = vec!["second.client.test".into()];
            r.ports = ports(&["8302"]);
        }),
    ];
    apply(
        &backend,
        rules,
        &FirewallConfig::default(),
        &ApplyContext { ..ctx },
    );
    let mut all = Vec::new();
    all.extend(cases(true, 8300, 0, Open));
    all.extend(cases(true, 8300, 1, Dropped));
    all.push((Probe::tcp(Some(CLIENT_V4[0]), SERVER_V4, 8301), Dropped));
    all.push((Probe::tcp(Some(CLIENT_V6[1]), SERVER_V6, 8301), Open));
    all.extend(cases(true, 8302, 1, Open));
    all.extend(cases(true, 8302, 0, Dropped));
    expect(&pair, &all);
}

#[test]
fn preset_opens_its_port_under_a_drop_policy_and_anti_lockout_holds() {
    if !require_root_netns() {
        return;
    }
    let pair = Pair::new();
    let backend = pair.server.backend();
    let _listener = Listener::start(&pair.server, &[5432, 5433, 22, 8080], &[]);
    let config = FirewallConfig {
        default_inbound_policy: Policy::Drop,
        admin_port: 8080,
        anti_lockout: vec![CLIENT_V4[0].parse().unwrap(), CLIENT_V6[0].parse().unwrap()],
        ..FirewallConfig::default()
    };
    let mut rules: Vec<Rule> = vec![rule("drop-everything", |r| r.action = Action::Drop)];
    apply(&backend, rules.clone(), &config, &ApplyContext::default());
    let mut all = Vec::new();
    all.extend(cases(true, 8080, 0, Open)); // anti-lockout
    all.extend(cases(true, 22, 0, Open));
    all.extend(cases(true, 8080, 1, Dropped));
    all.extend(cases(true, 5432, 0, Dropped));
    expect(&pair, &all);

    rules.clear();
    for (n, input) in preset("postgresql").unwrap().rules.into_iter().enumerate() {
        rules.push(input.into_rule(format!("pg{n}")).unwrap());
    }
    apply(&backend, rules, &config, &ApplyContext::default());
    let mut all = Vec::new();
    all.extend(cases(true, 5432, 1, Open));
    all.extend(cases(true, 5433, 1, Dropped));
    expect(&pair, &all);
}

#[test]
fn out_rules_filter_local_connections() {
    if !require_root_netns() {
        return;
    }
    let pair = Pair::new();
    let backend = pair.server.backend();
    let _listener = Listener::start(&pair.client, &[9000, 9001, 9002], &[9003]);
    let rules = vec![
        rule("rej-out", |r| {
            r.direction = Direction::Out;
            r.protocol = Protocol::Tcp;
            r.action = Action::Reject;
            r.hosts = vec![CLIENT_V4[0].into(), CLIENT_V6[0].into()];
            r.ports = ports(&["9000"]);
        }),
        rule("drop-out", |r| {
            r.direction = Direction::Out;
            r.action = Action::Drop;
            r.ports = ports(&["9001", "9003"]);
        }),
    ];
    apply(
        &backend,
        rules,
        &FirewallConfig::default(),
        &ApplyContext::default(),
    );
    let probes = [
        (Probe::tcp(None, CLIENT_V4[0], 9000), Refused),
        (Probe::tcp(None, CLIENT_V6[0], 9000), Refused),
        (Probe::tcp(None, CLIENT_V4[1], 9000), Open),
        (Probe::tcp(None, CLIENT_V4[0], 9001), Dropped),
        (Probe::udp(None, CLIENT_V6[1], 9003), Dropped),
        (Probe::tcp(None, CLIENT_V6[1], 9002), Open),
    ];
    let got = probe_all(
        &pair.server,
        &probes.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>(),
    );
    for ((p, want), got) in probes.iter().zip(got) {
        assert_eq!(got, *want, "{p:?}");
    }
}

#[test]
fn bans_block_expire_by_themselves_survive_apply_and_unban_restores() {
    if !require_root_netns() {
        return;
    }
    let pair = Pair::new();
    let backend = pair.server.backend();
    let _listener = Listener::start(&pair.server, &[8300], &[]);
    let rules = vec![rule("open", |r| r.ports = ports(&["8300"]))];
    let config = FirewallConfig::default();
    apply(&backend, rules.clone(), &config, &ApplyContext::default());
    expect(&pair, &cases(true, 8300, 0, Open));

    // IPv4: banned for 2 s, then open again by itself.
    backend.ban(CLIENT_V4[0].parse().unwrap(), 2).unwrap();
    let banned_at = Instant::now();
    let bans = backend.bans().unwrap();
    assert_eq!(bans.len(), 1, "{bans:?}");
    assert_eq!(bans[0].network.to_string(), CLIENT_V4[0]);
    assert!(bans[0].expires_in_secs.unwrap() <= 2);
    expect(
        &pair,
        &[
            (Probe::tcp(Some(CLIENT_V4[0]), SERVER_V4, 8300), Dropped),
            (Probe::tcp(Some(CLIENT_V4[1]), SERVER_V4, 8300), Open),
        ],
    );
    wait_for_outcome(
        &pair.client,
        Probe::tcp(Some(CLIENT_V4[0]), SERVER_V4, 8300),
        Open,
        Duration::from_secs(8),
    );
    assert!(banned_at.elapsed() >= Duration::from_millis(1500));
    assert!(backend.bans().unwrap().is_empty());

    // IPv6: the whole /64 is banned; unban restores at once.
    backend.ban(CLIENT_V6[0].parse().unwrap(), 600).unwrap();
    assert_eq!(
        backend.bans().unwrap()[0].network.to_string(),
        "2001:db8:1::/64"
    );
    expect(
        &pair,
        &[
            (Probe::tcp(Some(CLIENT_V6[0]), SERVER_V6, 8300), Dropped),
            (Probe::tcp(Some(CLIENT_V6[1]), SERVER_V6, 8300), Dropped),
        ],
    );
    // Re-applying with the live bans carried over keeps the ban.
    let ctx = ApplyContext {
        bans: backend.bans().unwrap(),
        ..ApplyContext::default()
    };
    apply(&backend, rules, &config, &ctx);
    assert_eq!(
        probe(
            &pair.client,
            Probe::tcp(Some(CLIENT_V6[1]), SERVER_V6, 8300)
        ),
        Dropped
    );
    backend.unban(CLIENT_V6[1].parse().unwrap()).unwrap();
    backend.unban(CLIENT_V6[1].parse().unwrap()).unwrap(); // idempotent
    expect(&pair, &cases(true, 8300, 0, Open));
}

#[test]
fn failed_apply_keeps_previous_state_and_snapshots_roll_back() {
    if !require_root_netns() {
        return;
    }
    let pair = Pair::new();
    let backend = pair.server.backend();
    let _listener = Listener::start(&pair.server, &[8300, 8301], &[]);
    let config = FirewallConfig::default();

    let empty = backend.snapshot().unwrap();
    assert_eq!(empty.table, None);
    apply(
        &backend,
        vec![rule("a", |r| r.ports = ports(&["8300"]))],
        &config,
        &ApplyContext::default(),
    );
    let fingerprint_a = backend.fingerprint().unwrap().unwrap();
    let snapshot_a = backend.snapshot().unwrap();

    // A batch nft refuses: nothing changes and nft's message comes back.
    let mut broken =
        render_ruleset(&RuleSet::default(), &config, &ApplyContext::default()).unwrap();
    let commands = broken.batch["nftables"].as_array_mut().unwrap();
    commands.push(
        serde_json::json!({"add": {"rule": {"family": "inet", "table": "warden",
        "chain": "no-such-chain", "expr": [{"accept": null}]}}}),
    );
    match backend.apply(&broken) {
        Err(NftError::Failed { stderr, .. }) => assert!(stderr.contains("Error"), "{stderr}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(backend.fingerprint().unwrap().unwrap(), fingerprint_a);
    expect(&pair, &cases(true, 8300, 0, Open));

    // Apply B, then roll back to A exactly, then to "no table".
    apply(
        &backend,
        vec![rule("b", |r| r.ports = ports(&["8301"]))],
        &config,
        &ApplyContext::default(),
    );
    expect(
        &pair,
        &[(Probe::tcp(Some(CLIENT_V4[0]), SERVER_V4, 8300), Dropped)],
    );
    backend.restore(&snapshot_a).unwrap();
    assert_eq!(backend.fingerprint().unwrap().unwrap(), fingerprint_a);
    expect(&pair, &cases(true, 8300, 0, Open));
    expect(&pair, &cases(true, 8301, 0, Dropped));
    backend.restore(&empty).unwrap();
    assert_eq!(backend.fingerprint().unwrap(), None);
    expect(&pair, &cases(true, 8301, 0, Open));
    backend.delete_table().unwrap(); // idempotent
}

/// A rollback snapshot stored by the first Warden release (`nft list table` text of its layout:
/// interval ban sets, bans checked in `input`, no raw chains, an `output` chain always).
const SESSION1_SNAPSHOT: &str = include_str!("fixtures/session1_table.nft");

#[test]
fn rollback_restores_an_older_layout_snapshot_and_keeps_the_live_bans() {
    if !require_root_netns() {
        return;
    }
    // Warden was upgraded inside a commit-confirm window: the pending rollback holds a snapshot
    // of the old layout, the kernel holds the new layout with a ban made since.
    let pair = Pair::new();
    let backend = pair.server.backend();
    let _listener = Listener::start(&pair.server, &[8300, 8301], &[]);
    apply(
        &backend,
        vec![rule("new", |r| r.ports = ports(&["8301"]))],
        &FirewallConfig::default(),
        &ApplyContext::default(),
    );
    backend.ban(CLIENT_V4[0].parse().unwrap(), 600).unwrap();
    let old = warden_firewall::backend::Snapshot {
        table: Some(SESSION1_SNAPSHOT.to_string()),
    };
    backend.restore(&old).unwrap();

    let live = backend.live_table_text().unwrap().unwrap();
    assert!(live.contains("flags interval,timeout"), "{live}");
    assert!(!live.contains("chain prerouting"), "{live}");
    let bans = backend.bans().unwrap();
    assert_eq!(bans.len(), 1, "the live ban is carried over: {bans:?}");
    assert_eq!(bans[0].network.to_string(), CLIENT_V4[0]);
    expect(
        &pair,
        &[
            (Probe::tcp(Some(CLIENT_V4[0]), SERVER_V4, 8300), Dropped),
            (Probe::tcp(Some(CLIENT_V4[1]), SERVER_V4, 8300), Open),
            (Probe::tcp(Some(CLIENT_V4[1]), SERVER_V4, 8301), Dropped),
            (Probe::tcp(Some(CLIENT_V6[0]), SERVER_V6, 8300), Open),
        ],
    );
}

#[test]
fn drift_is_visible_in_the_fingerprint() {
    if !require_root_netns() {
        return;
    }
    let pair = Pair::new();
    let backend = pair.server.backend();
    apply(
        &backend,
        vec![],
        &FirewallConfig::default(),
        &ApplyContext::default(),
    );
    let applied = backend.fingerprint().unwrap();
    assert!(applied.is_some());
    // Counters and bans change without drift.
    backend.ban("203.0.113.5".parse().unwrap(), 60).unwrap();
    assert_eq!(backend.fingerprint().unwrap(), applied);
    pair.server.exec(&["nft", "flush", "ruleset"]);
    assert_ne!(backend.fingerprint().unwrap(), applied);
}

#[test]
fn probe_reports_a_missing_program() {
    let capability = NftBackend::new("/nonexistent/nft").probe();
    assert!(!capability.available);
    assert!(capability.reason.unwrap().contains("not found"));
}
