//! Resource limits of a service (`limits` in api-v1.md "v1 additions"): `memory_max_bytes` (restart when
//! the service's memory exceeds it, PM2's `max_memory_restart`; also `memory.max` where the memory
//! controller is delegated), `tasks_max` (`pids.max`) and `cpu_max_percent` (`cpu.max`), only where
//! those cgroup controllers are available, and `nofile` (RLIMIT_NOFILE, always). The pure range checks
//! live here, and the shape of `GET /api/v1/capabilities` ([`LimitCapabilities`], which the form uses to
//! disable what this host cannot enforce); whether a controller is available is the server's host check.

use serde::{Deserialize, Serialize};

use super::service::Containment;
use super::FieldError;

/// `limits`; `null` = no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ServiceLimits {
    /// Restarted (with a log line and a `memory_limit` warning) when its memory exceeds this.
    #[serde(default)]
    pub memory_max_bytes: Option<u64>,
    /// At most this many tasks (`pids.max`; needs the pids controller).
    #[serde(default)]
    pub tasks_max: Option<u64>,
    /// At most this much CPU, in percent of one core (`cpu.max`; needs the cpu controller).
    #[serde(default)]
    pub cpu_max_percent: Option<u32>,
    /// The open-file limit (RLIMIT_NOFILE, soft and hard).
    #[serde(default)]
    pub nofile: Option<u64>,
}

impl ServiceLimits {
    pub fn is_empty(&self) -> bool {
        *self == ServiceLimits::default()
    }
}

/// Whether one limit is enforceable here, and how (or why not).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct LimitCapability {
    pub enforceable: bool,
    pub how: String,
}

/// What this Warden can do with services here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct LimitCapabilities {
    pub containment: Containment,
    /// The cgroup controllers enabled for the services' cgroups.
    pub controllers: Vec<String>,
    pub memory_max_bytes: LimitCapability,
    pub tasks_max: LimitCapability,
    pub cpu_max_percent: LimitCapability,
    pub nofile: LimitCapability,
}

/// The smallest memory limit accepted (1 MiB).
pub const MIN_MEMORY_MAX_BYTES: u64 = 1 << 20;
/// The largest CPU limit accepted (100 cores).
pub const MAX_CPU_PERCENT: u32 = 10_000;
/// The largest open-file limit accepted (the kernel's default `nr_open`).
pub const MAX_NOFILE: u64 = 1 << 20;
/// The largest task limit accepted.
pub const MAX_TASKS: u64 = 4_194_304;

/// Checks the ranges of the limits (not whether this host can enforce them).
pub fn validate_limits(limits: &ServiceLimits, invalid: &mut Vec<FieldError>) {
    let mut check = |field: &str, value: Option<u64>, min: u64, max: u64, unit: &str| {
        if let Some(v) = value {
            if v < min || v > max {
                invalid.push(FieldError::new(
                    field,
                    format!("use a whole number from {min} to {max} {unit}"),
                ));
            }
        }
    };
    check(
        "limits.memory_max_bytes",
        limits.memory_max_bytes,
        MIN_MEMORY_MAX_BYTES,
        u64::MAX,
        "bytes",
    );
    check("limits.tasks_max", limits.tasks_max, 1, MAX_TASKS, "tasks");
    check(
        "limits.cpu_max_percent",
        limits.cpu_max_percent.map(u64::from),
        1,
        u64::from(MAX_CPU_PERCENT),
        "percent of one core",
    );
    check("limits.nofile", limits.nofile, 16, MAX_NOFILE, "files");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_checked() {
        let table = [
            (ServiceLimits::default(), None),
            (
                ServiceLimits {
                    memory_max_bytes: Some(1024),
                    ..Default::default()
                },
                Some("limits.memory_max_bytes"),
            ),
            (
                ServiceLimits {
                    memory_max_bytes: Some(64 << 20),
                    nofile: Some(4096),
                    tasks_max: Some(100),
                    cpu_max_percent: Some(50),
                },
                None,
            ),
            (
                ServiceLimits {
                    tasks_max: Some(0),
                    ..Default::default()
                },
                Some("limits.tasks_max"),
            ),
            (
                ServiceLimits {
                    cpu_max_percent: Some(0),
                    ..Default::default()
                },
                Some("limits.cpu_max_percent"),
            ),
            (
                ServiceLimits {
                    nofile: Some(MAX_NOFILE + 1),
                    ..Default::default()
                },
                Some("limits.nofile"),
            ),
        ];
        for (limits, field) in table {
            let mut invalid = Vec::new();
            validate_limits(&limits, &mut invalid);
            assert_eq!(
                invalid.first().map(|e| e.field.as_str()),
                field,
                "{limits:?}"
            );
        }
    }
}
