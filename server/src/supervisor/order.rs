//! Start order (`after`): a service that names others in `after` starts once each of them is running
//! and, when it has a monitoring command, passing — or once the supervisor's `after_wait` has passed
//! (then it starts anyway, and its log says which were not ready). [`after_ready`] is the pure rule;
//! [`SupervisorHandle::boot_after`] waits for it on the status events. It orders the boot of Warden and
//! the first start of a new service; a start asked for by hand is not held back.

use std::time::Instant;

use app::model::service::{Health, Service, ServiceState};
use tokio::sync::{broadcast, mpsc, oneshot};

use super::logs::ServiceLog;
use super::runner::Command;
use super::SupervisorHandle;

/// The names in `after` that are not ready among `services`: not running, or monitored and not
/// passing. A name with no service (deleted since) is not waited for.
pub fn not_ready(after: &[String], services: &[Service]) -> Vec<String> {
    after
        .iter()
        .filter(|name| {
            services.iter().any(|s| {
                &s.spec.name == *name
                    && (s.status.state != ServiceState::Running
                        || (s.spec.monitoring_command.is_some()
                            && s.status.health != Health::Passing))
            })
        })
        .cloned()
        .collect()
}

/// Whether every service in `after` is ready (see [`not_ready`]).
pub fn after_ready(after: &[String], services: &[Service]) -> bool {
    not_ready(after, services).is_empty()
}

impl SupervisorHandle {
    /// Sends `Boot` to the service task once the services in `after` are ready (or the wait is over).
    pub(super) async fn boot_after(
        self,
        after: Vec<String>,
        commands: mpsc::WeakUnboundedSender<Command>,
        done: oneshot::Sender<()>,
        log: ServiceLog,
    ) {
        let mut events = self.subscribe_events();
        // At Warden's start, a service named in `after` may not have its task yet.
        let mut loaded = self.inner.loaded.subscribe();
        let _ = loaded.wait_for(|loaded| *loaded).await;
        let closed = self.closed();
        tokio::pin!(closed);
        let limit = self.inner.env.config.after_wait;
        let deadline = tokio::time::Instant::from_std(Instant::now() + limit);
        let waiting = not_ready(&after, &self.list());
        if !waiting.is_empty() {
            log.warden(format!(
                "waiting for {} to be running (and passing, when monitored) before starting",
                waiting.join(", ")
            ))
            .await;
        }
        loop {
            let waiting = not_ready(&after, &self.list());
            if waiting.is_empty() {
                break;
            }
            tokio::select! {
                _ = &mut closed => return,
                event = tokio::time::timeout_at(deadline, events.recv()) => match event {
                    Err(_) => {
                        log.warden(format!(
                            "{} not ready after {} s; starting anyway",
                            waiting.join(", "),
                            limit.as_secs()
                        ))
                        .await;
                        break;
                    }
                    Ok(Err(broadcast::error::RecvError::Closed)) => return,
                    Ok(_) => {}
                },
            }
        }
        if let Some(tx) = commands.upgrade() {
            let _ = tx.send(Command::Boot(done));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::model::service::{ServiceInput, ServiceStatus};

    fn service(name: &str, state: ServiceState, monitored: bool, health: Health) -> Service {
        let mut input = ServiceInput::new(name, "true");
        if monitored {
            input.monitoring_command = Some("true".into());
        }
        let mut status = ServiceStatus::stopped();
        status.state = state;
        status.health = health;
        Service {
            id: name.into(),
            spec: app::model::service::ServiceSpec {
                name: input.name,
                command: input.command,
                working_directory: None,
                environment: Default::default(),
                monitoring_command: input.monitoring_command,
                ports: Vec::new(),
                user: None,
                enabled: true,
                allow_ports_outside_range: false,
                stop_signal: Default::default(),
                stop_grace_secs: None,
                reload_grace_secs: None,
                restart: Default::default(),
                monitoring: Default::default(),
                after: Vec::new(),
                limits: Default::default(),
            },
            status,
        }
    }

    #[test]
    fn ready_means_running_and_passing_when_monitored() {
        use Health::*;
        use ServiceState::*;
        let table = [
            (Running, false, Unknown, true),
            (Starting, false, Unknown, false),
            (Stopped, false, Unknown, false),
            (Running, true, Unknown, false),
            (Running, true, Failing, false),
            (Running, true, Passing, true),
        ];
        for (state, monitored, health, ready) in table {
            let services = [service("db", state, monitored, health)];
            assert_eq!(
                after_ready(&["db".into()], &services),
                ready,
                "{state:?} {monitored} {health:?}"
            );
        }
        assert!(
            after_ready(&["gone".into()], &[]),
            "a deleted service is not waited for"
        );
        assert!(after_ready(&[], &[]));
    }
}
