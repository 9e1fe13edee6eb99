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
    // Fails if the service inherited the ignored SIGHUP: its shell cannot even trap it then.
    let huppy = h.restart_a_hup_trap("huppy").await;
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
    assert!(!h.log_text(&huppy.id).await.contains("SIGKILL"));
    h.handle.shutdown().await;
}
