//! The status warnings and health of a service, pure: from what the effects shell observed (how each
//! reserved port is bound, what a run left in its process group, the machine's state) to what the status
//! shows. No process or socket is read here.

use app::model::service::{Health, ServiceState, ServiceWarning, WarningKind};

use super::procfs::PortBinding;

/// The warning for one reserved port of a running service, if it is not reachable from outside.
pub fn port_warning(port: u16, binding: PortBinding) -> Option<ServiceWarning> {
    match binding {
        PortBinding::Reachable => None,
        PortBinding::NotListening => Some(ServiceWarning {
            kind: WarningKind::PortNotListening,
            port: Some(port),
            message: format!("nothing listens on reserved port {port}"),
        }),
        PortBinding::LoopbackOnly => Some(ServiceWarning {
            kind: WarningKind::PortLoopbackOnly,
            port: Some(port),
            message: format!(
                "port {port} is bound to loopback only and unreachable from outside; bind :: instead"
            ),
        }),
    }
}

/// The `daemonized` warning and the disabled reason for a command that exited 0 while `escaped`
/// (pid, command line) kept running: it forked into the background.
pub fn daemonized(escaped: &[(u32, String)]) -> (ServiceWarning, String) {
    let listed: Vec<String> = escaped
        .iter()
        .map(|(pid, command)| format!("pid {pid}: `{command}`"))
        .collect();
    let first = escaped.first().map(|(_, c)| c.as_str()).unwrap_or("?");
    let warning = ServiceWarning {
        kind: WarningKind::Daemonized,
        port: None,
        message: format!(
            "exited 0 but left {} process(es) running ({}): it forked into the background; services must stay in the foreground",
            escaped.len(),
            listed.join(", ")
        ),
    };
    let reason = format!(
        "it forks into the background (`{first}` kept running after the main process exited 0); run it in the foreground, e.g. memcached without -d, redis-server --daemonize no, php-fpm -F"
    );
    (warning, reason)
}

/// The warnings the status shows: a daemonized run always, the port warnings only while running.
pub fn shown_warnings(
    state: ServiceState,
    daemonized: Option<&ServiceWarning>,
    port_warnings: &[ServiceWarning],
) -> Vec<ServiceWarning> {
    let mut warnings: Vec<ServiceWarning> = daemonized.into_iter().cloned().collect();
    if state == ServiceState::Running {
        warnings.extend(port_warnings.iter().cloned());
    }
    warnings
}

/// The health the status shows: only a service with a monitoring command has one.
pub fn shown_health(has_monitoring_command: bool, health: Health) -> Health {
    if has_monitoring_command {
        health
    } else {
        Health::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_warnings_by_binding() {
        let table = [
            (PortBinding::Reachable, None),
            (
                PortBinding::NotListening,
                Some((
                    WarningKind::PortNotListening,
                    "nothing listens on reserved port 8300",
                )),
            ),
            (
                PortBinding::LoopbackOnly,
                Some((
                    WarningKind::PortLoopbackOnly,
                    "port 8300 is bound to loopback only and unreachable from outside; bind :: instead",
                )),
            ),
        ];
        for (binding, expected) in table {
            let warning = port_warning(8300, binding);
            assert_eq!(
                warning.as_ref().map(|w| (w.kind, w.message.as_str())),
                expected,
                "{binding:?}"
            );
            if let Some(warning) = warning {
                assert_eq!(warning.port, Some(8300));
            }
        }
    }

    #[test]
    fn daemonized_names_the_escaped_command_and_the_fix() {
        let (warning, reason) = daemonized(&[(41, "memcached -d".into()), (42, "sleep 9".into())]);
        assert_eq!(warning.kind, WarningKind::Daemonized);
        assert_eq!(
            warning.message,
            "exited 0 but left 2 process(es) running (pid 41: `memcached -d`, pid 42: `sleep 9`): it forked into the background; services must stay in the foreground"
        );
        assert!(
            reason.starts_with("it forks into the background (`memcached -d` kept running"),
            "{reason}"
        );
        assert!(reason.contains("run it in the foreground"), "{reason}");
    }

    #[test]
    fn port_warnings_show_only_while_running() {
        let daemonized = Some(daemonized(&[(7, "x".into())]).0);
        let ports = port_warning(8300, PortBinding::NotListening)
            .into_iter()
            .collect::<Vec<_>>();
        let kinds = |state| {
            shown_warnings(state, daemonized.as_ref(), &ports)
                .into_iter()
                .map(|w| w.kind)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            kinds(ServiceState::Running),
            [WarningKind::Daemonized, WarningKind::PortNotListening]
        );
        for state in [
            ServiceState::Starting,
            ServiceState::Backoff,
            ServiceState::Stopping,
            ServiceState::Stopped,
            ServiceState::Disabled,
        ] {
            assert_eq!(kinds(state), [WarningKind::Daemonized], "{state:?}");
        }
    }

    #[test]
    fn health_shows_only_with_a_monitoring_command() {
        for health in [Health::Unknown, Health::Passing, Health::Failing] {
            assert_eq!(shown_health(true, health), health);
            assert_eq!(shown_health(false, health), Health::Unknown);
        }
    }
}
