//! The supervisor end to end through the real binary: a service survives a Warden `kill -9` + restart
//! exactly once, Warden's SIGTERM ends every service group, and redis-server under Warden comes back
//! within 2 s of a `kill -9` of its main process and closes its port on stop.
//! Ports used: 8410-8419.

use std::time::{Duration, Instant};

use serde_json::json;
use warden_tests::{gate, group_members, pid_alive, poll, processes_matching, Api, Warden};

const T: Duration = Duration::from_secs(20);

/// `sleep <base>.<pid of this test run>`: a command line no other run shares.
fn unique_sleep(base: u32) -> String {
    format!("sleep {base}.{}", std::process::id())
}

fn have(program: &str) -> Result<(), String> {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
        .unwrap_or(false);
    if found {
        Ok(())
    } else {
        Err(format!("{program} is not installed"))
    }
}

#[tokio::test]
async fn a_service_survives_a_warden_crash_exactly_once() {
    let mut w = Warden::start_managed();
    let api = Api::login(&w).await;
    // The marker makes this run's processes unique on the machine.
    let marker = &unique_sleep(104101);
    let s = api
        .create_service(&json!({
            "name": "survivor",
            "command": format!("{marker} & exec {marker}"),
        }))
        .await;
    let id = s["id"].as_str().expect("id").to_string();
    let first = api.wait_running(&id, T).await;
    poll("both processes of the first run", T, || async {
        (processes_matching(marker).len() == 2).then_some(())
    })
    .await;
    let before = processes_matching(marker);
    assert!(before.iter().all(|p| p.pgid == first), "{before:?}");

    // kill -9 Warden: the service keeps running (nothing stopped it)...
    w.kill9();
    assert!(
        pid_alive(first),
        "kill -9 of Warden leaves the service running"
    );

    // ...and after the restart it runs again, exactly once: the old group was ended first.
    w.restart();
    let api = Api::with_token(&w, &api.token);
    let second = api.wait_running(&id, T).await;
    assert_ne!(second, first, "a new run, not the orphan");
    poll("the old group to be gone", T, || async {
        group_members(first).is_empty().then_some(())
    })
    .await;
    let after = poll("exactly the two processes of one run", T, || async {
        let p = processes_matching(marker);
        (p.len() == 2).then_some(p)
    })
    .await;
    assert!(
        after.iter().all(|p| p.pgid == second),
        "every process belongs to the new group: {after:?}"
    );
    let procs = api.get_json(&format!("/services/{id}/processes")).await;
    let listed: Vec<u64> = procs
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["pid"].as_u64())
        .collect();
    assert_eq!(listed.first().copied(), Some(u64::from(second)), "{procs}");
    assert_eq!(listed.len(), 2, "{procs}");
    let log = api.logs(&id, 100).await;
    assert!(log.contains("left from a previous Warden run"), "{log}");

    // A second restart, this time clean (SIGTERM), also yields exactly one run.
    let status = w.terminate(Duration::from_secs(30)).expect("was running");
    assert!(status.success(), "{status:?}");
    assert!(processes_matching(marker).is_empty(), "SIGTERM stopped it");
    w.restart();
    let api = Api::with_token(&w, &api.token);
    let third = api.wait_running(&id, T).await;
    let p = poll("one run after a clean restart", T, || async {
        let p = processes_matching(marker);
        (p.len() == 2).then_some(p)
    })
    .await;
    assert!(p.iter().all(|p| p.pgid == third), "{p:?}");
}

#[tokio::test]
async fn sigterm_stops_every_service() {
    let mut w = Warden::start_managed();
    let api = Api::login(&w).await;
    let mut groups = Vec::new();
    let (plain, child) = (unique_sleep(104102), unique_sleep(104103));
    for (name, command) in [
        ("plain", format!("exec {plain}")),
        ("forking", format!("{child} & {child} & trap '' TERM; wait")),
        (
            "stubborn",
            "trap '' TERM HUP; while true; do sleep 0.2; done".to_string(),
        ),
    ] {
        let s = api
            .create_service(&json!({"name": name, "command": command}))
            .await;
        let id = s["id"].as_str().expect("id").to_string();
        groups.push(api.wait_running(&id, T).await);
    }
    poll("the forking service's children", T, || async {
        let children = processes_matching(&child);
        (children.iter().filter(|p| p.cmdline == child).count() == 2).then_some(())
    })
    .await;
    let started = Instant::now();
    let status = w
        .terminate(Duration::from_secs(40))
        .expect("warden was running");
    assert!(status.success(), "clean exit: {status:?}");
    for pgid in groups {
        assert!(
            group_members(pgid).is_empty(),
            "process group {pgid} is gone after Warden's SIGTERM: {:?}",
            group_members(pgid)
        );
    }
    assert!(processes_matching(&plain).is_empty());
    assert!(processes_matching(&child).is_empty());
    eprintln!("SIGTERM to exit: {:?}", started.elapsed());
}

/// Sends `PING` to redis on [::1]:port and returns whether it answered `+PONG`.
async fn redis_pong(port: u16) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let attempt = async {
        let mut conn = tokio::net::TcpStream::connect(("::1", port)).await.ok()?;
        conn.write_all(b"PING\r\n").await.ok()?;
        let mut buf = [0u8; 16];
        let n = conn.read(&mut buf).await.ok()?;
        Some(buf[..n].starts_with(b"+PONG"))
    };
    tokio::time::timeout(Duration::from_millis(500), attempt)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

async fn port_closed(port: u16) -> bool {
    tokio::net::TcpStream::connect(("::1", port)).await.is_err()
}

#[tokio::test]
async fn redis_under_warden_comes_back_within_2s_and_stops() {
    if !gate(
        "redis-server and redis-cli",
        have("redis-server").and(have("redis-cli")),
    ) {
        return;
    }
    const PORT: u16 = 8410;
    let w = Warden::start_managed();
    let api = Api::login(&w).await;
    let s = api
        .create_service(&json!({
            "name": "redis",
            "command": format!(
                "exec redis-server --bind :: --port {PORT} --protected-mode no --save '' --appendonly no"
            ),
            "monitoring_command": format!("redis-cli -h ::1 -p {PORT} ping"),
            "ports": [PORT],
        }))
        .await;
    let id = s["id"].as_str().expect("id").to_string();
    let pid = api.wait_running(&id, T).await;
    poll("redis to answer PING", T, || async {
        redis_pong(PORT).await.then_some(())
    })
    .await;
    // The monitoring command passes once its first check has run (10 s grace in production timings).
    api.wait_service(
        &id,
        "a passing health check",
        Duration::from_secs(30),
        |s| s["status"]["health"] == "passing",
    )
    .await;

    // kill -9 the main process: back and answering within 2 s.
    let killed_at = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill -9 redis");
    let new_pid = poll("a new redis process", Duration::from_secs(5), || async {
        let s = api.service(&id).await;
        s["status"]["pid"]
            .as_u64()
            .filter(|&p| p != u64::from(pid) && s["status"]["state"] == "running")
    })
    .await;
    poll("redis to answer again", Duration::from_secs(5), || async {
        redis_pong(PORT).await.then_some(())
    })
    .await;
    let back_after = killed_at.elapsed();
    eprintln!("redis: kill -9 → new pid {new_pid} answering PING after {back_after:?}");
    assert!(
        back_after < Duration::from_secs(2),
        "redis must be back within 2 s, took {back_after:?}"
    );
    let s = api.service(&id).await;
    assert_eq!(s["status"]["last_exit"]["signal"], 9, "{s}");
    assert!(s["status"]["restarts"].as_u64() >= Some(1));

    // Stop: the port is closed once the call returns.
    let resp = api.post_empty(&format!("/services/{id}/stop")).await;
    assert_eq!(resp.status(), 200);
    assert!(port_closed(PORT).await, "port {PORT} closed after stop");
    assert!(group_members(new_pid as u32).is_empty());
}
