//! Disk trouble (root only: it mounts small file systems). The service log directory fills up while a
//! service runs → the service keeps running (its output pipe is still drained: it never blocks), its
//! status carries a `log_not_writable` warning and Warden's log says why, once; when space comes back the
//! log resumes by itself with a note of the lost lines. A store directory that cannot be written at start
//! → a clear error naming it and a non-zero exit, before anything runs. A store that fills up while
//! Warden runs → a stop is refused with 503 `store_unavailable` and changes nothing.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use warden_tests::disk::{copy_dir, fill, root_and_mount, Mount};
use warden_tests::{gate, poll, Api, Launch, Warden};

fn heartbeat(path: &Path) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

fn log_warning(service: &Value) -> Option<String> {
    service["status"]["warnings"]
        .as_array()?
        .iter()
        .find(|w| w["kind"] == "log_not_writable")
        .map(|w| w["message"].as_str().unwrap_or_default().to_string())
}

#[tokio::test]
async fn a_full_log_directory_neither_stops_nor_blocks_services_and_recovers() {
    if !gate("root and mount", root_and_mount()) {
        return;
    }
    let mut w = Warden::start_managed();
    // The service logs live on a 1 MiB file system (mounted before Warden opens anything there).
    w.kill9();
    let logs = w.data_dir().join("logs").join("services");
    let _mount = Mount::tmpfs(&logs, "1m");
    w.restart();
    let api = Api::login(&w).await;

    // ~100 KB/s of output: a blocked log writer would fill the pipe (64 KiB) and stall the loop in
    // well under a second; the heartbeat file shows it keeps going.
    let hb_dir = tempfile::tempdir().unwrap();
    let hb = hb_dir.path().join("heartbeat");
    nix::unistd::chown(
        hb_dir.path(),
        Some(nix::unistd::User::from_name("nobody").unwrap().unwrap().uid),
        None,
    )
    .unwrap();
    let service = api
        .create_service(&json!({
            "name": "chatty",
            "command": format!(
                "i=0; while :; do i=$((i+1)); printf '%2000s\\n' \"tick $i\"; echo $i > {}; sleep 0.02; done",
                hb.display()
            ),
        }))
        .await;
    let id = service["id"].as_str().unwrap().to_string();
    let pid = api.wait_running(&id, Duration::from_secs(10)).await;
    poll("the first log lines", Duration::from_secs(10), || {
        let api = api.clone();
        let id = id.clone();
        async move { api.logs(&id, 5).await.contains("tick").then_some(()) }
    })
    .await;

    // The disk fills up.
    let filler = fill(&logs);
    let warned = poll(
        "the log_not_writable warning",
        Duration::from_secs(10),
        || {
            let api = api.clone();
            let id = id.clone();
            async move { log_warning(&api.service(&id).await) }
        },
    )
    .await;
    assert!(
        warned.contains("chatty.log") && warned.contains("No space left"),
        "{warned}"
    );
    // The service goes on: same process, still producing output well past a pipe's worth.
    let beat = heartbeat(&hb);
    poll(
        "the service to keep running",
        Duration::from_secs(20),
        || {
            let hb = hb.clone();
            async move { (heartbeat(&hb) > beat + 100).then_some(()) }
        },
    )
    .await;
    let now = api.service(&id).await;
    assert_eq!(now["status"]["state"], "running");
    assert_eq!(now["status"]["pid"], pid);
    assert!(log_warning(&now).is_some());
    // Warden's own log says so, once (not once per dropped line).
    let log = w.stderr();
    assert_eq!(
        log.matches("cannot write a service log").count(),
        1,
        "{log}"
    );

    // Space comes back: the log resumes by itself and says what was lost.
    std::fs::remove_file(&filler).unwrap();
    poll("the warning to clear", Duration::from_secs(10), || {
        let api = api.clone();
        let id = id.clone();
        async move { log_warning(&api.service(&id).await).is_none().then_some(()) }
    })
    .await;
    let tail = poll("new lines after the gap", Duration::from_secs(10), || {
        let api = api.clone();
        let id = id.clone();
        async move {
            let tail = api.logs(&id, 2000).await;
            let after = tail.split("could not be written for a while").nth(1)?;
            after.contains("tick").then_some(tail)
        }
    })
    .await;
    assert!(tail.contains("line(s) were lost"), "{tail}");
    assert!(w.stderr().contains("a service log can be written again"));
    assert_eq!(api.service(&id).await["status"]["pid"], pid);
    assert!(!w.stderr().contains("panicked"));
}

#[test]
fn an_unwritable_store_directory_is_a_clear_error_at_start() {
    if !gate("root and mount", root_and_mount()) {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let store = data.path().join("store");
    let start = || Launch::new().command(data.path()).output().unwrap();

    // A fresh, read-only store directory (permissions do not stop root; a read-only mount does).
    std::fs::create_dir_all(&store).unwrap();
    let ro = Mount::read_only_bind(&store);
    let out = start();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr.contains(&store.display().to_string()) && stderr.contains("not writable"),
        "names the directory and the problem: {stderr}"
    );
    assert!(!stderr.contains("panicked") && !stderr.contains("Warden is running"));
    drop(ro);

    // An existing store that became read-only: the same, and its data is untouched.
    let mut w = Warden::start();
    let existing = w.data_dir().join("store");
    w.terminate(Duration::from_secs(20));
    let before = dir_listing(&existing);
    let _ro = Mount::read_only_bind(&existing);
    let out = Launch::new()
        .admin_password(None)
        .command(w.data_dir())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&existing.display().to_string()),
        "names the directory: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(dir_listing(&existing), before);
}

fn dir_listing(dir: &Path) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().to_string(),
                e.metadata().unwrap().len(),
            )
        })
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn a_store_that_cannot_be_written_refuses_stop_and_start_and_changes_nothing() {
    if !gate("root and mount", root_and_mount()) {
        return;
    }
    let mut w = Warden::start_managed();
    let api = Api::login(&w).await;
    let service = api
        .create_service(&json!({"name": "steady", "command": "exec sleep 1000"}))
        .await;
    let id = service["id"].as_str().unwrap().to_string();
    api.wait_running(&id, Duration::from_secs(10)).await;

    // The store moves onto a small file system (its files copied over, Warden down meanwhile).
    w.kill9();
    let store = w.data_dir().join("store");
    let saved = tempfile::tempdir().unwrap();
    copy_dir(&store, saved.path());
    let _mount = Mount::tmpfs(&store, "64m");
    copy_dir(saved.path(), &store);
    w.restart();
    let api = Api::login(&w).await;
    api.wait_running(&id, Duration::from_secs(10)).await;

    // The disk fills up. sled writes into segments it allocated earlier, so writes go on succeeding
    // until those are used up too: edits (each a new 16 KiB environment) until the first is refused.
    let filler = fill(&store);
    let big = "x".repeat(16 * 1024);
    let mut refused_after = None;
    for i in 0..3000 {
        let resp = api
            .patch(
                &format!("/services/{id}"),
                &json!({"environment": {"FILL": format!("{i}{big}")}}),
            )
            .await;
        if resp.status().as_u16() == 503 {
            refused_after = Some(i);
            break;
        }
        assert!(resp.status().is_success(), "edit {i}: {}", resp.status());
    }
    let refused_after = refused_after.expect("the store never filled up");
    let pid = api.wait_running(&id, Duration::from_secs(10)).await;
    let env_before = api.service(&id).await["environment"]["FILL"].clone();
    assert!(
        env_before
            .as_str()
            .is_some_and(|v| v.starts_with(&format!("{}x", refused_after - 1))),
        "the refused edit changed nothing"
    );

    // A stop cannot be made durable either: it is refused and the service is not touched.
    let refused = api.post_empty(&format!("/services/{id}/stop")).await;
    let (status, code, _) = warden_tests::api_error(refused).await;
    assert_eq!((status, code.as_str()), (503, "store_unavailable"));
    let now = api.service(&id).await;
    assert_eq!(now["enabled"], true, "{now}");
    assert_eq!(now["status"]["state"], "running", "{now}");
    assert_eq!(now["status"]["pid"], pid, "the service was not touched");

    // Space comes back and Warden restarts (as after a reboot): the refused stop left no trace.
    std::fs::remove_file(&filler).unwrap();
    w.restart();
    let api = Api::login(&w).await;
    api.wait_running(&id, Duration::from_secs(10)).await;
    let after = api.service(&id).await;
    assert_eq!(after["enabled"], true);
    assert_eq!(
        after["environment"]["FILL"], env_before,
        "what was acknowledged survived"
    );
    assert!(!w.stderr().contains("panicked"));
}
