//! The live status on a service's page stays current while another process holds one of the service's
//! reserved ports (issue 21: after Restart the page kept `restarts = 0` while the API said 1, because the
//! action's answer, a snapshot from before the restart, arrived after the event of the restart and
//! replaced it; with the port free a later port-check event happened to correct it, with the port busy
//! nothing did). In both builds; the port is held from outside Warden, as another Warden's service would.

use std::net::TcpListener;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use warden_tests::browser::{self, Browser};
use warden_tests::{gate, poll, Api, Build, Launch, ManagedWarden, ADMIN_PASSWORD};

const PORT: u16 = 8300;

/// Holds `PORT` on every address (dual-stack `::`) for the rest of this test process, unless another
/// process already does (then the condition under test holds anyway).
fn hold_port() {
    static HOLDER: OnceLock<Option<TcpListener>> = OnceLock::new();
    HOLDER.get_or_init(|| match TcpListener::bind(("::", PORT)) {
        Ok(listener) => Some(listener),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => None,
        Err(e) => panic!("bind [::]:{PORT}: {e}"),
    });
}

/// The restart count the page shows (`None` while it shows none).
async fn shown_restarts(b: &Browser) -> Option<String> {
    b.client
        .execute(
            "return document.querySelector('[data-testid=status-card] [data-testid=restarts]')?.textContent ?? null;",
            vec![],
        )
        .await
        .ok()?
        .as_str()
        .map(str::to_string)
}

async fn restart_shows_live_with_a_reserved_port_busy(build: Build) {
    if !gate(
        &format!("headless Chromium and the {} build", build.name()),
        browser::available_for(build),
    ) {
        return;
    }
    hold_port();
    let w = ManagedWarden(Launch::new().build(build).start());
    let api = Api::login(&w).await;
    let svc = api
        .create_service(&serde_json::json!({
            "name": "ticker",
            "command": "while true; do echo tick; sleep 0.2; done",
            "ports": [PORT],
        }))
        .await;
    let id = svc["id"].as_str().expect("an id").to_string();

    let b = Browser::start(1280, 900).await;
    b.log_in(&w.url, ADMIN_PASSWORD).await;
    b.open(&w.url, "/services/ticker").await;
    b.find(".page-head [data-state=running]").await;
    assert_eq!(shown_restarts(&b).await.as_deref(), Some("0"));

    b.find("button[data-action=restart]")
        .await
        .click()
        .await
        .expect("click Restart");
    poll(
        "the API to count the restart",
        Duration::from_secs(20),
        || async { (api.service(&id).await["status"]["restarts"] == 1).then_some(()) },
    )
    .await;
    // The event of the restart has been published by now; the page shows it within a few seconds
    // (well before the first port check of the new run, 10 s after its start, could publish again).
    let shown = poll(
        "the page to show restarts = 1",
        Duration::from_secs(5),
        || async {
            let shown = shown_restarts(&b).await;
            (shown.as_deref() == Some("1")).then_some(shown)
        },
    )
    .await;
    assert_eq!(shown.as_deref(), Some("1"));
    // And it stays so for a while (no older snapshot arrives later and puts 0 back).
    let until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < until {
        assert_eq!(
            shown_restarts(&b).await.as_deref(),
            Some("1"),
            "the count went back"
        );
    }
    assert_eq!(api.service(&id).await["status"]["restarts"], 1);
    b.close().await;
}

#[tokio::test]
async fn restart_shows_live_with_a_reserved_port_busy_debug() {
    restart_shows_live_with_a_reserved_port_busy(Build::Debug).await;
}

#[tokio::test]
async fn restart_shows_live_with_a_reserved_port_busy_release() {
    restart_shows_live_with_a_reserved_port_busy(Build::Release).await;
}
