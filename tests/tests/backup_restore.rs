//! Backups against the real binary: `warden backup -o FILE` of a running Warden while services are being
//! created concurrently gives a 0600 file whose document and records agree; `warden restore` refuses a
//! data dir a Warden is using and fills a fresh one; Warden started on it has the same services (running
//! as its own processes), the users log in with their passwords, API tokens work, login sessions do not
//! (they are not in a backup), and the audit log and the jails came along.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use warden_tests::{warden_bin, Api, Warden};

const T: Duration = Duration::from_secs(30);
const OPS_PASSWORD: &str = "a-long-ops-password-4711";

fn warden(args: &[&str]) -> std::process::Output {
    Command::new(warden_bin())
        .args(args)
        .env_remove("WARDEN_URL")
        .env_remove("WARDEN_TOKEN")
        .env_remove("WARDEN_DATA_DIR")
        .stdin(Stdio::null())
        .output()
        .expect("run warden")
}

fn names(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = list
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|s| s["name"].as_str().map(str::to_string))
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_backup_under_load_restores_into_a_fresh_data_dir() {
    let source = Warden::start();
    let admin = Api::login(&source).await;
    for i in 0..2 {
        admin
            .create_service(
                &json!({"name": format!("base-{i}"), "command": format!("exec sleep 84900{i}")}),
            )
            .await;
    }
    let resp = admin
        .post(
            "/users",
            &json!({"username": "ops", "password": OPS_PASSWORD, "role": "read"}),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let resp = admin
        .post(
            "/firewall/jails",
            &json!({"name": "sshd", "source": {"journal": "ssh.service"}, "preset": "sshd",
                    "enabled": false}),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let resp = admin.post("/tokens", &json!({"name": "backup"})).await;
    let token: Value = resp.json().await.expect("token");
    let token = token["token"].as_str().expect("secret").to_string();

    // Write load: services created one after another while the backup is taken.
    let loader = {
        let api = Api::with_token(&source, &token);
        tokio::spawn(async move {
            for i in 0..30 {
                let resp = api
                    .post(
                        "/services",
                        &json!({"name": format!("load-{i}"), "command": "exec sleep 849999"}),
                    )
                    .await;
                assert_eq!(resp.status(), 201);
            }
        })
    };
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("warden.backup");
    let url = source.url.clone();
    let (file_arg, token_arg) = (file.display().to_string(), token.clone());
    let out = tokio::task::spawn_blocking(move || {
        warden(&[
            "backup", "-o", &file_arg, "--url", &url, "--token", &token_arg,
        ])
    })
    .await
    .expect("backup");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    loader.await.expect("loader");
    let mode = std::fs::metadata(&file).expect("file").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let backup: Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("read")).expect("JSON");
    assert_eq!(backup["format"], "warden-backup/1");
    let in_document = names(&backup["state"]["services"]);
    assert!(in_document.len() >= 2, "{in_document:?}");
    assert_eq!(
        backup["trees"]["services"].as_array().map(Vec::len),
        Some(in_document.len()),
        "the document and the records of one snapshot agree"
    );
    let token_records = backup["trees"]["tokens"]
        .as_array()
        .map(Vec::len)
        .unwrap_or(0);
    assert_eq!(
        token_records, 1,
        "the API token only, no login session: {}",
        backup["trees"]["tokens"]
    );
    assert!(!backup.to_string().contains(OPS_PASSWORD));

    // Not into a data dir a running Warden holds.
    let out = warden(&[
        "restore",
        &file.display().to_string(),
        "--data-dir",
        &source.data_dir().display().to_string(),
    ]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("locked"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Into a fresh one: a Warden started there, stopped, restored, started again.
    let mut target = Warden::start();
    target.terminate(T);
    let out = warden(&[
        "restore",
        &file.display().to_string(),
        "--data-dir",
        &target.data_dir().display().to_string(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    target.restart();

    let restored = Api::with_token(&target, &token);
    let services = restored.get_json("/services").await;
    assert_eq!(names(&services), in_document);
    let specs = |list: &Value| -> Vec<Value> {
        let mut out: Vec<Value> = list
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|mut s| {
                if let Some(o) = s.as_object_mut() {
                    o.remove("id");
                    o.remove("status");
                }
                s
            })
            .collect();
        out.sort_by_key(|s| s["name"].as_str().unwrap_or("").to_string());
        out
    };
    assert_eq!(specs(&services), specs(&backup["state"]["services"]));
    assert_eq!(backup["state"]["jails"][0]["name"], "sshd");
    let jails = restored.get_json("/firewall/jails").await;
    assert_eq!(jails[0]["name"], "sshd", "{jails}");
    assert_eq!(jails[0]["enabled"], false, "{jails}");
    let source_pids: Vec<Value> = admin
        .get_json("/services")
        .await
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|s| s["status"]["pid"].clone())
        .collect();
    for s in services.as_array().cloned().unwrap_or_default() {
        let pid = restored
            .wait_running(s["id"].as_str().expect("id"), T)
            .await;
        assert!(
            !source_pids.contains(&json!(pid)),
            "the restored Warden adopted a process of the source"
        );
    }
    // Users log in with their passwords; the admin's login session of the source does not work here.
    let ops = reqwest::Client::new()
        .post(target.api("/auth/login"))
        .json(&json!({"username": "ops", "password": OPS_PASSWORD}))
        .send()
        .await
        .expect("login");
    assert_eq!(ops.status(), 200);
    Api::login(&target).await;
    assert_eq!(admin.get("/services").await.status(), 200);
    assert_eq!(
        Api::with_token(&target, &admin.token)
            .get("/services")
            .await
            .status(),
        401
    );
    let audit = restored.get_json("/audit?limit=1000").await.to_string();
    for action in ["service.create", "user.create", "backup.restore"] {
        assert!(audit.contains(action), "{action} in the restored audit log");
    }
    // The backup itself is audited on the source (after its snapshot was taken).
    assert!(admin
        .get_json("/audit")
        .await
        .to_string()
        .contains("backup.create"));
}
