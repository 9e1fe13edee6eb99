//! What a service uses now ([`SupervisorHandle::usage`]): CPU time from the cgroup's `cpu.stat`, memory
//! from `memory.current` where the memory controller is enabled, else the sum of the processes' RSS; in
//! process-group containment, the sums over the group's live processes.

use app::model::service::{Containment, ServiceUsage};

use super::cgroup::ServiceCgroup;
use super::procfs::{self, ProcStat, USER_HZ};
use super::{SupervisorError, SupervisorHandle};

/// Microseconds per USER_HZ tick.
const USEC_PER_TICK: u64 = 1_000_000 / USER_HZ;

/// The usage of a cgroup, or of the live processes `members` (the process group) without one.
pub fn measure(cgroup: Option<&ServiceCgroup>, members: &[ProcStat]) -> ServiceUsage {
    let rss: u64 = members.iter().map(|p| procfs::rss_bytes(p.pid)).sum();
    let ticks: u64 = members.iter().map(|p| p.cpu_ticks).sum();
    let (memory_bytes, memory_source) = match cgroup.and_then(ServiceCgroup::memory_current) {
        Some(current) => (current, "memory.current"),
        None => (rss, "rss"),
    };
    ServiceUsage {
        containment: if cgroup.is_some() {
            Containment::Cgroup
        } else {
            Containment::ProcessGroup
        },
        cpu_usage_usec: cgroup
            .and_then(ServiceCgroup::cpu_usage_usec)
            .unwrap_or(ticks.saturating_mul(USEC_PER_TICK)),
        memory_bytes,
        memory_source: memory_source.to_string(),
        processes: u32::try_from(members.len()).unwrap_or(u32::MAX),
    }
}

impl SupervisorHandle {
    /// The resources the service uses now (see [`measure`]).
    pub async fn usage(&self, id: &str) -> Result<ServiceUsage, SupervisorError> {
        let service = self.get(id)?;
        let cgroup = self.inner.env.cgroup_of(id);
        let pid = service.status.pid;
        tokio::task::spawn_blocking(move || {
            let members = match (&cgroup, pid) {
                (Some(cgroup), _) => procfs::live_members(&cgroup.pids()),
                (None, Some(pgid)) => procfs::group_members(pgid),
                (None, None) => Vec::new(),
            };
            measure(cgroup.as_ref(), &members)
        })
        .await
        .map_err(|e| SupervisorError::Internal(e.to_string()))
    }
}
