//! The firewall end to end (root only): the real `warden` binary runs inside a server network
//! namespace and manages that namespace's nftables; the tests drive its API from client namespaces
//! over veth pairs and check the kernel (`nft list table inet warden`) and real TCP connections:
//! commit-confirm (rollback by timer, by request, and after kill -9 at the next start), anti-lockout,
//! failed-login bans, presets, drift, the API's apply-time validation, and IPv6 (accept, drop and
//! reject rules, host filters, the default guard of the service range and a /64 ban, over the veths'
//! 2001:db8:: addresses).
#![allow(clippy::unwrap_used)]

mod firewall_e2e_support;

use std::net::SocketAddr;
use std::time::Duration;

use firewall_e2e_support::{
    add_rule, fail_logins_until_banned, other_port, runs, status, tcp_probe, wait_reach, Lab,
    NsClient, ADMIN_ADDR, OTHER_ADDR, OTHER_ADDR_V6, SERVER_OTHER_SIDE,
};
use serde_json::{json, Value};
use warden_testkit::{Listener, Outcome};
use warden_tests::wait_for;

/// A second address of the attacker's namespace (it never fails a login).
const BYSTANDER_ADDR: &str = "198.51.100.3";

/// `GET /healthz` from [`BYSTANDER_ADDR`] (python3 inside the attacker's namespace, bound to that
/// source address); `None` when the connection fails.
fn bystander_healthz(lab: &Lab) -> Option<u16> {
    let script = format!(
        "import http.client\n\
         c = http.client.HTTPConnection('{SERVER_OTHER_SIDE}', {port}, timeout=2, source_address=('{BYSTANDER_ADDR}', 0))\n\
         c.request('GET', '/healthz')\n\
         print(c.getresponse().status)\n",
        port = lab.other_side().port()
    );
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", &lab.other.name, "python3", "-c", &script])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

fn apply(admin: &NsClient, confirm_within_secs: u64) -> Value {
    let resp = admin.post(
        "/firewall/apply",
        json!({"confirm_within_secs": confirm_within_secs}),
    );
    assert_eq!(resp.status, 202, "apply: {}", resp.body);
    resp.json()
}

/// The live table without counter values (they change with traffic).
fn table_shape(text: &str) -> String {
    text.lines()
        .map(|l| match l.find(" counter packets ") {
            Some(i) => {
                let rest = &l[i + " counter packets ".len()..];
                let after = rest
                    .split_once(" bytes ")
                    .and_then(|(_, b)| b.split_once(' '))
                    .map(|(_, tail)| tail)
                    .unwrap_or("");
                format!("{} counter {after}", &l[..i])
            }
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn unconfirmed_apply_rolls_back_by_itself_and_confirmed_stays() {
    if !runs() {
        return;
    }
    let lab = Lab::new();
    let _listener = Listener::start(&lab.server, &[8300], &[]);
    let warden = lab.start_warden();
    let admin = NsClient::new(&lab.admin, lab.admin_side()).login();

    // Closed by default: before anyone applied anything, Warden's guard keeps the service range
    // closed from outside.
    assert_eq!(tcp_probe(&lab.other, other_port(8300)), Outcome::Dropped);
    let guard = lab.server.warden_table().expect("the default guard");
    let s = status(&admin);
    assert_eq!(s["active"], true, "{s}");
    assert_eq!(s["default_guard"], true, "{s}");
    assert_eq!(s["applied_revision"], 0);
    assert_eq!(s["pending"], Value::Null);
    assert_eq!(s["drift"], false);
    assert_eq!(s["capability"]["available"], true, "{s}");

    // Unconfirmed apply of a rule opening 8300: live at once, then rolled back to the guard.
    let rule = add_rule(
        &admin,
        json!({"protocol": "tcp", "ports": ["8300"], "action": "accept"}),
    );
    let s = apply(&admin, 3);
    assert_eq!(s["active"], true);
    assert_eq!(s["default_guard"], false);
    assert_eq!(s["pending"]["revision"], 1);
    assert!(s["pending"]["rollback_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(tcp_probe(&lab.other, other_port(8300)), Outcome::Open);
    wait_for("the rollback", Duration::from_secs(15), || {
        (table_shape(&lab.server.warden_table()?) == table_shape(&guard)).then_some(())
    });
    wait_reach(
        &lab.other,
        other_port(8300),
        Outcome::Dropped,
        Duration::from_secs(5),
    );
    // Read once: the status is taken under the same lock as the rollback's kernel and record changes.
    let s = status(&admin);
    assert_eq!(s["active"], true, "{s}");
    assert_eq!(s["default_guard"], true, "{s}");
    assert_eq!(s["pending"], Value::Null);
    assert_eq!(s["applied_revision"], 0);
    assert_eq!(s["drift"], false, "{s}");
    assert_eq!(s["last_rollback"]["cause"], "timer", "{s}");

    // Confirmed apply stays past its window.
    let rule_id = rule["id"].as_str().unwrap();
    let resp = admin.patch(
        &format!("/firewall/rules/{rule_id}"),
        json!({"action": "reject"}),
    );
    assert_eq!(resp.status, 200, "{}", resp.body);
    apply(&admin, 3);
    let resp = admin.post("/firewall/confirm", json!({}));
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(resp.json()["pending"], Value::Null);
    let confirmed = lab.server.warden_table().expect("table after confirm");
    assert!(confirmed.contains(&format!("warden:{rule_id}")));
    assert_eq!(tcp_probe(&lab.other, other_port(8300)), Outcome::Refused);
    // Asserting an absence: wait beyond the (cancelled) rollback deadline.
    std::thread::sleep(Duration::from_secs(4));
    let s = status(&admin);
    assert_eq!(
        (s["active"].clone(), s["applied_revision"].clone()),
        (json!(true), json!(2))
    );
    assert_eq!(s["drift"], false);
    assert_eq!(
        table_shape(&lab.server.warden_table().unwrap()),
        table_shape(&confirmed)
    );
    // Nothing left to confirm.
    assert_eq!(admin.post("/firewall/confirm", json!({})).status, 409);

    // An explicit rollback returns to the exact confirmed table.
    let resp = admin.patch(
        &format!("/firewall/rules/{rule_id}"),
        json!({"action": "accept"}),
    );
    assert_eq!(resp.status, 200, "{}", resp.body);
    let s = apply(&admin, 60);
    assert_eq!(s["pending"]["revision"], 3);
    assert_eq!(tcp_probe(&lab.other, other_port(8300)), Outcome::Open);
    let resp = admin.post("/firewall/rollback", json!({}));
    assert_eq!(resp.status, 200, "{}", resp.body);
    let s = resp.json();
    assert_eq!(
        (s["applied_revision"].clone(), s["pending"].clone()),
        (json!(2), Value::Null)
    );
    assert_eq!(s["drift"], false, "{s}");
    assert_eq!(
        table_shape(&lab.server.warden_table().unwrap()),
        table_shape(&confirmed)
    );
    assert_eq!(tcp_probe(&lab.other, other_port(8300)), Outcome::Refused);
    assert_eq!(admin.post("/firewall/rollback", json!({})).status, 409);

    // Deactivate removes the table: an explicit, audited choice that holds across restarts.
    let resp = admin.post("/firewall/deactivate", json!({}));
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(resp.json()["active"], false);
    assert!(lab.server.warden_table().is_none());
    assert_eq!(tcp_probe(&lab.other, other_port(8300)), Outcome::Open);
    let mut warden = warden;
    warden.restart();
    assert!(
        lab.server.warden_table().is_none(),
        "turned off stays off after a restart"
    );
    let admin = admin.login();
    let s = status(&admin);
    assert_eq!(
        (s["active"].clone(), s["default_guard"].clone()),
        (json!(false), json!(false))
    );
    let audit = admin.get("/audit?limit=200");
    assert_eq!(audit.status, 200, "{}", audit.body);
    assert!(
        audit.body.contains("firewall.deactivate") && audit.body.contains("firewall.default_guard"),
        "the guard's installation and turning it off are audited: {}",
        audit.body
    );
}

#[test]
fn kill9_during_the_window_rolls_back_at_next_start_and_active_is_reapplied() {
    if !runs() {
        return;
    }
    let lab = Lab::new();
    let _listener = Listener::start(&lab.server, &[8300], &[]);
    let mut warden = lab.start_warden();
    let admin = NsClient::new(&lab.admin, lab.admin_side()).login();

    // A confirmed rule set (revision 1) is live.
    add_rule(
        &admin,
        json!({"protocol": "tcp", "ports": ["8300"], "action": "reject"}),
    );
    apply(&admin, 0);
    let confirmed = lab.server.warden_table().expect("confirmed table");
    // An unconfirmed one (revision 2) replaces it; Warden dies during the window.
    add_rule(
        &admin,
        json!({"protocol": "tcp", "ports": ["8300"], "action": "accept", "position": 0}),
    );
    apply(&admin, 300);
    assert_eq!(tcp_probe(&lab.other, other_port(8300)), Outcome::Open);
    warden.kill9();
    // The kernel keeps the unconfirmed table while Warden is down...
    assert_eq!(tcp_probe(&lab.other, other_port(8300)), Outcome::Open);
    // ...and the next start rolls it back before serving.
    warden.restart();
    assert_eq!(
        table_shape(&lab.server.warden_table().expect("table after restart")),
        table_shape(&confirmed)
    );
    assert_eq!(tcp_probe(&lab.other, other_port(8300)), Outcome::Refused);
    let admin = admin.login();
    let s = status(&admin);
    assert_eq!(s["pending"], Value::Null, "{s}");
    assert_eq!(s["applied_revision"], 1);
    assert_eq!(s["saved_revision"], 2);
    assert_eq!(s["drift"], false);
    assert_eq!(s["last_rollback"]["cause"], "restart", "{s}");

    // An active, confirmed firewall is re-applied at start (here: after its table was deleted).
    warden.kill9();
    lab.server
        .exec(&["nft", "delete", "table", "inet", "warden"]);
    warden.restart();
    assert_eq!(
        table_shape(&lab.server.warden_table().expect("re-applied table")),
        table_shape(&confirmed)
    );
    let admin = admin.login();
    assert_eq!(status(&admin)["drift"], false);

    // From "turned off": an unconfirmed first apply, kill -9, restart → off again (no guard).
    let resp = admin.post("/firewall/deactivate", json!({}));
    assert_eq!(resp.status, 200);
    apply(&admin, 300);
    assert!(lab.server.warden_table().is_some());
    warden.kill9();
    warden.restart();
    assert!(
        lab.server.warden_table().is_none(),
        "rolled back to no table"
    );
    let admin = admin.login();
    assert_eq!(status(&admin)["active"], false);
}

#[test]
fn anti_lockout_keeps_the_applying_address_on_the_admin_port() {
    if !runs() {
        return;
    }
    let lab = Lab::new();
    let _listener = Listener::start(&lab.server, &[8300, 9000], &[]);
    let _warden = lab.start_warden();
    let admin = NsClient::new(&lab.admin, lab.admin_side()).login();

    add_rule(
        &admin,
        json!({"action": "drop", "annotation": "drop everything"}),
    );
    let s = apply(&admin, 0);
    assert_eq!(s["anti_lockout"], json!([ADMIN_ADDR]), "{s}");
    // The applying address still administers over new connections...
    let resp = admin.get("/firewall");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json()["active"], true);
    // ...but not reach other ports, and another client reaches nothing.
    let admin_side_9000: SocketAddr = format!("{}:9000", lab.admin_side().ip()).parse().unwrap();
    assert_eq!(tcp_probe(&lab.admin, admin_side_9000), Outcome::Dropped);
    assert_eq!(tcp_probe(&lab.other, lab.other_side()), Outcome::Dropped);
    assert_eq!(tcp_probe(&lab.other, other_port(9000)), Outcome::Dropped);
    assert_eq!(tcp_probe(&lab.other, other_port(8300)), Outcome::Dropped);
    // The rendered ruleset says so.
    let text = admin.get("/firewall/ruleset?applied=true");
    assert_eq!(text.status, 200);
    assert!(
        text.body.contains(&format!(
            "ip saddr {ADMIN_ADDR} tcp dport {{ 22, 8080 }} accept"
        )),
        "{}",
        text.body
    );
    // Counters of the drop rule count the other client's attempts.
    let rules = admin.get("/firewall/rules").json();
    assert!(rules[0]["packets"].as_u64().unwrap() > 0, "{rules}");
    // An anti-lockout address cannot be banned.
    let resp = admin.post("/firewall/bans", json!({"address": ADMIN_ADDR}));
    assert_eq!(resp.status, 409, "{}", resp.body);
}

#[test]
fn failed_logins_ban_the_address_at_the_kernel_until_it_expires_or_is_lifted() {
    if !runs() {
        return;
    }
    let lab = Lab::new();
    let _warden = lab.start_warden();
    let admin = NsClient::new(&lab.admin, lab.admin_side()).login();
    // The default threshold (50 failures in 10 minutes) with a short ban, so its expiry can be seen.
    let short = admin.patch(
        "/settings",
        json!({"ban": {"max_failures": 50, "window_secs": 600, "ban_secs": 4}}),
    );
    assert_eq!(short.status, 200, "{}", short.body);
    let max_failures = 50;
    // A bystander: a second address in the attacker's namespace that never fails a login.
    lab.other.exec(&[
        "ip",
        "addr",
        "add",
        &format!("{BYSTANDER_ADDR}/24"),
        "dev",
        "eth0",
    ]);
    assert_eq!(bystander_healthz(&lab), Some(200));

    // The firewall turned off (no rule set, no guard): bans still work (a bans-only table).
    let resp = admin.post("/firewall/deactivate", json!({}));
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert!(lab.server.warden_table().is_none());
    let attacker = NsClient::new(&lab.other, lab.other_side());
    let wrong = json!({"username": "admin", "password": "wrong"});
    let mut statuses = Vec::new();
    let mut refused_connection = false;
    // 60 failed logins from one address: 401 up to the threshold, then 429 with Retry-After, then the
    // kernel drops its connections.
    for _ in 0..60 {
        match attacker.try_request(
            "POST",
            "/auth/login",
            Some(wrong.clone()),
            Duration::from_millis(800),
        ) {
            Ok(resp) => {
                if resp.status == 429 {
                    // Retry-After is the ban's length (4 s), not the failure window's.
                    let retry: u64 = resp
                        .header("retry-after")
                        .expect("429 without Retry-After")
                        .parse()
                        .unwrap();
                    assert!((1..=4).contains(&retry), "Retry-After: {retry}");
                }
                statuses.push(resp.status);
            }
            Err(_) => {
                refused_connection = true;
                break;
            }
        }
    }
    assert!(refused_connection, "never banned: {statuses:?}");
    assert!(
        statuses[..max_failures].iter().all(|s| *s == 401),
        "{statuses:?}"
    );
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    assert_eq!(tcp_probe(&lab.other, lab.other_side()), Outcome::Dropped);
    // The administering address is unaffected, and sees the ban with its reason.
    let bans = admin.get("/firewall/bans").json();
    let ban = bans
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["address"] == OTHER_ADDR)
        .unwrap_or_else(|| panic!("no ban of {OTHER_ADDR}: {bans}"));
    assert!(
        ban["reason"]
            .as_str()
            .unwrap()
            .contains("failed logins within"),
        "{ban}"
    );
    assert!(
        ban["banned_at"].is_string() && ban["expires_at"].is_string(),
        "{ban}"
    );
    let table = lab.server.warden_table().expect("bans-only table");
    assert!(
        table.contains(OTHER_ADDR) && !table.contains("8300"),
        "{table}"
    );

    // Other addresses are unaffected, even from the same namespace and subnet.
    assert_eq!(
        bystander_healthz(&lab),
        Some(200),
        "the bystander was banned too"
    );
    // The kernel lifts the ban by itself, and the address starts afresh: a wrong password is a plain
    // 401 again, not 429 for the rest of the failure window.
    wait_reach(
        &lab.other,
        lab.other_side(),
        Outcome::Open,
        Duration::from_secs(15),
    );
    let resp = attacker.request("POST", "/auth/login", Some(wrong.clone()));
    assert_eq!(resp.status, 401, "{}", resp.body);

    // Banned again; an administrator lifting the ban lets the address in at once, logins included.
    assert!(fail_logins_until_banned(&attacker, 60));
    let resp = admin.delete(&format!("/firewall/bans/{OTHER_ADDR}"));
    assert_eq!(resp.status, 204, "{}", resp.body);
    assert_eq!(tcp_probe(&lab.other, lab.other_side()), Outcome::Open);
    let resp = attacker.request("POST", "/auth/login", Some(wrong.clone()));
    assert_eq!(resp.status, 401, "{}", resp.body);

    // A ban by hand expires by itself.
    let resp = admin.post(
        "/firewall/bans",
        json!({"address": OTHER_ADDR, "reason": "by hand", "ban_secs": 2}),
    );
    assert_eq!(resp.status, 201, "{}", resp.body);
    assert_eq!(resp.json()["reason"], "by hand");
    assert_eq!(tcp_probe(&lab.other, lab.other_side()), Outcome::Dropped);
    wait_reach(
        &lab.other,
        lab.other_side(),
        Outcome::Open,
        Duration::from_secs(10),
    );

    // Unban restores at once; the bans-only table goes away with the last ban.
    let resp = admin.post(
        "/firewall/bans",
        json!({"address": OTHER_ADDR, "ban_secs": 600}),
    );
    assert_eq!(resp.status, 201, "{}", resp.body);
    assert_eq!(tcp_probe(&lab.other, lab.other_side()), Outcome::Dropped);
    let resp = admin.delete(&format!("/firewall/bans/{OTHER_ADDR}"));
    assert_eq!(resp.status, 204, "{}", resp.body);
    assert_eq!(tcp_probe(&lab.other, lab.other_side()), Outcome::Open);
    assert!(lab.server.warden_table().is_none());
    assert_eq!(
        admin.delete(&format!("/firewall/bans/{OTHER_ADDR}")).status,
        204,
        "unban is idempotent"
    );

    // Bans survive an apply (carried into the new table).
    let resp = admin.post(
        "/firewall/bans",
        json!({"address": OTHER_ADDR, "ban_secs": 600}),
    );
    assert_eq!(resp.status, 201);
    apply(&admin, 0);
    assert_eq!(tcp_probe(&lab.other, lab.other_side()), Outcome::Dropped);
    assert_eq!(admin.get("/firewall/bans").json()[0]["address"], OTHER_ADDR);
}

#[test]
fn a_preset_opens_its_port_for_real_packets_and_closing_it_closes() {
    if !runs() {
        return;
    }
    let lab = Lab::new();
    let _listener = Listener::start(&lab.server, &[80], &[]);
    let _warden = lab.start_warden();
    let admin = NsClient::new(&lab.admin, lab.admin_side()).login();

    let resp = admin.patch("/firewall", json!({"default_inbound_policy": "drop"}));
    assert_eq!(resp.status, 200, "{}", resp.body);
    apply(&admin, 0);
    assert_eq!(tcp_probe(&lab.other, other_port(80)), Outcome::Dropped);

    let resp = admin.post("/firewall/presets/http", json!({}));
    assert_eq!(resp.status, 201, "{}", resp.body);
    assert_eq!(resp.json()[0]["ports"], json!(["80"]));
    // Nothing reaches the kernel before apply.
    assert_eq!(tcp_probe(&lab.other, other_port(80)), Outcome::Dropped);
    apply(&admin, 0);
    assert_eq!(tcp_probe(&lab.other, other_port(80)), Outcome::Open);
    let presets = admin.get("/firewall/presets").json();
    let http = presets
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "http")
        .unwrap();
    assert_eq!(http["open"], true);

    assert_eq!(admin.delete("/firewall/presets/http").status, 204);
    apply(&admin, 0);
    assert_eq!(tcp_probe(&lab.other, other_port(80)), Outcome::Dropped);
}

#[test]
fn drift_is_reported_and_reapply_fixes_it_and_bad_applies_change_nothing() {
    if !runs() {
        return;
    }
    let lab = Lab::new();
    let _warden = lab.start_warden();
    let admin = NsClient::new(&lab.admin, lab.admin_side()).login();

    add_rule(
        &admin,
        json!({"protocol": "udp", "ports": ["5353"], "annotation": "mdns"}),
    );
    apply(&admin, 0);
    assert_eq!(status(&admin)["drift"], false);
    lab.server
        .exec(&["nft", "delete", "table", "inet", "warden"]);
    assert_eq!(status(&admin)["drift"], true);
    let s = apply(&admin, 0);
    assert_eq!(s["drift"], false, "{s}");
    // Someone edits the table by hand: drift again; the reapply route fixes it.
    lab.server.exec(&[
        "nft", "add", "rule", "inet", "warden", "input", "tcp", "dport", "1", "drop",
    ]);
    assert_eq!(status(&admin)["drift"], true);
    let resp = admin.post("/firewall/reapply", json!({}));
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(resp.json()["drift"], false);

    // Rejected applies change nothing: an unresolvable host (named), a too-long window, bad JSON.
    let before = lab.server.warden_table().unwrap();
    let rule = add_rule(
        &admin,
        json!({"hosts": ["no-such-host.invalid"], "ports": ["22"]}),
    );
    let resp = admin.post("/firewall/apply", json!({"confirm_within_secs": 60}));
    assert_eq!(resp.status, 422, "{}", resp.body);
    let err = resp.json();
    assert_eq!(err["error"]["code"], "validation_failed");
    assert_eq!(err["error"]["field"], "rules[1].hosts[0]");
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no-such-host.invalid"));
    let resp = admin.delete(&format!("/firewall/rules/{}", rule["id"].as_str().unwrap()));
    assert_eq!(resp.status, 204);
    let resp = admin.post(
        "/firewall/apply",
        json!({"confirm_within_secs": 100_000_000}),
    );
    assert_eq!(resp.status, 422, "{}", resp.body);
    assert_eq!(resp.json()["error"]["field"], "confirm_within_secs");
    let resp = admin.post(
        "/firewall/apply",
        json!({"confirm_within_secs": 5, "force": true}),
    );
    assert_eq!(resp.status, 400, "{}", resp.body);
    assert_eq!(
        table_shape(&lab.server.warden_table().unwrap()),
        table_shape(&before)
    );
    let s = status(&admin);
    assert_eq!(s["pending"], Value::Null);
    assert_eq!(s["applied_revision"], 1);
}

#[test]
fn ipv6_rules_and_the_default_guard_hold_for_real_packets() {
    if !runs() {
        return;
    }
    let lab = Lab::new();
    let ports = [8299, 8300, 8301, 8302, 8303, 8304, 8499, 8500];
    let _listener = Listener::start(&lab.server, &ports, &[]);
    let _warden = lab.start_warden();
    let admin = NsClient::new(&lab.admin, lab.admin_side()).login();
    let v6 = |port| lab.other_side_v6(port);

    // Turned off: everything is open over IPv6 too.
    let resp = admin.post("/firewall/deactivate", json!({}));
    assert_eq!(resp.status, 200, "{}", resp.body);
    for port in ports {
        assert_eq!(
            tcp_probe(&lab.other, v6(port)),
            Outcome::Open,
            "port {port}"
        );
    }

    // The defaults: the guard closes 8300-8499 to new inbound IPv6 connections from outside, and
    // only that range.
    apply(&admin, 0);
    for port in [8300, 8301, 8499] {
        assert_eq!(
            tcp_probe(&lab.other, v6(port)),
            Outcome::Dropped,
            "port {port}"
        );
    }
    for port in [8299, 8500] {
        assert_eq!(
            tcp_probe(&lab.other, v6(port)),
            Outcome::Open,
            "port {port}"
        );
    }

    // Accept from the other client's address, reject (IPv6 only), drop, and an accept limited to a
    // network the client is not in.
    add_rule(
        &admin,
        json!({"protocol": "tcp", "action": "accept", "ports": ["8301"],
               "hosts": [OTHER_ADDR_V6], "annotation": "v6 client"}),
    );
    add_rule(
        &admin,
        json!({"protocol": "tcp", "action": "reject", "ports": ["8302"], "ip_version": "6"}),
    );
    add_rule(
        &admin,
        json!({"protocol": "tcp", "action": "drop", "ports": ["8299", "8303"]}),
    );
    add_rule(
        &admin,
        json!({"protocol": "tcp", "action": "accept", "ports": ["8304"],
               "hosts": ["2001:db8:ffff::/48"]}),
    );
    apply(&admin, 0);
    assert_eq!(tcp_probe(&lab.other, v6(8301)), Outcome::Open);
    assert_eq!(tcp_probe(&lab.other, v6(8302)), Outcome::Refused);
    assert_eq!(tcp_probe(&lab.other, v6(8303)), Outcome::Dropped);
    assert_eq!(tcp_probe(&lab.other, v6(8299)), Outcome::Dropped);
    assert_eq!(
        tcp_probe(&lab.other, v6(8304)),
        Outcome::Dropped,
        "host filter"
    );
    assert_eq!(tcp_probe(&lab.other, v6(8499)), Outcome::Dropped, "guard");
    assert_eq!(tcp_probe(&lab.other, v6(8500)), Outcome::Open);
    // The IPv6-only reject does not touch IPv4 (the guard drops that connection instead), and the
    // IPv6 host of the accept rule does not open the port to the client's IPv4 address.
    assert_eq!(tcp_probe(&lab.other, other_port(8302)), Outcome::Dropped);
    assert_eq!(tcp_probe(&lab.other, other_port(8301)), Outcome::Dropped);
    let table = lab.server.warden_table().expect("table applied");
    assert!(
        table.contains(&format!("ip6 saddr {OTHER_ADDR_V6} tcp dport 8301")),
        "{table}"
    );

    // A ban of the IPv6 client covers its /64 and cuts it off; lifting it restores access.
    let resp = admin.post("/firewall/bans", json!({"address": OTHER_ADDR_V6}));
    assert_eq!(resp.status, 201, "{}", resp.body);
    assert_eq!(tcp_probe(&lab.other, v6(8301)), Outcome::Dropped);
    assert_eq!(tcp_probe(&lab.other, v6(8500)), Outcome::Dropped);
    let bans = admin.get("/firewall/bans").json();
    assert!(
        bans.to_string().contains("2001:db8:b::/64"),
        "the ban is listed as the client's /64: {bans}"
    );
    // IPv4 from the same client is not banned.
    assert_eq!(tcp_probe(&lab.other, other_port(8500)), Outcome::Open);
    let resp = admin.delete(&format!("/firewall/bans/{OTHER_ADDR_V6}"));
    assert_eq!(resp.status, 204, "{}", resp.body);
    wait_reach(&lab.other, v6(8301), Outcome::Open, Duration::from_secs(5));
}

/// The UI's unban (a server function) does what the REST unban does: the kernel ban goes, and the
/// address may log in again at once — not only after the ban would have ended. (The UI's unban used to
/// leave the login block in place: the address got 429 until the ban time was over.)
#[test]
fn lifting_a_ban_from_the_ui_lets_the_address_log_in_again_at_once() {
    if !runs() {
        return;
    }
    let lab = Lab::new();
    let _warden = lab.start_warden();
    let admin = NsClient::new(&lab.admin, lab.admin_side()).login();
    let resp = admin.patch(
        "/settings",
        json!({"ban": {"max_failures": 3, "window_secs": 600, "ban_secs": 600}}),
    );
    assert_eq!(resp.status, 200, "{}", resp.body);
    let attacker = NsClient::new(&lab.other, lab.other_side());
    let wrong = json!({"username": "admin", "password": "wrong"});
    assert!(
        fail_logins_until_banned(&attacker, 10),
        "three failed logins did not ban {OTHER_ADDR}"
    );

    let resp = admin.rpc("firewall/unban", json!({ "address": OTHER_ADDR }));
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(tcp_probe(&lab.other, lab.other_side()), Outcome::Open);
    let resp = attacker.request("POST", "/auth/login", Some(wrong));
    assert_eq!(
        resp.status, 401,
        "after the UI's unban the address may try again: {}",
        resp.body
    );
    let right = json!({"username": "admin", "password": warden_tests::ADMIN_PASSWORD});
    let resp = attacker.request("POST", "/auth/login", Some(right));
    assert_eq!(resp.status, 200, "{}", resp.body);
    let audit = admin.get("/audit?limit=20").json();
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "firewall.unban"
                && e["target"] == OTHER_ADDR
                && e["actor"] == "admin"
                && e["outcome"] == "ok"),
        "{audit}"
    );
}
