//! Which resource limits this host can enforce ([`LimitCapabilities`], `GET /api/v1/capabilities`) and
//! the host check of a service's `limits` ([`refusals`]): `tasks_max` needs the pids controller and
//! `cpu_max_percent` the cpu controller in Warden's cgroup subtree, and are refused with a field error
//! naming the missing controller where they are not; `memory_max_bytes` always works (a restart when the
//! measured memory exceeds it; also `memory.max` with the memory controller); `nofile` is an rlimit.

use std::collections::BTreeSet;

use app::model::service::{Containment, ServiceLimits};
pub use app::model::service_limits::{LimitCapabilities, LimitCapability};
use app::model::FieldError;

fn missing(controller: &str, cgroups: bool) -> String {
    if cgroups {
        format!("the {controller} controller is not delegated to Warden's cgroup on this host")
    } else {
        format!("no writable cgroup v2 on this host, so no {controller} controller")
    }
}

/// The capabilities with the cgroup `controllers` (`None`: no cgroups, process groups only).
pub fn capabilities(controllers: Option<&BTreeSet<String>>) -> LimitCapabilities {
    let has = |c: &str| controllers.is_some_and(|set| set.contains(c));
    let cgroups = controllers.is_some();
    let by_controller = |controller: &str, file: &str| {
        if has(controller) {
            LimitCapability {
                enforceable: true,
                how: format!("cgroup {file}"),
            }
        } else {
            LimitCapability {
                enforceable: false,
                how: missing(controller, cgroups),
            }
        }
    };
    LimitCapabilities {
        containment: if cgroups {
            Containment::Cgroup
        } else {
            Containment::ProcessGroup
        },
        controllers: controllers
            .map(|set| set.iter().cloned().collect())
            .unwrap_or_default(),
        memory_max_bytes: LimitCapability {
            enforceable: true,
            how: if has("memory") {
                "restart when memory.current exceeds it, and cgroup memory.max".into()
            } else {
                "restart when the sum of the processes' RSS exceeds it (no memory controller here)"
                    .into()
            },
        },
        tasks_max: by_controller("pids", "pids.max"),
        cpu_max_percent: by_controller("cpu", "cpu.max"),
        nofile: LimitCapability {
            enforceable: true,
            how: "RLIMIT_NOFILE".into(),
        },
    }
}

/// The field errors for limits this host cannot enforce.
pub fn refusals(limits: &ServiceLimits, capabilities: &LimitCapabilities) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if limits.tasks_max.is_some() && !capabilities.tasks_max.enforceable {
        errors.push(FieldError::new(
            "limits.tasks_max",
            format!("cannot be enforced: {}", capabilities.tasks_max.how),
        ));
    }
    if limits.cpu_max_percent.is_some() && !capabilities.cpu_max_percent.enforceable {
        errors.push(FieldError::new(
            "limits.cpu_max_percent",
            format!("cannot be enforced: {}", capabilities.cpu_max_percent.how),
        ));
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_needing_a_missing_controller_are_refused() {
        let limits = ServiceLimits {
            memory_max_bytes: Some(64 << 20),
            tasks_max: Some(10),
            cpu_max_percent: Some(50),
            nofile: Some(1024),
        };
        let none = BTreeSet::new();
        let fields = |caps: &LimitCapabilities| {
            refusals(&limits, caps)
                .into_iter()
                .map(|e| (e.field, e.message))
                .collect::<Vec<_>>()
        };
        let refused = fields(&capabilities(Some(&none)));
        assert_eq!(refused.len(), 2, "{refused:?}");
        assert_eq!(refused[0].0, "limits.tasks_max");
        assert!(refused[0].1.contains("pids controller"), "{refused:?}");
        assert_eq!(refused[1].0, "limits.cpu_max_percent");
        assert!(refused[1].1.contains("cpu controller"), "{refused:?}");
        assert_eq!(fields(&capabilities(None)).len(), 2);
        let all: BTreeSet<String> = ["memory", "pids", "cpu"].map(String::from).into();
        assert!(fields(&capabilities(Some(&all))).is_empty());
        assert!(capabilities(None).memory_max_bytes.enforceable);
    }
}
