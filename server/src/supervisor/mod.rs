//! The service engine. [`SupervisorHandle`] is the one domain API the REST handlers, server functions and
//! tests call: it validates and persists service definitions (sled tree `services`), runs one task per
//! service ([`runner`]) and answers status, logs and process queries.
//!
//! Pure core: [`fsm`] (the state machine), [`policy`] (backoff, crash loop, monitoring schedule) and
//! [`accounts`] (Unix accounts read from the local files).
//! Thin effects: [`spawn`] (processes, users, signals), [`logs`] (log files, rotation, tail, live fan-out),
//! [`procfs`] (process groups, start times, listening sockets), [`runner`] (one task per service).
//!
//! Restart safety: for every running service the store holds the process group id and the start time
//! of its leader; [`SupervisorHandle::start`] ends such stale groups of a previous run (after checking
//! the start time, so a recycled pid is never killed) before it starts the enabled services.

pub mod accounts;
pub mod fsm;
pub mod logs;
pub mod policy;
pub mod procfs;
mod runner;
pub mod spawn;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use app::model::service::{
    validate_service, ProcessInfo, Service, ServiceEvent, ServiceInput, ServicePatch, ServiceSpec,
    ServiceStatus, SpecErrors, ValidationContext,
};
use app::model::settings::Settings;
use app::model::FieldError;
use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc, oneshot};

pub use policy::SupervisorConfig;

use crate::store::{trees, Collection, Store, StoreError};
use logs::{Rotation, ServiceLog};
use runner::{Command, Runner};

/// The CPU sampling interval of [`SupervisorHandle::processes`].
const CPU_SAMPLE: Duration = Duration::from_millis(200);
/// Status events a slow subscriber may fall behind by before it loses some.
const EVENT_BUFFER: usize = 1024;

/// Why a supervisor call failed; the HTTP layer maps these to 404, 422, 409 and 500.
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error("no service with id {0}")]
    NotFound(String),
    #[error("invalid service: {}", join_errors(.0))]
    Validation(Vec<FieldError>),
    #[error("conflicts with another service: {}", join_errors(.0))]
    Conflict(Vec<FieldError>),
    #[error("internal supervisor error: {0}")]
    Internal(String),
}

fn join_errors(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl From<StoreError> for SupervisorError {
    fn from(e: StoreError) -> Self {
        SupervisorError::Internal(e.to_string())
    }
}

impl From<SpecErrors> for SupervisorError {
    fn from(e: SpecErrors) -> Self {
        if e.invalid.is_empty() {
            SupervisorError::Conflict(e.conflicts)
        } else {
            SupervisorError::Validation(e.invalid)
        }
    }
}

/// The persisted record of one service (tree `services`, keyed by id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRecord {
    pub id: String,
    pub spec: ServiceSpec,
    /// Set while disabled by the crash-loop rule; survives Warden restarts until started again.
    #[serde(default)]
    pub disabled_reason: Option<String>,
    /// The running process group, for finding it after a Warden crash.
    #[serde(default)]
    pub run: Option<RunRecord>,
}

/// A running process group: its id (= the leader's pid) and the leader's start time in ticks after boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    pub pgid: u32,
    pub start_ticks: u64,
}

/// What every service task shares.
pub(crate) struct Env {
    log_dir: PathBuf,
    /// The value of [`INSTANCE_VAR`] in every service's environment.
    instance_mark: String,
    store: Store,
    records: Collection<ServiceRecord>,
    config: SupervisorConfig,
    settings: RwLock<Settings>,
    events: broadcast::Sender<ServiceEvent>,
    audit: crate::audit::AuditLog,
}

impl Env {
    fn settings(&self) -> Settings {
        self.settings
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The policy in force now: the configured timings with the current crash-loop settings.
    fn policy(&self) -> SupervisorConfig {
        self.config.clone().with_settings(&self.settings())
    }

    fn rotation(&self) -> Rotation {
        Rotation {
            max_bytes: self.config.log_max_bytes,
            max_files: self.config.log_max_files,
        }
    }
}

struct Slot {
    commands: mpsc::UnboundedSender<Command>,
    view: Arc<Mutex<Service>>,
    log: ServiceLog,
}

impl Slot {
    fn service(&self) -> Service {
        let mut service = self.view.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(problem) = self.log.write_problem() {
            service
                .status
                .warnings
                .push(app::model::service::ServiceWarning {
                    kind: app::model::service::WarningKind::LogNotWritable,
                    port: None,
                    message: problem,
                });
        }
        service
    }
}

struct Inner {
    env: Arc<Env>,
    slots: RwLock<BTreeMap<String, Slot>>,
    /// Serialises create/update/delete so validation sees a consistent set of names and ports.
    mutations: tokio::sync::Mutex<()>,
    /// Set once Warden is shutting down; long-lived streams (log tails, events) end then.
    closing: tokio::sync::watch::Sender<bool>,
}

/// The handle to the running supervisor. Cheap to clone.
#[derive(Clone)]
pub struct SupervisorHandle {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SupervisorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SupervisorHandle")
            .field("log_dir", &self.inner.env.log_dir)
            .finish()
    }
}

fn new_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

impl SupervisorHandle {
    /// Starts the supervisor with the default timings: ends process groups left by a previous run,
    /// then starts every enabled service. Logs go to `<data_dir>/logs/services/`.
    pub async fn start(
        data_dir: &Path,
        store: Store,
        settings: Settings,
    ) -> Result<SupervisorHandle, SupervisorError> {
        Self::start_with_config(data_dir, store, settings, SupervisorConfig::default()).await
    }

    /// [`SupervisorHandle::start`] with explicit timings (the crash-loop values still come from `settings`).
    pub async fn start_with_config(
        data_dir: &Path,
        store: Store,
        settings: Settings,
        config: SupervisorConfig,
    ) -> Result<SupervisorHandle, SupervisorError> {
        let log_dir = data_dir.join("logs").join("services");
        std::fs::create_dir_all(&log_dir).map_err(|e| {
            SupervisorError::Internal(format!("cannot create {}: {e}", log_dir.display()))
        })?;
        let records = store.collection::<ServiceRecord>(trees::SERVICES)?;
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let instance_mark = instance_mark(data_dir);
        let env = Arc::new(Env {
            log_dir,
            audit: crate::audit::AuditLog::open(&store)?,
            instance_mark,
            store,
            records,
            config,
            settings: RwLock::new(settings),
            events,
        });
        let handle = SupervisorHandle {
            inner: Arc::new(Inner {
                env: env.clone(),
                slots: RwLock::new(BTreeMap::new()),
                mutations: tokio::sync::Mutex::new(()),
                closing: tokio::sync::watch::Sender::new(false),
            }),
        };

        let mut loaded = Vec::new();
        for (_, mut record) in env.records.list()? {
            let log =
                ServiceLog::open(&env.log_dir, &record.spec.name, env.rotation()).map_err(|e| {
                    SupervisorError::Internal(format!("cannot open a service log: {e}"))
                })?;
            if let Some(run) = record.run.take() {
                end_stale_group(run, &log, env.config.stop_grace).await;
                env.records.insert(&record.id, &record)?;
            }
            loaded.push((record, log));
        }
        // Groups a crash left unrecorded (killed between spawning a service and saving its pid).
        end_marked_groups(&env.instance_mark, env.config.stop_grace).await;
        env.store.flush().await?;
        let mut booted = Vec::new();
        for (record, log) in loaded {
            booted.push(handle.launch_runner(record, log));
        }
        for done in booted {
            let _ = done.await;
        }
        Ok(handle)
    }

    /// Creates the task of one service and asks it to boot; the receiver answers once it has.
    fn launch_runner(&self, record: ServiceRecord, log: ServiceLog) -> oneshot::Receiver<()> {
        let env = self.inner.env.clone();
        let view = Arc::new(Mutex::new(Service {
            id: record.id.clone(),
            spec: record.spec.clone(),
            status: ServiceStatus::stopped(),
        }));
        let (commands, receiver) = mpsc::unbounded_channel();
        let id = record.id.clone();
        let runner = Runner::new(env, record, view.clone(), log.clone(), commands.downgrade());
        tokio::spawn(runner.run(receiver));
        let (done, wait) = oneshot::channel();
        let _ = commands.send(Command::Boot(done));
        self.write_slots().insert(
            id,
            Slot {
                commands,
                view,
                log,
            },
        );
        wait
    }

    fn read_slots(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Slot>> {
        self.inner.slots.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_slots(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Slot>> {
        self.inner.slots.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Every service, by name.
    pub fn list(&self) -> Vec<Service> {
        let mut all: Vec<Service> = self.read_slots().values().map(Slot::service).collect();
        all.sort_by(|a, b| a.spec.name.cmp(&b.spec.name));
        all
    }

    /// One service.
    pub fn get(&self, id: &str) -> Result<Service, SupervisorError> {
        self.read_slots()
            .get(id)
            .map(Slot::service)
            .ok_or_else(|| SupervisorError::NotFound(id.to_string()))
    }

    /// The current settings as the supervisor applies them.
    pub fn settings(&self) -> Settings {
        self.inner.env.settings()
    }

    /// Applies new settings: the global environment and service user for the next starts, the port range
    /// for the next validations, the crash-loop rule for the next failures.
    pub fn update_settings(&self, settings: Settings) {
        *self
            .inner
            .env
            .settings
            .write()
            .unwrap_or_else(|p| p.into_inner()) = settings;
    }

    /// Names and ports of every service except `except`.
    fn validation_context(&self, except: Option<&str>) -> ValidationContext {
        let settings = self.settings();
        let mut taken_names = BTreeSet::new();
        let mut taken_ports = BTreeMap::new();
        for (id, slot) in self.read_slots().iter() {
            if Some(id.as_str()) == except {
                continue;
            }
            let service = slot.service();
            for port in &service.spec.ports {
                taken_ports.insert(*port, service.spec.name.clone());
            }
            taken_names.insert(service.spec.name);
        }
        ValidationContext {
            port_range: settings.service_port_range().unwrap_or_default(),
            taken_names,
            taken_ports,
        }
    }

    /// The pure validation plus the host checks: the working directory exists, the user exists and
    /// Warden may run a process as it.
    fn validate(
        &self,
        input: &ServiceInput,
        except: Option<&str>,
    ) -> Result<ServiceSpec, SupervisorError> {
        let context = self.validation_context(except);
        let pure = validate_service(input, &context);
        let mut host_errors = Vec::new();
        if let Some(dir) = &input.working_directory {
            if dir.starts_with('/') && !spawn::is_directory(dir) {
                host_errors.push(FieldError::new(
                    "working_directory",
                    format!("{dir} does not exist or is not a directory"),
                ));
            }
        }
        let settings = self.settings();
        let user = input.user.as_deref().unwrap_or(&settings.service_user);
        if app::model::service::is_valid_user_name(user) {
            if let Err(e) = spawn::resolve_user(user) {
                host_errors.push(FieldError::new("user", e));
            }
        }
        match pure {
            Ok(spec) if host_errors.is_empty() => Ok(spec),
            Ok(_) => Err(SupervisorError::Validation(host_errors)),
            Err(mut errors) => {
                errors.invalid.extend(host_errors);
                Err(errors.into())
            }
        }
    }

    /// Validates, persists (durably) and — if enabled — starts a new service.
    async fn create_unaudited(&self, input: ServiceInput) -> Result<Service, SupervisorError> {
        let _guard = self.inner.mutations.lock().await;
        let spec = self.validate(&input, None)?;
        let env = &self.inner.env;
        let record = ServiceRecord {
            id: new_id(),
            spec,
            disabled_reason: None,
            run: None,
        };
        let log = ServiceLog::open(&env.log_dir, &record.spec.name, env.rotation())
            .map_err(|e| SupervisorError::Internal(format!("cannot open the service log: {e}")))?;
        env.records.insert(&record.id, &record)?;
        env.store.flush().await?;
        let id = record.id.clone();
        let _ = self.launch_runner(record, log).await;
        self.get(&id)
    }

    fn commands(&self, id: &str) -> Result<mpsc::UnboundedSender<Command>, SupervisorError> {
        self.read_slots()
            .get(id)
            .map(|slot| slot.commands.clone())
            .ok_or_else(|| SupervisorError::NotFound(id.to_string()))
    }

    async fn ask(
        &self,
        id: &str,
        make: impl FnOnce(oneshot::Sender<()>) -> Command,
    ) -> Result<Service, SupervisorError> {
        let commands = self.commands(id)?;
        let (done, wait) = oneshot::channel();
        commands
            .send(make(done))
            .map_err(|_| SupervisorError::Internal("the service task has ended".into()))?;
        wait.await
            .map_err(|_| SupervisorError::Internal("the service task has ended".into()))?;
        self.get(id)
    }

    /// Applies a partial update (validated like a create; persisted before it returns). A running
    /// service whose command, directory, environment, user, ports or monitoring changed restarts.
    async fn update_unaudited(
        &self,
        id: &str,
        patch: ServicePatch,
    ) -> Result<Service, SupervisorError> {
        let _guard = self.inner.mutations.lock().await;
        let current = self.get(id)?;
        let input = patch.apply_to(&current.spec);
        let spec = self.validate(&input, Some(id))?;
        let commands = self.commands(id)?;
        let (done, wait) = oneshot::channel();
        commands
            .send(Command::Update(Box::new(spec), done))
            .map_err(|_| SupervisorError::Internal("the service task has ended".into()))?;
        wait.await
            .map_err(|_| SupervisorError::Internal("the service task has ended".into()))??;
        self.get(id)
    }

    /// Stops the service (every process of its group) and deletes it. Its log files stay.
    async fn delete_unaudited(&self, id: &str) -> Result<(), SupervisorError> {
        let _guard = self.inner.mutations.lock().await;
        self.ask(id, Command::Shutdown).await?;
        let slot = self.write_slots().remove(id);
        drop(slot);
        self.inner.env.records.remove(id)?;
        self.inner.env.store.flush().await?;
        let _ = self
            .inner
            .env
            .events
            .send(ServiceEvent::ServiceDeleted { id: id.to_string() });
        Ok(())
    }

    /// Enables and starts the service (re-enabling a disabled one).
    async fn start_service_unaudited(&self, id: &str) -> Result<Service, SupervisorError> {
        self.ask(id, Command::Start).await
    }

    /// Disables and stops the service; returns once no process of its group is left.
    async fn stop_service_unaudited(&self, id: &str) -> Result<Service, SupervisorError> {
        self.ask(id, Command::Stop).await
    }

    /// Restarts the service: SIGHUP to its group, SIGKILL after the grace, then a new start. Starts a
    /// stopped or disabled service.
    async fn restart_service_unaudited(&self, id: &str) -> Result<Service, SupervisorError> {
        self.ask(id, Command::Restart).await
    }

    // ---- audited mutations: each records its outcome in the audit log, for REST and UI alike ----

    /// Validates, persists (durably) and — if enabled — starts a new service.
    pub async fn create(&self, input: ServiceInput) -> Result<Service, SupervisorError> {
        let name = input.name.clone();
        let result = self.create_unaudited(input).await;
        self.audit("service.create", &name, &result).await;
        result
    }

    /// Applies a partial update (see `update_unaudited`).
    pub async fn update(&self, id: &str, patch: ServicePatch) -> Result<Service, SupervisorError> {
        let target = self.audit_target(id);
        let result = self.update_unaudited(id, patch).await;
        self.audit("service.update", &target, &result).await;
        result
    }

    /// Stops the service (every process of its group) and deletes it. Its log files stay.
    pub async fn delete(&self, id: &str) -> Result<(), SupervisorError> {
        let target = self.audit_target(id);
        let result = self.delete_unaudited(id).await;
        self.audit("service.delete", &target, &result).await;
        result
    }

    /// Enables and starts the service (re-enabling a disabled one).
    pub async fn start_service(&self, id: &str) -> Result<Service, SupervisorError> {
        let target = self.audit_target(id);
        let result = self.start_service_unaudited(id).await;
        self.audit("service.start", &target, &result).await;
        result
    }

    /// Disables and stops the service; returns once no process of its group is left.
    pub async fn stop_service(&self, id: &str) -> Result<Service, SupervisorError> {
        let target = self.audit_target(id);
        let result = self.stop_service_unaudited(id).await;
        self.audit("service.stop", &target, &result).await;
        result
    }

    /// Restarts the service (SIGHUP to its group, then a new start).
    pub async fn restart_service(&self, id: &str) -> Result<Service, SupervisorError> {
        let target = self.audit_target(id);
        let result = self.restart_service_unaudited(id).await;
        self.audit("service.restart", &target, &result).await;
        result
    }

    /// `name (id)` of a service for the audit log, or the id alone when there is no such service.
    fn audit_target(&self, id: &str) -> String {
        match self.get(id) {
            Ok(service) => format!("{} ({id})", service.spec.name),
            Err(_) => id.to_string(),
        }
    }

    async fn audit<T>(&self, action: &str, target: &str, result: &Result<T, SupervisorError>) {
        self.inner
            .env
            .audit
            .record_result(action, target, result)
            .await;
    }

    fn log_of(&self, id: &str) -> Result<ServiceLog, SupervisorError> {
        self.read_slots()
            .get(id)
            .map(|slot| slot.log.clone())
            .ok_or_else(|| SupervisorError::NotFound(id.to_string()))
    }

    /// The current log file of a service.
    pub fn log_path(&self, id: &str) -> Result<PathBuf, SupervisorError> {
        Ok(self.log_of(id)?.path())
    }

    /// The last `lines` lines of the service's log (read from the end of the file).
    pub async fn logs_tail(&self, id: &str, lines: usize) -> Result<Vec<String>, SupervisorError> {
        let log = self.log_of(id)?;
        log.flush().await;
        log.tail(lines)
            .await
            .map_err(|e| SupervisorError::Internal(format!("cannot read the log: {e}")))
    }

    /// New log lines of the service as they are written.
    pub fn subscribe_logs(&self, id: &str) -> Result<broadcast::Receiver<String>, SupervisorError> {
        Ok(self.log_of(id)?.subscribe())
    }

    /// Every process of the service's process group, main process first (CPU % sampled over 200 ms).
    pub async fn processes(&self, id: &str) -> Result<Vec<ProcessInfo>, SupervisorError> {
        let service = self.get(id)?;
        let Some(pid) = service.status.pid else {
            return Ok(Vec::new());
        };
        tokio::task::spawn_blocking(move || procfs::list_group(pid, Some(pid), CPU_SAMPLE))
            .await
            .map_err(|e| SupervisorError::Internal(e.to_string()))
    }

    /// Status changes of every service (for `/api/v1/events`).
    pub fn subscribe_events(&self) -> broadcast::Receiver<ServiceEvent> {
        self.inner.env.events.subscribe()
    }

    /// Announces that Warden is shutting down: [`SupervisorHandle::closed`] resolves, so live streams
    /// (log tails, events) end and the HTTP server can finish its graceful shutdown. Services keep running
    /// until [`SupervisorHandle::shutdown`].
    pub fn begin_shutdown(&self) {
        self.inner.closing.send_replace(true);
    }

    /// Resolves once [`SupervisorHandle::begin_shutdown`] (or `shutdown`) was called.
    pub fn closed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut closing = self.inner.closing.subscribe();
        async move {
            let _ = closing.wait_for(|closing| *closing).await;
        }
    }

    /// Stops every service cleanly (SIGTERM, SIGKILL after the grace) without changing whether it is
    /// enabled, so the next start brings the same services back. For Warden's own SIGTERM.
    pub async fn shutdown(&self) {
        self.begin_shutdown();
        let _guard = self.inner.mutations.lock().await;
        let waits: Vec<_> = self
            .write_slots()
            .values()
            .filter_map(|slot| {
                let (done, wait) = oneshot::channel();
                slot.commands
                    .send(Command::Shutdown(done))
                    .ok()
                    .map(|_| wait)
            })
            .collect();
        futures::future::join_all(waits).await;
        let logs: Vec<ServiceLog> = std::mem::take(&mut *self.write_slots())
            .into_values()
            .map(|slot| slot.log)
            .collect();
        for log in logs {
            log.flush().await;
        }
        if let Err(e) = self.inner.env.store.flush().await {
            tracing::error!("cannot flush the store at shutdown: {e}");
        }
    }

    /// Test support: ends the supervisor's tasks at once without stopping any process, as if Warden
    /// had been killed. The next [`SupervisorHandle::start`] on the same store must clean up.
    #[doc(hidden)]
    pub fn abandon(&self) {
        for slot in std::mem::take(&mut *self.write_slots()).into_values() {
            let _ = slot.commands.send(Command::Abandon);
        }
    }
}

/// The environment variable Warden sets in every service process: a digest of the data dir, so that the
/// processes of this Warden's services (and everything they start) can be found after a crash even when
/// their pid was never saved.
pub const INSTANCE_VAR: &str = "WARDEN_INSTANCE";

/// The [`INSTANCE_VAR`] value of the Warden using `data_dir` (16 hex digits of the SHA-256 of its
/// canonical path).
fn instance_mark(data_dir: &Path) -> String {
    use sha2::Digest;
    let path = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    let digest = sha2::Sha256::digest(path.as_os_str().as_encoded_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Ends every process group (other than Warden's own) with a process marked as this Warden's service:
/// at start, nothing of a previous run may keep running next to the services started anew.
async fn end_marked_groups(mark: &str, grace: Duration) {
    let own = u32::try_from(nix::unistd::getpgrp().as_raw()).unwrap_or(0);
    let entry = format!("{INSTANCE_VAR}={mark}");
    let groups = tokio::task::spawn_blocking(move || procfs::groups_with_environment(&entry, own))
        .await
        .unwrap_or_default();
    if groups.is_empty() {
        return;
    }
    tracing::warn!(
        ?groups,
        "ending process groups of services left from a previous run"
    );
    futures::future::join_all(
        groups
            .into_iter()
            .map(|pgid| spawn::terminate_group(pgid, Signal::SIGTERM, grace)),
    )
    .await;
}

/// Ends a process group a previous Warden run left behind, if it is still that group.
async fn end_stale_group(run: RunRecord, log: &ServiceLog, grace: Duration) {
    let members =
        tokio::task::spawn_blocking(move || procfs::stale_group_members(run.pgid, run.start_ticks))
            .await
            .unwrap_or_default();
    if members.is_empty() {
        return;
    }
    log.warden(format!(
        "found {} process(es) of process group {} left from a previous Warden run; ending them",
        members.len(),
        run.pgid
    ))
    .await;
    tracing::info!(
        pgid = run.pgid,
        "ending a process group left from a previous run"
    );
    spawn::terminate_group(run.pgid, Signal::SIGTERM, grace).await;
}
