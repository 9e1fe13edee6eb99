//! Restart policy, pure: the supervisor's tunables ([`SupervisorConfig`], defaults from design.md), the
//! exponential backoff, the crash-loop window and the monitoring schedule. No clocks are read here: every
//! function takes `now`, so tables can test them.

use std::time::{Duration, Instant};

use app::model::service::{RestartPolicy, ServiceSpec};
use app::model::settings::Settings;

/// Every tunable of the supervisor. [`Default`] is design.md's "Supervisor semantics"; the crash-loop
/// values normally come from [`Settings`] (see [`SupervisorConfig::with_settings`]); tests shorten the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupervisorConfig {
    /// First restart delay after a failure.
    pub backoff_initial: Duration,
    /// Each further consecutive failure multiplies the delay by this.
    pub backoff_factor: u32,
    /// The delay never grows beyond this.
    pub backoff_max: Duration,
    /// A run at least this long resets the backoff.
    pub stable_after: Duration,
    /// Crash loop: this many failures ...
    pub crash_loop_max_failures: u32,
    /// ... within this window disable the service.
    pub crash_loop_window: Duration,
    /// Stop/restart: time between SIGTERM/SIGHUP and SIGKILL to the process group.
    pub stop_grace: Duration,
    /// Restart: a service still running this long after its SIGHUP has reloaded in place.
    pub reload_grace: Duration,
    /// First monitoring check (and the port checks) this long after a start.
    pub monitor_grace: Duration,
    /// Then a check every this often.
    pub monitor_interval: Duration,
    /// A monitoring command running longer than this has failed (and is killed).
    pub monitor_timeout: Duration,
    /// A log file is rotated before it would grow beyond this many bytes.
    pub log_max_bytes: u64,
    /// Log files kept per service, the current one included (`name.log`, `name.log.1`, ...).
    pub log_max_files: u32,
    /// `Some(name)`: contain every service in its own cgroup under the cgroup v2 subtree `name` (below
    /// Warden's own cgroup), where a writable cgroup2 exists; `None` (or none writable): process groups.
    pub cgroup_subtree: Option<String>,
    /// What an exit of the main process leads to (per service; see [`SupervisorConfig::for_service`]).
    pub restart: RestartPolicy,
    /// A service with `after` starts anyway once it has waited this long for those services.
    pub after_wait: Duration,
}

impl Default for SupervisorConfig {
    fn default() -> Self {
        SupervisorConfig {
            backoff_initial: Duration::from_millis(100),
            backoff_factor: 2,
            backoff_max: Duration::from_secs(30),
            stable_after: Duration::from_secs(60),
            crash_loop_max_failures: 5,
            crash_loop_window: Duration::from_secs(60),
            stop_grace: Duration::from_secs(10),
            reload_grace: Duration::from_secs(2),
            monitor_grace: Duration::from_secs(10),
            monitor_interval: Duration::from_secs(30),
            monitor_timeout: Duration::from_secs(10),
            log_max_bytes: 10 * 1024 * 1024,
            log_max_files: 5,
            cgroup_subtree: None,
            restart: RestartPolicy::Always,
            after_wait: Duration::from_secs(120),
        }
    }
}

impl SupervisorConfig {
    /// This config with the operator's crash-loop settings applied (values of 0 are raised to 1).
    pub fn with_settings(mut self, settings: &Settings) -> Self {
        self.crash_loop_max_failures = settings.crash_loop.max_failures.max(1);
        self.crash_loop_window = Duration::from_secs(settings.crash_loop.window_secs.max(1));
        self
    }

    /// This config with the service's own lifecycle settings over it (its stop and reload grace,
    /// monitoring schedule and restart policy; unset values keep this config's).
    pub fn for_service(mut self, spec: &ServiceSpec) -> Self {
        let secs = Duration::from_secs;
        self.stop_grace = spec.stop_grace_secs.map_or(self.stop_grace, secs);
        self.reload_grace = spec.reload_grace_secs.map_or(self.reload_grace, secs);
        let m = &spec.monitoring;
        self.monitor_grace = m.grace_secs.map_or(self.monitor_grace, secs);
        self.monitor_interval = m.interval_secs.map_or(self.monitor_interval, secs);
        self.monitor_timeout = m.timeout_secs.map_or(self.monitor_timeout, secs);
        self.restart = spec.restart;
        self
    }

    /// The restart delay after `consecutive_failures` failures in a row (1 = the first failure): none for
    /// the first (a service that dies after running fine is back at once), then `initial × factor^(n-2)`,
    /// capped at `backoff_max` — 0, 100 ms, 200 ms, 400 ms, … 30 s with the defaults.
    pub fn backoff_delay(&self, consecutive_failures: u32) -> Duration {
        if consecutive_failures <= 1 {
            return Duration::ZERO;
        }
        let exponent = consecutive_failures.saturating_sub(2);
        let mut delay = self.backoff_initial;
        for _ in 0..exponent {
            delay = delay.saturating_mul(self.backoff_factor.max(1));
            if delay >= self.backoff_max {
                return self.backoff_max;
            }
        }
        delay.min(self.backoff_max)
    }

    /// Did a run of `run_time` last long enough to forget earlier failures for the backoff?
    pub fn is_stable_run(&self, run_time: Duration) -> bool {
        run_time >= self.stable_after
    }

    /// The human reason shown when the crash-loop rule disables a service.
    pub fn crash_loop_reason(&self) -> String {
        format!(
            "failed {} times within {} s",
            self.crash_loop_max_failures,
            self.crash_loop_window.as_secs()
        )
    }

    /// When the check after `last_check` (or, for the first, after the start at `started`) is due.
    pub fn next_check_at(&self, started: Instant, last_check: Option<Instant>) -> Instant {
        match last_check {
            None => started + self.monitor_grace,
            Some(at) => at + self.monitor_interval,
        }
    }
}

/// The failures the crash-loop rule remembers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FailureWindow {
    times: Vec<Instant>,
}

impl FailureWindow {
    /// Records a failure at `now`, forgets failures older than the window, and answers whether the
    /// service is now in a crash loop.
    pub fn record(&mut self, now: Instant, config: &SupervisorConfig) -> bool {
        self.times.push(now);
        self.times
            .retain(|&t| now.saturating_duration_since(t) <= config.crash_loop_window);
        self.times.len() >= config.crash_loop_max_failures as usize
    }

    /// A passing check or an explicit start forgets every failure.
    pub fn clear(&mut self) {
        self.times.clear();
    }

    pub fn len(&self) -> usize {
        self.times.len()
    }

    pub fn is_empty(&self) -> bool {
        self.times.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_sequence_doubles_and_caps() {
        let config = SupervisorConfig::default();
        let table = [
            (0, 0),
            (1, 0),
            (2, 100),
            (3, 200),
            (4, 400),
            (5, 800),
            (6, 1_600),
            (9, 12_800),
            (10, 25_600),
            (11, 30_000),
            (12, 30_000),
            (200, 30_000),
            (u32::MAX, 30_000),
        ];
        for (failures, millis) in table {
            assert_eq!(
                config.backoff_delay(failures),
                Duration::from_millis(millis),
                "after {failures} failures"
            );
        }
    }

    #[test]
    fn stable_run_threshold() {
        let config = SupervisorConfig::default();
        for (secs, stable) in [(0, false), (59, false), (60, true), (3600, true)] {
            assert_eq!(
                config.is_stable_run(Duration::from_secs(secs)),
                stable,
                "{secs}"
            );
        }
    }

    #[test]
    fn crash_loop_window_counts_only_recent_failures() {
        let config = SupervisorConfig::default(); // 5 within 60 s
        let t0 = Instant::now();
        // (offset in seconds of a failure, crash loop after recording it?)
        let table = [
            (0, false),
            (10, false),
            (20, false),
            (30, false),
            (70, false), // 0 and 10 have left the window: 20, 30, 70
            (75, false), // 20,30,70,75
            (79, true),  // 20,30,70,75,79 — five within 60 s
        ];
        let mut window = FailureWindow::default();
        for (offset, looping) in table {
            let now = t0 + Duration::from_secs(offset);
            assert_eq!(
                window.record(now, &config),
                looping,
                "failure at {offset} s"
            );
        }
        window.clear();
        assert!(window.is_empty());
        assert!(!window.record(t0 + Duration::from_secs(80), &config));
    }

    #[test]
    fn crash_loop_follows_settings() {
        let mut settings = Settings::defaults("h".into(), "nobody".into());
        settings.crash_loop.max_failures = 2;
        settings.crash_loop.window_secs = 5;
        let config = SupervisorConfig::default().with_settings(&settings);
        assert_eq!(config.crash_loop_reason(), "failed 2 times within 5 s");
        let t0 = Instant::now();
        let mut window = FailureWindow::default();
        assert!(!window.record(t0, &config));
        assert!(window.record(t0 + Duration::from_secs(5), &config));
    }

    #[test]
    fn monitoring_schedule() {
        let config = SupervisorConfig::default();
        let t0 = Instant::now();
        assert_eq!(config.next_check_at(t0, None), t0 + Duration::from_secs(10));
        let last = t0 + Duration::from_secs(10);
        assert_eq!(
            config.next_check_at(t0, Some(last)),
            t0 + Duration::from_secs(40)
        );
        assert_eq!(config.monitor_timeout, Duration::from_secs(10));
    }
}
