//! Commit-confirm when the store cannot be written (root only: real `nft` in throwaway namespaces, a
//! small file system under Warden's store, filled up for real). A confirm that cannot be made durable
//! is refused (503 `store_unavailable`) and leaves the rollback armed: the unconfirmed rule set is
//! rolled back in the kernel when its window ends, the rollback is retried (sled refuses every write
//! after its first I/O error, so it reaches the disk at the next start), and after space comes back and
//! Warden restarts, nothing of the refused confirm remains. Also: a settings change the full store
//! refuses is 503 `store_unavailable`, not an internal error.

mod firewall_e2e_support;

use std::time::Duration;

use firewall_e2e_support::{add_rule, other_port, runs, status, wait_reach, Lab, NsClient};
use serde_json::json;
use warden_testkit::{Listener, Outcome};
use warden_tests::disk::{copy_dir, fill, root_and_mount, Mount};
use warden_tests::gate;

/// The confirm window of the apply under test: long enough for the store to be filled first.
const CONFIRM_WITHIN_SECS: u64 = 25;

/// Settings edits (each a new 16 KiB global environment) until the store refuses one with 503; how
/// many were accepted. sled writes into segments it allocated earlier, so writes succeed for a while.
fn edit_until_refused(admin: &NsClient) -> usize {
    let big = "x".repeat(16 * 1024);
    for i in 0..3000 {
        let resp = admin.patch(
            "/settings",
            json!({"environment": {"FILL": format!("{i}{big}")}}),
        );
        if resp.status == 503 {
            assert_eq!(resp.error_code(), "store_unavailable", "{}", resp.body);
            return i;
        }
        assert_eq!(resp.status, 200, "edit {i}: {}", resp.body);
    }
    panic!("the store never filled up");
}

#[test]
fn a_confirm_that_cannot_be_saved_is_refused_and_the_apply_still_rolls_back() {
    if !runs() || !gate("root and mount", root_and_mount()) {
        return;
    }
    let lab = Lab::new();
    let _listener = Listener::start(&lab.server, &[8300], &[]);
    let mut warden = lab.start_warden();

    // The store moves onto a small file system (its files copied over, Warden down meanwhile).
    warden.kill9();
    let store = warden.data_dir().join("store");
    let saved = tempfile::tempdir().expect("tempdir");
    copy_dir(&store, saved.path());
    let _mount = Mount::tmpfs(&store, "64m");
    copy_dir(saved.path(), &store);
    warden.restart();
    let admin = NsClient::new(&lab.admin, lab.admin_side()).login();
    wait_reach(
        &lab.other,
        other_port(8300),
        Outcome::Dropped,
        Duration::from_secs(10),
    );

    // An unconfirmed apply opens 8300.
    add_rule(
        &admin,
        json!({"protocol": "tcp", "ports": ["8300"], "action": "accept"}),
    );
    let resp = admin.post(
        "/firewall/apply",
        json!({"confirm_within_secs": CONFIRM_WITHIN_SECS}),
    );
    assert_eq!(resp.status, 202, "{}", resp.body);
    wait_reach(
        &lab.other,
        other_port(8300),
        Outcome::Open,
        Duration::from_secs(5),
    );

    // The disk fills up; the confirm cannot be made durable: refused, and still pending.
    let filler = fill(&store);
    edit_until_refused(&admin);
    let resp = admin.post("/firewall/confirm", json!({}));
    assert_eq!(resp.status, 503, "{}", resp.body);
    assert_eq!(resp.error_code(), "store_unavailable", "{}", resp.body);
    let s = status(&admin);
    assert!(s["pending"].is_object(), "the rollback stays armed: {s}");

    // The window ends: the kernel is rolled back although the record cannot be saved yet.
    wait_reach(
        &lab.other,
        other_port(8300),
        Outcome::Dropped,
        Duration::from_secs(CONFIRM_WITHIN_SECS + 10),
    );

    // Still pending on disk, and Warden says the live table is not what it recorded.
    let s = status(&admin);
    assert!(s["pending"].is_object(), "{s}");
    assert_eq!(s["drift"], true, "{s}");
    assert!(warden
        .stderr()
        .contains("the automatic firewall rollback failed; retrying"));

    // Space comes back and Warden restarts (sled keeps failing after a write error until then): the
    // rollback is what was kept, never the refused confirm.
    std::fs::remove_file(&filler).expect("remove the filler");
    warden.restart();
    let admin = NsClient::new(&lab.admin, lab.admin_side()).login();
    let s = status(&admin);
    assert!(s["pending"].is_null(), "{s}");
    assert_eq!(s["last_rollback"]["revision"], 1, "{s}");
    assert_eq!(s["applied_revision"], 0, "the default guard again: {s}");
    assert_eq!(s["drift"], false, "{s}");
    assert_eq!(
        firewall_e2e_support::tcp_probe(&lab.other, other_port(8300)),
        Outcome::Dropped
    );
    assert!(!warden.stderr().contains("panicked"));
}
