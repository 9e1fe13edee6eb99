//! Jails: fail2ban's job inside Warden. [`Jails`] is the domain API the REST handlers use: the jails'
//! configuration (stored in the `jails` tree, flushed before a change is acknowledged), a running
//! watcher per enabled jail, and the pattern test. Bans go through the firewall's kernel sets
//! ([`crate::firewall_ctl::FirewallHandle::ban_for_jail`]), so they carry the same protections:
//! loopback, anti-lockout and administering addresses are never banned.
//!
//! Where each concern lives:
//! - `mod.rs`: the handle, configuration changes, views; [`batch`]: the `jails` section of a
//!   desired-state document (plan, stage into the shared commit, restart what changed);
//! - [`counter`]: the pure per-jail state (window counts, repeat offenders, recent lines) and the ban
//!   decision; [`source`]: reading a file or the journal and matching, on a thread of its own;
//! - [`runtime`]: the task of one running jail (failures → state → bans) and the state's persistence
//!   (the `jail_state` tree, restored at start: counts in the window and repeat-offender history
//!   survive a restart).

pub mod batch;
pub mod counter;
mod runtime;
pub mod source;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use app::model::jails::{
    Jail, JailFailing, JailInput, JailMatch, JailPatch, JailTestRequest, JailTestResult, JailView,
};
use app::model::FieldError;

use crate::firewall_ctl::FirewallHandle;
use crate::store::{trees, Collection, Store, StoreError};
use counter::JailState;
use runtime::Running;

/// Most jails.
pub const MAX_JAILS: usize = 64;

/// Failures of jail operations.
#[derive(Debug, thiserror::Error)]
pub enum JailError {
    /// No such jail.
    #[error("there is no jail with id {0}")]
    NotFound(String),
    /// Invalid input, by field.
    #[error("invalid jail")]
    Invalid(Vec<FieldError>),
    /// The name is taken (or too many jails), by field.
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Conflict(Vec<FieldError>),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

struct Inner {
    store: Store,
    specs: Collection<JailInput>,
    states: Collection<JailState>,
    firewall: FirewallHandle,
    audit: crate::audit::AuditLog,
    service_logs: PathBuf,
    alerts: crate::alerts::AlertSink,
    /// Serialises configuration changes.
    op: tokio::sync::Mutex<()>,
    running: std::sync::Mutex<HashMap<String, Running>>,
}

/// The jails domain API. Cheap to clone.
#[derive(Clone)]
pub struct Jails {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Jails {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jails").finish_non_exhaustive()
    }
}

fn new_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

impl Jails {
    /// Loads the jails and starts the enabled ones (their state restored from the store).
    pub fn start(
        store: Store,
        firewall: FirewallHandle,
        audit: crate::audit::AuditLog,
        service_logs: PathBuf,
        alerts: crate::alerts::AlertSink,
    ) -> Result<Jails, JailError> {
        let jails = Jails {
            inner: Arc::new(Inner {
                specs: store.collection(trees::JAILS)?,
                states: store.collection(trees::JAIL_STATE)?,
                store,
                firewall,
                audit,
                service_logs,
                alerts,
                op: tokio::sync::Mutex::new(()),
                running: std::sync::Mutex::new(HashMap::new()),
            }),
        };
        for (id, spec) in jails.inner.specs.list()? {
            jails.launch(&id, &spec, runtime::Carried::default());
        }
        Ok(jails)
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<String, Running>> {
        self.inner.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// (Re)starts the watcher of `id` per `spec` (stops it when disabled or invalid).
    async fn restart(&self, id: &str, spec: &JailInput) {
        // A changed jail keeps its counters, and reads its file on from where it was (same source).
        let previous = self.running().remove(id);
        let carried = match previous {
            Some(old) => old.finish(&spec.source).await,
            None => runtime::Carried::default(),
        };
        self.launch(id, spec, carried);
    }

    /// Starts the watcher of `id` per `spec`, taking over `carried` (nothing when disabled or invalid).
    fn launch(&self, id: &str, spec: &JailInput, carried: runtime::Carried) {
        if !spec.enabled {
            return;
        }
        let matcher = match spec.validate() {
            Ok(m) => m,
            Err(errors) => {
                tracing::warn!(jail = %spec.name, ?errors, "a stored jail is invalid; not started");
                return;
            }
        };
        let state = match self.inner.states.get(id) {
            Ok(state) => state.unwrap_or_default(),
            Err(e) => {
                tracing::warn!(jail = %spec.name, error = %e, "cannot read the jail's state; starting afresh");
                JailState::default()
            }
        };
        let running = runtime::start(
            runtime::Context {
                id: id.to_string(),
                spec: spec.clone(),
                firewall: self.inner.firewall.clone(),
                states: self.inner.states.clone(),
                service_logs: self.inner.service_logs.clone(),
                alerts: self.inner.alerts.clone(),
            },
            matcher,
            state,
            carried,
        );
        self.running().insert(id.to_string(), running);
    }

    fn view(&self, id: &str, spec: JailInput) -> JailView {
        let running = self.running();
        let live = running.get(id);
        let snapshot = live.map(Running::snapshot);
        let state = snapshot
            .as_ref()
            .map(|s| s.state.clone())
            .or_else(|| self.inner.states.get(id).ok().flatten())
            .unwrap_or_default();
        let mut failing: Vec<JailFailing> = state
            .offenders
            .iter()
            .map(|(network, o)| JailFailing {
                address: network.clone(),
                failures: u32::try_from(o.times.len()).unwrap_or(u32::MAX),
            })
            .collect();
        failing.sort_by_key(|f| std::cmp::Reverse(f.failures));
        failing.truncate(100);
        JailView {
            lines: snapshot.as_ref().map_or(0, |s| s.lines),
            matched: snapshot.as_ref().map_or(0, |s| s.matched),
            bans: snapshot.as_ref().map_or(0, |s| s.bans),
            source_problem: snapshot.as_ref().and_then(|s| s.problem.clone()),
            failing,
            recent: state
                .recent
                .iter()
                .rev()
                .map(|r| JailMatch {
                    at: runtime::ms_to_rfc3339(r.at_ms),
                    address: r.address.clone(),
                    line: r.line.clone(),
                })
                .collect(),
            jail: Jail {
                id: id.to_string(),
                spec,
            },
        }
    }

    /// Every jail with its counters, by name.
    pub fn list(&self) -> Result<Vec<JailView>, JailError> {
        let mut all: Vec<JailView> = self
            .inner
            .specs
            .list()?
            .into_iter()
            .map(|(id, spec)| self.view(&id, spec))
            .collect();
        all.sort_by(|a, b| a.jail.spec.name.cmp(&b.jail.spec.name));
        Ok(all)
    }

    /// One jail with its counters.
    pub fn get(&self, id: &str) -> Result<JailView, JailError> {
        let spec = self
            .inner
            .specs
            .get(id)?
            .ok_or_else(|| JailError::NotFound(id.to_string()))?;
        Ok(self.view(id, spec))
    }

    fn check_name(&self, spec: &JailInput, except: Option<&str>) -> Result<(), JailError> {
        let all = self.inner.specs.list()?;
        if all
            .iter()
            .any(|(id, s)| s.name == spec.name && Some(id.as_str()) != except)
        {
            return Err(JailError::Conflict(vec![FieldError::new(
                "name",
                format!("a jail named {} exists", spec.name),
            )]));
        }
        if except.is_none() && all.len() >= MAX_JAILS {
            return Err(JailError::Conflict(vec![FieldError::new(
                "name",
                format!("at most {MAX_JAILS} jails"),
            )]));
        }
        Ok(())
    }

    async fn save(&self, id: &str, spec: &JailInput) -> Result<(), JailError> {
        self.inner.specs.insert(id, spec)?;
        self.inner.store.flush().await?;
        Ok(())
    }

    async fn audited<T>(
        &self,
        action: &str,
        target: &str,
        result: Result<T, JailError>,
    ) -> Result<T, JailError> {
        self.inner
            .audit
            .record_result(action, target, &result)
            .await;
        result
    }

    /// Adds a jail (durable before it returns) and starts it if enabled.
    pub async fn create(&self, input: JailInput) -> Result<Jail, JailError> {
        let name = input.name.clone();
        let result = async {
            input.validate().map_err(JailError::Invalid)?;
            let _guard = self.inner.op.lock().await;
            self.check_name(&input, None)?;
            let id = new_id();
            self.save(&id, &input).await?;
            self.restart(&id, &input).await;
            Ok(Jail { id, spec: input })
        }
        .await;
        self.audited("firewall.jail.create", &name, result).await
    }

    /// Changes a jail (durable before it returns) and restarts its watcher. Its state is kept.
    pub async fn patch(&self, id: &str, patch: JailPatch) -> Result<Jail, JailError> {
        let result = async {
            let _guard = self.inner.op.lock().await;
            let current = self
                .inner
                .specs
                .get(id)?
                .ok_or_else(|| JailError::NotFound(id.to_string()))?;
            let next = patch.apply_to(&current);
            next.validate().map_err(JailError::Invalid)?;
            self.check_name(&next, Some(id))?;
            self.save(id, &next).await?;
            self.restart(id, &next).await;
            Ok(Jail {
                id: id.to_string(),
                spec: next,
            })
        }
        .await;
        self.audited("firewall.jail.update", id, result).await
    }

    /// Deletes a jail and its state (durable before it returns). Its bans stay until they expire.
    pub async fn delete(&self, id: &str) -> Result<(), JailError> {
        let result = async {
            let _guard = self.inner.op.lock().await;
            if self.inner.specs.get(id)?.is_none() {
                return Err(JailError::NotFound(id.to_string()));
            }
            if let Some(old) = self.running().remove(id) {
                old.stop();
            }
            self.inner.specs.remove(id)?;
            self.inner.states.remove(id)?;
            self.inner.store.flush().await?;
            Ok(())
        }
        .await;
        self.audited("firewall.jail.delete", id, result).await
    }

    /// Tries patterns on pasted lines (changes nothing).
    pub fn test(&self, request: &JailTestRequest) -> Result<JailTestResult, JailError> {
        request.run().map_err(JailError::Invalid)
    }

    /// Stops every watcher and saves their state (at shutdown).
    pub async fn shutdown(&self) {
        let all: Vec<Running> = self.running().drain().map(|(_, r)| r).collect();
        for running in all {
            running.stop_and_save();
        }
        if let Err(e) = self.inner.store.flush().await {
            tracing::warn!(error = %e, "cannot save the jails' state");
        }
    }
}
