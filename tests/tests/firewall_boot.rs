//! The firewall across starts and reboots (root only; the lab of `firewall_e2e`): the kernel table is
//! back before any service starts; a restore whose hostname no longer resolves runs on the addresses
//! of the last apply and is retried; a rule set the kernel refuses (at start, or in a rollback) leaves
//! Warden's minimal guard, never no table, and is retried; `--firewall off` never touches nftables.
//! A "reboot" here is kill -9 of Warden and its services plus `nft delete table inet warden`.
#![allow(clippy::unwrap_used)]

mod firewall_e2e_support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use firewall_e2e_support::{
    add_rule, other_port, runs, status, tcp_probe, wait_reach, Lab, NsClient, ADMIN_PORT,
    OTHER_ADDR,
};
use serde_json::{json, Value};
use warden_testkit::{probe, Listener, Outcome, Probe};
use warden_tests::{wait_for, Launch, Warden};

fn apply_confirmed(admin: &NsClient) {
    let resp = admin.post("/firewall/apply", json!({"confirm_within_secs": 0}));
    assert_eq!(resp.status, 202, "apply: {}", resp.body);
}

/// Warden in the lab's server namespace, retrying fallen-back restores every second.
fn launch(lab: &Lab) -> Launch {
    Launch::new()
        .in_netns(&lab.server.name)
        .listen(format!("0.0.0.0:{ADMIN_PORT}"))
        .env("WARDEN_FIREWALL_RETRY_SECS", "1")
}

/// What a reboot does to the server: every process gone (Warden by kill -9, the listeners of its
/// services by `pattern`) and the kernel table gone.
fn reboot(lab: &Lab, warden: &mut Warden, service_pattern: Option<&str>) {
    warden.kill9();
    if let Some(pattern) = service_pattern {
        let _ = lab
            .server
            .command("pkill")
            .args(["-9", "-f", pattern])
            .status();
    }
    lab.server
        .exec(&["nft", "delete", "table", "inet", "warden"]);
    assert!(lab.server.warden_table().is_none());
}

#[test]
fn the_table_is_back_before_any_service_starts_after_a_reboot() {
    if !runs() {
        return;
    }
    let lab = Lab::new();
    let mut warden = launch(&lab).start();
    let admin = NsClient::new(&lab.admin, lab.admin_side()).login();
    // The service says whether Warden's table exists at the moment it starts (it runs as root, by
    // explicit choice, to ask nft), then serves on its reserved port.
    let resp = admin.post(
        "/services",
        json!({
            "name": "web",
            "command": "if nft list table inet warden >/dev/null 2>&1; then echo TABLE_PRESENT; else echo TABLE_MISSING; fi; exec python3 -m http.server 8320 --bind 0.0.0.0",
            "ports": [8320],
            "user": "root",
        }),
    );
    assert_eq!(resp.status, 201, "{}", resp.body);
    let id = resp.json()["id"].as_str().unwrap().to_string();
    let logs = |admin: &NsClient| admin.get(&format!("/services/{id}/logs?lines=200")).body;
    wait_for("the service's first start", Duration::from_secs(20), || {
        logs(&admin).contains(" out TABLE_").then_some(())
    });
    // A fresh Warden: the guard is installed and the service range is closed from outside.
    wait_reach(
        &lab.admin,
        format!("{}:8320", lab.admin_side().ip()).parse().unwrap(),
        Outcome::Dropped,
        Duration::from_secs(10),
    );
    assert_eq!(tcp_probe(&lab.other, other_port(8320)), Outcome::Dropped);

    // Reboot, three times: every start finds the table in place before its services run, and the
    // service is never reachable from outside meanwhile (probed all through the start).
    for round in 0..3 {
        reboot(&lab, &mut warden, Some("http.server 8320"));
        let probing = std::sync::atomic::AtomicBool::new(true);
        let (seen, admin) = std::thread::scope(|scope| {
            let prober = scope.spawn(|| {
                let mut seen = Vec::new();
                while probing.load(std::sync::atomic::Ordering::SeqCst) {
                    let p = Probe::tcp_to(other_port(8320)).within(Duration::from_millis(300));
                    seen.push(probe(&lab.other, p));
                }
                seen
            });
            warden.restart();
            let admin = admin.clone().login();
            wait_for("the service to run again", Duration::from_secs(20), || {
                (logs(&admin).matches(" out TABLE_").count() >= round + 2).then_some(())
            });
            wait_reach(
                &lab.server,
                "127.0.0.1:8320".parse().unwrap(),
                Outcome::Open,
                Duration::from_secs(10),
            );
            probing.store(false, std::sync::atomic::Ordering::SeqCst);
            (prober.join().unwrap(), admin)
        });
        assert!(
            !seen.contains(&Outcome::Open),
            "round {round}: the service answered from outside during the start: {seen:?}"
        );
        let text = logs(&admin);
        assert!(
            !text.contains(" out TABLE_MISSING"),
            "round {round}: a service started before the firewall was restored:\n{text}"
        );
        assert_eq!(tcp_probe(&lab.other, other_port(8320)), Outcome::Dropped);
        let s = status(&admin);
        assert_eq!(
            (s["default_guard"].clone(), s["drift"].clone()),
            (json!(true), json!(false)),
            "{s}"
        );
    }
    // Warden's own stop ends the service (not left for the next test).
    drop(warden);
}

/// `/etc/netns/<ns>/hosts`, which `ip netns exec` (how Warden is started in the namespace) mounts over
/// `/etc/hosts`; removed on drop.
struct NetnsHosts {
    dir: PathBuf,
}

impl NetnsHosts {
    fn new(ns: &str, content: &str) -> NetnsHosts {
        let dir = Path::new("/etc/netns").join(ns);
        std::fs::create_dir_all(&dir).unwrap();
        let hosts = NetnsHosts { dir };
        hosts.write(content);
        hosts
    }

    /// Rewrites the file in place (same inode: the bind mount of a running Warden sees it).
    fn write(&self, content: &str) {
        std::fs::write(
            self.dir.join("hosts"),
            format!("127.0.0.1 localhost\n::1 localhost\n{content}"),
        )
        .unwrap();
    }
}

impl Drop for NetnsHosts {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn a_hostname_that_stops_resolving_keeps_its_last_addresses_and_is_retried() {
    if !runs() {
        return;
    }
    let lab = Lab::new();
    let hosts = NetnsHosts::new(&lab.server.name, &format!("{OTHER_ADDR} partner.test\n"));
    let _listener = Listener::start(&lab.server, &[8300], &[]);
    let mut warden = launch(&lab).start();
    let admin = NsClient::new(&lab.admin, lab.admin_side()).login();
    add_rule(
        &admin,
        json!({"protocol": "tcp", "ports": ["8300"], "action": "accept", "hosts": ["partner.test"]}),
    );
    apply_confirmed(&admin);
    assert_eq!(tcp_probe(&lab.other, other_port(8300)), Outcome::Open);
    let applied = lab.server.warden_table().unwrap();

    // The name stops resolving, and the machine reboots.
    hosts.write("");
    reboot(&lab, &mut warden, None);
    warden.restart();
    let table = lab
        .server
        .warden_table()
        .expect("a table after the restart");
    assert!(
        table.contains(OTHER_ADDR),
        "the last known address is used:\n{table}"
    );
    assert_eq!(tcp_probe(&lab.other, other_port(8300)), Outcome::Open);
    let admin = admin.login();
    let s = status(&admin);
    assert_eq!(s["stale_hosts"], json!(["partner.test"]), "{s}");
    assert_eq!(s["drift"], false, "{s}");
    assert_eq!(s["fallback"], Value::Null, "{s}");

    // Resolvable again (at a new address): the retry picks it up and the status is clean.
    hosts.write(&format!("{} partner.test\n", "198.51.100.9"));
    wait_for(
        "the retry to resolve the name",
        Duration::from_secs(15),
        || {
            status(&admin)["stale_hosts"]
                .as_array()
                .is_some_and(Vec::is_empty)
                .then_some(())
        },
    );
    let table = lab.server.warden_table().unwrap();
    assert!(
        table.contains("198.51.100.9") && !table.contains(OTHER_ADDR),
        "{table}\n(was:\n{applied})"
    );
    assert_eq!(tcp_probe(&lab.other, other_port(8300)), Outcome::Dropped);
}

/// A test double for `nft`: the real one, except that while `<dir>/refuse` exists it refuses every
/// batch naming the annotation `refuse-me` (as the kernel refuses a rule it cannot take).
struct RefusingNft {
    dir: tempfile::TempDir,
}

impl RefusingNft {
    fn new() -> RefusingNft {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let script = format!(
            "#!/bin/sh\ninput=$(cat)\nif [ -e '{flag}' ] && printf '%s' \"$input\" | grep -q refuse-me; then\n  echo 'Error: refused (test double)' >&2; exit 1\nfi\nprintf '%s' \"$input\" | exec nft \"$@\"\n",
            flag = dir.path().join("refuse").display()
        );
        let path = dir.path().join("nft");
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        RefusingNft { dir }
    }

    fn program(&self) -> String {
        self.dir.path().join("nft").display().to_string()
    }

    fn refuse(&self, on: bool) {
        let flag = self.dir.path().join("refuse");
        if on {
            std::fs::write(flag, "").unwrap();
        } else {
            let _ = std::fs::remove_file(flag);
        }
    }
}

#[test]
fn a_rule_set_the_kernel_refuses_leaves_the_minimal_guard_never_no_table_and_is_retried() {
    if !runs() {
        return;
    }
    let lab = Lab::new();
    let nft = RefusingNft::new();
    let _listener = Listener::start(&lab.server, &[8300], &[]);
    let mut warden = launch(&lab).env("WARDEN_NFT", &nft.program()).start();
    let admin = NsClient::new(&lab.admin, lab.admin_side()).login();
    let rule = add_rule(
        &admin,
        json!({"protocol": "tcp", "ports": ["8300"], "action": "accept", "annotation": "refuse-me"}),
    );
    apply_confirmed(&admin);
    assert_eq!(tcp_probe(&lab.other, other_port(8300)), Outcome::Open);

    // At start: the applied rule set is refused → the minimal guard (8300 closed), retried.
    reboot(&lab, &mut warden, None);
    nft.refuse(true);
    warden.restart();
    let table = lab
        .server
        .warden_table()
        .expect("the minimal guard, not no table");
    assert!(!table.contains("refuse-me"), "{table}");
    assert_eq!(tcp_probe(&lab.other, other_port(8300)), Outcome::Dropped);
    let admin = admin.login();
    let s = status(&admin);
    assert!(
        s["fallback"]
            .as_str()
            .is_some_and(|r| r.contains("revision 1")),
        "{s}"
    );
    assert_eq!(s["drift"], true, "{s}");
    nft.refuse(false);
    wait_for(
        "the retry to restore the rule set",
        Duration::from_secs(15),
        || status(&admin)["fallback"].is_null().then_some(()),
    );
    assert!(lab.server.warden_table().unwrap().contains("refuse-me"));
    assert_eq!(tcp_probe(&lab.other, other_port(8300)), Outcome::Open);
    assert_eq!(status(&admin)["drift"], false);

    // In a rollback: an unconfirmed apply whose previous state cannot be restored → the guard,
    // the record rolled back, and the previous rule set retried until it is live again.
    let resp = admin.patch(
        &format!("/firewall/rules/{}", rule["id"].as_str().unwrap()),
        json!({"action": "drop"}),
    );
    assert_eq!(resp.status, 200, "{}", resp.body);
    let resp = admin.post("/firewall/apply", json!({"confirm_within_secs": 2}));
    assert_eq!(resp.status, 202, "{}", resp.body);
    assert_eq!(tcp_probe(&lab.other, other_port(8300)), Outcome::Dropped);
    nft.refuse(true);
    wait_for("the rollback to fall back", Duration::from_secs(15), || {
        let s = status(&admin);
        (s["pending"].is_null() && s["fallback"].is_string()).then_some(s)
    });
    let s = status(&admin);
    assert_eq!(s["applied_revision"], 1, "rolled back: {s}");
    assert_eq!(s["last_rollback"]["cause"], "timer", "{s}");
    assert!(lab.server.warden_table().is_some());
    nft.refuse(false);
    wait_for(
        "the retry to restore revision 1",
        Duration::from_secs(15),
        || status(&admin)["fallback"].is_null().then_some(()),
    );
    assert_eq!(tcp_probe(&lab.other, other_port(8300)), Outcome::Open);
}

#[test]
fn firewall_off_never_touches_nftables() {
    if !runs() {
        return;
    }
    let lab = Lab::new();
    let _listener = Listener::start(&lab.server, &[8300], &[]);
    let _warden = launch(&lab).firewall_off().start();
    let admin = NsClient::new(&lab.admin, lab.admin_side()).login();
    assert!(
        lab.server.warden_table().is_none(),
        "no guard with --firewall off"
    );
    assert_eq!(tcp_probe(&lab.other, other_port(8300)), Outcome::Open);
    let s = status(&admin);
    assert_eq!(s["capability"]["available"], false, "{s}");
    assert!(
        s["capability"]["reason"]
            .as_str()
            .unwrap()
            .contains("--firewall off"),
        "{s}"
    );
    let resp = admin.post("/firewall/apply", json!({"confirm_within_secs": 0}));
    assert_eq!(resp.status, 503, "{}", resp.body);
    let resp = admin.post("/firewall/bans", json!({"address": "203.0.113.9"}));
    assert_eq!(resp.status, 503, "{}", resp.body);
    assert!(lab.server.warden_table().is_none());
}

#[test]
fn a_start_that_fails_on_its_certificate_still_rolls_back_a_pending_apply() {
    if !runs() {
        return;
    }
    let lab = Lab::new();
    let _listener = Listener::start(&lab.server, &[8300], &[]);
    let mut warden = launch(&lab).start();
    let admin = NsClient::new(&lab.admin, lab.admin_side()).login();
    let guard = lab.server.warden_table().expect("the default guard");
    add_rule(
        &admin,
        json!({"protocol": "tcp", "ports": ["8300"], "action": "accept"}),
    );
    let resp = admin.post("/firewall/apply", json!({"confirm_within_secs": 300}));
    assert_eq!(resp.status, 202, "{}", resp.body);
    assert_eq!(tcp_probe(&lab.other, other_port(8300)), Outcome::Open);
    warden.kill9();

    // The next start cannot load its certificate and exits with an error — after rolling back.
    let out = launch(&lab)
        .args(&[
            "--tls-cert",
            "/nonexistent/cert.pem",
            "--tls-key",
            "/nonexistent/key.pem",
        ])
        .command(warden.data_dir())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("cert.pem"), "{stderr}");
    assert_eq!(
        lab.server.warden_table().expect("the guard is back"),
        guard,
        "the pending apply was rolled back before the start failed"
    );
    assert_eq!(tcp_probe(&lab.other, other_port(8300)), Outcome::Dropped);
}

#[test]
fn no_ban_covers_an_administrators_ipv6_slash_64() {
    if !runs() {
        return;
    }
    let lab = Lab::new();
    let _warden = launch(&lab).listen(format!("[::]:{ADMIN_PORT}")).start();
    let v6_side: SocketAddr = format!(
        "[{}]:{ADMIN_PORT}",
        firewall_e2e_support::SERVER_ADMIN_SIDE_V6
    )
    .parse()
    .unwrap();
    // The administrator logs in over IPv6 from 2001:db8:a::2.
    let admin = NsClient::new(&lab.admin, v6_side).login();
    // Another address of the same /64, and one of another /64.
    let resp = admin.post("/firewall/bans", json!({"address": "2001:db8:a::99"}));
    assert_eq!(resp.status, 409, "{}", resp.body);
    assert!(
        resp.body.contains("2001:db8:a::2"),
        "names whom it protects: {}",
        resp.body
    );
    let resp = admin.post("/firewall/bans", json!({"address": "2001:db8:b::99"}));
    assert_eq!(resp.status, 201, "{}", resp.body);
    // The administrator still gets through.
    assert_eq!(admin.get("/firewall").status, 200);
}
