//! The table tests of the state machine ([`super::Machine`]): each row is an event at a time offset, the
//! state it leads to and the actions it returns.
use super::*;
use ServiceState as S;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Runs `(offset ms, event, expected state, expected actions)` rows against one machine.
fn run(machine: &mut Machine, config: &SupervisorConfig, rows: &[(u64, Event, S, Vec<Action>)]) {
    let t0 = Instant::now();
    for (i, (offset, event, state, actions)) in rows.iter().enumerate() {
        let got = machine.next(event.clone(), t0 + ms(*offset), config);
        assert_eq!(&got, actions, "row {i}: {event:?}");
        assert_eq!(machine.state, *state, "row {i}: {event:?}");
    }
}

#[test]
fn crash_restarts_with_growing_backoff_then_disables() {
    let config = SupervisorConfig::default();
    let mut m = Machine::new(None);
    use Action::*;
    run(
        &mut m,
        &config,
        &[
            (0, Event::Start, S::Starting, vec![Spawn]),
            (0, Event::Spawned, S::Running, vec![]),
            (
                10,
                Event::Exited(false),
                S::Backoff,
                vec![KillRemnants, ScheduleStart(ms(0))],
            ),
            (110, Event::BackoffElapsed, S::Starting, vec![Spawn]),
            (110, Event::Spawned, S::Running, vec![]),
            (
                120,
                Event::Exited(false),
                S::Backoff,
                vec![KillRemnants, ScheduleStart(ms(90))],
            ),
            (320, Event::BackoffElapsed, S::Starting, vec![Spawn]),
            (
                320,
                Event::SpawnFailed,
                S::Backoff,
                vec![ScheduleStart(ms(200))],
            ),
            (720, Event::BackoffElapsed, S::Starting, vec![Spawn]),
            (720, Event::Spawned, S::Running, vec![]),
            (
                730,
                Event::Exited(false),
                S::Backoff,
                vec![KillRemnants, ScheduleStart(ms(390))],
            ),
            (1530, Event::BackoffElapsed, S::Starting, vec![Spawn]),
            (1530, Event::Spawned, S::Running, vec![]),
            (
                1540,
                Event::Exited(false),
                S::Disabled,
                vec![KillRemnants, Disable("failed 5 times within 60 s".into())],
            ),
            // A late timer does nothing; start re-enables and forgets the failures.
            (1600, Event::BackoffElapsed, S::Disabled, vec![]),
            (1700, Event::Start, S::Starting, vec![Spawn]),
            (1700, Event::Spawned, S::Running, vec![]),
            (
                1710,
                Event::Exited(false),
                S::Backoff,
                vec![KillRemnants, ScheduleStart(ms(0))],
            ),
        ],
    );
    assert_eq!(m.restarts, 4);
    assert_eq!(m.disabled_reason, None);
}

#[test]
fn stable_run_resets_the_backoff() {
    let config = SupervisorConfig {
        crash_loop_max_failures: 100,
        ..SupervisorConfig::default()
    };
    let mut m = Machine::new(None);
    use Action::*;
    run(
        &mut m,
        &config,
        &[
            (0, Event::Start, S::Starting, vec![Spawn]),
            (0, Event::Spawned, S::Running, vec![]),
            (
                1,
                Event::Exited(false),
                S::Backoff,
                vec![KillRemnants, ScheduleStart(ms(0))],
            ),
            (101, Event::BackoffElapsed, S::Starting, vec![Spawn]),
            (101, Event::Spawned, S::Running, vec![]),
            (
                102,
                Event::Exited(false),
                S::Backoff,
                vec![KillRemnants, ScheduleStart(ms(99))],
            ),
            (302, Event::BackoffElapsed, S::Starting, vec![Spawn]),
            (302, Event::Spawned, S::Running, vec![]),
            // Ran 60 s: the backoff starts over, and as the run outlasted it, the restart is at once.
            (
                60_302,
                Event::Exited(false),
                S::Backoff,
                vec![KillRemnants, ScheduleStart(ms(0))],
            ),
        ],
    );
}

#[test]
fn stop_and_restart_wait_for_the_whole_group() {
    let config = SupervisorConfig::default();
    let mut m = Machine::new(None);
    use Action::*;
    run(
        &mut m,
        &config,
        &[
            (0, Event::Start, S::Starting, vec![Spawn]),
            (0, Event::Spawned, S::Running, vec![]),
            (0, Event::Start, S::Running, vec![]),
            // Restart = SIGHUP: exiting on it starts the service again at once.
            (5, Event::Restart, S::Running, vec![Reload]),
            (
                6,
                Event::Exited(false),
                S::Starting,
                vec![KillRemnants, Spawn],
            ),
            (7, Event::Spawned, S::Running, vec![]),
            // The grace timer of that reload is stale now.
            (2005, Event::ReloadElapsed, S::Running, vec![]),
            (
                2008,
                Event::Stop,
                S::Stopping,
                vec![Terminate(StopSignal::Terminate)],
            ),
            // The group may empty before the main exit is reaped.
            (2009, Event::GroupGone, S::Stopping, vec![]),
            (2009, Event::Exited(false), S::Stopped, vec![]),
            (2010, Event::Stop, S::Stopped, vec![]),
            (2011, Event::Restart, S::Starting, vec![Spawn]),
            (2011, Event::Spawned, S::Running, vec![]),
            // Still running after the reload grace: reloaded in place, nothing killed.
            (2012, Event::Restart, S::Running, vec![Reload]),
            (2013, Event::Restart, S::Running, vec![]),
            (
                4012,
                Event::ReloadElapsed,
                S::Running,
                vec![ReloadedInPlace],
            ),
            // Hard restart = stop + start. Stop during it wins; start during a stop restarts afterwards.
            (
                4013,
                Event::HardRestart,
                S::Stopping,
                vec![Terminate(StopSignal::Terminate)],
            ),
            (4013, Event::Stop, S::Stopping, vec![]),
            (4014, Event::Exited(false), S::Stopping, vec![]),
            (4014, Event::Start, S::Stopping, vec![]),
            (4015, Event::GroupGone, S::Starting, vec![Spawn]),
            (4015, Event::Spawned, S::Running, vec![]),
            // A stop during the reload grace stops.
            (4016, Event::Restart, S::Running, vec![Reload]),
            (
                4017,
                Event::Stop,
                S::Stopping,
                vec![Terminate(StopSignal::Terminate)],
            ),
            (6016, Event::ReloadElapsed, S::Stopping, vec![]),
        ],
    );
    assert_eq!(m.restarts, 3);
    assert!(!m.reloading);
}

#[test]
fn a_daemonizing_service_is_disabled_at_once() {
    let config = SupervisorConfig::default();
    let mut m = Machine::new(None);
    use Action::*;
    let reason = "it forks into the background".to_string();
    run(
        &mut m,
        &config,
        &[
            (0, Event::Start, S::Starting, vec![Spawn]),
            (0, Event::Spawned, S::Running, vec![]),
            (
                5,
                Event::Daemonized(reason.clone()),
                S::Disabled,
                vec![Disable(reason.clone())],
            ),
            (6, Event::Exited(true), S::Disabled, vec![]),
            (7, Event::Start, S::Starting, vec![Spawn]),
        ],
    );
    assert_eq!(m.disabled_reason, None);
}

#[test]
fn stop_during_backoff_cancels_the_restart() {
    let config = SupervisorConfig::default();
    let mut m = Machine::new(None);
    use Action::*;
    run(
        &mut m,
        &config,
        &[
            (0, Event::Start, S::Starting, vec![Spawn]),
            (0, Event::Spawned, S::Running, vec![]),
            (
                1,
                Event::Exited(false),
                S::Backoff,
                vec![KillRemnants, ScheduleStart(ms(0))],
            ),
            (2, Event::Stop, S::Stopped, vec![CancelScheduledStart]),
            (3, Event::BackoffElapsed, S::Stopped, vec![]),
            (4, Event::Exited(false), S::Stopped, vec![]),
        ],
    );
}

#[test]
fn monitoring_failures_restart_with_sighup_and_count_for_the_crash_loop() {
    let config = SupervisorConfig {
        crash_loop_max_failures: 3,
        ..SupervisorConfig::default()
    };
    let mut m = Machine::new(None);
    use Action::*;
    run(
        &mut m,
        &config,
        &[
            (0, Event::Start, S::Starting, vec![Spawn]),
            (0, Event::Spawned, S::Running, vec![]),
            (
                10,
                Event::MonitorFailed,
                S::Stopping,
                vec![Terminate(StopSignal::Hangup)],
            ),
            (11, Event::Exited(false), S::Stopping, vec![]),
            (11, Event::GroupGone, S::Starting, vec![Spawn]),
            (11, Event::Spawned, S::Running, vec![]),
            (
                20,
                Event::MonitorFailed,
                S::Stopping,
                vec![Terminate(StopSignal::Hangup)],
            ),
            (21, Event::GroupGone, S::Stopping, vec![]),
            (21, Event::Exited(false), S::Starting, vec![Spawn]),
            (21, Event::Spawned, S::Running, vec![]),
            // A passing check forgets both failures ...
            (30, Event::MonitorPassed, S::Running, vec![]),
            (
                40,
                Event::MonitorFailed,
                S::Stopping,
                vec![Terminate(StopSignal::Hangup)],
            ),
            (41, Event::Exited(false), S::Stopping, vec![]),
            (41, Event::GroupGone, S::Starting, vec![Spawn]),
            (41, Event::Spawned, S::Running, vec![]),
            (
                50,
                Event::MonitorFailed,
                S::Stopping,
                vec![Terminate(StopSignal::Hangup)],
            ),
            (51, Event::Exited(false), S::Stopping, vec![]),
            (51, Event::GroupGone, S::Starting, vec![Spawn]),
            (51, Event::Spawned, S::Running, vec![]),
            // ... so only the third failure in a row disables, after a clean stop.
            (
                60,
                Event::MonitorFailed,
                S::Stopping,
                vec![Terminate(StopSignal::Terminate)],
            ),
            (61, Event::Exited(false), S::Stopping, vec![]),
            // A start cannot override the disable.
            (61, Event::Start, S::Stopping, vec![]),
            (
                61,
                Event::GroupGone,
                S::Disabled,
                vec![Disable("failed 3 times within 60 s".into())],
            ),
        ],
    );
    assert_eq!(
        m.disabled_reason.as_deref(),
        Some("failed 3 times within 60 s")
    );
}

#[test]
fn restart_policies_decide_what_an_exit_leads_to() {
    use crate::supervisor::policy::SupervisorConfig as C;
    use app::model::service::RestartPolicy as P;
    use Action::*;
    // (policy, exit 0?, state after the exit, actions)
    let table = [
        (
            P::Always,
            true,
            S::Backoff,
            vec![KillRemnants, ScheduleStart(ms(0))],
        ),
        (
            P::Always,
            false,
            S::Backoff,
            vec![KillRemnants, ScheduleStart(ms(0))],
        ),
        (P::OnFailure, true, S::Exited, vec![KillRemnants]),
        (
            P::OnFailure,
            false,
            S::Backoff,
            vec![KillRemnants, ScheduleStart(ms(0))],
        ),
        (P::Never, true, S::Exited, vec![KillRemnants]),
        (P::Never, false, S::Exited, vec![KillRemnants]),
    ];
    for (policy, success, state, actions) in table {
        let config = C {
            restart: policy,
            ..C::default()
        };
        let mut m = Machine::new(None);
        run(
            &mut m,
            &config,
            &[
                (0, Event::Start, S::Starting, vec![Spawn]),
                (0, Event::Spawned, S::Running, vec![]),
                (5, Event::Exited(success), state, actions),
            ],
        );
        assert_eq!(
            m.failures.len(),
            usize::from(state == S::Backoff),
            "{policy:?} {success}"
        );
        if state == S::Exited {
            // Exited is at rest: start runs it again, stop makes it stopped.
            let mut again = m.clone();
            run(
                &mut again,
                &config,
                &[(6, Event::Start, S::Starting, vec![Spawn])],
            );
            run(&mut m, &config, &[(6, Event::Stop, S::Stopped, vec![])]);
        }
    }
}

#[test]
fn persisted_disabled_state_is_restored() {
    let m = Machine::new(Some("failed 5 times within 60 s".into()));
    assert_eq!(m.state, S::Disabled);
    assert_eq!(Machine::new(None).state, S::Stopped);
}
