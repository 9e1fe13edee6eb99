//! The `jails` section of the desired-state document against the real binary: every jail exported
//! (a read-only token may read the document), applied back unchanged, a new jail and a changed one
//! planned and applied (`GET /firewall/jails` follows; the unchanged jail's watcher keeps running with
//! its counters, the changed one keeps its failure counts as after a PATCH), a pattern without
//! `<HOST>` answers 422 naming `jails[<name>].patterns[0]` with nothing of the document applied,
//! `prune` deletes the jails the document does not name, and what `PUT /state` answered survives
//! `kill -9`. The jails watch real log files written by the test.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use warden_tests::state_doc::{named, plan_lines};
use warden_tests::{poll, Api, Warden};

const OFFENDER: &str = "203.0.113.9";

async fn jails(api: &Api) -> Vec<Value> {
    api.get_json("/firewall/jails")
        .await
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn line(name: &str, action: &str, fields: &[&str]) -> (String, String, Vec<String>) {
    (
        name.to_string(),
        action.to_string(),
        fields.iter().map(|f| f.to_string()).collect(),
    )
}

async fn put_state(api: &Api, doc: &Value) -> Value {
    let resp = api.put("/state", doc).await;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    assert_eq!(status, 200, "PUT /state: {text}");
    serde_json::from_str(&text).unwrap_or_default()
}

fn file_jail(name: &str, log: &Path, max_failures: u32) -> Value {
    json!({
        "name": name,
        "source": {"file": log.display().to_string()},
        "patterns": ["auth failure from <HOST>"],
        "max_failures": max_failures,
    })
}

/// Makes `path` appear whole (a file that appears after its jail started is read from its start).
fn appear(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap_or_else(|e| panic!("write {}: {e}", tmp.display()));
    std::fs::rename(&tmp, path).unwrap_or_else(|e| panic!("rename to {}: {e}", path.display()));
}

/// Waits until the jail `name` has read `lines` lines and matched `matched`.
async fn wait_counts(api: &Api, name: &str, lines: u64, matched: u64) -> Value {
    poll(
        &format!("jail {name} to read {lines} lines"),
        Duration::from_secs(20),
        || async {
            let list = jails(api).await;
            let jail = named(&list, name).clone();
            (jail["lines"] == lines && jail["matched"] == matched).then_some(jail)
        },
    )
    .await
}

#[tokio::test]
async fn jails_follow_the_document_and_only_changed_watchers_restart() {
    let logs = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let (alpha_log, beta_log) = (logs.path().join("alpha.log"), logs.path().join("beta.log"));
    let mut w = Warden::start();
    let api = Api::login(&w).await;
    for (name, log) in [("alpha", &alpha_log), ("beta", &beta_log)] {
        let resp = api
            .post("/firewall/jails", &file_jail(name, log, 100))
            .await;
        assert_eq!(
            resp.status(),
            201,
            "{}",
            resp.text().await.unwrap_or_default()
        );
    }
    let failures =
        format!("auth failure from {OFFENDER}\nall is well\nauth failure from {OFFENDER}\n");
    appear(&alpha_log, &failures);
    appear(&beta_log, &failures);
    wait_counts(&api, "alpha", 3, 2).await;
    let beta = wait_counts(&api, "beta", 3, 2).await;
    assert_eq!(
        beta["failing"],
        json!([{"address": OFFENDER, "failures": 2}])
    );

    // Exported (a read-only token may read it: a jail holds nothing secret) and applied back:
    // nothing changes.
    let read = api
        .post("/tokens", &json!({"name": "reader", "scope": "read"}))
        .await
        .json::<Value>()
        .await
        .unwrap_or_default();
    let reader = Api::with_token(&w, read["token"].as_str().unwrap_or_default());
    let resp = reader.get("/state").await;
    assert_eq!(resp.status(), 200);
    let mut doc: Value = resp.json().await.unwrap_or_default();
    let exported = doc["jails"].as_array().cloned().unwrap_or_default();
    assert_eq!(exported.len(), 2, "{doc}");
    assert_eq!(exported[0]["name"], "alpha");
    assert_eq!(exported[1]["max_failures"], 100);
    assert!(
        exported[0].get("id").is_none() && exported[0].get("lines").is_none(),
        "{doc}"
    );
    let again = put_state(&api, &doc).await;
    assert_eq!(again["changed"], false, "{again}");
    assert_eq!(
        plan_lines(&again, "jail"),
        [
            line("alpha", "unchanged", &[]),
            line("beta", "unchanged", &[])
        ]
    );
    let refused = reader.put("/state", &doc).await;
    assert_eq!(refused.status(), 403, "a read-only token cannot apply");

    // A new jail and a changed one: planned (changing nothing), then applied.
    doc["jails"][1]["max_failures"] = json!(50);
    if let Some(list) = doc["jails"].as_array_mut() {
        list.push(
            json!({"name": "sshd", "source": {"journal": "ssh.service"}, "preset": "sshd",
                         "enabled": false}),
        );
    }
    let plan: Value = api
        .post("/state/plan", &doc)
        .await
        .json()
        .await
        .unwrap_or_default();
    let expected = [
        line("alpha", "unchanged", &[]),
        line("beta", "update", &["max_failures"]),
        line("sshd", "create", &[]),
    ];
    assert_eq!(plan_lines(&plan, "jail"), expected, "{plan}");
    assert_eq!(jails(&api).await.len(), 2, "a plan changes nothing");
    let applied = put_state(&api, &doc).await;
    assert_eq!(applied["changed"], true);
    assert_eq!(plan_lines(&applied, "jail"), expected);
    let list = jails(&api).await;
    assert_eq!(list.len(), 3, "{list:?}");
    assert_eq!(named(&list, "beta")["max_failures"], 50);
    assert_eq!(named(&list, "sshd")["enabled"], false);
    assert_eq!(named(&list, "sshd")["preset"], "sshd");
    // The unchanged jail's watcher was not touched (its counters since start are still there); the
    // changed one restarted with its failure counts kept.
    assert_eq!(named(&list, "alpha")["lines"], 3, "{list:?}");
    assert_eq!(named(&list, "alpha")["matched"], 2, "{list:?}");
    assert_eq!(
        named(&list, "beta")["failing"],
        json!([{"address": OFFENDER, "failures": 2}])
    );

    // A pattern without <HOST>: 422 naming the jail and the field, and nothing of the document is
    // applied (not the valid service, not the valid jail change).
    let bad = json!({
        "apiVersion": "warden/v1",
        "services": [{"name": "never-created", "command": "sleep 1000"}],
        "jails": [
            {"name": "alpha", "source": {"file": alpha_log.display().to_string()},
             "patterns": ["auth failure from <HOST>"], "max_failures": 7},
            {"name": "broken", "source": {"file": "/var/log/auth.log"},
             "patterns": ["Failed password for .* from"]}
        ]
    });
    let resp = api.put("/state", &bad).await;
    assert_eq!(resp.status(), 422);
    let body: Value = resp.json().await.unwrap_or_default();
    assert_eq!(body["error"]["code"], "validation_failed", "{body}");
    let fields: Vec<&str> = body["error"]["details"]
        .as_array()
        .map(|d| d.iter().filter_map(|d| d["field"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(fields, ["jails[broken].patterns[0]"], "{body}");
    assert!(api
        .get_json("/services")
        .await
        .as_array()
        .is_some_and(|s| s.is_empty()));
    let list = jails(&api).await;
    assert_eq!(list.len(), 3, "{list:?}");
    assert_eq!(named(&list, "alpha")["max_failures"], 100);

    // Prune: only the jails the document names stay; other sections are left alone.
    let keep = json!({
        "apiVersion": "warden/v1", "prune": true,
        "jails": [file_jail("beta", &beta_log, 50)]
    });
    let pruned = put_state(&api, &keep).await;
    assert_eq!(
        plan_lines(&pruned, "jail"),
        [
            line("beta", "unchanged", &[]),
            line("alpha", "delete", &[]),
            line("sshd", "delete", &[]),
        ]
    );

    // What was answered survives kill -9, the kept jail's counts with it.
    w.kill9();
    w.restart();
    let api = Api::login(&w).await;
    let list = jails(&api).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["name"], "beta");
    assert_eq!(list[0]["max_failures"], 50);
    assert_eq!(
        list[0]["failing"],
        json!([{"address": OFFENDER, "failures": 2}])
    );
}
