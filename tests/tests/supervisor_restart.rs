//! Restart as the seed means it, through the real binary: SIGHUP; a program that exits on it is started
//! again at once, one still running after the reload grace (nginx from Debian's nginx-light, master + 2
//! workers) has reloaded in place — no SIGKILL, still answering; `restart?mode=hard` gives a new
//! master; stop leaves nothing. Also: the setsid child of a `kill -9`ed Warden's service is ended by the
//! next start (stale cgroups).
//! Ports used: 8430-8439.

use std::time::{Duration, Instant};

use serde_json::json;
use warden_tests::{cgroups, gate, pid_alive, poll, processes_matching, Api, Warden};

const T: Duration = Duration::from_secs(20);
/// The default stop grace; a restart must complete in well under it.
const STOP_GRACE: Duration = Duration::from_secs(10);

fn have(program: &str) -> Result<(), String> {
    let found = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        .iter()
        .any(|d| std::path::Path::new(d).join(program).is_file());
    if found {
        Ok(())
    } else {
        Err(format!("{program} is not installed (Debian nginx-light)"))
    }
}

async fn answers(port: u16) -> bool {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .build();
    let Ok(client) = client else {
        return false;
    };
    match client.get(format!("http://[::1]:{port}/")).send().await {
        Ok(resp) => resp.status() == 200 && resp.text().await.is_ok_and(|t| t == "ok\n"),
        Err(_) => false,
    }
}

async fn pid_of(api: &Api, id: &str) -> Option<u64> {
    let s = api.service(id).await;
    (s["status"]["state"] == "running")
        .then(|| s["status"]["pid"].as_u64())
        .flatten()
}

/// An nginx configuration in `dir`: in the foreground, 2 workers, on `[::]:port`, every path in `dir`.
fn nginx_conf(dir: &std::path::Path, port: u16) -> String {
    let d = dir.display();
    format!(
        "daemon off;\nworker_processes 2;\npid {d}/nginx.pid;\nerror_log stderr;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
         server {{ listen [::]:{port} ipv6only=off; location / {{ return 200 \"ok\\n\"; }} }}\n}}\n"
    )
}

#[tokio::test]
async fn nginx_reloads_in_place_on_restart_and_hard_restart_gives_a_new_master() {
    if !gate("root and a writable cgroup2", cgroups::available()) || !gate("nginx", have("nginx")) {
        return;
    }
    const PORT: u16 = 8430;
    let dir = tempfile::Builder::new()
        .prefix("warden-nginx-")
        .tempdir()
        .expect("temp dir");
    // The service runs as the unprivileged service user: it must read the configuration and write here.
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .expect("chmod");
    let conf = dir.path().join("nginx.conf");
    std::fs::write(&conf, nginx_conf(dir.path(), PORT)).expect("write nginx.conf");
    let w = Warden::start_managed();
    let api = Api::login(&w).await;
    let s = api
        .create_service(&json!({
            "name": "nginx",
            "command": format!("exec nginx -p {0} -c {0}/nginx.conf -e stderr", dir.path().display()),
            "ports": [PORT],
        }))
        .await;
    let id = s["id"].as_str().expect("id").to_string();
    let master = api.wait_running(&id, T).await;
    let marker = dir.path().display().to_string();
    poll("nginx to answer", T, || async {
        answers(PORT).await.then_some(())
    })
    .await;
    let procs = poll("master + 2 workers listed", T, || async {
        let procs = api.get_json(&format!("/services/{id}/processes")).await;
        let n = procs.as_array().map(Vec::len).unwrap_or(0);
        (n >= 3).then_some(procs)
    })
    .await;
    assert_eq!(procs[0]["pid"], master, "main process first: {procs}");

    // Restart = SIGHUP: nginx reloads in place; complete in well under the stop grace, no SIGKILL.
    let started = Instant::now();
    let resp = api.post_empty(&format!("/services/{id}/restart")).await;
    assert_eq!(resp.status(), 200);
    poll("the reloaded-in-place line", T, || async {
        api.logs(&id, 50)
            .await
            .contains("reloaded in place")
            .then_some(())
    })
    .await;
    let took = started.elapsed();
    eprintln!("nginx restart (reload in place) took {took:?}");
    assert!(took < STOP_GRACE / 2, "restart took {took:?}");
    let s = api.service(&id).await;
    assert_eq!(s["status"]["pid"], master, "the same master: {s}");
    assert_eq!(s["status"]["state"], "running");
    assert!(s["status"]["restarts"].as_u64() >= Some(1), "{s}");
    assert!(answers(PORT).await, "nginx still answers after the restart");
    let log = api.logs(&id, 100).await;
    assert!(!log.contains("SIGKILL"), "no SIGKILL: {log}");

    // Hard restart: a new master, answering again.
    let resp = api
        .post_empty(&format!("/services/{id}/restart?mode=hard"))
        .await;
    assert_eq!(resp.status(), 200);
    let new_master = poll("a new master", T, || async {
        pid_of(&api, &id).await.filter(|&p| p != u64::from(master))
    })
    .await;
    assert!(!pid_alive(master), "the old master is gone");
    poll("nginx to answer after the hard restart", T, || async {
        answers(PORT).await.then_some(())
    })
    .await;
    eprintln!("hard restart: master {master} -> {new_master}");

    // Stop leaves nothing.
    let resp = api.post_empty(&format!("/services/{id}/stop")).await;
    assert_eq!(resp.status(), 200);
    assert!(
        processes_matching(&marker).is_empty(),
        "no nginx process left: {:?}",
        processes_matching(&marker)
    );
    assert!(!answers(PORT).await);
}

#[tokio::test]
async fn a_program_that_exits_on_sighup_is_started_again_at_once() {
    let w = Warden::start_managed();
    let api = Api::login(&w).await;
    let marker = format!("sleep 104301.{}", std::process::id());
    let s = api
        .create_service(&json!({"name": "sleeper", "command": format!("exec {marker}")}))
        .await;
    let id = s["id"].as_str().expect("id").to_string();
    let first = api.wait_running(&id, T).await;
    let started = Instant::now();
    let resp = api.post_empty(&format!("/services/{id}/restart")).await;
    assert_eq!(resp.status(), 200);
    let second = poll("a new process", T, || async {
        pid_of(&api, &id).await.filter(|&p| p != u64::from(first))
    })
    .await;
    let took = started.elapsed();
    eprintln!("restart of a program that exits on SIGHUP: {first} -> {second} in {took:?}");
    assert!(
        took < Duration::from_millis(1500),
        "started again at once, not after the 2 s reload grace: {took:?}"
    );
    let log = api.logs(&id, 50).await;
    assert!(!log.contains("reloaded in place"), "{log}");
    let s = api.service(&id).await;
    assert_eq!(s["status"]["restarts"], 1, "{s}");
    assert!(
        s["status"]["last_exit"]["signal"] == 1,
        "exited on SIGHUP: {s}"
    );
}

#[tokio::test]
async fn a_setsid_child_left_by_a_killed_warden_is_ended_at_the_next_start() {
    if !gate("root and a writable cgroup2", cgroups::available()) {
        return;
    }
    let mut w = Warden::start_managed();
    let api = Api::login(&w).await;
    let (escaped, main) = (
        format!("sleep 104302.{}", std::process::id()),
        format!("sleep 104303.{}", std::process::id()),
    );
    let s = api
        .create_service(
            &json!({"name": "escaper", "command": format!("setsid {escaped} & exec {main}")}),
        )
        .await;
    let id = s["id"].as_str().expect("id").to_string();
    api.wait_running(&id, T).await;
    let old = poll("the setsid child", T, || async {
        processes_matching(&escaped).first().map(|p| p.pid)
    })
    .await;
    w.kill9();
    assert!(
        pid_alive(old),
        "kill -9 of Warden leaves the service running"
    );
    w.restart();
    let api = Api::with_token(&w, &api.token);
    api.wait_running(&id, T).await;
    poll("the old setsid child to be gone", T, || async {
        (!pid_alive(old)).then_some(())
    })
    .await;
    let children = poll("exactly one setsid child, of the new run", T, || async {
        let p = processes_matching(&escaped);
        (p.len() == 1).then_some(p)
    })
    .await;
    assert_ne!(children[0].pid, old);
    let log = api.logs(&id, 100).await;
    assert!(log.contains("left from a previous Warden run"), "{log}");
}
