//! Services start with every signal at its default action, whatever Warden inherited: this test
//! binary ignores SIGHUP and SIGTERM first (as `nohup` or a careless init would leave Warden), and a
//! service's HUP trap must still run on restart and SIGTERM still end it on stop. Its own binary,
//! because signal dispositions belong to the whole process.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod supervisor_support;

use std::time::Duration;

use app::model::service::ServiceState;
use nix::sys::signal::{signal, SigHandler, Signal};
use supervisor_support::*;

const SECS: fn(u64) -> Duration = Duration::from_secs;

#[tokio::test]
async fn services_get_default_signal_actions_even_when_warden_ignores_some() {
    #[allow(unsafe_code)]
    // SAFETY: no handler is installed, only SIG_IGN, and nothing else in this binary relies on either signal.
    unsafe {
        signal(Signal::SIGHUP, SigHandler::SigIgn).unwrap();
        signal(Signal::SIGTERM, SigHandler::SigIgn).unwrap();
    }
    let h = Harness::fast().await;
    let marker = h.path_str("hup");
    let ready = h.path_str("ready");
    let svc = h
        .create(
            "huppy",
            &format!(
                "trap 'echo got-hup >> {marker}; exit 0' HUP; echo $$ > {ready}; while :; do sleep 0.05; done"
            ),
        )
        .await;
    let first = h.wait_running(&svc.id).await.status.pid.unwrap();
    wait_file(&h.path("ready"), SECS(5)).await;
    h.handle.restart_service(&svc.id).await.unwrap();
    let hup = tokio::time::timeout(SECS(5), wait_file(&h.path("hup"), SECS(6))).await;
    let Ok(hup) = hup else {
        panic!(
            "the HUP trap did not run: the service inherited an ignored SIGHUP; the log:\n{}",
            h.log_text(&svc.id).await
        );
    };
    assert_eq!(hup, "got-hup");
    h.wait_service(&svc.id, "restarted", SECS(5), |s| {
        s.status.state == ServiceState::Running && s.status.pid.is_some_and(|p| p != first)
    })
    .await;
    // A plain `sleep` ends on SIGTERM well within the grace, so no SIGKILL is needed.
    let sleeper = h.create("sleeper", "exec sleep 1000").await;
    h.wait_running(&sleeper.id).await;
    h.handle.stop_service(&sleeper.id).await.unwrap();
    h.wait_service(&sleeper.id, "stopped", SECS(5), |s| {
        s.status.state == ServiceState::Stopped
    })
    .await;
    let log = h.log_text(&sleeper.id).await;
    assert!(log.contains("SIGTERM"), "{log}");
    assert!(!log.contains("SIGKILL"), "SIGTERM was ignored: {log}");
    assert!(!h.log_text(&svc.id).await.contains("SIGKILL"));
    h.handle.shutdown().await;
}
