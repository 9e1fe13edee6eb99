//! cgroup v2 containment through the real binary: a `setsid` child is listed and ended by stop and by
//! hard restart; `memcached -d` (Debian memcached) is diagnosed as daemonizing, disabled at once and
//! nothing of it keeps running; with containment forced to process groups the status says so. Every
//! test checks that its Warden removed its cgroup subtree on shutdown.
//! Ports used: 8420-8429.

use std::time::Duration;

use serde_json::json;
use warden_tests::cgroups::{self, subtree};
use warden_tests::launcher::cgroup_name;
use warden_tests::{gate, pid_alive, poll, processes_matching, Api, Launch, Warden};

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

/// The command lines `GET /services/{id}/processes` lists.
async fn listed_commands(api: &Api, id: &str) -> Vec<(u64, String)> {
    let procs = api.get_json(&format!("/services/{id}/processes")).await;
    procs
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| Some((p["pid"].as_u64()?, p["command"].as_str()?.to_string())))
        .collect()
}

/// SIGTERM to Warden, and its cgroup subtree is gone afterwards.
fn stop_warden_and_check_no_cgroup_left(w: &mut Warden) {
    let name = cgroup_name(w.data_dir());
    let status = w.terminate(Duration::from_secs(30)).expect("was running");
    assert!(status.success(), "{status:?}");
    assert_eq!(
        subtree(&name),
        None,
        "Warden removes its cgroup subtree {name} on shutdown"
    );
}

#[tokio::test]
async fn a_setsid_child_is_listed_and_ended_by_stop_and_hard_restart() {
    if !gate("root and a writable cgroup2", cgroups::available()) {
        return;
    }
    let mut w = Warden::start_managed();
    let api = Api::login(&w).await;
    let (escaped, main) = (unique_sleep(104201), unique_sleep(104202));
    let s = api
        .create_service(&json!({
            "name": "escaper",
            "command": format!("setsid {escaped} & exec {main}"),
        }))
        .await;
    let id = s["id"].as_str().expect("id").to_string();
    let first = api.wait_running(&id, T).await;
    assert_eq!(api.service(&id).await["status"]["containment"], "cgroup");
    let escaped_pid = poll("the setsid child in the process list", T, || async {
        let listed = listed_commands(&api, &id).await;
        let main_listed = listed
            .first()
            .is_some_and(|(pid, _)| *pid == u64::from(first));
        let child = listed
            .iter()
            .find(|(_, c)| c.contains(&escaped))
            .map(|p| p.0);
        child.filter(|_| main_listed)
    })
    .await;
    let usage = api.get_json(&format!("/services/{id}/usage")).await;
    assert_eq!(usage["containment"], "cgroup", "{usage}");
    assert_eq!(usage["processes"], 2, "{usage}");
    assert!(usage["cpu_usage_usec"].is_u64(), "{usage}");
    // No memory controller on a hybrid host: the sum of RSS, which is more than nothing.
    assert!(usage["memory_bytes"].as_u64() > Some(0), "{usage}");
    assert!(
        ["rss", "memory.current"].contains(&usage["memory_source"].as_str().unwrap_or("")),
        "{usage}"
    );
    let child = processes_matching(&escaped);
    assert!(
        child.iter().all(|p| p.pgid != first),
        "the child left the service's process group: {child:?}"
    );

    // Hard restart: a new main process, and the escaped child of the first run is gone.
    let resp = api
        .post_empty(&format!("/services/{id}/restart?mode=hard"))
        .await;
    assert_eq!(resp.status(), 200);
    let second = poll("a new main process", T, || async {
        let s = api.service(&id).await;
        s["status"]["pid"]
            .as_u64()
            .filter(|&p| p != u64::from(first) && s["status"]["state"] == "running")
    })
    .await;
    assert!(
        !pid_alive(escaped_pid as u32),
        "the escaped child of the first run is gone after the hard restart"
    );
    poll("the new run's setsid child", T, || async {
        let listed = listed_commands(&api, &id).await;
        (listed.first().is_some_and(|(pid, _)| *pid == second)
            && listed.iter().any(|(_, c)| c.contains(&escaped)))
        .then_some(())
    })
    .await;
    let resp = api
        .post(&format!("/services/{id}/restart?mode=sideways"), &json!({}))
        .await;
    assert_eq!(resp.status(), 400, "an unknown mode is refused");

    // Stop: nothing of the service is left, setsid or not.
    let resp = api.post_empty(&format!("/services/{id}/stop")).await;
    assert_eq!(resp.status(), 200);
    assert!(
        processes_matching(&escaped).is_empty(),
        "stop ended the setsid child"
    );
    assert!(processes_matching(&main).is_empty());
    stop_warden_and_check_no_cgroup_left(&mut w);
}

#[tokio::test]
async fn memcached_d_is_disabled_as_daemonizing_and_nothing_keeps_running() {
    if !gate("root and a writable cgroup2", cgroups::available())
        || !gate("memcached", have("memcached"))
    {
        return;
    }
    const PORT: u16 = 8421;
    let mut w = Warden::start_managed();
    let api = Api::login(&w).await;
    let command = format!("memcached -d -p {PORT} -U 0 -l ::1");
    let s = api
        .create_service(&json!({"name": "memcached", "command": command, "ports": [PORT]}))
        .await;
    let id = s["id"].as_str().expect("id").to_string();
    let s = api
        .wait_service(&id, "disabled", T, |s| s["status"]["state"] == "disabled")
        .await;
    let reason = s["status"]["disabled_reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("forks into the background")
            && reason.contains("memcached")
            && reason.contains("run it in the foreground"),
        "{s}"
    );
    let warning = s["status"]["warnings"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|w| w["kind"] == "daemonized")
        .unwrap_or_else(|| panic!("a daemonized warning: {s}"));
    assert!(
        warning["message"]
            .as_str()
            .unwrap_or_default()
            .contains("memcached"),
        "the warning names the escaped command: {warning}"
    );
    assert_eq!(
        s["status"]["restarts"], 0,
        "disabled at once, not after a crash loop"
    );
    assert!(
        processes_matching(&format!("-p {PORT} -U 0")).is_empty(),
        "no memcached left running: {:?}",
        processes_matching("memcached")
    );
    let log = api.logs(&id, 50).await;
    assert!(log.contains("forked into the background"), "{log}");
    assert!(
        log.contains("disabled: it forks into the background"),
        "{log}"
    );
    stop_warden_and_check_no_cgroup_left(&mut w);
}

#[tokio::test]
async fn forced_process_groups_say_so_and_still_supervise() {
    let mut w = Launch::new()
        .env("WARDEN_CONTAINMENT", "process-group")
        .start();
    let api = Api::login(&w).await;
    let marker = unique_sleep(104203);
    let s = api
        .create_service(&json!({"name": "plain", "command": format!("{marker} & exec {marker}")}))
        .await;
    let id = s["id"].as_str().expect("id").to_string();
    let pid = api.wait_running(&id, T).await;
    assert_eq!(
        api.service(&id).await["status"]["containment"],
        "process_group"
    );
    assert_eq!(
        subtree(&cgroup_name(w.data_dir())),
        None,
        "no cgroup created"
    );
    poll("both processes listed", T, || async {
        let listed = listed_commands(&api, &id).await;
        (listed.len() == 2 && listed[0].0 == u64::from(pid)).then_some(())
    })
    .await;
    let resp = api
        .post_empty(&format!("/services/{id}/restart?mode=hard"))
        .await;
    assert_eq!(resp.status(), 200);
    poll("a new main process", T, || async {
        let s = api.service(&id).await;
        s["status"]["pid"]
            .as_u64()
            .filter(|&p| p != u64::from(pid) && s["status"]["state"] == "running")
    })
    .await;
    let resp = api.post_empty(&format!("/services/{id}/stop")).await;
    assert_eq!(resp.status(), 200);
    assert!(processes_matching(&marker).is_empty());
    let status = w.terminate(Duration::from_secs(30)).expect("was running");
    assert!(status.success(), "{status:?}");
}
