//! The supervisor's alerts with real processes: a monitoring command that fails reports
//! `service_health_failing` once (not again at every failing check after the restarts), and
//! `service_health_recovered` when it passes; a service over its memory limit reports
//! `service_memory_restart`; a crash loop reports `service_disabled` with the reason.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod supervisor_support;

use std::time::Duration;

use app::model::service::{Health, ServiceInput, ServiceState};
use supervisor_support::*;
use tokio::sync::mpsc;
use warden::alerts::{Alert, AlertSink};
use warden::supervisor::SupervisorHandle;

const T: Duration = Duration::from_secs(20);

async fn start(settings: app::model::settings::Settings) -> (Harness, mpsc::Receiver<Alert>) {
    let dir = tempfile::tempdir().unwrap();
    let store = warden::store::Store::open(&dir.path().join("store")).unwrap();
    let (settings, followed) = tokio::sync::watch::channel(settings);
    let (sink, alerts) = AlertSink::channel();
    let handle = SupervisorHandle::start_with_alerts(
        dir.path(),
        store.clone(),
        followed,
        fast_config(),
        sink,
    )
    .await
    .unwrap();
    (
        Harness {
            dir,
            store,
            handle,
            settings,
        },
        alerts,
    )
}

async fn next_alert(alerts: &mut mpsc::Receiver<Alert>) -> Alert {
    tokio::time::timeout(T, alerts.recv())
        .await
        .expect("an alert in time")
        .expect("the channel is open")
}

#[tokio::test]
async fn health_failing_once_then_recovered() {
    let mut settings = settings();
    settings.crash_loop.max_failures = 1000;
    let (h, mut alerts) = start(settings).await;
    let healthy = h.path_str("healthy");
    let mut input = ServiceInput::new("checked", "exec sleep 1000");
    input.monitoring_command = Some(format!("test -f {healthy}"));
    let svc = h.handle.create(input).await.unwrap();
    let failing = next_alert(&mut alerts).await;
    assert_eq!(failing.event, "service_health_failing");
    assert_eq!(failing.details["service"], "checked");
    assert!(failing.text.contains("exit code 1"), "{}", failing.text);
    // Several more failing checks (each restarts the service) say nothing new.
    h.wait_service(&svc.id, "three restarts by the monitor", T, |s| {
        s.status.restarts >= 3
    })
    .await;
    std::fs::write(&healthy, "ok").unwrap();
    h.wait_service(&svc.id, "health passing", T, |s| {
        s.status.health == Health::Passing
    })
    .await;
    let recovered = next_alert(&mut alerts).await;
    assert_eq!(recovered.event, "service_health_recovered");
    assert_eq!(recovered.details["service_id"], svc.id.as_str());
    assert!(alerts.try_recv().is_err(), "nothing else");
    h.handle.shutdown().await;
}

#[tokio::test]
async fn memory_restart_and_crash_loop_are_reported() {
    let (h, mut alerts) = start(settings()).await;
    let mut hog = ServiceInput::new(
        "hog",
        "(head -c 100000000 /dev/zero; exec sleep 600) | tail",
    );
    hog.limits.memory_max_bytes = Some(32 << 20);
    let hog = h.handle.create(hog).await.unwrap();
    let alert = next_alert(&mut alerts).await;
    assert_eq!(alert.event, "service_memory_restart");
    assert_eq!(alert.details["service"], "hog");
    assert!(
        alert.text.contains("exceeded the limit of 33554432 bytes"),
        "{}",
        alert.text
    );
    h.handle.stop_service(&hog.id).await.unwrap();

    let crashy = h.create("crashy", "exit 3").await;
    h.wait_service(&crashy.id, "disabled", T, |s| {
        s.status.state == ServiceState::Disabled
    })
    .await;
    let disabled = loop {
        let a = next_alert(&mut alerts).await;
        if a.event == "service_disabled" {
            break a;
        }
    };
    assert_eq!(disabled.details["service"], "crashy");
    assert!(
        disabled.details["reason"]
            .as_str()
            .is_some_and(|r| r.contains("times within")),
        "{:?}",
        disabled.details
    );
    h.handle.shutdown().await;
}
