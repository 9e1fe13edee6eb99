//! The reports of a service's helper tasks (the child's exit, the end of its process group, a monitoring
//! result), its timers (backoff, the next check) and the health and port checks of a running service.

use std::time::Instant;

use app::model::service::{Health, LastExit, ServiceState};
use time::OffsetDateTime;

use super::super::fsm::Event;
use super::super::logs::rfc3339_millis;
use super::super::{procfs, spawn, warnings};
use super::{report, Report, Runner};

impl Runner {
    pub(super) async fn on_report(&mut self, report: Report) {
        match report {
            Report::Exited { generation, status } if generation == self.generation => {
                let (code, signal) = status
                    .as_ref()
                    .map(spawn::exit_parts)
                    .unwrap_or((None, None));
                let run_time = self
                    .run
                    .as_ref()
                    .map(|r| r.started.elapsed())
                    .unwrap_or_default();
                self.last_exit = Some(LastExit {
                    code,
                    signal,
                    at: rfc3339_millis(OffsetDateTime::now_utc()),
                });
                self.log
                    .warden(format!(
                        "exited with {} after {:.3} s",
                        spawn::describe_exit(code, signal),
                        run_time.as_secs_f64()
                    ))
                    .await;
                if code == Some(0)
                    && self.machine.state == ServiceState::Running
                    && !self.machine.reloading
                {
                    let leftovers = self.leftovers().await;
                    if !leftovers.is_empty() {
                        let reason = self.diagnose_daemonized(&leftovers).await;
                        self.feed(Event::Daemonized(reason)).await;
                        return;
                    }
                }
                self.feed(Event::Exited(code == Some(0))).await;
            }
            Report::ReloadElapsed { generation } if generation == self.generation => {
                self.feed(Event::ReloadElapsed).await;
            }
            Report::GroupGone { generation, killed } if generation == self.generation => {
                if killed {
                    self.log
                        .warden(format!(
                            "sent SIGKILL to the process group after the {} s grace",
                            self.policy().stop_grace.as_secs_f64()
                        ))
                        .await;
                }
                self.feed(Event::GroupGone).await;
            }
            Report::Checked {
                generation,
                outcome,
            } if generation == self.generation => {
                self.check_in_flight = false;
                if self.machine.state != ServiceState::Running {
                    return;
                }
                let timeout = self.policy().monitor_timeout;
                match *outcome {
                    Ok(outcome) if outcome.passed => {
                        self.health = Health::Passing;
                        self.health_alert(None);
                        self.feed(Event::MonitorPassed).await;
                    }
                    Ok(outcome) => {
                        self.health = Health::Failing;
                        self.health_alert(Some(outcome.describe(timeout)));
                        self.log
                            .warden(format!("{}; restarting", outcome.describe(timeout)))
                            .await;
                        self.feed(Event::MonitorFailed).await;
                    }
                    Err(e) => {
                        self.health = Health::Failing;
                        self.health_alert(Some(format!("cannot run the monitoring command: {e}")));
                        self.log
                            .warden(format!(
                                "cannot run the monitoring command: {e}; restarting"
                            ))
                            .await;
                        self.feed(Event::MonitorFailed).await;
                    }
                }
            }
            _ => {
                // A report about an earlier run.
            }
        }
    }

    /// Reports the first failing check (`Some(why)`) and the first passing one after it (`None`) as
    /// alerts; the checks in between (failing again after the restart) say nothing new.
    fn health_alert(&mut self, failing: Option<String>) {
        let (id, name) = (&self.record.id, &self.record.spec.name);
        match failing {
            Some(why) if !self.health_alerted => {
                self.health_alerted = true;
                self.env
                    .alerts
                    .send(crate::alerts::Alert::health_failing(id, name, &why));
            }
            None if self.health_alerted => {
                self.health_alerted = false;
                self.env
                    .alerts
                    .send(crate::alerts::Alert::health_recovered(id, name));
            }
            _ => {}
        }
    }

    pub(super) async fn on_timer(&mut self) {
        let now = Instant::now();
        if self.next_memory_check.is_some_and(|at| at <= now) {
            self.check_memory(now).await;
        }
        if self.backoff_until.is_some_and(|at| at <= now) {
            self.backoff_until = None;
            self.feed(Event::BackoffElapsed).await;
        }
        if self.next_check.is_some_and(|at| at <= now) {
            let started = self.run.as_ref().map(|r| r.started).unwrap_or(now);
            self.last_check = Some(now);
            self.next_check = Some(self.policy().next_check_at(started, Some(now)));
            if self.machine.state == ServiceState::Running {
                self.check_ports();
                self.start_check();
                self.publish();
            }
        }
    }

    fn check_ports(&mut self) {
        self.port_warnings = self
            .record
            .spec
            .ports
            .iter()
            .filter_map(|&port| {
                let binding = procfs::classify_binding(&procfs::listening_addresses(port));
                warnings::port_warning(port, binding)
            })
            .collect();
    }

    fn start_check(&mut self) {
        let Some(command) = self.record.spec.monitoring_command.clone() else {
            return;
        };
        if self.check_in_flight {
            return;
        }
        self.check_in_flight = true;
        let generation = self.generation;
        let tx = self.reports.clone();
        let launch = self.launch(&command);
        let timeout = self.policy().monitor_timeout;
        tokio::spawn(async move {
            let outcome = match launch {
                Ok(launch) => spawn::run_check(&launch, timeout)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e),
            };
            report(
                &tx,
                Report::Checked {
                    generation,
                    outcome: Box::new(outcome),
                },
            );
        });
    }
}
