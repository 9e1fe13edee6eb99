//! The memory limit of a running service (`limits.memory_max_bytes`, PM2's `max_memory_restart`): once a
//! second its memory is measured (the cgroup's `memory.current` where the memory controller is enabled,
//! else the sum of its processes' RSS); over the limit, it gets a hard restart, a log line and a
//! `memory_limit` warning.

use std::time::{Duration, Instant};

use app::model::service::{ServiceState, ServiceWarning, WarningKind};

use super::super::fsm::Event;
use super::super::{procfs, usage};
use super::Runner;

/// How often the memory of a service with a limit is measured.
const MEMORY_CHECK: Duration = Duration::from_secs(1);

/// The warning (and log line) for `used` bytes over `limit`.
pub(crate) fn memory_warning(used: u64, limit: u64, source: &str) -> ServiceWarning {
    ServiceWarning {
        kind: WarningKind::MemoryLimit,
        port: None,
        message: format!(
            "memory {used} bytes ({source}) exceeded the limit of {limit} bytes (memory_max_bytes): restarted"
        ),
    }
}

impl Runner {
    /// Schedules the first measurement of a new run, if the service has a memory limit.
    pub(super) fn schedule_memory_check(&mut self, now: Instant) {
        self.next_memory_check = self
            .record
            .spec
            .limits
            .memory_max_bytes
            .map(|_| now + MEMORY_CHECK);
    }

    /// Measures the memory and restarts the service if it is over its limit.
    pub(super) async fn check_memory(&mut self, now: Instant) {
        self.schedule_memory_check(now);
        let Some(limit) = self.record.spec.limits.memory_max_bytes else {
            return;
        };
        if self.machine.state != ServiceState::Running {
            return;
        }
        let cgroup = self.cgroup.clone();
        let pgid = self.run.as_ref().map(|r| r.pid);
        let measured = tokio::task::spawn_blocking(move || {
            let members = match (&cgroup, pgid) {
                (Some(cgroup), _) => procfs::live_members(&cgroup.pids()),
                (None, Some(pgid)) => procfs::group_members(pgid),
                (None, None) => Vec::new(),
            };
            usage::measure(cgroup.as_ref(), &members)
        })
        .await;
        let Ok(usage) = measured else {
            return;
        };
        if usage.memory_bytes <= limit {
            return;
        }
        let warning = memory_warning(usage.memory_bytes, limit, &usage.memory_source);
        self.log.warden(warning.message.clone()).await;
        tracing::warn!(service = %self.record.spec.name, "{}", warning.message);
        self.env.alerts.send(crate::alerts::Alert::memory_restart(
            &self.record.id,
            &self.record.spec.name,
            &warning.message,
        ));
        self.memory_warning = Some(warning);
        self.feed(Event::HardRestart).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_warning_says_what_was_measured() {
        let w = memory_warning(80 << 20, 32 << 20, "rss");
        assert_eq!(w.kind, WarningKind::MemoryLimit);
        assert_eq!(
            w.message,
            "memory 83886080 bytes (rss) exceeded the limit of 33554432 bytes (memory_max_bytes): restarted"
        );
    }
}
