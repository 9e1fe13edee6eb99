//! The service engine. [`SupervisorHandle`] is the one domain API the REST handlers, server functions and
//! tests call: it validates and persists service definitions (sled tree `services`, stored as
//! [`record::StoredService`]), runs one task per service ([`runner`]) and answers status, logs and
//! process queries. This file holds the handle, its start and its queries; [`mutations`] its edits.
//!
//! Pure core: [`fsm`] (the state machine), [`policy`] (backoff, crash loop, monitoring schedule),
//! [`spec_change`] (what an updated definition does to the process), [`warnings`] (the status warnings
//! from what was observed), [`record`] (the stored form and its conversions) and [`accounts`] (Unix
//! accounts read from the local files).
//! Thin effects: [`spawn`] (processes, users, signals), [`cgroup`] (one cgroup v2 per service under a
//! subtree Warden owns, where a writable cgroup2 exists; process groups otherwise), [`logs`] (log files, rotation, tail, live fan-out),
//! [`procfs`] (process groups, start times, listening sockets), [`runner`] (one task per service),
//! [`recovery`] (ending what a previous run left behind).
//!
//! Restart safety: for every running service the store holds the process group id and the start time
//! of its leader; [`SupervisorHandle::start`] ends such stale groups of a previous run (after checking
//! the start time, so a recycled pid is never killed) before it starts the enabled services; with
//! cgroups, every service cgroup of the subtree that still holds processes is then killed and removed.

pub mod accounts;
pub mod batch;
pub mod cgroup;
mod error;
pub mod fsm;
pub mod limits;
pub mod logs;
mod mutations;
pub mod order;
pub mod policy;
pub mod procfs;
pub mod record;
mod recovery;
mod runner;
pub mod spawn;
pub mod spec_change;
pub mod usage;
pub mod warnings;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use app::model::service::{ProcessInfo, Service, ServiceEvent, ServiceStatus};
use app::model::settings::Settings;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

pub use error::SupervisorError;
pub use policy::SupervisorConfig;
pub use record::{RunRecord, ServiceRecord};
pub use recovery::INSTANCE_VAR;

use crate::store::{trees, Collection, Store};
use cgroup::CgroupTree;
use logs::{Rotation, ServiceLog};
use record::StoredService;
use recovery::{end_marked_groups, end_stale_group, instance_mark};
use runner::{Command, Runner};

/// The CPU sampling interval of [`SupervisorHandle::processes`].
const CPU_SAMPLE: Duration = Duration::from_millis(200);
/// Status events a slow subscriber may fall behind by before it loses some.
const EVENT_BUFFER: usize = 1024;

/// What every service task shares.
pub(crate) struct Env {
    log_dir: PathBuf,
    /// The value of [`INSTANCE_VAR`] in every service's environment.
    instance_mark: String,
    store: Store,
    records: Collection<StoredService>,
    config: SupervisorConfig,
    /// The settings in force, as the settings domain publishes them (read at each use).
    settings: watch::Receiver<Settings>,
    events: broadcast::Sender<ServiceEvent>,
    audit: crate::audit::AuditLog,
    /// The cgroup subtree services run in; `None`: process groups only.
    cgroups: Option<CgroupTree>,
    /// Where disabled services, failing or recovered health and memory restarts are reported.
    alerts: crate::alerts::AlertSink,
}

impl Env {
    fn settings(&self) -> Settings {
        self.settings.borrow().clone()
    }

    /// The policy in force now: the configured timings with the current crash-loop settings.
    fn policy(&self) -> SupervisorConfig {
        self.config.clone().with_settings(&self.settings())
    }

    /// The cgroup of service `id`, where services are contained in cgroups.
    fn cgroup_of(&self, id: &str) -> Option<cgroup::ServiceCgroup> {
        let tree = self.cgroups.as_ref()?;
        match tree.service(id) {
            Ok(cgroup) => Some(cgroup),
            Err(e) => {
                tracing::error!(service = id, "no cgroup for this service: {e}");
                None
            }
        }
    }

    /// Which limits this host can enforce.
    fn capabilities(&self) -> limits::LimitCapabilities {
        limits::capabilities(self.cgroups.as_ref().map(CgroupTree::controllers))
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
    /// Set once every stored service has its task: the start order (`after`) can only be judged then.
    loaded: tokio::sync::watch::Sender<bool>,
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

/// Where the supervisor reads the settings in force: the settings domain's channel
/// (`SettingsHandle::subscribe`), or a fixed value (tests, tools).
#[derive(Debug)]
pub struct SettingsFeed(watch::Receiver<Settings>);

impl From<watch::Receiver<Settings>> for SettingsFeed {
    fn from(rx: watch::Receiver<Settings>) -> Self {
        SettingsFeed(rx)
    }
}

impl From<Settings> for SettingsFeed {
    /// Settings that never change (the receiver keeps the last value when its sender is gone).
    fn from(settings: Settings) -> Self {
        SettingsFeed(watch::channel(settings).1)
    }
}

/// The default name of Warden's cgroup subtree: `warden-` and the digest of the data dir (the
/// [`INSTANCE_VAR`] value), so two Wardens on one host never share a subtree.
pub fn default_cgroup_name(data_dir: &Path) -> String {
    format!("warden-{}", instance_mark(data_dir))
}

/// The cgroup subtree `name`, if given and a writable cgroup2 exists; otherwise says (once, in the log)
/// that services are contained by process groups only.
fn open_cgroups(name: Option<&str>) -> Option<CgroupTree> {
    let name = name?;
    match CgroupTree::open(name) {
        Ok(tree) => {
            tracing::info!(cgroup = %tree.root().display(), "every service runs in its own cgroup");
            Some(tree)
        }
        Err(e) => {
            tracing::warn!(
                "no writable cgroup v2 ({e}): services are contained by their process groups only, and a child that calls setsid escapes"
            );
            None
        }
    }
}

/// The most lines one read of a service's log tail returns (`logs_tail` answers at most this many).
pub const MAX_LOG_TAIL_LINES: usize = 10_000;

impl SupervisorHandle {
    /// Starts the supervisor with the default timings: ends process groups left by a previous run,
    /// then starts every enabled service. Logs go to `<data_dir>/logs/services/`.
    pub async fn start(
        data_dir: &Path,
        store: Store,
        settings: impl Into<SettingsFeed>,
    ) -> Result<SupervisorHandle, SupervisorError> {
        Self::start_with_config(data_dir, store, settings, SupervisorConfig::default()).await
    }

    /// [`SupervisorHandle::start`] with explicit timings (the crash-loop values still come from `settings`).
    pub async fn start_with_config(
        data_dir: &Path,
        store: Store,
        settings: impl Into<SettingsFeed>,
        config: SupervisorConfig,
    ) -> Result<SupervisorHandle, SupervisorError> {
        Self::start_with_alerts(
            data_dir,
            store,
            settings,
            config,
            crate::alerts::AlertSink::default(),
        )
        .await
    }

    /// [`SupervisorHandle::start_with_config`], reporting alerts (a service disabled, health failing or
    /// recovered, a memory-limit restart) to `alerts`.
    pub async fn start_with_alerts(
        data_dir: &Path,
        store: Store,
        settings: impl Into<SettingsFeed>,
        config: SupervisorConfig,
        alerts: crate::alerts::AlertSink,
    ) -> Result<SupervisorHandle, SupervisorError> {
        let log_dir = data_dir.join("logs").join("services");
        std::fs::create_dir_all(&log_dir).map_err(|e| {
            SupervisorError::Internal(format!("cannot create {}: {e}", log_dir.display()))
        })?;
        let records = store.collection::<StoredService>(trees::SERVICES)?;
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let instance_mark = instance_mark(data_dir);
        let cgroups = open_cgroups(config.cgroup_subtree.as_deref());
        let env = Arc::new(Env {
            cgroups,
            log_dir,
            audit: crate::audit::AuditLog::open(&store)?,
            instance_mark,
            store,
            records,
            config,
            settings: settings.into().0,
            events,
            alerts,
        });
        let handle = SupervisorHandle {
            inner: Arc::new(Inner {
                env: env.clone(),
                slots: RwLock::new(BTreeMap::new()),
                mutations: tokio::sync::Mutex::new(()),
                closing: tokio::sync::watch::Sender::new(false),
                loaded: tokio::sync::watch::Sender::new(false),
            }),
        };

        let mut loaded = Vec::new();
        for (_, stored) in env.records.list()? {
            let mut record = ServiceRecord::from(stored);
            let log =
                ServiceLog::open(&env.log_dir, &record.spec.name, env.rotation()).map_err(|e| {
                    SupervisorError::Internal(format!("cannot open a service log: {e}"))
                })?;
            if let Some(run) = record.run.take() {
                end_stale_group(run, &log, env.config.stop_grace).await;
                env.records
                    .insert(&record.id, &StoredService::from(&record))?;
            }
            loaded.push((record, log));
        }
        // Groups a crash left unrecorded (killed between spawning a service and saving its pid).
        end_marked_groups(&env.instance_mark, env.config.stop_grace).await;
        // Whatever a previous run left in its cgroups (children that left their group, too).
        if let Some(tree) = &env.cgroups {
            recovery::end_stale_cgroups(tree, env.config.stop_grace).await;
        }
        env.store.flush().await?;
        let mut booted = Vec::new();
        for (record, log) in loaded {
            // Services that start after others boot in the background (see `order`).
            booted.extend(handle.launch_runner(record, log));
        }
        handle.inner.loaded.send_replace(true);
        for done in booted {
            let _ = done.await;
        }
        Ok(handle)
    }

    /// Creates the task of one service and asks it to boot; the receiver answers once it has. `None`:
    /// it boots once the services it starts after are ready (see [`order`]).
    fn launch_runner(
        &self,
        record: ServiceRecord,
        log: ServiceLog,
    ) -> Option<oneshot::Receiver<()>> {
        let env = self.inner.env.clone();
        let view = Arc::new(Mutex::new(Service {
            id: record.id.clone(),
            spec: record.spec.clone(),
            status: ServiceStatus::stopped(),
        }));
        let (commands, receiver) = mpsc::unbounded_channel();
        let id = record.id.clone();
        let after = record.spec.after.clone();
        let deferred = record.spec.enabled && !after.is_empty();
        let runner = Runner::new(env, record, view.clone(), log.clone(), commands.downgrade());
        tokio::spawn(runner.run(receiver));
        let (done, wait) = oneshot::channel();
        if deferred {
            tokio::spawn(
                self.clone()
                    .boot_after(after, commands.downgrade(), done, log.clone()),
            );
        } else {
            let _ = commands.send(Command::Boot(done));
        }
        self.write_slots().insert(
            id,
            Slot {
                commands,
                view,
                log,
            },
        );
        (!deferred).then_some(wait)
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

    /// The current settings as the supervisor applies them (the global environment and service user for
    /// the next starts, the port range for the next validations, the crash-loop rule for the next failures).
    pub fn settings(&self) -> Settings {
        self.inner.env.settings()
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
        log.tail(lines.min(MAX_LOG_TAIL_LINES))
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
        let cgroup = self.inner.env.cgroup_of(id);
        tokio::task::spawn_blocking(move || match cgroup {
            Some(cgroup) => procfs::list_members(
                || procfs::live_members(&cgroup.pids()),
                Some(pid),
                CPU_SAMPLE,
            ),
            None => procfs::list_group(pid, Some(pid), CPU_SAMPLE),
        })
        .await
        .map_err(|e| SupervisorError::Internal(e.to_string()))
    }

    /// How services are contained here and which resource limits can be enforced.
    pub fn capabilities(&self) -> limits::LimitCapabilities {
        self.inner.env.capabilities()
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
        if let Some(tree) = &self.inner.env.cgroups {
            if let Err(e) = tree.remove(self.inner.env.config.stop_grace).await {
                tracing::warn!("cannot remove the services' cgroups: {e}");
            }
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
