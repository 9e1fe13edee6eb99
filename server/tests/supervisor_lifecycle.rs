//! Real-process tests of the service engine: restarts, signals, process groups, crash loops,
//! monitoring, environment, users, restart safety and validation. Every wait polls with a deadline.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod supervisor_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use app::model::service::{Health, ServiceInput, ServicePatch, ServiceState, WarningKind};
use supervisor_support::*;
use warden::supervisor::{SupervisorError, SupervisorHandle};

const SECS: fn(u64) -> Duration = Duration::from_secs;

#[tokio::test]
async fn crash_is_seen_at_once_and_restarted() {
    let h = Harness::fast().await;
    let svc = h.create("crashy", "exec sleep 1000").await;
    let first = h.wait_running(&svc.id).await.status.pid.unwrap();
    let killed_at = Instant::now();
    kill9(first);
    let back = h
        .wait_service(&svc.id, "a new pid", SECS(3), |s| {
            s.status.state == ServiceState::Running && s.status.pid.is_some_and(|p| p != first)
        })
        .await;
    let took = killed_at.elapsed();
    assert!(took < Duration::from_millis(800), "restart took {took:?}");
    assert_eq!(back.status.restarts, 1);
    let exit = back.status.last_exit.unwrap();
    assert_eq!((exit.code, exit.signal), (None, Some(9)));
    let log = h.log_text(&svc.id).await;
    assert!(log.contains("exited with signal 9 (SIGKILL)"), "{log}");
    assert!(log.contains(&format!("started pid {first}")), "{log}");
    h.handle.shutdown().await;
    assert!(!process_alive(back.status.pid.unwrap()));
}

#[tokio::test]
async fn restart_sends_sighup_to_the_group() {
    let h = Harness::fast().await;
    let again = h.restart_a_hup_trap("huppy").await;
    assert_eq!(again.status.restarts, 1);
    let log = h.log_text(&again.id).await;
    assert!(log.contains("SIGHUP to the process group"), "{log}");
    assert!(!log.contains("SIGKILL"), "the trap exits in time: {log}");
    h.handle.shutdown().await;
}

#[tokio::test]
async fn stop_leaves_no_survivor_even_when_sigterm_is_ignored() {
    let h = Harness::fast().await;
    let command = "trap '' TERM; (trap '' TERM; sleep 1000) & (trap '' TERM; exec sleep 1001) & \
                   sh -c 'trap \"\" TERM; sleep 1002' & wait; wait";
    let svc = h.create("stubborn", command).await;
    let pgid = h.wait_running(&svc.id).await.status.pid.unwrap();
    wait_for("the children", SECS(5), || async move {
        (warden::supervisor::procfs::group_members(pgid).len() >= 4).then_some(())
    })
    .await;
    let processes = h.handle.processes(&svc.id).await.unwrap();
    assert!(processes.len() >= 4, "{processes:?}");
    assert_eq!(processes[0].pid, pgid, "main process first");
    assert!(processes.iter().any(|p| p.command.contains("sleep 1001")));
    assert!(processes
        .iter()
        .all(|p| p.rss_bytes > 0 && !p.started_at.is_empty()));

    let started = Instant::now();
    let stopped = h.handle.stop_service(&svc.id).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "waited for the grace"
    );
    assert_eq!(stopped.status.state, ServiceState::Stopped);
    assert!(!stopped.spec.enabled);
    assert!(
        !group_alive(pgid),
        "a process of the group survived the stop"
    );
    let log = h.log_text(&svc.id).await;
    assert!(log.contains("SIGTERM to the process group"), "{log}");
    assert!(log.contains("SIGKILL to the process group"), "{log}");
    assert!(h.handle.processes(&svc.id).await.unwrap().is_empty());
}

#[tokio::test]
async fn crash_loop_disables_with_a_reason_that_persists() {
    let mut settings = settings();
    settings.crash_loop.max_failures = 3;
    settings.crash_loop.window_secs = 60;
    let h = Harness::start(settings.clone(), fast_config()).await;
    let mut events = h.handle.subscribe_events();
    let svc = h.create("loopy", "echo boom >&2; exit 3").await;
    let disabled = h
        .wait_service(&svc.id, "disabled", SECS(10), |s| {
            s.status.state == ServiceState::Disabled
        })
        .await;
    assert_eq!(
        disabled.status.disabled_reason.as_deref(),
        Some("failed 3 times within 60 s")
    );
    assert!(!disabled.spec.enabled);
    assert_eq!(disabled.status.last_exit.as_ref().unwrap().code, Some(3));
    let log = h.log_text(&svc.id).await;
    assert!(
        log.contains("disabled: failed 3 times within 60 s"),
        "{log}"
    );
    assert!(log.contains(" err boom"), "{log}");
    let mut saw_disabled_event = false;
    while let Ok(event) = events.try_recv() {
        if let app::model::service::ServiceEvent::Service { service } = event {
            saw_disabled_event |= service.status.state == ServiceState::Disabled;
        }
    }
    assert!(saw_disabled_event);

    // A Warden restart keeps it disabled until started again.
    h.handle.shutdown().await;
    let again =
        SupervisorHandle::start_with_config(h.dir.path(), h.store.clone(), settings, fast_config())
            .await
            .unwrap();
    let reloaded = again.get(&svc.id).unwrap();
    assert_eq!(reloaded.status.state, ServiceState::Disabled);
    assert_eq!(
        reloaded.status.disabled_reason.as_deref(),
        Some("failed 3 times within 60 s")
    );
    again
        .update(
            &svc.id,
            ServicePatch {
                command: Some("exec sleep 1000".into()),
                ..ServicePatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        again.get(&svc.id).unwrap().status.state,
        ServiceState::Disabled
    );
    let started = again.start_service(&svc.id).await.unwrap();
    assert!(started.spec.enabled);
    assert_eq!(started.status.disabled_reason, None);
    assert_eq!(started.status.state, ServiceState::Running);
    again.shutdown().await;
}

#[tokio::test]
async fn failing_monitoring_command_restarts_and_passing_sets_health() {
    let mut settings = settings();
    settings.crash_loop.max_failures = 1000;
    let h = Harness::start(settings, fast_config()).await;
    let healthy = h.path_str("healthy");
    let mut input = ServiceInput::new("monitored", "exec sleep 1000");
    input.monitoring_command = Some(format!("echo checking; test -f {healthy}"));
    let svc = h.handle.create(input).await.unwrap();
    let first = h.wait_running(&svc.id).await.status.pid.unwrap();
    let restarted = h
        .wait_service(&svc.id, "a restart by the monitor", SECS(10), |s| {
            s.status.restarts >= 1 && s.status.pid.is_some_and(|p| p != first)
        })
        .await;
    assert!(!process_alive(first));
    assert!(restarted.status.restarts >= 1);
    let log = h.log_text(&svc.id).await;
    assert!(
        log.contains(
            "monitoring command failed with exit code 1; last output: checking; restarting"
        ),
        "{log}"
    );
    std::fs::write(&healthy, "ok").unwrap();
    let passing = h
        .wait_service(&svc.id, "health passing", SECS(10), |s| {
            s.status.health == Health::Passing
        })
        .await;
    assert_eq!(passing.status.state, ServiceState::Running);
    h.handle.shutdown().await;
}

#[tokio::test]
async fn monitoring_timeout_counts_as_failure() {
    let mut config = fast_config();
    config.monitor_timeout = Duration::from_millis(300);
    let mut settings = settings();
    settings.crash_loop.max_failures = 1000;
    let h = Harness::start(settings, config).await;
    let mut input = ServiceInput::new("slowcheck", "exec sleep 1000");
    input.monitoring_command = Some("sleep 100".into());
    let svc = h.handle.create(input).await.unwrap();
    h.wait_service(&svc.id, "a restart", SECS(10), |s| s.status.restarts >= 1)
        .await;
    let log = h.log_text(&svc.id).await;
    assert!(
        log.contains("monitoring command timed out after 0.3 s"),
        "{log}"
    );
    h.handle.shutdown().await;
}

#[tokio::test]
async fn environment_is_merged_and_port_is_set() {
    let mut settings = settings();
    settings
        .environment
        .insert("GLOBAL_ONLY".into(), "g".into());
    settings
        .environment
        .insert("SHARED".into(), "global".into());
    let h = Harness::start(settings, fast_config()).await;
    let out = h.path_str("env");
    let mut input = ServiceInput::new(
        "envy",
        format!("echo \"$GLOBAL_ONLY $SHARED $PORT $(pwd)\" > {out}; exec sleep 1000"),
    );
    input.environment = BTreeMap::from([("SHARED".to_string(), "service".to_string())]);
    input.ports = vec![8311, 8312];
    input.working_directory = Some(h.dir.path().display().to_string());
    let svc = h.handle.create(input).await.unwrap();
    let cwd = std::fs::canonicalize(h.dir.path()).unwrap();
    assert_eq!(
        wait_file(&h.path("env"), SECS(5)).await,
        format!("g service 8311 {}", cwd.display())
    );
    // A settings change applies to the next start.
    let mut changed = h.handle.settings();
    changed
        .environment
        .insert("GLOBAL_ONLY".into(), "g2".into());
    h.settings.send_replace(changed);
    std::fs::remove_file(&out).unwrap();
    h.handle.restart_service(&svc.id).await.unwrap();
    assert!(wait_file(&h.path("env"), SECS(5))
        .await
        .starts_with("g2 service 8311"));
    h.handle.shutdown().await;
}

#[tokio::test]
async fn runs_as_the_chosen_user_when_root() {
    if !is_root() {
        skip("switching users needs root");
        return;
    }
    let h = Harness::fast().await;
    let shared = h.path("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let out = shared.join("id");
    // Written whole and renamed, so the test never reads the first line alone.
    let mut input = ServiceInput::new(
        "as-nobody",
        format!(
            "{{ id -u; id -G; }} > {0}.tmp && mv {0}.tmp {0}; exec sleep 1000",
            out.display()
        ),
    );
    input.user = Some("nobody".into());
    let svc = h.handle.create(input).await.unwrap();
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    let content = wait_file(&out, SECS(5)).await;
    let mut lines = content.lines();
    assert_eq!(lines.next(), Some(nobody.uid.to_string().as_str()));
    assert!(
        !lines.next().unwrap().split(' ').any(|g| g == "0"),
        "root's groups were dropped"
    );
    let running = h.wait_running(&svc.id).await;
    assert!(h.log_text(&svc.id).await.contains("as nobody"));
    h.handle.stop_service(&running.id).await.unwrap();
    // Unknown users are refused.
    let mut input = ServiceInput::new("ghost", "true");
    input.user = Some("no-such-user-xyz".into());
    assert!(
        matches!(h.handle.create(input).await, Err(SupervisorError::Validation(e)) if e[0].field == "user")
    );
}

#[tokio::test]
async fn stale_group_of_a_previous_run_is_ended_and_the_service_runs_once() {
    let h = Harness::fast().await;
    let starts = h.path_str("starts");
    let svc = h
        .create(
            "survivor",
            &format!("echo $$ >> {starts}; sleep 1000 & sleep 1001 & wait"),
        )
        .await;
    let old = h.wait_running(&svc.id).await.status.pid.unwrap();
    wait_for("children", SECS(5), || async move {
        (warden::supervisor::procfs::group_members(old).len() >= 3).then_some(())
    })
    .await;
    // Warden "crashes": its tasks end, the processes keep running.
    h.handle.abandon();
    assert!(group_alive(old));

    let second = SupervisorHandle::start_with_config(
        h.dir.path(),
        h.store.clone(),
        settings(),
        fast_config(),
    )
    .await
    .unwrap();
    assert!(
        !group_alive(old),
        "the stale group was ended before starting again"
    );
    let new = second.get(&svc.id).unwrap();
    assert_eq!(new.status.state, ServiceState::Running);
    let new_pid = new.status.pid.unwrap();
    assert_ne!(new_pid, old);
    // The new shell records its pid once it runs, which may be after `start` returned.
    let recorded: Vec<String> = wait_for("the second start recorded", SECS(5), || {
        let lines: Vec<String> = std::fs::read_to_string(&starts)
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect();
        async move { (lines.len() >= 2).then_some(lines) }
    })
    .await;
    assert_eq!(recorded, vec![old.to_string(), new_pid.to_string()]);
    let log = second.logs_tail(&svc.id, 1000).await.unwrap().join("\n");
    assert!(log.contains("left from a previous Warden run"), "{log}");
    second.shutdown().await;
    assert!(!group_alive(new_pid));
}

#[tokio::test]
async fn recycled_pid_is_never_killed() {
    // A record pointing at a live process with another start time must be left alone.
    let h = Harness::fast().await;
    let mut bystander = std::process::Command::new("sleep")
        .arg("1000")
        .spawn()
        .unwrap();
    let pid = bystander.id();
    let ticks = warden::supervisor::procfs::start_ticks(pid).unwrap();
    assert!(warden::supervisor::procfs::stale_group_members(pid, ticks + 1).is_empty());
    assert!(process_alive(pid));
    bystander.kill().unwrap();
    bystander.wait().unwrap();
    h.handle.shutdown().await;
}

#[tokio::test]
async fn log_rotation_loses_no_line_and_tail_reads_the_end() {
    let mut config = fast_config();
    config.log_max_bytes = 8 * 1024;
    config.log_max_files = 1000;
    let h = Harness::start(settings(), config).await;
    let total = 20_000;
    let svc = h
        .create(
            "chatty",
            &format!("seq 1 {total} | sed 's/^/line /'; exec sleep 1000"),
        )
        .await;
    let want_last = format!("out line {total}");
    let handle = h.handle.clone();
    let id = svc.id.clone();
    wait_for("the last line", SECS(20), || {
        let handle = handle.clone();
        let id = id.clone();
        let want_last = want_last.clone();
        async move {
            let text = handle.logs_tail(&id, 5).await.ok()?.join("\n");
            text.contains(&want_last).then_some(())
        }
    })
    .await;
    let mut numbers = Vec::new();
    let mut files = 0;
    for entry in std::fs::read_dir(h.path("logs/services")).unwrap() {
        let path = entry.unwrap().path();
        files += 1;
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.len() as u64 <= 8 * 1024,
            "{} is too big",
            path.display()
        );
        numbers.extend(text.lines().filter_map(|l| {
            l.split_once(" out line ")
                .map(|(_, n)| n.parse::<u32>().unwrap())
        }));
    }
    assert!(files > 10, "rotation happened ({files} files)");
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=total).collect::<Vec<u32>>());

    let tail = h.handle.logs_tail(&svc.id, 3).await.unwrap();
    let tail_numbers: Vec<&str> = tail
        .iter()
        .filter_map(|l| l.split(" out line ").nth(1))
        .collect();
    assert!(tail.len() == 3);
    assert!(
        tail_numbers.last().is_some_and(|n| *n == total.to_string()),
        "{tail:?}"
    );
    let line_shape = tail.last().unwrap();
    assert_eq!(&line_shape[23..24], "Z", "{line_shape}");
    h.handle.shutdown().await;
}

#[tokio::test]
async fn live_log_subscribers_get_new_lines() {
    let h = Harness::fast().await;
    let svc = h.create("talker", "exec sleep 1000").await;
    let mut live = h.handle.subscribe_logs(&svc.id).unwrap();
    h.wait_running(&svc.id).await;
    h.handle
        .update(
            &svc.id,
            ServicePatch {
                command: Some("echo hello-subscriber; exec sleep 1000".into()),
                ..ServicePatch::default()
            },
        )
        .await
        .unwrap();
    let line = wait_for("the live line", SECS(5), || {
        let got = live
            .try_recv()
            .ok()
            .filter(|l| l.ends_with(" out hello-subscriber"));
        async move { got }
    })
    .await;
    assert!(line.contains(" out "));
    h.handle.shutdown().await;
}

#[tokio::test]
async fn daemonizing_and_port_problems_are_warned_about() {
    let mut settings = settings();
    settings.crash_loop.max_failures = 2;
    let h = Harness::start(settings, fast_config()).await;
    let forker = h.create("forker", "sleep 1000 & exit 0").await;
    let warned = h
        .wait_service(&forker.id, "the daemonized warning", SECS(10), |s| {
            s.status
                .warnings
                .iter()
                .any(|w| w.kind == WarningKind::Daemonized)
        })
        .await;
    assert!(warned.status.warnings[0].message.contains("foreground"));
    // Disabled at once (not after the crash loop), with a reason that says how to fix it.
    let disabled = h
        .wait_service(&forker.id, "disabled", SECS(10), |s| {
            s.status.state == ServiceState::Disabled
        })
        .await;
    let reason = disabled.status.disabled_reason.unwrap_or_default();
    assert!(reason.contains("run it in the foreground"), "{reason}");
    assert_eq!(disabled.status.restarts, 0);

    let mut quiet = ServiceInput::new("quiet", "exec sleep 1000");
    quiet.ports = vec![8321];
    let quiet = h.handle.create(quiet).await.unwrap();
    h.wait_service(&quiet.id, "the not-listening warning", SECS(5), |s| {
        s.status
            .warnings
            .iter()
            .any(|w| w.kind == WarningKind::PortNotListening && w.port == Some(8321))
    })
    .await;

    if have("nc") {
        let mut local = ServiceInput::new("local", "exec nc -lk 127.0.0.1 8322");
        local.ports = vec![8322];
        let local = h.handle.create(local).await.unwrap();
        h.wait_service(&local.id, "the loopback warning", SECS(5), |s| {
            s.status
                .warnings
                .iter()
                .any(|w| w.kind == WarningKind::PortLoopbackOnly)
        })
        .await;
    }
    h.handle.shutdown().await;
}

#[tokio::test]
async fn bad_input_is_rejected_and_changes_nothing() {
    let h = Harness::fast().await;
    let mut first = ServiceInput::new("web", "exec sleep 1000");
    first.ports = vec![8330];
    first.enabled = false;
    let web = h.handle.create(first).await.unwrap();
    assert_eq!(web.status.state, ServiceState::Stopped);
    let before = h.handle.list();

    let mut bad_port = ServiceInput::new("other", "x");
    bad_port.ports = vec![80];
    assert!(
        matches!(h.handle.create(bad_port).await, Err(SupervisorError::Validation(e)) if e[0].field == "ports[0]")
    );
    assert!(matches!(
        h.handle.create(ServiceInput::new("web", "x")).await,
        Err(SupervisorError::Conflict(e)) if e[0].field == "name"
    ));
    let mut taken = ServiceInput::new("other", "x");
    taken.ports = vec![8330];
    assert!(matches!(
        h.handle.create(taken).await,
        Err(SupervisorError::Conflict(_))
    ));
    let mut no_dir = ServiceInput::new("other", "x");
    no_dir.working_directory = Some("/no/such/dir".into());
    assert!(
        matches!(h.handle.create(no_dir).await, Err(SupervisorError::Validation(e)) if e[0].field == "working_directory")
    );
    assert!(matches!(
        h.handle.update("nope", ServicePatch::default()).await,
        Err(SupervisorError::NotFound(_))
    ));
    let bad_patch = ServicePatch {
        command: Some(String::new()),
        ..ServicePatch::default()
    };
    assert!(matches!(
        h.handle.update(&web.id, bad_patch).await,
        Err(SupervisorError::Validation(_))
    ));
    assert_eq!(h.handle.list(), before);

    // Updating a service may keep its own port and name.
    let renamed = h
        .handle
        .update(
            &web.id,
            ServicePatch {
                name: Some("web2".into()),
                ports: Some(vec![8330, 8331]),
                ..ServicePatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(renamed.spec.name, "web2");
    h.handle.delete(&web.id).await.unwrap();
    assert!(h.handle.list().is_empty());
    assert!(matches!(
        h.handle.get(&web.id),
        Err(SupervisorError::NotFound(_))
    ));

    // Persisted: a new supervisor on the same store sees the same (empty) set.
    h.handle.shutdown().await;
    let again = SupervisorHandle::start_with_config(
        h.dir.path(),
        h.store.clone(),
        settings(),
        fast_config(),
    )
    .await
    .unwrap();
    assert!(again.list().is_empty());
}

#[tokio::test]
async fn delete_stops_first_and_shutdown_keeps_enabled() {
    let h = Harness::fast().await;
    let a = h.create("a", "exec sleep 1000").await;
    let b = h.create("b", "exec sleep 1000").await;
    let pid_a = h.wait_running(&a.id).await.status.pid.unwrap();
    let pid_b = h.wait_running(&b.id).await.status.pid.unwrap();
    h.handle.delete(&a.id).await.unwrap();
    assert!(!process_alive(pid_a));
    h.handle.shutdown().await;
    assert!(!process_alive(pid_b));
    let again = SupervisorHandle::start_with_config(
        h.dir.path(),
        h.store.clone(),
        settings(),
        fast_config(),
    )
    .await
    .unwrap();
    let b_again = again.get(&b.id).unwrap();
    assert!(b_again.spec.enabled);
    assert_eq!(b_again.status.state, ServiceState::Running);
    assert_eq!(again.list().len(), 1);
    again.shutdown().await;
}

/// The restart-on-change rule (`supervisor::spec_change`) end to end: a new name keeps the process
/// (and moves the log), a new command restarts it, disabling stops it and enabling starts it again.
#[tokio::test]
async fn an_update_restarts_only_when_the_launch_changed() {
    let h = Harness::fast().await;
    let svc = h.create("edit-me", "exec sleep 1000").await;
    let first = h.wait_running(&svc.id).await.status.pid.unwrap();

    let renamed = h
        .handle
        .update(
            &svc.id,
            ServicePatch {
                name: Some("edited".into()),
                ..ServicePatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(renamed.spec.name, "edited");
    assert_eq!(renamed.status.state, ServiceState::Running);
    assert_eq!(
        renamed.status.pid,
        Some(first),
        "a new name keeps the process"
    );
    assert_eq!(renamed.status.restarts, 0);
    assert!(process_alive(first));
    assert!(h.handle.log_path(&svc.id).unwrap().ends_with("edited.log"));

    let changed = h
        .handle
        .update(
            &svc.id,
            ServicePatch {
                command: Some("exec sleep 1001".into()),
                ..ServicePatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(changed.spec.command, "exec sleep 1001");
    let second = h
        .wait_service(&svc.id, "the new command running", SECS(5), |s| {
            s.status.state == ServiceState::Running && s.status.pid.is_some_and(|p| p != first)
        })
        .await
        .status
        .pid
        .unwrap();
    assert!(h
        .log_text(&svc.id)
        .await
        .contains("definition changed; restarting with the new one"));

    let disabled = h
        .handle
        .update(
            &svc.id,
            ServicePatch {
                enabled: Some(false),
                ..ServicePatch::default()
            },
        )
        .await
        .unwrap();
    assert!(!disabled.spec.enabled);
    h.wait_service(&svc.id, "stopped", SECS(5), |s| {
        s.status.state == ServiceState::Stopped
    })
    .await;
    assert!(!process_alive(second));

    h.handle
        .update(
            &svc.id,
            ServicePatch {
                enabled: Some(true),
                ..ServicePatch::default()
            },
        )
        .await
        .unwrap();
    let third = h.wait_running(&svc.id).await.status.pid.unwrap();
    assert_ne!(third, second);
    h.handle.shutdown().await;
    assert!(!process_alive(third));
}
