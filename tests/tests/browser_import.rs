//! The Import page in headless Chromium against the real binary: a systemd unit uploaded through the
//! file input and another one pasted are converted, the services and the report of what was left out
//! are shown, and "Create" makes them real services that run. Screenshots go to target/artifacts/.

use std::time::Duration;

use warden_tests::browser::{self, Browser};
use warden_tests::{gate, poll, Api, Warden, ADMIN_PASSWORD};

#[tokio::test]
async fn upload_and_paste_units_then_create_the_services() {
    if !gate("headless Chromium", browser::available()) {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let unit = dir.path().join("sleeper.service");
    std::fs::write(
        &unit,
        "[Unit]\nDescription=sleeps\n\n[Service]\nExecStart=/bin/sleep 1000\nProtectSystem=full\nRestart=always\n\n[Install]\nWantedBy=multi-user.target\n",
    )
    .expect("write the unit");

    let w = Warden::start();
    let b = Browser::start(1280, 1000).await;
    b.log_in(&w.url, ADMIN_PASSWORD).await;
    b.open(&w.url, "/services").await;
    b.wait_forms_live().await;
    b.click("[data-testid=services-import]").await;
    b.wait_for_path("/import").await;
    b.wait_forms_live().await;

    b.client
        .execute(
            "const s = document.querySelector('[data-testid=import-format]'); s.value = 'systemd'; \
             s.dispatchEvent(new Event('change', {bubbles: true}));",
            vec![],
        )
        .await
        .expect("choose systemd");
    b.find("[data-testid=import-files]")
        .await
        .send_keys(&unit.display().to_string())
        .await
        .expect("upload the unit");
    b.set_input("[data-testid=import-name]", "pasted-app.service")
        .await;
    b.set_input(
        "[data-testid=import-text]",
        "[Service]\nExecStart=/bin/sleep 2000\nPIDFile=/run/app.pid\n",
    )
    .await;
    // The upload is read asynchronously: convert once both services are there.
    poll("both units converted", Duration::from_secs(15), || async {
        b.click("[data-testid=import-convert]").await;
        let both = b.count("[data-testid=import-service-sleeper]").await == 1
            && b.count("[data-testid=import-service-pasted-app]").await == 1;
        both.then_some(())
    })
    .await;
    assert!(
        b.count("[data-testid=import-report] tr[data-kind=unmapped]")
            .await
            >= 3,
        "ProtectSystem, PIDFile and [Install] are reported"
    );
    let report = b
        .find("[data-testid=import-report]")
        .await
        .text()
        .await
        .expect("report text");
    assert!(report.contains("ProtectSystem"), "{report}");
    b.screenshot("import-converted").await;

    b.click("[data-testid=import-create]").await;
    b.wait_count("both created", "[data-testid^=import-created-]", |n| n == 2)
        .await;
    let api = Api::login(&w).await;
    poll(
        "the imported services to run",
        Duration::from_secs(20),
        || async {
            let list = api.get_json("/services").await;
            let running = list
                .as_array()
                .map(|l| {
                    l.iter()
                        .filter(|s| s["status"]["state"] == "running")
                        .filter(|s| s["name"] == "sleeper" || s["name"] == "pasted-app")
                        .count()
                })
                .unwrap_or(0);
            (running == 2).then_some(())
        },
    )
    .await;
    b.assert_no_page_errors("import").await;
    b.close().await;
}
