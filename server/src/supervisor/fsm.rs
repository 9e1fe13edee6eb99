//! The service state machine, pure: `starting → running → (exit) → backoff → starting …`, `stopping`,
//! `stopped`, `disabled`. [`Machine::next`] takes an event and `now` and returns the actions the effects
//! shell must perform; it never touches a process, a clock or the disk.
//!
//! Contract with the shell: after a [`Action::Spawn`] the shell reports [`Event::Spawned`] or
//! [`Event::SpawnFailed`] before it feeds any other event. After [`Action::Terminate`] it reports
//! [`Event::Exited`] (main process) and [`Event::GroupGone`] (no live process left in the group), in any order.
//! After [`Action::Reload`] it reports [`Event::ReloadElapsed`] once the reload grace has passed (an
//! [`Event::Exited`] before that means the program exited on the SIGHUP and is started again at once).
//! When the main process exits 0 and leaves processes in its cgroup, the shell ends them and feeds
//! [`Event::Daemonized`] instead of [`Event::Exited`].

use std::time::{Duration, Instant};

use app::model::service::ServiceState;

use super::policy::{FailureWindow, SupervisorConfig};

/// The signal a termination starts with (SIGKILL follows after the grace).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    /// Restart: SIGHUP to the group.
    Hangup,
    /// Stop: SIGTERM to the group.
    Terminate,
}

/// What happens once a termination is complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterStop {
    Stay,
    Start,
    Disable(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Start or re-enable (also at boot). Clears a disabled state and the failure count.
    Start,
    /// Stop (user stop, disable, delete, Warden shutdown).
    Stop,
    /// Restart as the seed means it: SIGHUP; an exit within the reload grace starts it again at once,
    /// a service still running after it has reloaded in place. Starts a stopped service.
    Restart,
    /// Hard restart (changed spec, `restart?mode=hard`): stop (stop signal, grace, kill) and start.
    HardRestart,
    /// The reload grace after a restart's SIGHUP has passed.
    ReloadElapsed,
    /// The main process exited 0 leaving processes behind (already ended by the shell): it forks into
    /// the background. Disables the service at once with this reason.
    Daemonized(String),
    Spawned,
    SpawnFailed,
    /// The main process exited (`true`: with code 0).
    Exited(bool),
    /// After a termination: no live process is left in the group.
    GroupGone,
    BackoffElapsed,
    MonitorFailed,
    MonitorPassed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Start the command (answer with `Spawned` or `SpawnFailed`).
    Spawn,
    /// Signal the group, SIGKILL it after the grace, report `GroupGone` once it is empty.
    Terminate(StopSignal),
    /// SIGHUP to the service; report `ReloadElapsed` after the reload grace. Nothing is killed.
    Reload,
    /// The service survived its SIGHUP for the reload grace: log "reloaded in place".
    ReloadedInPlace,
    /// The main process is gone on its own: end whatever is left in its group (SIGKILL).
    KillRemnants,
    /// Feed `BackoffElapsed` after this delay.
    ScheduleStart(Duration),
    /// Forget a scheduled start.
    CancelScheduledStart,
    /// The crash-loop rule fired: persist the disabled state with this reason, log it, announce it.
    Disable(String),
}

/// The state of one service, plus what the policy needs to remember.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    pub state: ServiceState,
    /// The main process is alive (spawned, exit not yet seen).
    pub main_alive: bool,
    /// During `stopping`: the group still has live processes.
    pub group_alive: bool,
    pub after_stop: AfterStop,
    /// Failures in a row since the last stable run (drives the backoff).
    pub consecutive_failures: u32,
    pub failures: FailureWindow,
    pub running_since: Option<Instant>,
    pub disabled_reason: Option<String>,
    /// Restarts performed since Warden started this service.
    pub restarts: u32,
    /// A restart's SIGHUP was sent and the reload grace has not passed yet.
    pub reloading: bool,
}

impl Machine {
    /// A service that is not running; `disabled_reason` restores a persisted disabled state.
    pub fn new(disabled_reason: Option<String>) -> Self {
        Machine {
            state: if disabled_reason.is_some() {
                ServiceState::Disabled
            } else {
                ServiceState::Stopped
            },
            main_alive: false,
            group_alive: false,
            after_stop: AfterStop::Stay,
            consecutive_failures: 0,
            failures: FailureWindow::default(),
            running_since: None,
            disabled_reason,
            restarts: 0,
            reloading: false,
        }
    }

    fn spawn(&mut self) -> Vec<Action> {
        self.state = ServiceState::Starting;
        vec![Action::Spawn]
    }

    fn terminate(&mut self, signal: StopSignal, after: AfterStop) -> Vec<Action> {
        self.reloading = false;
        self.state = ServiceState::Stopping;
        self.group_alive = true;
        self.after_stop = after;
        vec![Action::Terminate(signal)]
    }

    /// A failure at `now` after a run of `run_time`: either back off or, in a crash loop, disable.
    /// The backoff spaces consecutive *starts*: a run that already lasted longer than the delay restarts
    /// at once (so a long-running service killed by accident is back immediately), a run that died
    /// instantly waits the whole delay.
    fn fail(
        &mut self,
        now: Instant,
        config: &SupervisorConfig,
        run_time: Duration,
        mut actions: Vec<Action>,
    ) -> Vec<Action> {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        if self.failures.record(now, config) {
            let reason = config.crash_loop_reason();
            self.state = ServiceState::Disabled;
            self.disabled_reason = Some(reason.clone());
            actions.push(Action::Disable(reason));
        } else {
            self.state = ServiceState::Backoff;
            actions.push(Action::ScheduleStart(
                config
                    .backoff_delay(self.consecutive_failures)
                    .saturating_sub(run_time),
            ));
        }
        actions
    }

    fn finish_stop(&mut self) -> Vec<Action> {
        self.running_since = None;
        match std::mem::replace(&mut self.after_stop, AfterStop::Stay) {
            AfterStop::Stay => {
                self.state = ServiceState::Stopped;
                Vec::new()
            }
            AfterStop::Start => {
                self.restarts = self.restarts.saturating_add(1);
                self.spawn()
            }
            AfterStop::Disable(reason) => {
                self.state = ServiceState::Disabled;
                self.disabled_reason = Some(reason.clone());
                vec![Action::Disable(reason)]
            }
        }
    }

    /// Applies `event` at `now` and returns the actions to perform, in order.
    pub fn next(&mut self, event: Event, now: Instant, config: &SupervisorConfig) -> Vec<Action> {
        use ServiceState as S;
        match (self.state, event) {
            (
                S::Stopped | S::Disabled | S::Exited,
                Event::Start | Event::Restart | Event::HardRestart,
            ) => {
                self.disabled_reason = None;
                self.failures.clear();
                self.consecutive_failures = 0;
                self.spawn()
            }
            (S::Backoff, Event::Start | Event::Restart | Event::HardRestart) => {
                let mut actions = vec![Action::CancelScheduledStart];
                actions.extend(self.spawn());
                actions
            }
            (S::Backoff, Event::BackoffElapsed) => {
                self.restarts = self.restarts.saturating_add(1);
                self.spawn()
            }
            (S::Backoff, Event::Stop) => {
                self.state = S::Stopped;
                vec![Action::CancelScheduledStart]
            }
            (S::Starting, Event::Spawned) => {
                self.state = S::Running;
                self.reloading = false;
                self.main_alive = true;
                self.running_since = Some(now);
                Vec::new()
            }
            (S::Starting, Event::SpawnFailed) => {
                self.running_since = None;
                self.fail(now, config, Duration::ZERO, Vec::new())
            }
            (S::Running, Event::Exited(_)) if self.reloading => {
                // It exited on the restart's SIGHUP: started again at once, not a failure.
                self.reloading = false;
                self.main_alive = false;
                self.running_since = None;
                self.restarts = self.restarts.saturating_add(1);
                let mut actions = vec![Action::KillRemnants];
                actions.extend(self.spawn());
                actions
            }
            (S::Running, Event::ReloadElapsed) if self.reloading => {
                self.reloading = false;
                self.restarts = self.restarts.saturating_add(1);
                vec![Action::ReloadedInPlace]
            }
            (S::Running, Event::Daemonized(reason)) => {
                self.reloading = false;
                self.main_alive = false;
                self.running_since = None;
                self.state = S::Disabled;
                self.disabled_reason = Some(reason.clone());
                vec![Action::Disable(reason)]
            }
            (S::Running, Event::Exited(success)) => {
                self.main_alive = false;
                let run_time = self
                    .running_since
                    .map(|since| now.saturating_duration_since(since))
                    .unwrap_or_default();
                self.running_since = None;
                if config.is_stable_run(run_time) {
                    self.consecutive_failures = 0;
                }
                if !config.restart.restarts_after(success) {
                    // Its restart policy ends it here; an exit 0 is no failure.
                    self.state = S::Exited;
                    return vec![Action::KillRemnants];
                }
                self.fail(now, config, run_time, vec![Action::KillRemnants])
            }
            (S::Exited, Event::Stop) => {
                self.state = S::Stopped;
                Vec::new()
            }
            (S::Running, Event::Stop) => self.terminate(StopSignal::Terminate, AfterStop::Stay),
            (S::Running, Event::Restart) => {
                if self.reloading {
                    Vec::new()
                } else {
                    self.reloading = true;
                    vec![Action::Reload]
                }
            }
            (S::Running, Event::HardRestart) => {
                self.terminate(StopSignal::Terminate, AfterStop::Start)
            }
            (S::Running, Event::MonitorFailed) => {
                self.consecutive_failures = self.consecutive_failures.saturating_add(1);
                if self.failures.record(now, config) {
                    let reason = config.crash_loop_reason();
                    self.terminate(StopSignal::Terminate, AfterStop::Disable(reason))
                } else {
                    self.terminate(StopSignal::Hangup, AfterStop::Start)
                }
            }
            (S::Running, Event::MonitorPassed) => {
                self.failures.clear();
                self.consecutive_failures = 0;
                Vec::new()
            }
            (S::Stopping, Event::Start | Event::Restart | Event::HardRestart) => {
                if !matches!(self.after_stop, AfterStop::Disable(_)) {
                    self.after_stop = AfterStop::Start;
                }
                Vec::new()
            }
            (S::Stopping, Event::Stop) => {
                self.after_stop = AfterStop::Stay;
                Vec::new()
            }
            (S::Stopping, Event::Exited(_)) => {
                self.main_alive = false;
                if self.group_alive {
                    Vec::new()
                } else {
                    self.finish_stop()
                }
            }
            (S::Stopping, Event::GroupGone) => {
                self.group_alive = false;
                if self.main_alive {
                    Vec::new()
                } else {
                    self.finish_stop()
                }
            }
            // Anything else is stale (a late timer, an exit already handled) or a no-op (start while running).
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
#[path = "fsm_tests.rs"]
mod tests;
