//! Shared helpers of the `supervisor_*` tests: a supervisor on a temp data dir with short timings,
//! polling with deadlines, and the skip rules (skip with a reason, but fail when `CI=true`).
#![allow(dead_code, clippy::unwrap_used)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use app::model::service::{Service, ServiceInput, ServiceState};
use app::model::settings::Settings;
use warden::store::Store;
use warden::supervisor::{SupervisorConfig, SupervisorHandle};

/// Short timings so tests finish fast.
pub fn fast_config() -> SupervisorConfig {
    SupervisorConfig {
        stop_grace: Duration::from_secs(2),
        monitor_grace: Duration::from_millis(300),
        monitor_interval: Duration::from_millis(300),
        monitor_timeout: Duration::from_secs(2),
        ..SupervisorConfig::default()
    }
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

pub fn own_user() -> String {
    nix::unistd::User::from_uid(nix::unistd::geteuid())
        .unwrap()
        .unwrap()
        .name
}

/// Settings whose service user is Warden's own user (so fixtures may write into the temp dir).
pub fn settings() -> Settings {
    Settings::defaults("test".into(), own_user())
}

/// Skips (returns true) with a printed reason, or fails when running in CI.
pub fn skip(reason: &str) -> bool {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("required in CI but unavailable: {reason}");
    }
    eprintln!("SKIPPED: {reason}");
    true
}

pub fn have(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub store: Store,
    pub handle: SupervisorHandle,
    /// The settings the supervisor follows (what the settings domain does in Warden).
    pub settings: tokio::sync::watch::Sender<Settings>,
}

impl Harness {
    pub async fn start(settings: Settings, config: SupervisorConfig) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let (settings, followed) = tokio::sync::watch::channel(settings);
        let handle =
            SupervisorHandle::start_with_config(dir.path(), store.clone(), followed, config)
                .await
                .unwrap();
        Harness {
            dir,
            store,
            handle,
            settings,
        }
    }

    pub async fn fast() -> Harness {
        Harness::start(settings(), fast_config()).await
    }

    /// A file path inside the temp dir.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn path_str(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    /// Creates service `name`, whose shell writes `got-hup` to the file `hup` when it gets SIGHUP and
    /// then exits, restarts it once it is ready, and returns it running again (new pid) after the trap
    /// ran. Fails with the service's log (signals sent, exits seen) if the trap does not run in 5 s.
    pub async fn restart_a_hup_trap(&self, name: &str) -> Service {
        let (marker, ready) = (self.path_str("hup"), self.path_str("ready"));
        let command = format!(
            "trap 'echo got-hup >> {marker}; exit 0' HUP; echo $$ > {ready}; while :; do sleep 0.05; done"
        );
        let svc = self.create(name, &command).await;
        let first = self.wait_running(&svc.id).await.status.pid;
        wait_file(&self.path("ready"), Duration::from_secs(5)).await;
        self.handle.restart_service(&svc.id).await.unwrap();
        let hup = tokio::time::timeout(
            Duration::from_secs(5),
            wait_file(&self.path("hup"), Duration::from_secs(6)),
        )
        .await;
        let Ok(hup) = hup else {
            panic!(
                "the HUP trap did not run within 5 s; the service log:\n{}",
                self.log_text(&svc.id).await
            );
        };
        assert_eq!(hup, "got-hup");
        self.wait_service(&svc.id, "restarted", Duration::from_secs(5), |s| {
            s.status.state == ServiceState::Running
                && s.status.pid.is_some()
                && s.status.pid != first
        })
        .await
    }

    pub async fn create(&self, name: &str, command: &str) -> Service {
        self.handle
            .create(ServiceInput::new(name, command))
            .await
            .unwrap()
    }

    /// Waits until the service satisfies `pred`, returning it.
    pub async fn wait_service(
        &self,
        id: &str,
        what: &str,
        limit: Duration,
        pred: impl Fn(&Service) -> bool,
    ) -> Service {
        let handle = self.handle.clone();
        let id = id.to_string();
        wait_for(what, limit, || {
            let service = handle.get(&id).unwrap();
            let ok = pred(&service);
            async move { ok.then_some(service) }
        })
        .await
    }

    pub async fn wait_running(&self, id: &str) -> Service {
        self.wait_service(id, "running", Duration::from_secs(5), |s| {
            s.status.state == ServiceState::Running && s.status.pid.is_some()
        })
        .await
    }

    pub async fn log_text(&self, id: &str) -> String {
        self.handle.logs_tail(id, 10_000).await.unwrap().join("\n")
    }
}

/// Polls `probe` every 20 ms until it yields a value or `limit` passes (then panics naming `what`).
pub async fn wait_for<T, F, Fut>(what: &str, limit: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `path` exists and has non-empty content, returning it trimmed.
pub async fn wait_file(path: &Path, limit: Duration) -> String {
    wait_for(&format!("{}", path.display()), limit, || {
        let content = std::fs::read_to_string(path)
            .ok()
            .filter(|c| !c.trim().is_empty());
        async move { content.map(|c| c.trim().to_string()) }
    })
    .await
}

pub fn process_alive(pid: u32) -> bool {
    warden::supervisor::procfs::start_ticks(pid).is_some()
}

pub fn group_alive(pgid: u32) -> bool {
    !warden::supervisor::procfs::group_members(pgid).is_empty()
}

pub fn kill9(pid: u32) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
}
