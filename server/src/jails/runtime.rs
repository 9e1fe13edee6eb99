//! One running jail: its source's reader thread ([`super::source`]) hands failures to an async task that
//! updates the jail's [`JailState`] and asks the firewall for bans. The state is saved to the
//! `jail_state` tree at most every [`SAVE_EVERY`] while it changes (failures and bans batched) and when
//! the jail stops, so window counts and repeat-offender history survive a restart (a `kill -9` loses at
//! most the last [`SAVE_EVERY`] plus the store's background flush of counts, never a ban: bans live in
//! the kernel). A save (the whole state encoded) runs on a blocking thread, never on Warden's async
//! thread, which also pumps the services' logs: a flood of failures cannot stall a service's output.

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

/// How often a changed state is saved (at most).
pub const SAVE_EVERY: Duration = Duration::from_millis(250);
/// Failures waiting for the jail's task; a fuller channel slows the reader thread only.
const QUEUE: usize = 1024;
/// How long a changed jail waits for its previous run to hand over (a stopped reader is woken at
/// once and ends after the read it is in, at most 256 KiB).
pub const HANDOVER_WAIT: Duration = Duration::from_secs(5);

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
    /// A save is queued or running on a blocking thread.
    saving: AtomicBool,
    /// Held across taking a copy of the state and writing it: saves land in the order they copied.
    save_order: Mutex<()>,
}

impl Shared {
    fn state(&self) -> std::sync::MutexGuard<'_, JailState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn save(&self) {
        let _order = self.save_order.lock().unwrap_or_else(|e| e.into_inner());
        let state = self.state().clone();
        if let Err(e) = self.states.put(&self.id, &state) {
            tracing::warn!(jail = %self.id, error = %e, "cannot save the jail's state");
        }
    }

    /// Drops failures out of the window, then saves (on a blocking thread).
    fn expire_and_save(&self, spec: &JailInput) {
        self.state().expire(spec, now_ms());
        self.save();
    }
}

/// What a jail started again (its settings changed) takes over from its previous run: the counters
/// since Warden started, and where its file was read up to (only for the same source).
#[derive(Debug, Clone, Copy, Default)]
pub struct Carried {
    lines: u64,
    matched: u64,
    bans: u64,
    resume: Option<source::ReadPoint>,
}

/// A running jail; stopped by [`Running::stop`] (or when dropped: the reader ends, the task is aborted).
pub struct Running {
    source: JailSource,
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

    /// Stops it for a new run watching `next` and says what that run takes over. The handover is
    /// exact: the reader is told to stop and its thread ends (closing the channel), the task handles
    /// every failure the reader handed over and ends, and the state is saved; only then are the
    /// counters and the read point taken, so no line is counted twice or missed. A reader that does not
    /// end within [`HANDOVER_WAIT`] (a source stuck in a read) is abandoned with a warning: its task is
    /// aborted and the counters are taken as they are.
    pub async fn finish(mut self, next: &JailSource) -> Carried {
        drop(self._reader.take());
        if tokio::time::timeout(HANDOVER_WAIT, &mut self.task)
            .await
            .is_err()
        {
            tracing::warn!(
                jail = %self.shared.id,
                "the jail's reader did not stop in time; its last lines may be read again"
            );
            self.task.abort();
        }
        let shared = self.shared.clone();
        if let Err(e) = tokio::task::spawn_blocking(move || shared.save()).await {
            tracing::warn!(jail = %self.shared.id, error = %e, "cannot save the jail's state");
        }
        self.carried(next)
    }

    /// What a new run of this jail watching `next` takes over, as things are now.
    fn carried(&self, next: &JailSource) -> Carried {
        let status = &self.shared.status;
        Carried {
            lines: status.lines.load(Ordering::Relaxed),
            matched: status.matched.load(Ordering::Relaxed),
            bans: self.shared.bans.load(Ordering::Relaxed),
            resume: (self.source == *next)
                .then(|| status.read_point())
                .flatten(),
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
pub fn start(ctx: Context, matcher: Matcher, state: JailState, carried: Carried) -> Running {
    let status = Arc::new(SourceStatus::default());
    status.lines.store(carried.lines, Ordering::Relaxed);
    status.matched.store(carried.matched, Ordering::Relaxed);
    let shared = Arc::new(Shared {
        id: ctx.id.clone(),
        states: ctx.states.clone(),
        state: Mutex::new(state),
        status: status.clone(),
        bans: AtomicU64::new(carried.bans),
        saving: AtomicBool::new(false),
        save_order: Mutex::new(()),
    });
    let (tx, rx) = mpsc::channel(QUEUE);
    let reader = match source::start(
        input(&ctx.spec.source, &ctx.service_logs),
        matcher,
        tx,
        status.clone(),
        carried.resume,
    ) {
        Ok(r) => Some(r),
        Err(e) => {
            *status.problem.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(format!("cannot start the reader: {e}"));
            None
        }
    };
    let source = ctx.spec.source.clone();
    let task = tokio::spawn(run(ctx, shared.clone(), rx));
    Running {
        source,
        shared,
        _reader: reader,
        task,
    }
}

async fn run(ctx: Context, shared: Arc<Shared>, mut rx: mpsc::Receiver<Found>) {
    let ignore = ctx.spec.ignore_networks();
    // When the next save is due: armed by a change, so an idle jail never wakes up.
    let mut save_at: Option<tokio::time::Instant> = None;
    loop {
        let due = async {
            match save_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            found = rx.recv() => {
                let Some(found) = found else { break };
                failure(&ctx, &shared, &ignore, found).await;
                save_at.get_or_insert_with(|| tokio::time::Instant::now() + SAVE_EVERY);
            }
            () = due => {
                save_at = None;
                if shared.saving.swap(true, Ordering::AcqRel) {
                    // The previous save still runs: this one after it.
                    save_at = Some(tokio::time::Instant::now() + SAVE_EVERY);
                    continue;
                }
                let (shared, spec) = (shared.clone(), ctx.spec.clone());
                tokio::task::spawn_blocking(move || {
                    shared.expire_and_save(&spec);
                    shared.saving.store(false, Ordering::Release);
                });
            }
        }
    }
}

async fn failure(ctx: &Context, shared: &Shared, ignore: &[ipnet::IpNet], found: Found) {
    let verdict = shared
        .state()
        .failure(&ctx.spec, ignore, found.address, &found.line, now_ms());
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
}
