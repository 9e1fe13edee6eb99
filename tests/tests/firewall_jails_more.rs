//! Jails end to end, continued (root only; real `nft` in throwaway namespaces, real packets): a
//! supervised service naming IPv6 addresses gets the /64 of the one it blames banned in the kernel
//! (another address of that /64 is dropped), never the /64 of the administrator, even when it names
//! the administrator; a PATCH of a jail takes effect and keeps its counts (and reads on where it was); the ban says which jail,
//! how many failures and which lines; a repeat offender's bans double, up to `max_ban_secs`. A jail on
//! the journal follows a real `systemd-journald` (private to the test, see
//! `firewall_e2e_support::journald`) through `journalctl` and bans what `systemd-cat` logs under its
//! syslog identifier, and only that.
#![allow(clippy::unwrap_used)]

mod firewall_e2e_support;

use std::net::SocketAddr;
use std::time::Duration;

use firewall_e2e_support::jails::{ban_of, bans, create_jail, failing, jail_view, LogFile};
use firewall_e2e_support::journald::{self, with_private_journal};
use firewall_e2e_support::{
    runs, wait_reach, Lab, NsClient, ADMIN_ADDR_V6, ADMIN_PORT, OTHER_ADDR_V6, SERVER_ADMIN_SIDE_V6,
};
use serde_json::{json, Value};
use warden_testkit::{Listener, Outcome};
use warden_tests::{wait_for, Launch};

/// A port outside the default guard's range, open in the server namespace.
const OPEN_PORT: u16 = 2224;

#[test]
fn a_service_naming_ipv6_addresses_gets_the_offenders_64_banned_never_the_administrators() {
    if !runs() {
        return;
    }
    let lab = Lab::new();
    let _listener = Listener::start(&lab.server, &[OPEN_PORT], &[]);
    // Warden on both stacks; the administrator talks to it over IPv6 (an administering address).
    let warden = Launch::new()
        .in_netns(&lab.server.name)
        .listen(format!("[::]:{ADMIN_PORT}"))
        .start();
    let server_v6: SocketAddr = SocketAddr::new(SERVER_ADMIN_SIDE_V6.parse().unwrap(), ADMIN_PORT);
    let admin = NsClient::new(&lab.admin, server_v6).login();
    let open_v6 = lab.other_side_v6(OPEN_PORT);
    wait_reach(&lab.other, open_v6, Outcome::Open, Duration::from_secs(10));

    let jail = create_jail(
        &admin,
        json!({
            "name": "v6-auth",
            "source": {"service": "v6app"},
            "patterns": ["auth failure for \\S+ from <HOST>$"],
            "max_failures": 3,
            "ban_secs": 300,
        }),
    );
    let id = jail["id"].as_str().unwrap().to_string();
    // The administrator's own address and another of its /64 first, then an address of the other
    // client's /64 (not the client's own address): 4 failures each, 3 ban.
    let script = format!(
        "for a in {ADMIN_ADDR_V6} 2001:db8:a::99 2001:db8:b::77; do \
           for i in 1 2 3 4; do echo \"auth failure for bob from $a\"; done; \
         done; exec sleep 600"
    );
    let resp = admin.post("/services", json!({"name": "v6app", "command": script}));
    assert_eq!(resp.status, 201, "{}", resp.body);

    let ban = wait_for("the /64 ban", Duration::from_secs(30), || {
        ban_of(&admin, "2001:db8:b::/64")
    });
    assert_eq!(ban["jail"], "v6-auth", "{ban}");
    assert_eq!(ban["failures"], 3, "{ban}");
    assert!(
        ban["lines"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l.as_str().unwrap().ends_with("from 2001:db8:b::77")),
        "{ban}"
    );
    // In the kernel's set (the /64's first address; the rule masks the source to /64), and it drops
    // another address of that /64 (the client's own).
    let table = lab.server.warden_table().unwrap_or_default();
    assert!(table.contains("2001:db8:b:: timeout"), "{table}");
    wait_reach(
        &lab.other,
        open_v6,
        Outcome::Dropped,
        Duration::from_secs(10),
    );
    assert!(OTHER_ADDR_V6.starts_with("2001:db8:b::"));

    // The administrator's /64 was counted (all its lines were read before the other's) but never
    // banned, and the administrator still reaches Warden over IPv6.
    let view = jail_view(&admin, &id);
    assert_eq!(view["matched"], 12, "{view}");
    let listed = bans(&admin);
    assert!(
        listed.iter().all(|b| !b["address"]
            .as_str()
            .unwrap_or("")
            .starts_with("2001:db8:a:")),
        "{listed:?}"
    );
    assert!(!table.contains("2001:db8:a::"), "{table}");
    assert_eq!(admin.get("/firewall/jails").status, 200);
    assert!(
        warden.stderr().contains("not banned"),
        "the refused bans are logged: {}",
        warden.stderr()
    );
}

fn assert_ban(ban: &Value, jail: &str, failures: u64, address: &str, secs: u64) {
    assert_eq!(ban["jail"], jail, "{ban}");
    assert_eq!(ban["failures"], failures, "{ban}");
    assert!(ban["reason"].as_str().unwrap().contains(jail), "{ban}");
    let lines = ban["lines"].as_array().unwrap();
    assert!(!lines.is_empty() && lines.len() <= 5, "{ban}");
    assert!(
        lines.iter().all(|l| l.as_str().unwrap().contains(address)),
        "{ban}"
    );
    // The kernel's timeout, read back: this ban's length, minus the few seconds the test took.
    let left = ban["seconds_left"].as_u64().unwrap();
    assert!(left <= secs && left + 15 >= secs, "wanted ~{secs} s: {ban}");
}

#[test]
fn a_patched_jail_keeps_its_counts_and_repeat_offenders_get_longer_bans_up_to_the_cap() {
    if !runs() {
        return;
    }
    let lab = Lab::new();
    let _warden = lab.start_warden();
    let admin = NsClient::new(&lab.admin, lab.admin_side()).login();
    let log = LogFile::new();
    let jail = create_jail(
        &admin,
        json!({
            "name": "tokens",
            "source": {"file": log.path_str()},
            "patterns": ["bad token from <HOST>"],
            "max_failures": 5,
            "ban_secs": 100,
            "max_ban_secs": 250,
        }),
    );
    let id = jail["id"].as_str().unwrap().to_string();
    const OFFENDER: &str = "203.0.113.50";
    let failure = format!("bad token from {OFFENDER}");
    log.wait_read_by(&admin, &id);
    log.append(&failure, 3);
    wait_for("3 failures counted", Duration::from_secs(10), || {
        (failing(&admin, &id, OFFENDER) == 3).then_some(())
    });

    // PATCH: one failure fewer bans now; the 3 counted so far are kept across the watcher's restart.
    let resp = admin.patch(&format!("/firewall/jails/{id}"), json!({"max_failures": 4}));
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(resp.json()["max_failures"], 4);
    assert_eq!(failing(&admin, &id, OFFENDER), 3);
    // Its counters since start are kept too, and the restarted watcher reads on from where the old
    // one was: a line written at once (maybe before the new reader opened the file) still counts.
    let view = jail_view(&admin, &id);
    assert_eq!(view["matched"], 3, "{view}");
    log.append(&failure, 1);
    let ban = wait_for("the first ban", Duration::from_secs(20), || {
        ban_of(&admin, OFFENDER)
    });
    assert_ban(&ban, "tokens", 4, OFFENDER, 100);
    assert!(lab
        .server
        .warden_table()
        .unwrap_or_default()
        .contains(OFFENDER));

    // Lifted by hand, then the same offender again: twice as long; and again: the cap.
    for secs in [200, 250] {
        let resp = admin.delete(&format!("/firewall/bans/{OFFENDER}"));
        assert_eq!(resp.status, 204, "{}", resp.body);
        assert_eq!(ban_of(&admin, OFFENDER), None);
        log.append(&failure, 4);
        let ban = wait_for("the repeat ban", Duration::from_secs(20), || {
            ban_of(&admin, OFFENDER)
        });
        assert_ban(&ban, "tokens", 4, OFFENDER, secs);
    }
    let view = jail_view(&admin, &id);
    assert_eq!(view["max_failures"], 4, "{view}");
    assert_eq!(view["bans"], 3, "{view}");
}

#[test]
fn a_journal_jail_follows_a_real_journald_by_syslog_identifier() {
    if !runs() || !warden_tests::gate("a private systemd-journald", journald::available()) {
        return;
    }
    // The namespaces are made (and removed) from the host's mount namespace; Warden and journald live
    // in the private one.
    let lab = Lab::new();
    with_private_journal(|journal| {
        let warden = lab.start_warden();
        let admin = NsClient::new(&lab.admin, lab.admin_side()).login();
        let ident = format!("wdn-sshd-{}", std::process::id());
        let jail = create_jail(
            &admin,
            json!({
                "name": "journal-ssh",
                "source": {"journal": ident},
                "preset": "sshd",
                "max_failures": 3,
            }),
        );
        let id = jail["id"].as_str().unwrap().to_string();
        // journalctl follows new entries only: wait until it reads ours.
        wait_for(
            "the jail reading the journal",
            Duration::from_secs(20),
            || {
                journal.log(&ident, "Server listening on 0.0.0.0 port 22.");
                let view = jail_view(&admin, &id);
                (view["lines"].as_u64().unwrap_or(0) >= 1).then_some(())
            },
        );
        // Failures under another identifier never count.
        for _ in 0..3 {
            journal.log(
                "wdn-other",
                "Failed password for invalid user admin from 203.0.113.99 port 4242 ssh2",
            );
        }
        for port in [4243, 4244, 4245] {
            journal.log(
                &ident,
                &format!(
                    "Failed password for invalid user admin from 203.0.113.88 port {port} ssh2"
                ),
            );
        }
        let ban = wait_for("the journal jail's ban", Duration::from_secs(20), || {
            ban_of(&admin, "203.0.113.88")
        });
        assert_eq!(ban["jail"], "journal-ssh", "{ban}\n{}", warden.stderr());
        assert_eq!(ban["failures"], 3, "{ban}");
        assert!(
            ban["lines"][2]
                .as_str()
                .unwrap()
                .contains("from 203.0.113.88 port 4245"),
            "{ban}"
        );
        let view = jail_view(&admin, &id);
        assert_eq!(view["matched"], 3, "{view}");
        assert_eq!(view["source_problem"], Value::Null, "{view}");
        assert_eq!(ban_of(&admin, "203.0.113.99"), None);
        assert!(lab
            .server
            .warden_table()
            .unwrap_or_default()
            .contains("203.0.113.88"));
    });
}
