//! The settings REST API against the real binary: defaults, partial PATCH (durable across kill -9),
//! invalid → 422 with nothing changed, unknown fields → 400, and the global environment reaching a newly
//! started service live. Ports used: 8420-8429 (none bound).

use std::time::Duration;

use serde_json::{json, Value};
use warden_tests::{api_error, poll, Api, Warden};

const T: Duration = Duration::from_secs(15);

#[tokio::test]
async fn defaults_partial_patch_and_durability() {
    let mut w = Warden::start_managed();
    let api = Api::login(&w).await;
    let defaults = api.get_json("/settings").await;
    assert!(defaults["hostname"].as_str().is_some_and(|h| !h.is_empty()));
    assert!(defaults["environment"]["PATH"]
        .as_str()
        .is_some_and(|p| p.contains("/usr/bin")));
    assert!(defaults["service_user"]
        .as_str()
        .is_some_and(|u| !u.is_empty()));
    if nix::unistd::geteuid().is_root() {
        assert_eq!(defaults["service_user"], "nobody", "never root by default");
    }
    assert_eq!(defaults["service_ports"], "8300:8499");
    assert_eq!(
        defaults["crash_loop"],
        json!({"max_failures": 5, "window_secs": 60})
    );
    assert_eq!(
        defaults["ban"],
        json!({"max_failures": 50, "window_secs": 600, "ban_secs": 600})
    );

    // Partial: only the given fields change, nested objects merge field by field.
    let resp = api
        .patch(
            "/settings",
            &json!({"hostname": "box-1", "crash_loop": {"max_failures": 7}}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let patched: Value = resp.json().await.expect("json");
    let mut expected = defaults.clone();
    expected["hostname"] = json!("box-1");
    expected["crash_loop"]["max_failures"] = json!(7);
    assert_eq!(patched, expected);
    assert_eq!(api.get_json("/settings").await, expected);
    // An empty patch changes nothing.
    let resp = api.patch("/settings", &json!({})).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(api.get_json("/settings").await, expected);

    // Acknowledged means durable: it survives kill -9.
    w.kill9();
    w.restart();
    let api = Api::with_token(&w, &api.token);
    assert_eq!(api.get_json("/settings").await, expected);
}

#[tokio::test]
async fn invalid_settings_are_rejected_and_change_nothing() {
    let w = Warden::start_managed();
    let api = Api::login(&w).await;
    let before = api.get_json("/settings").await;
    let cases: Vec<(Value, u16, Option<&str>)> = vec![
        (
            json!({"service_ports": "8499:8300"}),
            422,
            Some("service_ports"),
        ),
        (
            json!({"service_ports": "1:70000"}),
            422,
            Some("service_ports"),
        ),
        (json!({"service_ports": "nope"}), 422, Some("service_ports")),
        (
            json!({"crash_loop": {"max_failures": 0}}),
            422,
            Some("crash_loop"),
        ),
        (json!({"ban": {"ban_secs": 0}}), 422, Some("ban")),
        (json!({"hostname": ""}), 422, Some("hostname")),
        (json!({"hostname": "a\nb"}), 422, Some("hostname")),
        (
            json!({"environment": {"1X": "y"}}),
            422,
            Some("environment.1X"),
        ),
        (
            json!({"environment": {"X": "nul\u{0}"}}),
            422,
            Some("environment.X"),
        ),
        (
            json!({"service_user": "no-such-user-xyz"}),
            422,
            Some("service_user"),
        ),
        (
            json!({"service_user": "root;id"}),
            422,
            Some("service_user"),
        ),
        (json!({"unknown": 1}), 400, None),
        (
            json!({"crash_loop": {"max_failures": 3, "extra": 1}}),
            400,
            None,
        ),
        (json!({"ban": {"nope": true}}), 400, None),
        (json!({"crash_loop": {"max_failures": -1}}), 400, None),
        (json!({"hostname": 5}), 400, None),
        (json!(["x"]), 400, None),
    ];
    for (body, status, field) in cases {
        let resp = api.patch("/settings", &body).await;
        let (got, code, got_field) = api_error(resp).await;
        assert_eq!(got, status, "{body}");
        assert_eq!(code, "validation_failed", "{body}");
        if let Some(field) = field {
            assert_eq!(got_field.as_deref(), Some(field), "{body}");
        }
        assert_eq!(
            api.get_json("/settings").await,
            before,
            "unchanged after {body}"
        );
    }
    let resp = api
        .request(reqwest::Method::PATCH, "/settings")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("request");
    assert_eq!(api_error(resp).await.0, 400);
    assert_eq!(api.get_json("/settings").await, before);
}

#[tokio::test]
async fn global_environment_reaches_new_services_live() {
    let w = Warden::start_managed();
    let api = Api::login(&w).await;
    let mut env = api.get_json("/settings").await["environment"].clone();
    env["FOO"] = json!("global-foo-1");
    env["BAR"] = json!("global-bar");
    let resp = api.patch("/settings", &json!({"environment": env})).await;
    assert_eq!(resp.status(), 200);

    let s = api
        .create_service(&json!({
            "name": "env-printer",
            "command": "echo \"FOO=$FOO BAR=$BAR PORT=$PORT\"; exec sleep 104201",
            "ports": [8420],
        }))
        .await;
    let id = s["id"].as_str().expect("id").to_string();
    api.wait_running(&id, T).await;
    poll("the global environment in the log", T, || async {
        api.logs(&id, 50)
            .await
            .contains("out FOO=global-foo-1 BAR=global-bar PORT=8420")
            .then_some(())
    })
    .await;

    // A per-service variable overrides the global one.
    let resp = api
        .patch(
            &format!("/services/{id}"),
            &json!({"environment": {"FOO": "own-foo"}}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    poll("the per-service override in the log", T, || async {
        api.logs(&id, 50)
            .await
            .contains("out FOO=own-foo BAR=global-bar PORT=8420")
            .then_some(())
    })
    .await;

    // A later change of the global environment applies to the next start.
    env["BAR"] = json!("global-bar-2");
    let resp = api.patch("/settings", &json!({"environment": env})).await;
    assert_eq!(resp.status(), 200);
    let resp = api.post_empty(&format!("/services/{id}/restart")).await;
    assert_eq!(resp.status(), 200);
    poll("the new global value after a restart", T, || async {
        api.logs(&id, 50)
            .await
            .contains("out FOO=own-foo BAR=global-bar-2 PORT=8420")
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn crash_loop_settings_apply_live() {
    let w = Warden::start_managed();
    let api = Api::login(&w).await;
    let resp = api
        .patch(
            "/settings",
            &json!({"crash_loop": {"max_failures": 2, "window_secs": 60}}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let s = api
        .create_service(&json!({"name": "crasher", "command": "exit 1"}))
        .await;
    let id = s["id"].as_str().expect("id").to_string();
    let disabled = api
        .wait_service(&id, "disabled after 2 failures", T, |s| {
            s["status"]["state"] == "disabled"
        })
        .await;
    assert_eq!(
        disabled["status"]["disabled_reason"],
        "failed 2 times within 60 s"
    );
}
