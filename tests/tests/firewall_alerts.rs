//! The firewall's alerts end to end (root only): the real binary in a throwaway server namespace
//! managing its real nftables, a webhook receiver listening on that namespace's loopback. A change to
//! the live table behind Warden's back is reported as `firewall_drift` (once), and an apply that is
//! not confirmed in time is rolled back and reported as `firewall_rolled_back`; a jail's ban is reported
//! as `address_banned`, naming the jail.

mod firewall_e2e_support;

use std::time::Duration;

use firewall_e2e_support::{add_rule, runs, status, Lab, NsClient, ADMIN_PORT};
use serde_json::json;
use warden_tests::receivers::WebhookReceiver;
use warden_tests::Launch;

const T: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_and_an_unconfirmed_apply_reach_the_webhook() {
    if !runs() {
        return;
    }
    let lab = Lab::new();
    let receiver = WebhookReceiver::start_in_netns(&lab.server.name).await;
    let _warden = Launch::new()
        .in_netns(&lab.server.name)
        .listen(format!("0.0.0.0:{ADMIN_PORT}"))
        .env("WARDEN_DRIFT_CHECK_MS", "300")
        .start();
    let url = receiver.url("ops");
    let admin = tokio::task::block_in_place(|| NsClient::new(&lab.admin, lab.admin_side()).login());
    tokio::task::block_in_place(|| {
        let created = admin.post(
            "/notifications/destinations",
            json!({"name": "ops", "kind": "webhook", "url": url,
                   "events": ["firewall_drift", "firewall_rolled_back"]}),
        );
        assert_eq!(created.status, 201, "{}", created.body);
        add_rule(
            &admin,
            json!({"protocol": "tcp", "ports": ["9000"], "action": "drop", "annotation": "probe"}),
        );
        let applied = admin.post("/firewall/apply", json!({"confirm_within_secs": 0}));
        assert_eq!(applied.status, 202, "{}", applied.body);
    });

    // Someone changes the live table behind Warden's back (inside the lab's namespace only).
    lab.server.exec(&[
        "nft", "add", "rule", "inet", "warden", "input", "tcp", "dport", "9001", "accept",
    ]);
    let drift = receiver.wait_event("ops", "firewall_drift", T).await;
    assert!(drift["applied_revision"].as_u64().is_some(), "{drift}");
    assert!(
        drift["text"].as_str().is_some_and(|t| !t.is_empty()),
        "{drift}"
    );

    // An apply nobody confirms is rolled back by itself, and reported.
    tokio::task::block_in_place(|| {
        add_rule(
            &admin,
            json!({"protocol": "tcp", "ports": ["9002"], "action": "drop", "annotation": "unconfirmed"}),
        );
        let applied = admin.post("/firewall/apply", json!({"confirm_within_secs": 2}));
        assert_eq!(applied.status, 202, "{}", applied.body);
    });
    let rolled_back = receiver.wait_event("ops", "firewall_rolled_back", T).await;
    assert!(rolled_back["revision"].as_u64().is_some(), "{rolled_back}");
    let after = tokio::task::block_in_place(|| status(&admin));
    assert!(after["pending"].is_null(), "{after}");
    let drifts = receiver
        .bodies("ops")
        .iter()
        .filter(|b| b["event"] == "firewall_drift")
        .count();
    assert!(drifts >= 1, "drift reported");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jails_ban_reaches_the_webhook_as_address_banned() {
    if !runs() {
        return;
    }
    let lab = Lab::new();
    let receiver = WebhookReceiver::start_in_netns(&lab.server.name).await;
    let _warden = lab.start_warden();
    let url = receiver.url("ops");
    tokio::task::block_in_place(|| {
        let admin = NsClient::new(&lab.admin, lab.admin_side()).login();
        let created = admin.post(
            "/notifications/destinations",
            json!({"name": "ops", "kind": "webhook", "url": url, "events": ["address_banned"]}),
        );
        assert_eq!(created.status, 201, "{}", created.body);
        let jail = admin.post(
            "/firewall/jails",
            json!({"name": "app-auth", "source": {"service": "authapp"},
                   "patterns": ["auth failure for \\S+ from <HOST>$"], "max_failures": 3, "ban_secs": 300}),
        );
        assert_eq!(jail.status, 201, "{}", jail.body);
        let script = "for i in 1 2 3 4; do echo \"auth failure for bob from 203.0.113.78\"; done; \
                      exec sleep 600";
        let service = admin.post("/services", json!({"name": "authapp", "command": script}));
        assert_eq!(service.status, 201, "{}", service.body);
    });
    let banned = receiver.wait_event("ops", "address_banned", T).await;
    assert_eq!(banned["address"], "203.0.113.78", "{banned}");
    assert_eq!(banned["ban_secs"], 300, "{banned}");
    assert_eq!(banned["firewall_ban"], true, "{banned}");
    assert!(
        banned["reason"]
            .as_str()
            .is_some_and(|r| r.contains("app-auth")),
        "{banned}"
    );
}
