//! Evaluator and exposure tables: order (top wins), disabled rules inert, host filters, v4/v6,
//! the service-range guard, the default policy, anti-lockout, bans; and presets.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::net::IpAddr;

mod common;

use common::rule;
use warden_firewall::{
    evaluate, exposure, exposure_hostnames, preset, preset_is_open, preset_rule_ids, presets,
    Action, ApplyContext, Ban, DecidedBy, Direction, FirewallConfig, IpVersion, Packet,
    PacketProtocol, Policy, Protocol, RuleSet,
};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn tcp_in(src: &str, port: u16) -> Packet {
    let dst = if src.contains(':') {
        "2001:db8:1::1"
    } else {
        "192.0.2.1"
    };
    Packet::inbound(ip(src), ip(dst), PacketProtocol::Tcp, port)
}

fn udp_in(src: &str, port: u16) -> Packet {
    Packet {
        protocol: PacketProtocol::Udp,
        ..tcp_in(src, port)
    }
}

fn verdict(rules: &RuleSet, config: &FirewallConfig, packet: Packet) -> (Action, DecidedBy) {
    let v = evaluate(rules, config, &ApplyContext::default(), &packet);
    (v.action, v.decided_by)
}

fn by(id: &str) -> DecidedBy {
    DecidedBy::Rule(id.to_string())
}

#[test]
fn defaults_guard_the_service_range_only() {
    let rules = RuleSet::default();
    let config = FirewallConfig::default();
    assert_eq!(
        verdict(&rules, &config, tcp_in("198.51.100.5", 8300)),
        (Action::Drop, DecidedBy::ServiceRangeGuard)
    );
    assert_eq!(
        verdict(&rules, &config, udp_in("2001:db8:9::5", 8499)),
        (Action::Drop, DecidedBy::ServiceRangeGuard)
    );
    assert_eq!(
        verdict(&rules, &config, tcp_in("198.51.100.5", 8500)),
        (Action::Accept, DecidedBy::DefaultPolicy)
    );
    let mut lo = tcp_in("127.0.0.1", 8300);
    lo.loopback = true;
    assert_eq!(
        verdict(&rules, &config, lo),
        (Action::Accept, DecidedBy::Loopback)
    );
    let mut est = tcp_in("198.51.100.5", 8300);
    est.new_connection = false;
    assert_eq!(
        verdict(&rules, &config, est),
        (Action::Accept, DecidedBy::Established)
    );
    let drop_policy = FirewallConfig {
        default_inbound_policy: Policy::Drop,
        ..FirewallConfig::default()
    };
    assert_eq!(
        verdict(&rules, &drop_policy, tcp_in("198.51.100.5", 80)),
        (Action::Drop, DecidedBy::DefaultPolicy)
    );
}

#[test]
fn top_rule_wins_and_disabled_rules_are_inert() {
    let config = FirewallConfig::default();
    let rules = RuleSet::new(vec![
        rule("off", |r| {
            r.enabled = false;
            r.action = Action::Accept;
        }),
        rule("rej", |r| {
            r.action = Action::Reject;
            r.ports = vec!["8300".into()];
        }),
        rule("acc", |r| r.ports = vec!["8300:8310".into()]),
    ]);
    assert_eq!(
        verdict(&rules, &config, tcp_in("198.51.100.5", 8300)),
        (Action::Reject, by("rej"))
    );
    assert_eq!(
        verdict(&rules, &config, tcp_in("198.51.100.5", 8301)),
        (Action::Accept, by("acc"))
    );
    assert_eq!(
        verdict(&rules, &config, tcp_in("198.51.100.5", 8311)),
        (Action::Drop, DecidedBy::ServiceRangeGuard)
    );
}

#[test]
fn protocols_hosts_and_versions() {
    let config = FirewallConfig::default();
    let rules = RuleSet::new(vec![
        rule("udp-only", |r| {
            r.protocol = Protocol::Udp;
            r.ports = vec!["8400".into()];
        }),
        rule("net", |r| {
            r.hosts = vec!["198.51.100.0/24".into(), "2001:db8:7::/48".into()];
            r.ports = vec!["8301".into()];
        }),
        rule("v6-only", |r| {
            r.ip_version = IpVersion::V6;
            r.ports = vec!["8302".into()];
        }),
        rule("named", |r| {
            r.hosts = vec!["peer.example".into()];
            r.ports = vec!["8303".into()];
        }),
    ]);
    assert_eq!(
        verdict(&rules, &config, udp_in("203.0.113.1", 8400)),
        (Action::Accept, by("udp-only"))
    );
    assert_eq!(
        verdict(&rules, &config, tcp_in("203.0.113.1", 8400)).1,
        DecidedBy::ServiceRangeGuard
    );
    assert_eq!(
        verdict(&rules, &config, tcp_in("198.51.100.77", 8301)).1,
        by("net")
    );
    assert_eq!(
        verdict(&rules, &config, tcp_in("2001:db8:7:1::9", 8301)).1,
        by("net")
    );
    assert_eq!(
        verdict(&rules, &config, tcp_in("203.0.113.1", 8301)).1,
        DecidedBy::ServiceRangeGuard
    );
    assert_eq!(
        verdict(&rules, &config, tcp_in("2001:db8:9::1", 8302)).1,
        by("v6-only")
    );
    assert_eq!(
        verdict(&rules, &config, tcp_in("203.0.113.1", 8302)).1,
        DecidedBy::ServiceRangeGuard
    );
    // An unresolved hostname matches nothing; once resolved it matches its addresses only.
    assert_eq!(
        verdict(&rules, &config, tcp_in("203.0.113.50", 8303)).1,
        DecidedBy::ServiceRangeGuard
    );
    let mut context = ApplyContext::default();
    context
        .resolved_hosts
        .insert("peer.example".into(), vec![ip("203.0.113.50")]);
    let v = evaluate(&rules, &config, &context, &tcp_in("203.0.113.50", 8303));
    assert_eq!(v.decided_by, by("named"));
    let v = evaluate(&rules, &config, &context, &tcp_in("203.0.113.51", 8303));
    assert_eq!(v.decided_by, DecidedBy::ServiceRangeGuard);
}

#[test]
fn out_rules_match_destination_and_never_inbound() {
    let config = FirewallConfig::default();
    let rules = RuleSet::new(vec![rule("no-smtp", |r| {
        r.direction = Direction::Out;
        r.action = Action::Reject;
        r.protocol = Protocol::Tcp;
        r.hosts = vec!["192.0.2.200".into()];
        r.ports = vec!["25".into()];
    })]);
    let out = Packet::outbound(ip("192.0.2.1"), ip("192.0.2.200"), PacketProtocol::Tcp, 25);
    assert_eq!(
        verdict(&rules, &config, out),
        (Action::Reject, by("no-smtp"))
    );
    let other = Packet::outbound(ip("192.0.2.1"), ip("192.0.2.201"), PacketProtocol::Tcp, 25);
    assert_eq!(
        verdict(&rules, &config, other),
        (Action::Accept, DecidedBy::DefaultPolicy)
    );
    assert_eq!(
        verdict(&rules, &config, tcp_in("192.0.2.200", 25)).1,
        DecidedBy::DefaultPolicy
    );
}

#[test]
fn anti_lockout_covers_the_configured_ssh_ports_instead_of_22() {
    let config = FirewallConfig {
        admin_port: 8080,
        ssh_ports: vec![2222, 22222],
        anti_lockout: vec![ip("198.51.100.7")],
        default_inbound_policy: Policy::Drop,
        ..FirewallConfig::default()
    };
    assert_eq!(config.anti_lockout_ports(), vec![2222, 8080, 22222]);
    let rules = RuleSet::new(vec![rule("drop-all", |r| r.action = Action::Drop)]);
    let context = ApplyContext::default();
    let eval = |p| {
        let v = evaluate(&rules, &config, &context, &p);
        (v.action, v.decided_by)
    };
    for port in [2222, 22222, 8080] {
        assert_eq!(
            eval(tcp_in("198.51.100.7", port)),
            (Action::Accept, DecidedBy::AntiLockout),
            "port {port}"
        );
    }
    assert_eq!(
        eval(tcp_in("198.51.100.7", 22)),
        (Action::Drop, by("drop-all")),
        "22 is not SSH here"
    );
    assert_eq!(
        eval(tcp_in("203.0.113.9", 2222)),
        (Action::Drop, by("drop-all")),
        "only anti-lockout addresses"
    );
}

#[test]
fn anti_lockout_beats_bans_and_rules_and_bans_beat_rules() {
    let config = FirewallConfig {
        admin_port: 8080,
        anti_lockout: vec![ip("198.51.100.7")],
        default_inbound_policy: Policy::Drop,
        ..FirewallConfig::default()
    };
    let rules = RuleSet::new(vec![rule("drop-all", |r| r.action = Action::Drop)]);
    let context = ApplyContext {
        resolved_hosts: Default::default(),
        bans: vec![
            Ban {
                network: "198.51.100.7".parse().unwrap(),
                expires_in_secs: Some(60),
            },
            Ban {
                network: "203.0.113.9".parse().unwrap(),
                expires_in_secs: Some(60),
            },
            Ban {
                network: "2001:db8:bad::/64".parse().unwrap(),
                expires_in_secs: None,
            },
        ],
    };
    let eval = |p| {
        let v = evaluate(&rules, &config, &context, &p);
        (v.action, v.decided_by)
    };
    assert_eq!(
        eval(tcp_in("198.51.100.7", 8080)),
        (Action::Accept, DecidedBy::AntiLockout)
    );
    assert_eq!(
        eval(tcp_in("198.51.100.7", 22)),
        (Action::Accept, DecidedBy::AntiLockout)
    );
    assert_eq!(
        eval(udp_in("198.51.100.7", 22)),
        (Action::Drop, by("drop-all"))
    );
    assert_eq!(
        eval(tcp_in("198.51.100.7", 443)),
        (Action::Drop, by("drop-all")),
        "anti-lockout address is not banned"
    );
    assert_eq!(
        eval(tcp_in("203.0.113.9", 22)),
        (Action::Drop, DecidedBy::Ban)
    );
    // Bans are checked before connection tracking: a banned source's open connections are cut too.
    let mut established = tcp_in("203.0.113.9", 443);
    established.new_connection = false;
    assert_eq!(eval(established), (Action::Drop, DecidedBy::Ban));
    let mut established = tcp_in("198.51.100.8", 443);
    established.new_connection = false;
    assert_eq!(eval(established), (Action::Accept, DecidedBy::Established));
    // Nothing can be exchanged with a banned address: the replies to an outbound connection are
    // dropped before connection tracking.
    let outbound = |dst: &str| Packet {
        direction: Direction::Out,
        src: "192.0.2.1".parse().unwrap(),
        dst: dst.parse().unwrap(),
        protocol: PacketProtocol::Tcp,
        dst_port: 443,
        new_connection: true,
        loopback: false,
    };
    assert_eq!(
        eval(outbound("203.0.113.9")),
        (Action::Drop, DecidedBy::Ban)
    );
    assert_eq!(
        eval(outbound("203.0.113.10")),
        (Action::Accept, DecidedBy::DefaultPolicy)
    );
    assert_eq!(
        eval(tcp_in("2001:db8:bad::1234", 80)),
        (Action::Drop, DecidedBy::Ban)
    );
    assert_eq!(
        eval(tcp_in("2001:db8:bad:1::1", 80)),
        (Action::Drop, by("drop-all"))
    );
}

#[test]
fn exposure_reports_reachability_and_the_deciding_rule() {
    let config = FirewallConfig::default();
    let none = RuleSet::default();
    let ctx = ApplyContext::default();
    let e = exposure(&none, &config, &ctx, 8300, PacketProtocol::Tcp);
    assert!(!e.reachable_from_outside);
    assert_eq!(e.decided_by, DecidedBy::ServiceRangeGuard);
    assert_eq!(e.deciding_rule, None);
    let e = exposure(&none, &config, &ctx, 3000, PacketProtocol::Tcp);
    assert!(e.reachable_from_outside && e.reachable_from_everywhere);

    let rules = RuleSet::new(vec![
        rule("only-office", |r| {
            r.hosts = vec!["198.51.100.0/24".into()];
            r.ports = vec!["8300".into()];
        }),
        rule("open", |r| r.ports = vec!["8301".into()]),
        rule("block", |r| {
            r.action = Action::Drop;
            r.ports = vec!["3000".into()];
        }),
        rule("v6-only", |r| {
            r.ip_version = IpVersion::V6;
            r.ports = vec!["8302".into()];
        }),
    ]);
    let e = exposure(&rules, &config, &ctx, 8300, PacketProtocol::Tcp);
    assert!(e.reachable_from_outside && !e.reachable_from_everywhere);
    assert_eq!(e.deciding_rule.as_deref(), Some("only-office"));
    let e = exposure(&rules, &config, &ctx, 8301, PacketProtocol::Udp);
    assert!(e.reachable_from_everywhere);
    assert_eq!(e.deciding_rule.as_deref(), Some("open"));
    let e = exposure(&rules, &config, &ctx, 3000, PacketProtocol::Tcp);
    assert!(!e.reachable_from_outside);
    assert_eq!(e.deciding_rule.as_deref(), Some("block"));
    let e = exposure(&rules, &config, &ctx, 8302, PacketProtocol::Tcp);
    assert!(e.reachable_from_outside && !e.reachable_from_everywhere);
    assert_eq!(e.deciding_rule.as_deref(), Some("v6-only"));

    // A hole inside a drop network is still found.
    let nested = RuleSet::new(vec![
        rule("hole", |r| {
            r.hosts = vec!["198.51.100.128/25".into()];
            r.ports = vec!["8300".into()];
        }),
        rule("drop-net", |r| {
            r.action = Action::Drop;
            r.hosts = vec!["198.51.100.0/24".into()];
        }),
    ]);
    let e = exposure(&nested, &config, &ctx, 8300, PacketProtocol::Tcp);
    assert!(e.reachable_from_outside);
    assert_eq!(e.deciding_rule.as_deref(), Some("hole"));
}

#[test]
fn exposure_with_hostnames_uses_their_resolution_and_names_them() {
    let config = FirewallConfig::default();
    let rules = RuleSet::new(vec![
        rule("backup", |r| {
            r.protocol = Protocol::Tcp;
            r.hosts = vec!["backup.example.org".into(), "198.51.100.9".into()];
            r.ports = vec!["8300".into()];
        }),
        rule("office", |r| {
            r.hosts = vec!["office.example.org".into()];
            r.ports = vec!["8301".into()];
        }),
        rule("blocked", |r| {
            r.action = Action::Drop;
            r.hosts = vec!["attacker.example.org".into()];
        }),
        rule("off", |r| {
            r.enabled = false;
            r.hosts = vec!["disabled.example.org".into()];
        }),
    ]);
    let resolved = ApplyContext {
        resolved_hosts: [
            ("backup.example.org".to_string(), vec![ip("203.0.113.5")]),
            ("office.example.org".to_string(), vec![ip("2001:db8:5::1")]),
            ("attacker.example.org".to_string(), vec![ip("192.0.2.66")]),
        ]
        .into_iter()
        .collect(),
        bans: vec![],
    };
    let unresolved = ApplyContext::default();

    // Which hostnames the answer depends on: those of enabled inbound rules covering the port.
    assert_eq!(
        exposure_hostnames(&rules, 8300, PacketProtocol::Tcp),
        vec!["attacker.example.org", "backup.example.org"]
    );
    assert_eq!(
        exposure_hostnames(&rules, 8300, PacketProtocol::Udp),
        vec!["attacker.example.org"],
        "the backup rule is TCP only"
    );
    assert_eq!(
        exposure_hostnames(&rules, 8301, PacketProtocol::Udp),
        vec!["attacker.example.org", "office.example.org"]
    );

    // A hostname-only rule opens its port to what the name resolves to, and to nothing otherwise.
    let e = exposure(&rules, &config, &resolved, 8301, PacketProtocol::Tcp);
    assert!(e.reachable_from_outside && !e.reachable_from_everywhere);
    assert_eq!(e.deciding_rule.as_deref(), Some("office"));
    let e = exposure(&rules, &config, &unresolved, 8301, PacketProtocol::Tcp);
    assert!(!e.reachable_from_outside);
    assert_eq!(e.decided_by, DecidedBy::ServiceRangeGuard);

    // An unresolved hostname does not disable the rule's other hosts.
    let e = exposure(&rules, &config, &unresolved, 8300, PacketProtocol::Tcp);
    assert!(e.reachable_from_outside, "198.51.100.9 is still let in");
    assert_eq!(e.deciding_rule.as_deref(), Some("backup"));
    let verdict_from = |ctx: &ApplyContext, src: &str| {
        let v = evaluate(&rules, &config, ctx, &tcp_in(src, 8300));
        (v.action, v.decided_by)
    };
    assert_eq!(
        verdict_from(&resolved, "203.0.113.5"),
        (Action::Accept, by("backup"))
    );
    assert_eq!(
        verdict_from(&unresolved, "203.0.113.5"),
        (Action::Drop, DecidedBy::ServiceRangeGuard)
    );
    assert_eq!(
        verdict_from(&unresolved, "198.51.100.9"),
        (Action::Accept, by("backup"))
    );
    // A drop rule naming a host blocks exactly what it resolves to.
    assert_eq!(
        verdict_from(&resolved, "192.0.2.66"),
        (Action::Drop, by("blocked"))
    );
}

#[test]
fn presets_open_and_close() {
    let all = presets();
    let names: Vec<&str> = all.iter().map(|p| p.name.as_str()).collect();
    for expected in [
        "ssh",
        "http",
        "https",
        "smtp",
        "imap",
        "pop3",
        "ftp",
        "postgresql",
        "mysql",
        "redis",
        "mongodb",
        "memcached",
        "mattermost",
        "service-range",
    ] {
        assert!(names.contains(&expected), "{expected}");
    }
    let mut set = RuleSet::default();
    for (n, input) in preset("smtp").unwrap().rules.into_iter().enumerate() {
        set.insert(input.into_rule(format!("p{n}")).unwrap(), None)
            .unwrap();
    }
    set.insert(
        rule("mine", |r| r.annotation = "preset:smtpx not it".into()),
        None,
    )
    .unwrap();
    assert!(preset_is_open(&set, "smtp"));
    assert!(!preset_is_open(&set, "ssh"));
    assert_eq!(preset_rule_ids(&set, "smtp"), ["p0"]);
    let config = FirewallConfig::default();
    for port in [25, 465, 587] {
        assert_eq!(
            verdict(&set, &config, tcp_in("203.0.113.1", port)).1,
            by("p0")
        );
    }
    let sr = preset("service-range").unwrap().rules[0]
        .clone()
        .into_rule("sr")
        .unwrap();
    let set = RuleSet::new(vec![sr]);
    assert_eq!(
        verdict(&set, &config, udp_in("203.0.113.1", 8450)),
        (Action::Accept, by("sr"))
    );
    // Every preset's rules validate.
    for p in presets() {
        for r in p.rules {
            r.into_rule("x").unwrap();
        }
    }
}
