//! The seed's own examples run for real under the supervisor: redis-server (monitored by
//! `redis-cli -h ::1 ping`) and memcached (monitored by `nc -z`). kill -9 of the main process → back and
//! answering within 2 s; stop → the port is closed.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod supervisor_support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use app::model::service::{Health, ServiceInput, ServiceState};
use app::model::settings::Settings;
use supervisor_support::*;

fn server_settings() -> Settings {
    // As root the servers run as the unprivileged default service user, like in production.
    let user = if is_root() {
        "nobody".to_string()
    } else {
        own_user()
    };
    Settings::defaults("test".into(), user)
}

fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn redis_answers(port: u16) -> bool {
    Command::new("redis-cli")
        .args(["-h", "::1", "-p", &port.to_string(), "ping"])
        .stdin(Stdio::null())
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "PONG")
}

fn memcached_answers(port: u16) -> bool {
    succeeds("nc", &["-z", "::1", &port.to_string()])
}

fn port_closed(port: u16) -> bool {
    warden::supervisor::procfs::listening_addresses(port).is_empty()
}

async fn kill_and_recover(h: &Harness, id: &str, port: u16, answers: fn(u16) -> bool) {
    let running = h.wait_running(id).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !answers(port) {
        if Instant::now() > deadline {
            panic!(
                "the server never answered; its log:\n{}",
                h.log_text(id).await
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let old = running.status.pid.unwrap();
    let killed_at = Instant::now();
    kill9(old);
    let handle = h.handle.clone();
    let id_owned = id.to_string();
    wait_for("back and answering", Duration::from_secs(2), || {
        let service = handle.get(&id_owned).unwrap();
        async move {
            (service.status.state == ServiceState::Running
                && service.status.pid.is_some_and(|p| p != old)
                && answers(port))
            .then_some(())
        }
    })
    .await;
    eprintln!(
        "port {port}: back and answering {:?} after kill -9",
        killed_at.elapsed()
    );

    // The real monitoring command passes.
    h.wait_service(id, "health passing", Duration::from_secs(10), |s| {
        s.status.health == Health::Passing
    })
    .await;
    let service = h.handle.get(id).unwrap();
    assert!(
        service.status.warnings.is_empty(),
        "bound to :: on its port: {:?}",
        service.status.warnings
    );

    let stopped = h.handle.stop_service(id).await.unwrap();
    assert_eq!(stopped.status.state, ServiceState::Stopped);
    assert!(port_closed(port), "port {port} still open after stop");
    assert!(!answers(port));
}

#[tokio::test]
async fn redis_server_is_supervised() {
    if !have("redis-server") || !have("redis-cli") {
        skip("redis-server / redis-cli are not installed");
        return;
    }
    let port = 8350;
    let h = Harness::start(server_settings(), fast_config()).await;
    let mut input = ServiceInput::new(
        "redis",
        format!(
            "redis-server --bind :: --port {port} --protected-mode no --save '' --appendonly no"
        ),
    );
    input.ports = vec![port];
    // Redis sets IPV6_V6ONLY on a `::` socket, so the seed's `redis-cli -p <port> ping` (which dials
    // 127.0.0.1) cannot reach it; the check dials ::1 instead.
    input.monitoring_command = Some(format!("redis-cli -h ::1 -p {port} ping"));
    let svc = h.handle.create(input).await.unwrap();
    kill_and_recover(&h, &svc.id, port, redis_answers).await;
    h.handle.shutdown().await;
}

#[tokio::test]
async fn memcached_is_supervised() {
    if !have("memcached") || !have("nc") {
        skip("memcached / nc are not installed");
        return;
    }
    let port = 8351;
    let h = Harness::start(server_settings(), fast_config()).await;
    let mut input = ServiceInput::new("memcached", format!("memcached -l :: -p {port}"));
    input.ports = vec![port];
    input.monitoring_command = Some(format!("nc -z ::1 {port}"));
    let svc = h.handle.create(input).await.unwrap();
    kill_and_recover(&h, &svc.id, port, memcached_answers).await;
    h.handle.shutdown().await;
}
