//! Per-service lifecycle settings through the real binary: the fields and their defaults in the API,
//! restart policies `on_failure` / `never` (state `exited`), a custom stop signal and stop grace, and
//! the start order (`after`: a dependent starts once its dependency passes its check; a cycle or an
//! unknown name is a field error).

use std::time::{Duration, Instant};

use serde_json::json;
use warden_tests::{api_error, poll, Api, Warden};

const T: Duration = Duration::from_secs(20);

async fn create(api: &Api, body: serde_json::Value) -> String {
    api.create_service(&body).await["id"]
        .as_str()
        .expect("id")
        .to_string()
}

#[tokio::test]
async fn the_fields_have_their_defaults_and_restart_policies_apply() {
    let w = Warden::start_managed();
    let api = Api::login(&w).await;
    let plain = api
        .create_service(&json!({"name": "plain", "command": "exec sleep 600"}))
        .await;
    assert_eq!(plain["stop_signal"], "TERM", "{plain}");
    assert_eq!(plain["restart"], "always");
    assert_eq!(plain["after"], json!([]));
    assert!(plain["monitoring"].is_object(), "{plain}");
    assert_eq!(
        plain["stop_grace_secs"],
        json!(null),
        "null = the default 10 s"
    );

    let clean = create(
        &api,
        json!({"name": "clean", "command": "exit 0", "restart": "on_failure"}),
    )
    .await;
    let failing = create(
        &api,
        json!({"name": "failing", "command": "exit 3", "restart": "on_failure"}),
    )
    .await;
    let once = create(
        &api,
        json!({"name": "once", "command": "exit 3", "restart": "never"}),
    )
    .await;
    let s = api
        .wait_service(&clean, "exited", T, |s| s["status"]["state"] == "exited")
        .await;
    assert_eq!(s["status"]["last_exit"]["code"], 0, "{s}");
    let s = api
        .wait_service(&once, "exited", T, |s| s["status"]["state"] == "exited")
        .await;
    assert_eq!(s["status"]["last_exit"]["code"], 3, "{s}");
    api.wait_service(&failing, "restarted after a failure", T, |s| {
        s["status"]["restarts"].as_u64() >= Some(1)
    })
    .await;
    // Exited services stay so (no restart), and start runs them again.
    for id in [&clean, &once] {
        let s = api.service(id).await;
        assert_eq!(s["status"]["state"], "exited", "{s}");
        assert_eq!(s["status"]["restarts"], 0, "{s}");
    }
    let resp = api.post_empty(&format!("/services/{clean}/start")).await;
    assert_eq!(resp.status(), 200);
    let log = poll("a second run", T, || async {
        let log = api.logs(&clean, 50).await;
        (log.matches("started pid").count() >= 2).then_some(log)
    })
    .await;
    assert!(
        !log.contains("restarting in"),
        "no restart after an exit 0: {log}"
    );
}

#[tokio::test]
async fn stop_signal_and_stop_grace_are_the_services_own() {
    let w = Warden::start_managed();
    let api = Api::login(&w).await;
    let int = create(
        &api,
        json!({
            "name": "on-int",
            "command": "trap 'echo got-int; exit 0' INT; while true; do sleep 0.1; done",
            "stop_signal": "INT",
        }),
    )
    .await;
    let stubborn = create(
        &api,
        json!({
            "name": "stubborn",
            "command": "trap '' TERM; while true; do sleep 0.1; done",
            "stop_grace_secs": 1,
        }),
    )
    .await;
    api.wait_running(&int, T).await;
    api.wait_running(&stubborn, T).await;
    let resp = api.post_empty(&format!("/services/{int}/stop")).await;
    assert_eq!(resp.status(), 200);
    let log = api.logs(&int, 50).await;
    assert!(log.contains("stopping: SIGINT"), "{log}");
    assert!(log.contains("got-int"), "{log}");

    let started = Instant::now();
    let resp = api.post_empty(&format!("/services/{stubborn}/stop")).await;
    assert_eq!(resp.status(), 200);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "1 s grace, not 10: {took:?}");
    let log = api.logs(&stubborn, 50).await;
    assert!(
        log.contains("SIGKILL") && log.contains("after the 1 s grace"),
        "{log}"
    );

    let resp = api
        .patch(&format!("/services/{int}"), &json!({"stop_grace_secs": 0}))
        .await;
    let (status, code, field) = api_error(resp).await;
    assert_eq!((status, code.as_str()), (422, "validation_failed"));
    assert_eq!(field.as_deref(), Some("stop_grace_secs"));
    let resp = api
        .patch(&format!("/services/{int}"), &json!({"stop_signal": "STOP"}))
        .await;
    assert_eq!(resp.status(), 400, "an unknown signal name is refused");
}

#[tokio::test]
async fn after_waits_for_a_passing_dependency_and_refuses_cycles() {
    let mut w = Warden::start_managed();
    let api = Api::login(&w).await;
    let flag = tempfile::tempdir().expect("temp dir");
    std::fs::set_permissions(
        flag.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .expect("chmod");
    let ready = flag.path().join("ready");
    let db = create(
        &api,
        json!({
            "name": "db",
            "command": "exec sleep 600",
            "monitoring_command": format!("test -e {}", ready.display()),
            "monitoring": {"grace_secs": 0, "interval_secs": 1},
        }),
    )
    .await;
    api.wait_running(&db, T).await;
    let web = create(
        &api,
        json!({"name": "web", "command": "exec sleep 601", "after": ["db"]}),
    )
    .await;
    // db runs but fails its check: web waits.
    api.wait_service(&db, "a failing check", T, |s| {
        s["status"]["health"] == "failing"
    })
    .await;
    let s = api.service(&web).await;
    assert_ne!(s["status"]["state"], "running", "{s}");
    let log = api.logs(&web, 20).await;
    assert!(log.contains("waiting for db"), "{log}");
    std::fs::write(&ready, "").expect("flag");
    api.wait_running(&web, T).await;
    let s = api.service(&db).await;
    assert_eq!(
        s["status"]["health"], "passing",
        "db passed before web started: {s}"
    );

    // A cycle, an unknown name and the service itself are field errors.
    for (after, needle) in [
        (json!(["web"]), "cycle"),
        (json!(["nope"]), "no service named nope"),
        (json!(["db"]), "cannot start after itself"),
    ] {
        let resp = api
            .patch(&format!("/services/{db}"), &json!({"after": after}))
            .await;
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        assert_eq!(status, 422, "{body}");
        assert!(body.contains("\"field\":\"after\""), "{body}");
        assert!(body.contains(needle), "{needle}: {body}");
    }

    // At Warden's next start, web again waits for db to pass before it starts.
    let status = w.terminate(Duration::from_secs(30)).expect("was running");
    assert!(status.success(), "{status:?}");
    w.restart();
    let api = Api::with_token(&w, &api.token);
    api.wait_running(&web, T).await;
    let s = api.service(&db).await;
    assert_eq!(
        s["status"]["health"], "passing",
        "db passed before web started: {s}"
    );
    let log = api.logs(&web, 50).await;
    assert_eq!(log.matches("waiting for db").count(), 2, "{log}");
}
