//! `warden export` and `warden apply` against the real binary (remotely: `--url` and a token):
//! export → apply of the same file says "nothing to change" and restarts nothing; an edited file shows
//! its plan as a diff, `--dry-run` changes nothing, then apply changes exactly that; JSON files work
//! alike; a read token may dry-run but not apply. Ports used: 8480.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use warden_tests::{warden_bin, Api, Warden};

const T: Duration = Duration::from_secs(20);

fn cli(w: &Warden, token: &str, args: &[&str]) -> Output {
    Command::new(warden_bin())
        .args(args)
        .args(["--url", &w.url, "--token", token])
        .env_remove("WARDEN_URL")
        .env_remove("WARDEN_TOKEN")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run warden")
}

fn ok(w: &Warden, token: &str, args: &[&str]) -> String {
    let out = cli(w, token, args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{args:?}: {text}");
    text
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

#[tokio::test]
async fn export_then_apply_round_trips_and_an_edit_shows_as_a_diff() {
    let w = Warden::start();
    let api = Api::login(&w).await;
    let web = api
        .create_service(&json!({"name": "web", "command": "exec sleep 848001", "ports": [8480]}))
        .await;
    let id = web["id"].as_str().expect("id").to_string();
    let pid = api.wait_running(&id, T).await;
    let dir = tempfile::tempdir().expect("dir");
    let yaml = dir.path().join("state.yaml");

    ok(&w, &api.token, &["export", "-o", &path(&yaml)]);
    let text = std::fs::read_to_string(&yaml).expect("exported");
    assert!(text.contains("apiVersion: warden/v1"), "{text}");
    assert!(text.contains("command: exec sleep 848001"), "{text}");
    let out = ok(&w, &api.token, &["apply", "-f", &path(&yaml)]);
    assert!(out.contains("nothing to change"), "{out}");
    assert_eq!(api.service(&id).await["status"]["pid"], pid);

    // An edit: the diff first; --dry-run stops there.
    std::fs::write(
        &yaml,
        text.replace("exec sleep 848001", "exec sleep 848002"),
    )
    .expect("edit");
    let out = ok(&w, &api.token, &["apply", "-f", &path(&yaml), "--dry-run"]);
    assert!(out.contains("~ service web: command (restarts)"), "{out}");
    assert!(
        out.contains("0 to create, 1 to update (1 restart), 0 to delete"),
        "{out}"
    );
    assert_eq!(api.service(&id).await["command"], "exec sleep 848001");

    // A read token may look, not apply.
    let resp = api
        .post("/tokens", &json!({"name": "ci", "scope": "read"}))
        .await;
    let reader: Value = resp.json().await.expect("token");
    let reader = reader["token"].as_str().expect("secret").to_string();
    ok(&w, &reader, &["apply", "-f", &path(&yaml), "--dry-run"]);
    let out = cli(&w, &reader, &["apply", "-f", &path(&yaml)]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(api.service(&id).await["command"], "exec sleep 848001");

    let out = ok(&w, &api.token, &["apply", "-f", &path(&yaml)]);
    assert!(out.contains("applied"), "{out}");
    api.wait_service(&id, "restarted with the new command", T, |s| {
        s["command"] == "exec sleep 848002"
            && s["status"]["state"] == "running"
            && s["status"]["pid"] != pid
    })
    .await;

    // JSON by extension, and --prune deletes what the file does not name.
    let json_file = dir.path().join("state.json");
    ok(&w, &api.token, &["export", "-o", &path(&json_file)]);
    let mut doc: Value =
        serde_json::from_str(&std::fs::read_to_string(&json_file).expect("read")).expect("JSON");
    doc["services"] = json!([]);
    std::fs::write(&json_file, doc.to_string()).expect("write");
    let out = ok(&w, &api.token, &["apply", "-f", &path(&json_file)]);
    assert!(out.contains("nothing to change"), "{out}");
    let out = ok(
        &w,
        &api.token,
        &["apply", "-f", &path(&json_file), "--prune"],
    );
    assert!(out.contains("- service web"), "{out}");
    assert_eq!(api.get_json("/services").await, json!([]));

    // A file that is not a document is a usage error naming it.
    std::fs::write(&yaml, "- just a list").expect("write");
    let out = cli(&w, &api.token, &["apply", "-f", &path(&yaml)]);
    assert_eq!(out.status.code(), Some(2));
}
