//! A service's page in headless Chromium shows how it is contained (its own cgroup, or a notice that
//! only its process group holds it), and its "Hard restart" button gives it a new main process; the
//! form shows the lifecycle settings.

use std::time::Duration;

use serde_json::json;
use warden_tests::browser::{self, Browser};
use warden_tests::{cgroups, gate, poll, Api, Launch, ManagedWarden, ADMIN_PASSWORD};

const T: Duration = Duration::from_secs(20);

async fn containment_text(b: &Browser) -> String {
    b.find("[data-testid=status-card] [data-testid=containment]")
        .await
        .text()
        .await
        .unwrap_or_default()
}

#[tokio::test]
async fn the_page_shows_containment_and_hard_restart_gives_a_new_process() {
    if !gate("headless Chromium", browser::available()) {
        return;
    }
    let with_cgroups = cgroups::available().is_ok();
    let w = ManagedWarden(Launch::new().start());
    let api = Api::login(&w).await;
    let s = api
        .create_service(
            &json!({"name": "sleeper", "command": "exec sleep 600", "stop_signal": "INT"}),
        )
        .await;
    let id = s["id"].as_str().expect("id").to_string();
    let first = api.wait_running(&id, T).await;

    let b = Browser::start(1280, 900).await;
    b.log_in(&w.url, ADMIN_PASSWORD).await;
    b.open(&w.url, "/services/sleeper").await;
    b.find(".page-head [data-state=running]").await;
    let shown = containment_text(&b).await;
    if with_cgroups {
        assert_eq!(shown, "own cgroup");
    } else {
        assert!(shown.contains("process group only"), "{shown}");
    }
    b.find("button[data-action=hard-restart]")
        .await
        .click()
        .await
        .expect("click Hard restart");
    poll("a new main process", T, || async {
        let s = api.service(&id).await;
        s["status"]["pid"]
            .as_u64()
            .filter(|&p| p != u64::from(first) && s["status"]["state"] == "running")
    })
    .await;
    let log = api.logs(&id, 20).await;
    assert!(
        log.contains("hard restart requested") && log.contains("SIGINT"),
        "{log}"
    );

    // The edit form shows the lifecycle settings as stored.
    b.find("[data-testid=edit-service]")
        .await
        .click()
        .await
        .expect("click Edit");
    b.find("[data-testid=lifecycle]").await;
    let signal = b
        .client
        .execute(
            "return document.querySelector('[data-testid=lifecycle] select[name=stop_signal]').value;",
            vec![],
        )
        .await
        .expect("read the stop signal");
    assert_eq!(signal.as_str(), Some("INT"));
    // A limit this host cannot enforce is disabled with the reason, as GET /api/v1/capabilities says.
    let caps = api.get_json("/capabilities").await;
    for (field, controller) in [("tasks_max", "pids"), ("cpu_max_percent", "cpu")] {
        let hint = b
            .find(&format!(
                "[data-testid=lifecycle] [data-testid=hint-{field}]"
            ))
            .await;
        let disabled = b
            .client
            .execute(
                &format!("return document.querySelector('[data-testid=lifecycle] input[name={field}]').disabled;"),
                vec![],
            )
            .await
            .expect("read disabled");
        if caps[field]["enforceable"] == false {
            poll("the reason in the hint", T, || async {
                hint.text()
                    .await
                    .ok()
                    .filter(|t| t.contains("Not available") && t.contains(controller))
            })
            .await;
            let disabled = b
                .client
                .execute(
                    &format!("return document.querySelector('[data-testid=lifecycle] input[name={field}]').disabled;"),
                    vec![],
                )
                .await
                .expect("read disabled");
            assert_eq!(disabled.as_bool(), Some(true), "{field}");
        } else {
            assert_eq!(disabled.as_bool(), Some(false), "{field}");
        }
    }
    b.assert_no_page_errors("service page").await;
    b.close().await;

    // Forced process groups: the page says so.
    let w2 = ManagedWarden(
        Launch::new()
            .env("WARDEN_CONTAINMENT", "process-group")
            .start(),
    );
    let api2 = Api::login(&w2).await;
    let s = api2
        .create_service(&json!({"name": "plain", "command": "exec sleep 600"}))
        .await;
    api2.wait_running(s["id"].as_str().expect("id"), T).await;
    let b = Browser::start(1280, 900).await;
    b.log_in(&w2.url, ADMIN_PASSWORD).await;
    b.open(&w2.url, "/services/plain").await;
    b.find(".page-head [data-state=running]").await;
    let shown = containment_text(&b).await;
    assert!(shown.contains("process group only"), "{shown}");
    b.close().await;
}
