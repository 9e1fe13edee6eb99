//! One running jail: its source's reader thread ([`super::source`]) hands failures to an async task that
//! updates the jail's [`JailState`] and asks the firewall for bans. The state is saved to the
//! `jail_state` tree after every ban, every two seconds while it changes, and when the jail stops, so
//! window counts and repeat-offender history survive a restart (a `kill -9` loses at most the last two
//! seconds of counts, never a ban: bans live in the kernel).

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::model::jails::{JailInput, JailSource, Matcher};
use tokio::sync::mpsc;

use super::counter::{JailState, Verdict};
use super::source::{self, Found, Input, Reader, SourceStatus};
use crate::firewall_ctl::{BanDetails, FirewallHandle, JailBanOutcome};
use crate::store::Collection;

/// How often a changed state is saved.
const SAVE_EVERY: Duration = Duration::from_secs(2);
/// Failures waiting for the jail's task; a fuller channel slows the reader thread only.
const QUEUE: usize = 1024;

/// What a running jail needs.
pub struct Context {
    pub id: String,
    pub spec: JailInput,
    pub firewall: FirewallHandle,
    pub states: Collection<JailState>,
    pub service_logs: PathBuf,
    /// Where a ban is reported (`address_banned`).
    pub alerts: crate::alerts::AlertSink,
}

struct Shared {
    id: String,
    states: Collection<JailState>,
    state: Mutex<JailState>,
    status: Arc<SourceStatus>,
    bans: AtomicU64,
    dirty: AtomicBool,
}

impl Shared {
    fn state(&self) -> std::sync::MutexGuard<'_, JailState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn save(&self) {
        self.dirty.store(false, Ordering::Relaxed);
        let state = self.state().clone();
        if let Err(e) = self.states.insert(&self.id, &state) {
            tracing::warn!(jail = %self.id, error = %e, "cannot save the jail's state");
        }
    }
}

/// A running jail; stopped by [`Running::stop`] (or when dropped: the reader ends, the task is aborted).
pub struct Running {
    shared: Arc<Shared>,
    _reader: Option<Reader>,
    task: tokio::task::JoinHandle<()>,
}

/// What the views show of a running jail.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub state: JailState,
    pub lines: u64,
    pub matched: u64,
    pub bans: u64,
    pub problem: Option<String>,
}

impl Running {
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            state: self.shared.state().clone(),
            lines: self.shared.status.lines.load(Ordering::Relaxed),
            matched: self.shared.status.matched.load(Ordering::Relaxed),
            bans: self.shared.bans.load(Ordering::Relaxed),
            problem: self.shared.status.problem(),
        }
    }

    /// Stops it, saving its state.
    pub fn stop(self) {
        self.stop_and_save();
    }

    /// Stops it, saving its state.
    pub fn stop_and_save(self) {
        self.task.abort();
        self.shared.save();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn ms_to_rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map(crate::clock::rfc3339)
        .unwrap_or_else(|_| ms.to_string())
}

fn now_ms() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
        .unwrap_or(i64::MAX)
}

/// Where a source is read.
pub fn input(source: &JailSource, service_logs: &std::path::Path) -> Input {
    match source {
        // The name is validated (no '/', no '..'): the service's own log file.
        JailSource::Service(name) => {
            Input::File(crate::supervisor::logs::log_path(service_logs, name))
        }
        JailSource::File(path) => Input::File(PathBuf::from(path)),
        JailSource::Journal(unit) => Input::Journal(unit.clone()),
    }
}

/// Starts the jail: its reader thread and its task.
pub fn start(ctx: Context, matcher: Matcher, state: JailState) -> Running {
    let status = Arc::new(SourceStatus::default());
    let shared = Arc::new(Shared {
        id: ctx.id.clone(),
        states: ctx.states.clone(),
        state: Mutex::new(state),
        status: status.clone(),
        bans: AtomicU64::new(0),
        dirty: AtomicBool::new(false),
    });
    let (tx, rx) = mpsc::channel(QUEUE);
    let reader = match source::start(
        input(&ctx.spec.source, &ctx.service_logs),
        matcher,
        tx,
        status.clone(),
    ) {
        Ok(r) => Some(r),
        Err(e) => {
            *status.problem.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(format!("cannot start the reader: {e}"));
            None
        }
    };
    let task = tokio::spawn(run(ctx, shared.clone(), rx));
    Running {
        shared,
        _reader: reader,
        task,
    }
}

async fn run(ctx: Context, shared: Arc<Shared>, mut rx: mpsc::Receiver<Found>) {
    let ignore = ctx.spec.ignore_networks();
    let mut save = tokio::time::interval(SAVE_EVERY);
    save.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            found = rx.recv() => {
                let Some(found) = found else { break };
                failure(&ctx, &shared, &ignore, found).await;
            }
            _ = save.tick() => {
                if shared.dirty.load(Ordering::Relaxed) {
                    shared.state().expire(&ctx.spec, now_ms());
                    shared.save();
                }
            }
        }
    }
}

async fn failure(ctx: &Context, shared: &Shared, ignore: &[ipnet::IpNet], found: Found) {
    let verdict = shared
        .state()
        .failure(&ctx.spec, ignore, found.address, &found.line, now_ms());
    shared.dirty.store(true, Ordering::Relaxed);
    let Verdict::Ban {
        failures,
        secs,
        lines,
    } = verdict
    else {
        return;
    };
    let name = &ctx.spec.name;
    let details = BanDetails {
        reason: format!(
            "{failures} failures within {} s (jail {name})",
            ctx.spec.window_secs
        ),
        jail: Some(name.clone()),
        failures,
        lines,
    };
    let addr: IpAddr = found.address;
    match ctx.firewall.ban_for_jail(addr, details, secs).await {
        Ok(JailBanOutcome::Banned(_)) => {
            shared.bans.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(jail = %name, address = %addr, failures, secs, "jail banned an address");
            ctx.alerts.send(crate::alerts::Alert::address_banned(
                &addr.to_string(),
                &format!("{failures} failures in jail {name}"),
                secs,
                true,
            ));
        }
        Ok(JailBanOutcome::AlreadyBanned) => shared.state().ban_not_made(addr),
        Ok(JailBanOutcome::Protected(why)) => {
            tracing::warn!(jail = %name, address = %addr, "too many failures, but not banned: {why}");
            shared.state().ban_not_made(addr);
        }
        Err(e) => {
            tracing::error!(jail = %name, address = %addr, error = %e, "a jail's ban failed");
            shared.state().ban_not_made(addr);
        }
    }
    shared.save();
}
