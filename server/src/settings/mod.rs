//! The settings domain: [`SettingsHandle`] is the one entry point that reads, validates, persists and
//! propagates Warden's global settings (hostname, global environment, service user, service port range,
//! crash-loop and ban thresholds). REST, the UI's server functions and later the CLI and desired state all
//! change settings through [`SettingsHandle::update`]; the other domains read the current value with
//! [`SettingsHandle::current`] or follow changes through [`SettingsHandle::subscribe`] (a `watch` channel).
//!
//! An update is validated (the shared rules of `app::model::settings` plus a host check that the service
//! user exists), written and flushed (durable before acknowledged), only then made current and announced
//! (`{"type": "settings"}` on the event bus), and recorded in the audit log either way. Updates are
//! serialised, so two concurrent patches cannot lose each other's changes.

pub mod patch;
pub mod record;

use std::sync::Arc;

use tokio::sync::watch;

use app::model::settings::{validate_settings, Settings};
use app::model::state::{Change, SettingsDocument};
use app::model::FieldError;

use crate::audit::AuditLog;
use crate::events::EventBus;
use crate::store::{trees, Collection, Store, StoreError, WriteBatch};

pub use patch::{changed_fields, BanPatch, CrashLoopPatch, SettingsPatch};
pub use record::{SettingsRecord, SETTINGS_KEY};

/// Why a settings change was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The resulting settings are invalid, by field.
    #[error("invalid settings: {}", join(.0))]
    Invalid(Vec<FieldError>),
    /// The store failed; nothing changed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn join(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Checks that the Unix user services would run as exists on this host.
pub type UserCheck = fn(&str) -> Result<(), String>;

/// The settings domain handle. Cheap to clone; every clone sees the same settings.
#[derive(Clone)]
pub struct SettingsHandle {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    tree: Collection<SettingsRecord>,
    current: watch::Sender<Settings>,
    /// Serialises updates (read-modify-write of the one document).
    writes: tokio::sync::Mutex<()>,
    audit: AuditLog,
    events: EventBus,
    user_exists: UserCheck,
}

impl std::fmt::Debug for SettingsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SettingsHandle").finish_non_exhaustive()
    }
}

/// The defaults of a fresh data dir: this machine's hostname, and `nobody` as the service user when
/// Warden runs as root (services never run as root unless chosen), otherwise Warden's own user.
fn first_start_defaults() -> Settings {
    let hostname = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "warden".to_string());
    let service_user = if nix::unistd::geteuid().is_root() {
        "nobody".to_string()
    } else {
        nix::unistd::User::from_uid(nix::unistd::geteuid())
            .ok()
            .flatten()
            .map(|u| u.name)
            .unwrap_or_else(|| "nobody".to_string())
    };
    Settings::defaults(hostname, service_user)
}

/// Whether `name` is a user services can run as (the supervisor's own lookup).
fn service_user_exists(name: &str) -> Result<(), String> {
    crate::supervisor::spawn::resolve_user(name).map(|_| ())
}

impl SettingsHandle {
    /// Opens the settings, writing (and flushing) the defaults on first start.
    pub async fn open(store: &Store, events: EventBus) -> Result<SettingsHandle, SettingsError> {
        Self::open_with(store, events, service_user_exists).await
    }

    /// [`SettingsHandle::open`] with another check of the service user (tests).
    pub async fn open_with(
        store: &Store,
        events: EventBus,
        user_exists: UserCheck,
    ) -> Result<SettingsHandle, SettingsError> {
        let tree = store.collection::<SettingsRecord>(trees::SETTINGS)?;
        let settings = match tree.get(SETTINGS_KEY)? {
            Some(record) => Settings::from(record),
            None => {
                let defaults = first_start_defaults();
                tree.insert(SETTINGS_KEY, &SettingsRecord::from(&defaults))?;
                store.flush().await?;
                defaults
            }
        };
        Ok(SettingsHandle {
            inner: Arc::new(Inner {
                store: store.clone(),
                tree,
                current: watch::Sender::new(settings),
                writes: tokio::sync::Mutex::const_new(()),
                audit: AuditLog::open(store)?,
                events,
                user_exists,
            }),
        })
    }

    /// The settings in force now.
    pub fn current(&self) -> Settings {
        self.inner.current.borrow().clone()
    }

    /// Follows the settings: the receiver sees every accepted update.
    pub fn subscribe(&self) -> watch::Receiver<Settings> {
        self.inner.current.subscribe()
    }

    /// Validates, persists (flushed before it returns), applies and announces a change, and records it in
    /// the audit log (the changed fields, or the refused ones with the reason).
    pub async fn update(&self, patch: SettingsPatch) -> Result<Settings, SettingsError> {
        let _serialised = self.inner.writes.lock().await;
        let before = self.current();
        let named = patch.field_names().join(", ");
        let result = self.update_locked(&before, patch).await;
        let (target, outcome) = match &result {
            Ok(after) => (changed_fields(&before, after).join(", "), Ok(())),
            Err(e) => (named, Err(e.to_string())),
        };
        self.inner
            .audit
            .record("settings.update", &target, outcome)
            .await;
        result
    }

    async fn update_locked(
        &self,
        before: &Settings,
        patch: SettingsPatch,
    ) -> Result<Settings, SettingsError> {
        let next = patch.apply_to(before);
        let errors = self.validate(&next);
        if !errors.is_empty() {
            return Err(SettingsError::Invalid(errors));
        }
        self.inner
            .tree
            .insert(SETTINGS_KEY, &SettingsRecord::from(&next))?;
        if let Err(e) = self.inner.store.flush().await {
            // Refused, so nothing changed: not in the store's memory either, or a later flush (once
            // space comes back) would make it durable after all.
            if let Err(put_back) = self
                .inner
                .tree
                .insert(SETTINGS_KEY, &SettingsRecord::from(before))
            {
                tracing::error!(error = %put_back, "cannot put the previous settings back");
            }
            return Err(e.into());
        }
        self.inner.current.send_replace(next.clone());
        self.inner
            .events
            .publish("settings", &serde_json::json!({ "settings": &next }));
        Ok(next)
    }
}

/// The batch entry point (desired state): plan, stage into the caller's [`WriteBatch`], and publish
/// once the caller has committed it. The caller holds [`SettingsHandle::lock_batch`] throughout.
impl SettingsHandle {
    /// Serialises a batch with every other settings update.
    pub async fn lock_batch(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.inner.writes.lock().await
    }

    /// The settings a document's section asks for, validated (errors named `settings.<field>`), and
    /// the plan line. Nothing changes.
    pub fn plan_batch(
        &self,
        section: &SettingsDocument,
    ) -> Result<(Change, Settings), SettingsError> {
        let before = self.current();
        let next = section.apply_to(&before);
        let errors = self.validate(&next);
        if !errors.is_empty() {
            return Err(SettingsError::Invalid(
                errors
                    .into_iter()
                    .map(|e| FieldError::new(format!("settings.{}", e.field), e.message))
                    .collect(),
            ));
        }
        Ok((crate::desired::plan::plan_settings(&before, &next), next))
    }

    /// Stages `next` into `batch`.
    pub fn stage_batch(
        &self,
        next: &Settings,
        batch: &mut WriteBatch,
    ) -> Result<(), SettingsError> {
        self.inner
            .tree
            .stage_insert(batch, SETTINGS_KEY, &SettingsRecord::from(next))?;
        Ok(())
    }

    /// After the batch is committed: `next` is in force, announced and audited.
    pub async fn finish_batch(&self, next: Settings) {
        let before = self.current();
        let target = changed_fields(&before, &next).join(", ");
        self.inner.current.send_replace(next.clone());
        self.inner
            .events
            .publish("settings", &serde_json::json!({ "settings": &next }));
        self.inner
            .audit
            .record("settings.update", &target, Ok(()))
            .await;
    }

    /// The shared rules plus the host check of the service user.
    fn validate(&self, next: &Settings) -> Vec<FieldError> {
        let mut errors = validate_settings(next);
        if !errors.iter().any(|e| e.field == "service_user") {
            if let Err(e) = (self.inner.user_exists)(&next.service_user) {
                errors.push(FieldError::new("service_user", e));
            }
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn any_user(_: &str) -> Result<(), String> {
        Ok(())
    }

    fn no_such_user(name: &str) -> Result<(), String> {
        Err(format!("there is no user {name}"))
    }

    async fn open(dir: &tempfile::TempDir, check: UserCheck) -> (Store, SettingsHandle) {
        let store = Store::open(dir.path()).unwrap();
        let handle = SettingsHandle::open_with(&store, EventBus::default(), check)
            .await
            .unwrap();
        (store, handle)
    }

    #[tokio::test]
    async fn first_start_writes_defaults_and_an_update_is_durable_notified_and_audited() {
        let dir = tempfile::tempdir().unwrap();
        let (store, handle) = open(&dir, any_user).await;
        assert_eq!(handle.current().service_ports, "8300:8499");
        let mut follower = handle.subscribe();
        let after = handle
            .update(SettingsPatch {
                hostname: Some("edge-1".into()),
                ..SettingsPatch::default()
            })
            .await
            .unwrap();
        assert_eq!(after.hostname, "edge-1");
        assert!(follower.has_changed().unwrap());
        assert_eq!(follower.borrow_and_update().hostname, "edge-1");
        let entry = &AuditLog::open(&store).unwrap().recent(1).unwrap()[0];
        assert_eq!(entry.action, "settings.update");
        assert_eq!(entry.target, "hostname");
        drop((handle, store));
        let (_, reopened) = open(&dir, any_user).await;
        assert_eq!(reopened.current().hostname, "edge-1");
    }

    #[tokio::test]
    async fn an_invalid_change_changes_nothing_and_names_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let (store, handle) = open(&dir, no_such_user).await;
        let before = handle.current();
        let follower = handle.subscribe();
        let err = handle
            .update(SettingsPatch {
                service_user: Some("ghost".into()),
                service_ports: Some("9000:8000".into()),
                ..SettingsPatch::default()
            })
            .await
            .unwrap_err();
        let SettingsError::Invalid(fields) = err else {
            panic!("expected a validation error, got {err:?}");
        };
        let names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
        assert!(names.contains(&"service_user"), "{names:?}");
        assert!(names.contains(&"service_ports"), "{names:?}");
        assert_eq!(handle.current(), before);
        assert!(!follower.has_changed().unwrap());
        let entry = &AuditLog::open(&store).unwrap().recent(1).unwrap()[0];
        assert_eq!(entry.target, "service_user, service_ports");
        assert_eq!(entry.outcome, app::model::admin::AuditOutcome::Failed);
    }
}
