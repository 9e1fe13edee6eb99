//! Real kernel, real packets (root only): the exemptions of a ban. `prerouting` looks every source up
//! in the ban sets first and only a banned one meets the exemptions (anti-lockout, loopback), so this
//! checks that a banned anti-lockout address keeps exactly its SSH and admin ports, and that the
//! rest of its /64 and its other ports stay banned.
#![cfg(feature = "nft")]

mod common;

use common::{
    require_root_netns, rule, NsBackend, Pair, CLIENT_V4, CLIENT_V6, SERVER_V4, SERVER_V6,
};
use warden_firewall::{render_ruleset, ApplyContext, FirewallConfig, RuleSet};
use warden_testkit::{probe_all, Listener, Outcome, Probe};
use Outcome::{Dropped, Open};

#[test]
fn a_banned_anti_lockout_address_keeps_its_ssh_and_admin_ports_and_nothing_else() {
    if !require_root_netns() {
        return;
    }
    let pair = Pair::new();
    let backend = pair.server.backend();
    let _listener = Listener::start(&pair.server, &[22, 8080, 8300], &[]);
    let config = FirewallConfig {
        admin_port: 8080,
        anti_lockout: vec![
            CLIENT_V4[0].parse().expect("address"),
            CLIENT_V6[0].parse().expect("address"),
        ],
        ..FirewallConfig::default()
    };
    let open_8300 = rule("open", |r| r.ports = vec!["8300".to_string()]);
    let rendered = render_ruleset(
        &RuleSet::new(vec![open_8300]),
        &config,
        &ApplyContext::default(),
    )
    .expect("render");
    backend.apply(&rendered).expect("apply");
    backend
        .ban(CLIENT_V4[0].parse().expect("address"), 600)
        .expect("ban");
    // Bans the /64 of both IPv6 clients: the second one is not on the anti-lockout list.
    backend
        .ban(CLIENT_V6[0].parse().expect("address"), 600)
        .expect("ban");

    let cases = [
        (Probe::tcp(Some(CLIENT_V4[0]), SERVER_V4, 22), Open),
        (Probe::tcp(Some(CLIENT_V4[0]), SERVER_V4, 8080), Open),
        (Probe::tcp(Some(CLIENT_V4[0]), SERVER_V4, 8300), Dropped),
        (Probe::udp(Some(CLIENT_V4[0]), SERVER_V4, 8300), Dropped),
        (Probe::tcp(Some(CLIENT_V6[0]), SERVER_V6, 22), Open),
        (Probe::tcp(Some(CLIENT_V6[0]), SERVER_V6, 8080), Open),
        (Probe::tcp(Some(CLIENT_V6[0]), SERVER_V6, 8300), Dropped),
        (Probe::tcp(Some(CLIENT_V6[1]), SERVER_V6, 22), Dropped),
        (Probe::tcp(Some(CLIENT_V6[1]), SERVER_V6, 8080), Dropped),
        // Not banned: the rule's port is open to it.
        (Probe::tcp(Some(CLIENT_V4[1]), SERVER_V4, 8300), Open),
    ];
    let probes: Vec<Probe> = cases.iter().map(|(p, _)| p.clone()).collect();
    let got = probe_all(&pair.client, &probes);
    for ((probe, want), got) in cases.iter().zip(got) {
        assert_eq!(got, *want, "{probe:?}");
    }
}
