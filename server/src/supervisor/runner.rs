//! The effects shell of one service: a task that owns the service's [`Machine`], feeds it events
//! (commands, the child's exit seen at once through its wait, timers, monitoring results) and performs
//! the actions it returns (spawn, signal the group, persist, log, publish the status).

use std::collections::VecDeque;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::model::service::{
    Health, LastExit, Service, ServiceEvent, ServiceSpec, ServiceState, ServiceStatus,
    ServiceWarning, WarningKind,
};
use nix::sys::signal::Signal;
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

use super::fsm::{Action, Event, Machine, StopSignal};
use super::logs::{self, rfc3339_millis, ServiceLog, Stream};
use super::procfs::{self, PortBinding};
use super::spawn::{self, CheckOutcome, Launch};
use super::{Env, RunRecord, ServiceRecord};
use crate::store::StoreError;

/// What the handle asks of a service task.
pub(crate) enum Command {
    /// At supervisor start or after create: start if enabled.
    Boot(oneshot::Sender<()>),
    /// Enable and start (re-enables a disabled service).
    Start(oneshot::Sender<()>),
    /// Disable and stop; answered once no process of the group is left.
    Stop(oneshot::Sender<()>),
    Restart(oneshot::Sender<()>),
    /// Replace the definition (persisted before the answer); restarts a running service if it changed.
    Update(Box<ServiceSpec>, oneshot::Sender<Result<(), StoreError>>),
    /// Stop (keeping `enabled`) and end the task; answered once stopped.
    Shutdown(oneshot::Sender<()>),
    /// End the task at once without touching any process (a simulated crash of Warden).
    Abandon,
    /// A report of one of the service's helper tasks. Reports share the command channel: a second
    /// channel per service cost 1.3 KiB (tokio allocates a block of 32 messages per channel up front).
    Report(Report),
}

/// Reports from the helper tasks of this service. Kept small: the channel allocates room for 32 of
/// them per service up front (an unboxed check outcome made that 2 KiB per service).
pub(crate) enum Report {
    Exited {
        generation: u64,
        status: Option<ExitStatus>,
    },
    GroupGone {
        generation: u64,
        killed: bool,
    },
    Checked {
        generation: u64,
        outcome: Box<Result<CheckOutcome, String>>,
    },
}

/// The current run of the command.
struct Run {
    pid: u32,
    started: Instant,
    started_wall: OffsetDateTime,
}

pub(crate) struct Runner {
    env: Arc<Env>,
    record: ServiceRecord,
    machine: Machine,
    view: Arc<Mutex<Service>>,
    log: ServiceLog,
    /// The service's own command channel, for the helper tasks' reports. Weak, so the task still ends
    /// when the handle's sender is dropped (the service deleted).
    reports: mpsc::WeakUnboundedSender<Command>,
    generation: u64,
    run: Option<Run>,
    backoff_until: Option<Instant>,
    next_check: Option<Instant>,
    last_check: Option<Instant>,
    check_in_flight: bool,
    health: Health,
    last_exit: Option<LastExit>,
    daemonized: Option<ServiceWarning>,
    port_warnings: Vec<ServiceWarning>,
    stop_waiters: Vec<oneshot::Sender<()>>,
    exit_when_stopped: bool,
}

fn is_at_rest(state: ServiceState) -> bool {
    matches!(state, ServiceState::Stopped | ServiceState::Disabled)
}

impl Runner {
    pub(crate) fn new(
        env: Arc<Env>,
        record: ServiceRecord,
        view: Arc<Mutex<Service>>,
        log: ServiceLog,
        reports: mpsc::WeakUnboundedSender<Command>,
    ) -> Runner {
        let machine = Machine::new(record.disabled_reason.clone());
        Runner {
            env,
            record,
            machine,
            view,
            log,
            reports,
            generation: 0,
            run: None,
            backoff_until: None,
            next_check: None,
            last_check: None,
            check_in_flight: false,
            health: Health::Unknown,
            last_exit: None,
            daemonized: None,
            port_warnings: Vec::new(),
            stop_waiters: Vec::new(),
            exit_when_stopped: false,
        }
    }

    /// The status as the API shows it.
    pub(crate) fn snapshot(&self) -> Service {
        let running = matches!(
            self.machine.state,
            ServiceState::Running | ServiceState::Stopping
        );
        let run = self.run.as_ref().filter(|_| running);
        let mut warnings: Vec<ServiceWarning> = self.daemonized.iter().cloned().collect();
        if self.machine.state == ServiceState::Running {
            warnings.extend(self.port_warnings.iter().cloned());
        }
        Service {
            id: self.record.id.clone(),
            spec: self.record.spec.clone(),
            status: ServiceStatus {
                state: self.machine.state,
                pid: run.map(|r| r.pid),
                started_at: run.map(|r| rfc3339_millis(r.started_wall)),
                restarts: self.machine.restarts,
                last_exit: self.last_exit.clone(),
                disabled_reason: self.machine.disabled_reason.clone(),
                health: if self.record.spec.monitoring_command.is_some() {
                    self.health
                } else {
                    Health::Unknown
                },
                warnings,
            },
        }
    }

    fn publish(&mut self) {
        let service = self.snapshot();
        let mut view = self.view.lock().unwrap_or_else(|p| p.into_inner());
        if *view != service {
            *view = service.clone();
            drop(view);
            let _ = self.env.events.send(ServiceEvent::Service {
                service: Box::new(service),
            });
        }
    }

    async fn persist(&mut self) -> Result<(), StoreError> {
        self.env.records.insert(&self.record.id, &self.record)?;
        self.env.store.flush().await
    }

    async fn persist_or_log(&mut self) {
        if let Err(e) = self.persist().await {
            tracing::error!(service = %self.record.spec.name, "cannot persist the service state: {e}");
        }
    }

    /// The task body: runs until shut down, deleted or abandoned.
    ///
    /// The handlers are boxed: an async state machine is as big as its largest state, and the handlers
    /// (spawning, persisting, logging) are several times bigger than the waiting state this task spends
    /// nearly all its life in. Unboxed, every service's task was 3 KiB (measured, 200 services).
    pub(crate) async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        loop {
            let deadline = match (self.backoff_until, self.next_check) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            tokio::select! {
                command = commands.recv() => match command {
                    None | Some(Command::Abandon) => return,
                    Some(command) => Box::pin(self.on_command(command)).await,
                },
                _ = sleep_until(deadline), if deadline.is_some() => Box::pin(self.on_timer()).await,
            }
            if is_at_rest(self.machine.state) {
                for waiter in self.stop_waiters.drain(..) {
                    let _ = waiter.send(());
                }
                if self.exit_when_stopped {
                    Box::pin(self.log.flush()).await;
                    return;
                }
            }
        }
    }

    async fn on_command(&mut self, command: Command) {
        match command {
            Command::Boot(done) => {
                if self.record.spec.enabled && self.machine.state == ServiceState::Stopped {
                    self.feed(Event::Start).await;
                }
                self.publish();
                let _ = done.send(());
            }
            Command::Start(done) => {
                self.enable().await;
                self.feed(Event::Start).await;
                let _ = done.send(());
            }
            Command::Restart(done) => {
                self.enable().await;
                self.log.warden("restart requested").await;
                self.feed(Event::Restart).await;
                let _ = done.send(());
            }
            Command::Stop(done) => {
                if self.record.spec.enabled {
                    self.record.spec.enabled = false;
                    self.persist_or_log().await;
                }
                self.stop_waiters.push(done);
                self.feed(Event::Stop).await;
            }
            Command::Shutdown(done) => {
                self.exit_when_stopped = true;
                self.stop_waiters.push(done);
                self.feed(Event::Stop).await;
            }
            Command::Update(spec, done) => {
                let old = std::mem::replace(&mut self.record.spec, *spec);
                if old.name != self.record.spec.name {
                    self.log
                        .rename(&self.env.log_dir, &self.record.spec.name)
                        .await;
                }
                if self.record.spec.enabled && !old.enabled {
                    self.record.disabled_reason = None;
                }
                if let Err(e) = self.persist().await {
                    self.record.spec = old;
                    let _ = done.send(Err(e));
                    return;
                }
                let new = &self.record.spec;
                let launch_changed = old.command != new.command
                    || old.working_directory != new.working_directory
                    || old.environment != new.environment
                    || old.user != new.user
                    || old.ports != new.ports
                    || old.monitoring_command != new.monitoring_command;
                if !new.enabled {
                    self.feed(Event::Stop).await;
                } else if !old.enabled {
                    self.feed(Event::Start).await;
                } else if launch_changed {
                    self.log
                        .warden("definition changed; restarting with the new one")
                        .await;
                    self.feed(Event::Restart).await;
                }
                self.publish();
                // Answered after the publish, so the caller reads the new definition.
                let _ = done.send(Ok(()));
            }
            Command::Report(report) => self.on_report(report).await,
            Command::Abandon => {}
        }
    }

    async fn enable(&mut self) {
        if !self.record.spec.enabled || self.record.disabled_reason.is_some() {
            self.record.spec.enabled = true;
            self.record.disabled_reason = None;
            self.persist_or_log().await;
        }
    }

    async fn on_report(&mut self, report: Report) {
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
                self.feed(Event::Exited).await;
            }
            Report::GroupGone { generation, killed } if generation == self.generation => {
                if killed {
                    self.log
                        .warden(format!(
                            "sent SIGKILL to the process group after the {} s grace",
                            self.env.config.stop_grace.as_secs_f64()
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
                let timeout = self.env.config.monitor_timeout;
                match *outcome {
                    Ok(outcome) if outcome.passed => {
                        self.health = Health::Passing;
                        self.feed(Event::MonitorPassed).await;
                    }
                    Ok(outcome) => {
                        self.health = Health::Failing;
                        self.log
                            .warden(format!("{}; restarting", outcome.describe(timeout)))
                            .await;
                        self.feed(Event::MonitorFailed).await;
                    }
                    Err(e) => {
                        self.health = Health::Failing;
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

    async fn on_timer(&mut self) {
        let now = Instant::now();
        if self.backoff_until.is_some_and(|at| at <= now) {
            self.backoff_until = None;
            self.feed(Event::BackoffElapsed).await;
        }
        if self.next_check.is_some_and(|at| at <= now) {
            let started = self.run.as_ref().map(|r| r.started).unwrap_or(now);
            self.last_check = Some(now);
            self.next_check = Some(self.env.config.next_check_at(started, Some(now)));
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
        let timeout = self.env.config.monitor_timeout;
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

    /// How to run `command` like this service right now (user, env and settings are read afresh).
    fn launch(&self, command: &str) -> Result<Launch, String> {
        let settings = self.env.settings();
        let spec = &self.record.spec;
        let user = spec.user.as_deref().unwrap_or(&settings.service_user);
        let run_as = spawn::resolve_user(user)?;
        let mut env = spawn::build_environment(
            &run_as,
            &settings.environment,
            &spec.environment,
            &spec.ports,
        );
        // Marks the process (and what it starts) as this Warden's, for the clean-up after a crash.
        env.insert(
            super::INSTANCE_VAR.to_string(),
            self.env.instance_mark.clone(),
        );
        let cwd = spawn::working_directory(spec.working_directory.as_deref(), &run_as);
        Ok(Launch {
            command: command.to_string(),
            cwd,
            env,
            run_as,
        })
    }

    /// Feeds one event to the machine and performs the resulting actions (and those they lead to).
    async fn feed(&mut self, event: Event) {
        let config = self.env.policy();
        let mut queue = VecDeque::from([event]);
        while let Some(event) = queue.pop_front() {
            let actions = self.machine.next(event, Instant::now(), &config);
            for action in actions {
                match action {
                    Action::Spawn => queue.push_back(self.spawn().await),
                    Action::Terminate(signal) => {
                        if let Some(event) = self.terminate(signal).await {
                            queue.push_back(event);
                        }
                    }
                    Action::KillRemnants => self.kill_remnants().await,
                    Action::ScheduleStart(delay) => {
                        self.backoff_until = Some(Instant::now() + delay);
                        self.log
                            .warden(format!("restarting in {} ms", delay.as_millis()))
                            .await;
                    }
                    Action::CancelScheduledStart => self.backoff_until = None,
                    Action::Disable(reason) => {
                        self.record.spec.enabled = false;
                        self.record.disabled_reason = Some(reason.clone());
                        self.persist_or_log().await;
                        self.log.warden(format!("disabled: {reason}")).await;
                        tracing::warn!(service = %self.record.spec.name, "disabled: {reason}");
                    }
                }
            }
        }
        if !matches!(
            self.machine.state,
            ServiceState::Running | ServiceState::Stopping
        ) && self.record.run.is_some()
        {
            self.record.run = None;
            self.persist_or_log().await;
        }
        if matches!(
            self.machine.state,
            ServiceState::Stopped | ServiceState::Disabled
        ) {
            self.next_check = None;
            self.backoff_until = None;
        }
        self.publish();
    }

    async fn spawn(&mut self) -> Event {
        let command = self.record.spec.command.clone();
        let launch = match self.launch(&command) {
            Ok(launch) => launch,
            Err(e) => {
                self.log.warden(format!("cannot start: {e}")).await;
                return Event::SpawnFailed;
            }
        };
        let mut child = match spawn::spawn_in_new_group(&launch) {
            Ok(child) => child,
            Err(e) => {
                self.log
                    .warden(format!("cannot start `{command}`: {e}"))
                    .await;
                return Event::SpawnFailed;
            }
        };
        let Some(pid) = child.id() else {
            self.log
                .warden("the command exited before it could be watched")
                .await;
            return Event::SpawnFailed;
        };
        self.generation += 1;
        let generation = self.generation;
        if let Some(out) = child.stdout.take() {
            tokio::spawn(logs::pump(out, Stream::Out, self.log.clone()));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(logs::pump(err, Stream::Err, self.log.clone()));
        }
        let tx = self.reports.clone();
        tokio::spawn(async move {
            let status = child.wait().await.ok();
            report(&tx, Report::Exited { generation, status });
        });
        let now = Instant::now();
        self.run = Some(Run {
            pid,
            started: now,
            started_wall: OffsetDateTime::now_utc(),
        });
        self.health = Health::Unknown;
        self.port_warnings.clear();
        self.last_check = None;
        self.next_check = Some(self.env.config.next_check_at(now, None));
        self.record.run = procfs::start_ticks(pid).map(|start_ticks| RunRecord {
            pgid: pid,
            start_ticks,
        });
        self.persist_or_log().await;
        self.log
            .warden(format!(
                "started pid {pid} as {}: {command}",
                launch.run_as.name
            ))
            .await;
        Event::Spawned
    }

    async fn terminate(&mut self, signal: StopSignal) -> Option<Event> {
        let Some(pgid) = self.run.as_ref().map(|r| r.pid) else {
            return Some(Event::GroupGone);
        };
        let grace = self.env.config.stop_grace;
        let first = match signal {
            StopSignal::Hangup => {
                self.log
                    .warden("restarting: SIGHUP to the process group")
                    .await;
                Signal::SIGHUP
            }
            StopSignal::Terminate => {
                self.log
                    .warden("stopping: SIGTERM to the process group")
                    .await;
                Signal::SIGTERM
            }
        };
        let generation = self.generation;
        let tx = self.reports.clone();
        tokio::spawn(async move {
            let killed = spawn::terminate_group(pgid, first, grace).await;
            report(&tx, Report::GroupGone { generation, killed });
        });
        None
    }

    async fn kill_remnants(&mut self) {
        let Some(pgid) = self.run.as_ref().map(|r| r.pid) else {
            return;
        };
        let members = tokio::task::spawn_blocking(move || procfs::group_members(pgid))
            .await
            .unwrap_or_default();
        let exited_cleanly = self.last_exit.as_ref().is_some_and(|e| e.code == Some(0));
        if members.is_empty() {
            self.daemonized = None;
            return;
        }
        let pids: Vec<String> = members.iter().map(|p| p.pid.to_string()).collect();
        if exited_cleanly {
            let message = format!(
                "exited 0 but left {} process(es) behind in its group (pids {}): it forked into the background; services must stay in the foreground",
                members.len(),
                pids.join(", ")
            );
            self.log.warden(message.clone()).await;
            self.daemonized = Some(ServiceWarning {
                kind: WarningKind::Daemonized,
                port: None,
                message,
            });
        }
        self.log
            .warden(format!(
                "ending {} process(es) left in the group (pids {}) with SIGKILL",
                members.len(),
                pids.join(", ")
            ))
            .await;
        spawn::signal_group(pgid, Signal::SIGKILL);
        spawn::wait_group_empty(pgid, Duration::from_secs(2)).await;
    }
}

/// Sends a helper task's report to its service task, unless that task has ended.
fn report(tx: &mpsc::WeakUnboundedSender<Command>, report: Report) {
    if let Some(tx) = tx.upgrade() {
        let _ = tx.send(Command::Report(report));
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
}
