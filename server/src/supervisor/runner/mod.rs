//! The effects shell of one service: a task that owns the service's [`Machine`], feeds it events
//! (commands, the child's exit seen at once through its wait, timers, monitoring results) and performs
//! the actions it returns. This file holds the task loop, the commands and the event feed; [`process`]
//! spawns and signals the process group, [`monitor`] handles the helper tasks' reports, the timers and
//! the health and port checks. The rules they apply live in the pure core (`fsm`, `policy`,
//! `spec_change`, `warnings`).

mod memory;
mod monitor;
mod process;

use std::collections::VecDeque;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use app::model::service::{
    Containment, Health, LastExit, Service, ServiceEvent, ServiceSpec, ServiceState, ServiceStatus,
    ServiceWarning,
};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

use super::cgroup::ServiceCgroup;
use super::fsm::{Action, Event, Machine};
use super::logs::{rfc3339_millis, ServiceLog};
use super::record::{ServiceRecord, StoredService};
use super::spawn::CheckOutcome;
use super::spec_change::{self, SpecEffect};
use super::{warnings, Env};
use crate::store::StoreError;

/// What the handle asks of a service task.
/// The answer to a command that changes what is durable: `Ok` once it is on disk.
pub(crate) type Ack = oneshot::Sender<Result<(), StoreError>>;

pub(crate) enum Command {
    /// At supervisor start or after create: start if enabled.
    Boot(oneshot::Sender<()>),
    /// Enable and start (re-enables a disabled service). Answered with the error, and nothing
    /// changed, if the enabled flag cannot be made durable.
    Start(Ack),
    /// Disable and stop; answered once no process of the group is left (or at once with the error,
    /// the service untouched, if the disabled flag cannot be made durable).
    Stop(Ack),
    /// Enable if needed (durably, as `Start`), then restart: `hard` = stop and start, else SIGHUP
    /// (started again if it exits on it, reloaded in place if it is still running after the reload grace).
    Restart(Ack, bool),
    /// Replace the definition (persisted before the answer); restarts a running service if it changed.
    Update(Box<ServiceSpec>, oneshot::Sender<Result<(), StoreError>>),
    /// Stop (keeping `enabled`) and end the task; answered once stopped.
    Shutdown(Ack),
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
    /// The reload grace after a restart's SIGHUP has passed.
    ReloadElapsed {
        generation: u64,
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
    /// A "health failing" alert went out and no "recovered" since.
    health_alerted: bool,
    last_exit: Option<LastExit>,
    daemonized: Option<ServiceWarning>,
    /// The last restart for exceeding the memory limit (shown until the next start or stop by hand).
    memory_warning: Option<ServiceWarning>,
    next_memory_check: Option<Instant>,
    /// The service's own cgroup, where Warden contains services in cgroups.
    cgroup: Option<ServiceCgroup>,
    port_warnings: Vec<ServiceWarning>,
    stop_waiters: Vec<Ack>,
    exit_when_stopped: bool,
    /// The `status.revision` of the last published snapshot (see [`first_revision`]).
    revision: u64,
}

/// The revision a service task starts from: the wall clock in microseconds, so the snapshots of a
/// later run of Warden order after those of an earlier one (a client that stayed open across the
/// restart keeps taking them); each published change then adds one.
fn first_revision() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX / 2))
        .unwrap_or_default()
}

fn is_at_rest(state: ServiceState) -> bool {
    matches!(
        state,
        ServiceState::Stopped | ServiceState::Disabled | ServiceState::Exited
    )
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
        let cgroup = env.cgroup_of(&record.id);
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
            health_alerted: false,
            last_exit: None,
            daemonized: None,
            memory_warning: None,
            next_memory_check: None,
            cgroup,
            port_warnings: Vec::new(),
            stop_waiters: Vec::new(),
            exit_when_stopped: false,
            revision: first_revision(),
        }
    }

    /// The timings and restart policy in force for this service: Warden's, with the service's own
    /// settings over them.
    pub(super) fn policy(&self) -> super::SupervisorConfig {
        self.env.policy().for_service(&self.record.spec)
    }

    /// The status as the API shows it.
    pub(crate) fn snapshot(&self) -> Service {
        let running = matches!(
            self.machine.state,
            ServiceState::Running | ServiceState::Stopping
        );
        let run = self.run.as_ref().filter(|_| running);
        let mut warnings = warnings::shown_warnings(
            self.machine.state,
            self.daemonized.as_ref(),
            &self.port_warnings,
        );
        warnings.extend(self.memory_warning.clone());
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
                health: warnings::shown_health(
                    self.record.spec.monitoring_command.is_some(),
                    self.health,
                ),
                warnings,
                revision: self.revision,
                containment: if self.cgroup.is_some() {
                    Containment::Cgroup
                } else {
                    Containment::ProcessGroup
                },
            },
        }
    }

    /// Makes the current status the one readers see and announces it on the event bus, if it changed;
    /// every change gets the next revision, so readers can tell a late copy of an older one.
    fn publish(&mut self) {
        let mut service = self.snapshot();
        let mut view = self.view.lock().unwrap_or_else(|p| p.into_inner());
        if *view != service {
            self.revision += 1;
            service.status.revision = self.revision;
            *view = service.clone();
            drop(view);
            let _ = self.env.events.send(ServiceEvent::Service {
                service: Box::new(service),
            });
        }
    }

    async fn persist(&mut self) -> Result<(), StoreError> {
        self.env
            .records
            .insert(&self.record.id, &StoredService::from(&self.record))?;
        self.env.store.flush().await
    }

    /// Persists the record, or puts `before` back (in memory and in the store) and answers the error:
    /// a change is on disk when acknowledged, or not made at all.
    async fn persist_or_revert(&mut self, before: ServiceRecord) -> Result<(), StoreError> {
        match self.persist().await {
            Ok(()) => Ok(()),
            Err(e) => {
                tracing::error!(service = %self.record.spec.name, "cannot persist the service state; the change is refused: {e}");
                self.record = before;
                // The failed write may have reached the store's memory: put the old record back.
                let _ = self
                    .env
                    .records
                    .insert(&self.record.id, &StoredService::from(&self.record));
                Err(e)
            }
        }
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
            let deadline = [self.backoff_until, self.next_check, self.next_memory_check]
                .into_iter()
                .flatten()
                .min();
            tokio::select! {
                command = commands.recv() => match command {
                    None | Some(Command::Abandon) => return,
                    Some(command) => Box::pin(self.on_command(command)).await,
                },
                _ = sleep_until(deadline), if deadline.is_some() => Box::pin(self.on_timer()).await,
            }
            if is_at_rest(self.machine.state) {
                for waiter in self.stop_waiters.drain(..) {
                    let _ = waiter.send(Ok(()));
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
                self.memory_warning = None;
                if let Err(e) = self.enable().await {
                    let _ = done.send(Err(e));
                    return;
                }
                self.feed(Event::Start).await;
                let _ = done.send(Ok(()));
            }
            Command::Restart(done, hard) => {
                if let Err(e) = self.enable().await {
                    let _ = done.send(Err(e));
                    return;
                }
                if hard {
                    self.log.warden("hard restart requested").await;
                    self.feed(Event::HardRestart).await;
                } else {
                    self.log.warden("restart requested").await;
                    self.feed(Event::Restart).await;
                }
                let _ = done.send(Ok(()));
            }
            Command::Stop(done) => {
                self.memory_warning = None;
                if self.record.spec.enabled {
                    let before = self.record.clone();
                    self.record.spec.enabled = false;
                    if let Err(e) = self.persist_or_revert(before).await {
                        let _ = done.send(Err(e));
                        return;
                    }
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
                let before = self.record.clone();
                let old = std::mem::replace(&mut self.record.spec, *spec);
                let change = spec_change::classify(&old, &self.record.spec);
                if change.renamed {
                    self.log
                        .rename(&self.env.log_dir, &self.record.spec.name)
                        .await;
                }
                if change.clears_disabled_reason {
                    self.record.disabled_reason = None;
                }
                if let Err(e) = self.persist_or_revert(before).await {
                    if change.renamed {
                        self.log
                            .rename(&self.env.log_dir, &self.record.spec.name)
                            .await;
                    }
                    let _ = done.send(Err(e));
                    return;
                }
                match change.effect {
                    SpecEffect::Keep => {}
                    SpecEffect::Stop => self.feed(Event::Stop).await,
                    SpecEffect::Start => self.feed(Event::Start).await,
                    SpecEffect::Restart => {
                        self.log
                            .warden("definition changed; restarting with the new one")
                            .await;
                        self.feed(Event::HardRestart).await;
                    }
                }
                self.publish();
                // Answered after the publish, so the caller reads the new definition.
                let _ = done.send(Ok(()));
            }
            Command::Report(report) => self.on_report(report).await,
            Command::Abandon => {}
        }
    }

    /// Makes the service enabled (clearing a disabled reason), durably, or changes nothing.
    async fn enable(&mut self) -> Result<(), StoreError> {
        if !self.record.spec.enabled || self.record.disabled_reason.is_some() {
            let before = self.record.clone();
            self.record.spec.enabled = true;
            self.record.disabled_reason = None;
            self.persist_or_revert(before).await?;
        }
        Ok(())
    }

    /// Feeds one event to the machine and performs the resulting actions (and those they lead to).
    async fn feed(&mut self, event: Event) {
        let config = self.policy();
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
                    Action::Reload => self.reload().await,
                    Action::ReloadedInPlace => {
                        self.log
                            .warden(format!(
                                "reloaded in place: still running {} s after SIGHUP",
                                self.policy().reload_grace.as_secs_f64()
                            ))
                            .await;
                    }
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
                        self.env.alerts.send(crate::alerts::Alert::service_disabled(
                            &self.record.id,
                            &self.record.spec.name,
                            &reason,
                        ));
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
        if is_at_rest(self.machine.state) {
            self.next_memory_check = None;
            self.next_check = None;
            self.backoff_until = None;
        }
        self.publish();
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
