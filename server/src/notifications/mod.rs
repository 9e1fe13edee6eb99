//! The notifications domain: [`Notifications`] is the one handle REST, the UI's server functions and
//! tests call to list, create, change, delete and test notification destinations (webhook or e-mail),
//! and to read their delivery logs. It validates with the shared rules of `app::model::notifications`,
//! stores destinations in the sled tree `notifications` (flushed before a change is acknowledged,
//! audited either way) and delivers the alerts the other domains send through [`crate::alerts`].
//!
//! Parts: [`record`] (the stored form; the SMTP password is kept there and never answered),
//! [`delivery`] (one attempt: webhook POST or SMTP e-mail), [`dispatch`] (the dispatcher task, retries
//! with backoff), [`outbox`] (deliveries under way, resumed after a restart), [`log`] (the bounded
//! delivery log per destination), [`batch`] (the `notifications`
//! section of a desired-state document).

pub mod batch;
pub mod delivery;
pub mod dispatch;
pub mod log;
pub mod outbox;
pub mod record;

use std::sync::Arc;
use std::time::Duration;

use app::model::notifications::{
    validate_destination, DeliveryRecord, Destination, DestinationInput, DestinationPatch,
    MAX_DESTINATIONS,
};
use app::model::FieldError;

use crate::alerts::Alert;
use crate::audit::AuditLog;
use crate::settings::SettingsHandle;
use crate::store::{trees, Collection, Store, StoreError};
pub use dispatch::RetryPolicy;
use record::StoredDestination;

/// Why a notifications request was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum NotificationError {
    #[error("invalid destination: {}", join(.0))]
    Invalid(Vec<FieldError>),
    #[error("there is no notification destination with id {0}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

fn join(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// How deliveries are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotifyOptions {
    pub retry: RetryPolicy,
    /// One attempt's time limit (connect and answer).
    pub timeout: Duration,
}

impl Default for NotifyOptions {
    fn default() -> Self {
        NotifyOptions {
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(10),
        }
    }
}

/// The notifications domain handle. Cheap to clone.
#[derive(Clone)]
pub struct Notifications {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    destinations: Collection<StoredDestination>,
    log: log::DeliveryLog,
    outbox: outbox::Outbox,
    audit: AuditLog,
    settings: SettingsHandle,
    http: reqwest::Client,
    options: NotifyOptions,
    /// Serialises changes (read-modify-write of one destination, the count limit).
    writes: tokio::sync::Mutex<()>,
    in_flight: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for Notifications {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifications").finish_non_exhaustive()
    }
}

fn new_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

impl Notifications {
    pub fn open(
        store: &Store,
        settings: SettingsHandle,
        options: NotifyOptions,
    ) -> Result<Notifications, NotificationError> {
        Ok(Notifications {
            inner: Arc::new(Inner {
                store: store.clone(),
                destinations: store.collection(trees::NOTIFICATIONS)?,
                log: log::DeliveryLog::open(store)?,
                outbox: outbox::Outbox::open(store)?,
                audit: AuditLog::open(store)?,
                settings,
                http: delivery::http_client(options.timeout)
                    .map_err(NotificationError::Internal)?,
                options,
                writes: tokio::sync::Mutex::new(()),
                in_flight: Arc::new(tokio::sync::Semaphore::new(dispatch::IN_FLIGHT)),
            }),
        })
    }

    fn view(&self, stored: &StoredDestination) -> Result<Destination, NotificationError> {
        let (last, error) = self.inner.log.last(&stored.id)?;
        Ok(stored.view(last, error))
    }

    fn load(&self, id: &str) -> Result<StoredDestination, NotificationError> {
        self.inner
            .destinations
            .get(id)?
            .ok_or_else(|| NotificationError::NotFound(id.to_string()))
    }

    /// Every destination, oldest first.
    pub fn list(&self) -> Result<Vec<Destination>, NotificationError> {
        self.stored()?.iter().map(|d| self.view(d)).collect()
    }

    pub fn get(&self, id: &str) -> Result<Destination, NotificationError> {
        self.view(&self.load(id)?)
    }

    /// The ids of the enabled destinations that want `event`.
    fn subscribers(&self, event: &str) -> Result<Vec<String>, NotificationError> {
        Ok(self
            .inner
            .destinations
            .list()?
            .into_iter()
            .filter(|(_, d)| d.wants(event))
            .map(|(id, _)| id)
            .collect())
    }

    async fn save(&self, stored: &StoredDestination) -> Result<(), NotificationError> {
        self.inner.destinations.insert(&stored.id, stored)?;
        self.inner.store.flush().await?;
        Ok(())
    }

    /// Creates a destination (validated, durable before the answer, audited).
    pub async fn create(&self, input: &DestinationInput) -> Result<Destination, NotificationError> {
        let result = self.create_unaudited(input).await;
        let target = result.as_ref().map(|d| d.id.clone()).unwrap_or_default();
        self.inner
            .audit
            .record_result("notifications.create", &target, &result)
            .await;
        result
    }

    async fn create_unaudited(
        &self,
        input: &DestinationInput,
    ) -> Result<Destination, NotificationError> {
        let errors = validate_destination(input);
        if !errors.is_empty() {
            return Err(NotificationError::Invalid(errors));
        }
        let _guard = self.inner.writes.lock().await;
        if self.inner.destinations.len() >= MAX_DESTINATIONS {
            return Err(NotificationError::Invalid(vec![FieldError::new(
                "kind",
                format!("at most {MAX_DESTINATIONS} destinations; delete one first"),
            )]));
        }
        let stored = StoredDestination::create(new_id(), input, crate::clock::now_rfc3339());
        self.save(&stored).await?;
        tracing::info!(destination = %stored.id, kind = ?stored.kind, "notification destination created");
        self.view(&stored)
    }

    /// Changes a destination (each field present in `patch`; the kind stays).
    pub async fn update(
        &self,
        id: &str,
        patch: &DestinationPatch,
    ) -> Result<Destination, NotificationError> {
        let result = async {
            let _guard = self.inner.writes.lock().await;
            let current = self.load(id)?;
            let (input, next) = current.patched(patch);
            let errors = validate_destination(&input);
            if !errors.is_empty() {
                return Err(NotificationError::Invalid(errors));
            }
            self.save(&next).await?;
            self.view(&next)
        }
        .await;
        self.inner
            .audit
            .record_result("notifications.update", id, &result)
            .await;
        result
    }

    /// Deletes a destination and its delivery log.
    pub async fn delete(&self, id: &str) -> Result<(), NotificationError> {
        let result = async {
            let _guard = self.inner.writes.lock().await;
            self.inner
                .destinations
                .remove(id)?
                .ok_or_else(|| NotificationError::NotFound(id.to_string()))?;
            self.inner.log.remove_all(id)?;
            self.inner.store.flush().await?;
            Ok::<(), NotificationError>(())
        }
        .await;
        self.inner
            .audit
            .record_result("notifications.delete", id, &result)
            .await;
        result
    }

    /// Sends a test notification to destination `id` now (one attempt, no retry, whether the destination
    /// is enabled or not) and answers its outcome, also kept in the delivery log.
    pub async fn test(&self, id: &str) -> Result<DeliveryRecord, NotificationError> {
        let result = async {
            let destination = self.load(id)?;
            let record = self.attempt_once(&destination, &Alert::test(), 1).await;
            self.inner.store.flush().await?;
            Ok::<_, NotificationError>(record)
        }
        .await;
        let outcome = match &result {
            Ok(record) if record.ok => Ok(()),
            Ok(record) => Err(record
                .error
                .clone()
                .unwrap_or_else(|| "the delivery failed".into())),
            Err(e) => Err(e.to_string()),
        };
        self.inner
            .audit
            .record("notifications.test", id, outcome)
            .await;
        result
    }

    /// The newest `limit` delivery attempts of destination `id`, newest first.
    pub fn delivery_log(
        &self,
        id: &str,
        limit: usize,
    ) -> Result<Vec<DeliveryRecord>, NotificationError> {
        self.load(id)?;
        Ok(self.inner.log.newest(id, limit.min(log::KEEP))?)
    }

    /// One attempt, written to the delivery log.
    async fn attempt_once(
        &self,
        destination: &StoredDestination,
        alert: &Alert,
        attempt: u32,
    ) -> DeliveryRecord {
        let host = self.inner.settings.current().hostname;
        let outcome = delivery::attempt(
            &self.inner.http,
            destination,
            alert,
            &host,
            self.inner.options.timeout,
        )
        .await;
        let record = DeliveryRecord {
            at: crate::clock::now_rfc3339(),
            event: alert.event.to_string(),
            ok: outcome.ok,
            attempt,
            status: outcome.status,
            error: outcome.error,
        };
        if let Err(e) = self.inner.log.append(&destination.id, &record) {
            tracing::error!(error = %e, "cannot write the notification delivery log");
        }
        record
    }
}
