//! Jails end to end (root only; real `nft` in throwaway namespaces, real packets): a real OpenSSH `sshd`
//! (Debian's openssh-server) in the server namespace logs real failed logins made with `sshpass` and
//! wrong passwords from a client namespace; a jail with the `sshd` preset that follows sshd's log bans
//! the client in the kernel (its connections are dropped), lifting the ban lets it in again, and the
//! administering address is never banned however often it fails. A supervised service that prints
//! failure lines gets the address it names banned by its jail (the ban says which jail and how many
//! failures), and a jail's counts survive a restart of Warden.
#![allow(clippy::unwrap_used)]

mod firewall_e2e_support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use firewall_e2e_support::jails::{ban_of, bans, create_jail};
use firewall_e2e_support::sshd::Sshd;
use firewall_e2e_support::{
    other_port, runs, wait_reach, Lab, NsClient, ADMIN_ADDR, OTHER_ADDR, SERVER_ADMIN_SIDE,
    SERVER_OTHER_SIDE,
};
use serde_json::{json, Value};
use warden_testkit::{Netns, Outcome};
use warden_tests::wait_for;

/// The port sshd listens on in the lab.
const SSH_PORT: u16 = 2222;
/// Failures that ban in these tests.
const MAX_FAILURES: u64 = 4;

/// One real SSH login with a wrong password from `ns` (`sshpass`); whether it failed (as it must).
/// Bounded by `timeout`: a ban that lands while the connection is open drops the client's packets, and
/// ssh has no timeout of its own once connected.
fn wrong_password_login(ns: &Netns, server: &str, user: &str) -> bool {
    let status = ns
        .command("timeout")
        .args(["8", "sshpass", "-p", "not-the-password", "ssh"])
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "PubkeyAuthentication=no",
            "-o",
            "NumberOfPasswordPrompts=1",
            "-o",
            "ConnectTimeout=3",
            "-o",
            "LogLevel=ERROR",
            "-p",
            &SSH_PORT.to_string(),
        ])
        .arg(format!("{user}@{server}"))
        .arg("true")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    !status.success()
}

fn tools_present() -> bool {
    for (path, package) in [
        ("/usr/sbin/sshd", "openssh-server"),
        ("/usr/bin/sshpass", "sshpass"),
        ("/usr/bin/ssh", "openssh-client"),
    ] {
        if !Path::new(path).exists() {
            assert!(
                std::env::var_os("CI").is_none(),
                "{package} is missing: .ci/setup test installs it"
            );
            eprintln!("skipped: {path} is not installed ({package})");
            return false;
        }
    }
    true
}

/// The jail's recent failure lines from `address`.
fn recent_from(admin: &NsClient, jail_id: &str, address: &str) -> usize {
    let view = admin.get(&format!("/firewall/jails/{jail_id}")).json();
    view["recent"]
        .as_array()
        .map(|r| r.iter().filter(|m| m["address"] == address).count())
        .unwrap_or(0)
}

fn ssh_port_towards(server_side: &str) -> SocketAddr {
    format!("{server_side}:{SSH_PORT}").parse().unwrap()
}

#[test]
fn failed_ssh_logins_ban_the_client_in_the_kernel_but_never_the_administrator() {
    if !runs() || !tools_present() {
        return;
    }
    let lab = Lab::new();
    let sshd = Sshd::start(&lab.server, SSH_PORT);
    // sshd answers both clients (the default guard leaves ports outside the service range alone).
    wait_reach(
        &lab.other,
        other_port(SSH_PORT),
        Outcome::Open,
        Duration::from_secs(20),
    );
    let warden = lab.start_warden();
    let admin = NsClient::new(&lab.admin, lab.admin_side()).login();
    let jail = create_jail(
        &admin,
        json!({
            "name": "ssh",
            "source": {"file": sshd.log.to_str().unwrap()},
            "preset": "sshd",
            "max_failures": MAX_FAILURES,
            "window_secs": 600,
            "ban_secs": 600,
        }),
    );
    let id = jail["id"].as_str().unwrap().to_string();
    assert_eq!(jail["source"], json!({"file": sshd.log.to_str().unwrap()}));
    assert_eq!(jail["preset"], "sshd");
    let listed = admin.get("/firewall/jails").json();
    assert_eq!(listed[0]["name"], "ssh", "{listed}");

    // The administrator fails as often as an attacker would: counted, never banned.
    for _ in 0..3 {
        assert!(wrong_password_login(
            &lab.admin,
            SERVER_ADMIN_SIDE,
            "nosuchuser"
        ));
    }
    wait_for(
        "the admin's failures in the jail",
        Duration::from_secs(20),
        || (recent_from(&admin, &id, ADMIN_ADDR) as u64 >= MAX_FAILURES).then_some(()),
    );
    assert!(
        sshd.log_text().contains(&format!(
            "Failed password for invalid user nosuchuser from {ADMIN_ADDR}"
        )),
        "{}",
        sshd.log_text()
    );
    assert_eq!(ban_of(&admin, ADMIN_ADDR), None, "{:?}", bans(&admin));
    assert_eq!(
        firewall_e2e_support::tcp_probe(&lab.admin, ssh_port_towards(SERVER_ADMIN_SIDE)),
        Outcome::Open
    );

    // The other client: real failed logins until its connections are dropped by the kernel.
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let mut attempts = 0;
    let ban = loop {
        if let Some(ban) = ban_of(&admin, OTHER_ADDR) {
            break ban;
        }
        attempts += 1;
        assert!(
            attempts <= 10 && std::time::Instant::now() < deadline,
            "not banned after {attempts} failed logins: {}\n{}\n{}",
            sshd.log_text(),
            admin.get(&format!("/firewall/jails/{id}")).body,
            warden.stderr()
        );
        wrong_password_login(&lab.other, SERVER_OTHER_SIDE, "nosuchuser");
    };
    assert_eq!(ban["jail"], "ssh", "{ban}");
    assert_eq!(ban["failures"], MAX_FAILURES, "{ban}");
    let lines = ban["lines"].as_array().unwrap();
    assert!(!lines.is_empty() && lines.len() <= 5, "{ban}");
    assert!(
        lines
            .iter()
            .all(|l| l.as_str().unwrap().contains(OTHER_ADDR)),
        "{ban}"
    );
    let left = ban["seconds_left"].as_u64().unwrap();
    assert!(left > 0 && left <= 600, "{ban}");
    wait_reach(
        &lab.other,
        other_port(SSH_PORT),
        Outcome::Dropped,
        Duration::from_secs(10),
    );
    // The administrator still reaches SSH and Warden.
    assert_eq!(
        firewall_e2e_support::tcp_probe(&lab.admin, ssh_port_towards(SERVER_ADMIN_SIDE)),
        Outcome::Open
    );
    let view = admin.get(&format!("/firewall/jails/{id}")).json();
    assert!(view["bans"].as_u64().unwrap() >= 1, "{view}");
    assert!(
        view["matched"].as_u64().unwrap() >= 2 * MAX_FAILURES,
        "{view}"
    );
    assert_eq!(view["source_problem"], Value::Null, "{view}");

    // Unban: the client reaches sshd again.
    let resp = admin.delete(&format!("/firewall/bans/{OTHER_ADDR}"));
    assert_eq!(resp.status, 204, "{}", resp.body);
    wait_reach(
        &lab.other,
        other_port(SSH_PORT),
        Outcome::Open,
        Duration::from_secs(10),
    );
    assert!(wrong_password_login(&lab.other, SERVER_OTHER_SIDE, "root"));

    // Deleting the jail stops it; bad input is refused by field.
    let resp = admin.post(
        "/firewall/jails",
        json!({"name": "bad", "source": {"file": "/x"}, "patterns": ["no address here"]}),
    );
    assert_eq!(resp.status, 422, "{}", resp.body);
    assert!(resp.body.contains("patterns[0]"), "{}", resp.body);
    assert_eq!(admin.delete(&format!("/firewall/jails/{id}")).status, 204);
    assert_eq!(admin.get(&format!("/firewall/jails/{id}")).status, 404);
}

#[test]
fn a_services_failure_lines_ban_the_address_it_names_and_counts_survive_a_restart() {
    if !runs() {
        return;
    }
    let lab = Lab::new();
    let mut warden = lab.start_warden();
    let admin = NsClient::new(&lab.admin, lab.admin_side()).login();
    // The jail first: the service's log does not exist yet, and a log that appears is read whole.
    let jail = create_jail(
        &admin,
        json!({
            "name": "app-auth",
            "source": {"service": "authapp"},
            "patterns": ["auth failure for \\S+ from <HOST>$"],
            "max_failures": MAX_FAILURES,
            "ban_secs": 300,
        }),
    );
    let jail_id = jail["id"].as_str().unwrap().to_string();
    assert_eq!(jail["preset"], Value::Null);
    let script = "for i in 1 2 3 4 5 6; do echo \"auth failure for bob from 203.0.113.77\"; done; \
                  echo \"auth failure for eve from 127.0.0.1\"; exec sleep 600";
    let resp = admin.post("/services", json!({"name": "authapp", "command": script}));
    assert_eq!(resp.status, 201, "{}", resp.body);
    let ban = wait_for("the service jail's ban", Duration::from_secs(30), || {
        ban_of(&admin, "203.0.113.77")
    });
    assert_eq!(ban["jail"], "app-auth", "{ban}");
    assert_eq!(ban["failures"], MAX_FAILURES, "{ban}");
    assert!(
        ban["reason"].as_str().unwrap().contains("app-auth"),
        "{ban}"
    );
    // The ban is in the kernel's set (read back from the kernel by the listing) with its timeout.
    let table = lab.server.warden_table().unwrap_or_default();
    assert!(table.contains("203.0.113.77"), "{table}");
    assert!(ban["seconds_left"].as_u64().unwrap() <= 300, "{ban}");
    // Loopback is never banned.
    assert_eq!(ban_of(&admin, "127.0.0.1"), None);

    // A file jail: counts in the window survive a restart of Warden.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    std::fs::write(&log, "").unwrap();
    let jail = create_jail(
        &admin,
        json!({
            "name": "file",
            "source": {"file": log.to_str().unwrap()},
            "patterns": ["bad token from <HOST>"],
            "max_failures": MAX_FAILURES,
        }),
    );
    let file_id = jail["id"].as_str().unwrap().to_string();
    let append = |n: u64| {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        for _ in 0..n {
            writeln!(f, "bad token from 198.51.100.99").unwrap();
        }
    };
    // The jail follows the file from its end: wait until it reads it (lines that are no failure).
    let noise = || {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        writeln!(f, "all good").unwrap();
    };
    let reading = |admin: &NsClient| {
        wait_for("the file jail reading", Duration::from_secs(10), || {
            noise();
            let view = admin.get(&format!("/firewall/jails/{file_id}")).json();
            (view["lines"].as_u64().unwrap_or(0) >= 1).then_some(())
        })
    };
    reading(&admin);
    append(MAX_FAILURES - 1);
    wait_for("the failures counted", Duration::from_secs(10), || {
        let view = admin.get(&format!("/firewall/jails/{file_id}")).json();
        let failing = view["failing"].as_array().cloned().unwrap_or_default();
        failing
            .iter()
            .any(|f| f["address"] == "198.51.100.99" && f["failures"] == MAX_FAILURES - 1)
            .then_some(())
    });
    warden.terminate(Duration::from_secs(20));
    warden.restart();
    let admin = NsClient::new(&lab.admin, lab.admin_side()).login();
    let view = admin.get(&format!("/firewall/jails/{file_id}")).json();
    assert_eq!(view["name"], "file", "{view}");
    assert!(
        view["failing"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["address"] == "198.51.100.99" && f["failures"] == MAX_FAILURES - 1),
        "{view}"
    );
    assert_eq!(admin.get(&format!("/firewall/jails/{jail_id}")).status, 200);
    // One more failure after the restart is the one that bans.
    reading(&admin);
    append(1);
    let ban = wait_for("the ban after the restart", Duration::from_secs(20), || {
        ban_of(&admin, "198.51.100.99")
    });
    assert_eq!(ban["jail"], "file", "{ban}\n{}", warden.stderr());
    assert_eq!(ban["failures"], MAX_FAILURES, "{ban}");

    // A pattern test changes nothing and says which lines match.
    let resp = admin.post(
        "/firewall/jails/test",
        json!({"preset": "sshd", "lines": [
            "Failed password for invalid user x from 2001:db8::5 port 22 ssh2",
            "Accepted password for y from 192.0.2.9 port 22 ssh2",
        ]}),
    );
    assert_eq!(resp.status, 200, "{}", resp.body);
    let result = resp.json();
    assert_eq!(result["matched"], 1, "{result}");
    assert_eq!(result["lines"][0]["address"], "2001:db8::5", "{result}");
    assert_eq!(result["lines"][1]["address"], Value::Null, "{result}");
}
