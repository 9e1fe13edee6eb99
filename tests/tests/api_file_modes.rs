//! Warden's files on disk are closed to other users: the data dir is 0700, nothing under it (store,
//! audit, service logs, TLS files) is readable by others, a service's own log included; an older data
//! dir with open permissions is tightened at start (and the log says so); services still start with
//! the usual umask 022, not Warden's 077.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;
use warden_tests::{poll, Api, Launch, ManagedWarden};

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// Every path under `root` (itself included), symbolic links not followed.
fn walk(root: &Path) -> Vec<PathBuf> {
    let mut all = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(p) = pending.pop() {
        let meta = std::fs::symlink_metadata(&p).expect("metadata");
        if meta.is_dir() {
            for e in std::fs::read_dir(&p).expect("read dir") {
                pending.push(e.expect("entry").path());
            }
        }
        all.push(p);
    }
    all
}

/// Asserts that nothing under `data` is open to group or others (log files may be 0640 at most).
fn assert_private(data: &Path) {
    assert_eq!(mode(data), 0o700, "the data dir");
    let all = walk(data);
    assert!(all.len() > 3, "the data dir holds files: {all:?}");
    for p in all {
        let m = mode(&p);
        let is_log = p.extension().is_some_and(|e| e == "log");
        let allowed = if is_log { 0o640 } else { 0o700 };
        assert_eq!(m & !allowed, 0, "{} is {m:o}", p.display());
    }
}

#[tokio::test]
async fn data_dir_store_logs_and_tls_files_are_private_and_an_older_data_dir_is_tightened() {
    let work = tempfile::tempdir().unwrap();
    // Writable by the service user (`nobody` when the tests run as root).
    std::fs::set_permissions(work.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let mut w = ManagedWarden(Launch::new().start());
    let api = Api::login(&w).await;
    let svc = api
        .create_service(&json!({
            "name": "umask-probe",
            "command": "umask > umask.txt; echo secret-output; exec sleep 1000",
            "working_directory": work.path().to_str().unwrap(),
        }))
        .await;
    let id = svc["id"].as_str().unwrap().to_string();
    api.wait_running(&id, Duration::from_secs(20)).await;
    let umask_file = work.path().join("umask.txt");
    let umask = poll(
        "the service wrote its umask",
        Duration::from_secs(10),
        || {
            let f = umask_file.clone();
            async move { std::fs::read_to_string(f).ok().filter(|s| !s.is_empty()) }
        },
    )
    .await;
    assert_eq!(
        umask.trim(),
        "0022",
        "services do not inherit Warden's umask"
    );
    assert_eq!(mode(&umask_file), 0o644, "the service's own file");

    let data = w.data_dir().to_path_buf();
    let log = data.join("logs").join("services").join("umask-probe.log");
    poll(
        "the service log has its output",
        Duration::from_secs(10),
        || {
            let log = log.clone();
            async move {
                std::fs::read_to_string(log)
                    .ok()
                    .filter(|s| s.contains("secret-output"))
            }
        },
    )
    .await;
    assert_eq!(
        mode(&log) & 0o007,
        0,
        "the service log is not world-readable"
    );
    assert!(data.join("store").is_dir());
    assert_private(&data);

    // An older Warden's data dir, readable by everyone: tightened at the next start.
    w.terminate(Duration::from_secs(20));
    for p in walk(&data) {
        let open = if p.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(open)).unwrap();
    }
    assert_eq!(mode(&log), 0o644);
    w.restart();
    assert_private(&data);
    assert!(
        w.stderr_since_restart().contains("took read access away"),
        "{}",
        w.stderr_since_restart()
    );
}

#[test]
fn the_tls_key_and_its_directory_are_private() {
    let w = Launch::new().args(&["--tls", "self-signed"]).start();
    let tls = w.data_dir().join("tls");
    assert_eq!(mode(&tls), 0o700);
    assert_eq!(mode(&tls.join("self-signed-key.pem")), 0o600);
    assert_private(w.data_dir());
}
