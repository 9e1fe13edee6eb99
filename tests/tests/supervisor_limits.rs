//! Resource limits through the real binary: `GET /api/v1/capabilities` says which limits this host can
//! enforce; `tasks_max` / `cpu_max_percent` are refused with a field error naming the missing controller
//! where it is missing (the hybrid hosts here delegate none); `nofile` sets RLIMIT_NOFILE; a service
//! that allocates past `memory_max_bytes` is restarted, with the reason in its log and a warning.

use std::time::Duration;

use serde_json::json;
use warden_tests::{poll, Api, Warden};

const T: Duration = Duration::from_secs(20);

#[tokio::test]
async fn limits_needing_a_missing_controller_are_refused_with_the_reason() {
    let w = Warden::start_managed();
    let api = Api::login(&w).await;
    let caps = api.get_json("/capabilities").await;
    assert_eq!(caps["nofile"]["enforceable"], true, "{caps}");
    assert_eq!(caps["memory_max_bytes"]["enforceable"], true, "{caps}");
    for (field, controller) in [("tasks_max", "pids"), ("cpu_max_percent", "cpu")] {
        if caps[field]["enforceable"] == true {
            eprintln!("SKIP (refusal of {field}): the {controller} controller is available here");
            continue;
        }
        assert!(
            caps[field]["how"]
                .as_str()
                .unwrap_or("")
                .contains(controller),
            "{caps}"
        );
        let resp = api
            .post(
                "/services",
                &json!({"name": format!("limited-{controller}"), "command": "exec sleep 600",
                        "limits": {field: 10}}),
            )
            .await;
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        assert_eq!(status, 422, "{body}");
        assert!(
            body.contains(&format!("\"field\":\"limits.{field}\"")),
            "{body}"
        );
        assert!(body.contains(&format!("{controller} controller")), "{body}");
    }
    let list = api.get_json("/services").await;
    assert_eq!(list, json!([]), "nothing was created");
}

#[tokio::test]
async fn nofile_sets_the_open_file_limit() {
    let w = Warden::start_managed();
    let api = Api::login(&w).await;
    let s = api
        .create_service(&json!({
            "name": "files",
            "command": "echo nofile=$(ulimit -n); exec sleep 600",
            "limits": {"nofile": 1234},
        }))
        .await;
    let id = s["id"].as_str().expect("id").to_string();
    assert_eq!(s["limits"]["nofile"], 1234, "{s}");
    poll("the limit in the log", T, || async {
        api.logs(&id, 20)
            .await
            .contains("out nofile=1234")
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_service_over_its_memory_limit_is_restarted_with_the_reason_logged() {
    let w = Warden::start_managed();
    let api = Api::login(&w).await;
    // `tail` keeps a line without a newline in memory: 100 MB of zeros, then it waits for more.
    let s = api
        .create_service(&json!({
            "name": "hog",
            "command": "(head -c 100000000 /dev/zero; exec sleep 600) | tail",
            "limits": {"memory_max_bytes": 32 << 20},
        }))
        .await;
    let id = s["id"].as_str().expect("id").to_string();
    let s = api
        .wait_service(&id, "a restart for memory", T, |s| {
            s["status"]["restarts"].as_u64() >= Some(1)
        })
        .await;
    let warning = s["status"]["warnings"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|w| w["kind"] == "memory_limit")
        .cloned()
        .unwrap_or_else(|| panic!("a memory_limit warning: {s}"));
    assert!(
        warning["message"]
            .as_str()
            .unwrap_or("")
            .contains("exceeded the limit of 33554432 bytes"),
        "{warning}"
    );
    let log = api.logs(&id, 50).await;
    assert!(
        log.contains("exceeded the limit of 33554432 bytes (memory_max_bytes): restarted"),
        "{log}"
    );
    let resp = api.post_empty(&format!("/services/{id}/stop")).await;
    assert_eq!(resp.status(), 200);
}
