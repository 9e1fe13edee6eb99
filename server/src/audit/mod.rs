//! The audit log: who (user, API token or Warden itself, and the client address) did what (action,
//! target, outcome) and when, kept in the store's `audit` tree, bounded to the newest
//! [`MAX_ENTRIES`] entries and flushed before the action is acknowledged.
//!
//! Who is acting is request context, not a parameter of every domain call: the HTTP auth gate runs each
//! request inside [`acting_as`] with the [`Actor`] its credentials name, and the domain layer (auth,
//! settings, supervisor, firewall) records each action once, where it happens, with
//! [`AuditLog::record`]. REST handlers and the UI's server functions both reach the same domain calls, so
//! both are audited by the same line. Outside a request (timers, start-up) the actor is Warden itself.
//! Entries are stored as [`record::AuditRecord`]s, not as the wire DTO. Failed logins are aggregated per
//! source and minute (`failed_logins.rs`), so guessing cannot push older evidence out of the log.

mod failed_logins;
pub mod record;

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use app::model::admin::{ActorKind, AuditEntry, AuditOutcome};

use crate::clock::now_rfc3339;
use crate::store::{trees, Collection, Store, StoreError};
use failed_logins::Aggregates;
use record::AuditRecord;

/// How many entries the log keeps; older ones are dropped as new ones arrive.
pub const MAX_ENTRIES: u64 = 10_000;
/// The most entries one `GET /api/v1/audit` returns.
pub const MAX_LIMIT: usize = 1000;
/// Entries returned when no limit is given.
pub const DEFAULT_LIMIT: usize = 100;
/// Longest detail or target kept (longer texts are cut).
const MAX_TEXT_CHARS: usize = 512;

/// Who is acting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub kind: ActorKind,
    /// User name; `user/token-name` for an API token; the subsystem for Warden itself.
    pub name: String,
    pub address: Option<IpAddr>,
}

impl Actor {
    /// Warden itself (a timer, the login throttle, start-up recovery).
    pub fn system(subsystem: &str) -> Actor {
        Actor {
            kind: ActorKind::System,
            name: subsystem.to_string(),
            address: None,
        }
    }

    /// An unauthenticated client.
    pub fn anonymous(address: Option<IpAddr>) -> Actor {
        Actor {
            kind: ActorKind::Anonymous,
            name: "anonymous".to_string(),
            address,
        }
    }
}

tokio::task_local! {
    static CURRENT_ACTOR: Actor;
}

/// Runs `work` with `actor` as the one acting (see the module docs).
pub async fn acting_as<F: std::future::Future>(actor: Actor, work: F) -> F::Output {
    CURRENT_ACTOR.scope(actor, work).await
}

/// The actor of the current request, or Warden itself outside any request.
pub fn current_actor() -> Actor {
    CURRENT_ACTOR
        .try_with(Actor::clone)
        .unwrap_or_else(|_| Actor::system("warden"))
}

/// Cuts `text` to [`MAX_TEXT_CHARS`] and replaces control characters, so a hostile name cannot forge
/// lines in a log view.
fn clean(text: &str) -> String {
    text.chars()
        .take(MAX_TEXT_CHARS)
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect()
}

/// The audit log. Cheap to clone; every clone writes to the same tree.
#[derive(Clone)]
pub struct AuditLog {
    store: Store,
    entries: Collection<AuditRecord>,
    max_entries: u64,
    /// The failed-login entries of the current minute (shared by every clone).
    failed_logins: Arc<Mutex<Aggregates>>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").finish_non_exhaustive()
    }
}

fn key(id: u64) -> String {
    format!("{id:020}")
}

impl AuditLog {
    pub fn open(store: &Store) -> Result<AuditLog, StoreError> {
        Ok(AuditLog {
            store: store.clone(),
            entries: store.collection(trees::AUDIT)?,
            max_entries: MAX_ENTRIES,
            failed_logins: Arc::default(),
        })
    }

    /// The same log keeping only `max_entries` (tests use a small bound).
    pub fn with_max_entries(mut self, max_entries: u64) -> AuditLog {
        self.max_entries = max_entries.max(1);
        self
    }

    /// Records an action by the current actor and flushes. A failure to write the log is logged, never
    /// returned: the action itself already happened.
    pub async fn record(&self, action: &str, target: &str, outcome: Result<(), String>) {
        self.record_as(&current_actor(), action, target, outcome)
            .await
    }

    /// Records the outcome of a domain call (its error's text as the detail).
    pub async fn record_result<T, E: std::fmt::Display>(
        &self,
        action: &str,
        target: &str,
        result: &Result<T, E>,
    ) {
        let outcome = match result {
            Ok(_) => Ok(()),
            Err(e) => Err(e.to_string()),
        };
        self.record(action, target, outcome).await
    }

    /// Records an action by `actor` and flushes.
    pub async fn record_as(
        &self,
        actor: &Actor,
        action: &str,
        target: &str,
        outcome: Result<(), String>,
    ) {
        if let Err(e) = self.write(actor, action, target, outcome).await {
            tracing::error!(error = %e, action, "cannot write the audit log");
        }
    }

    async fn write(
        &self,
        actor: &Actor,
        action: &str,
        target: &str,
        outcome: Result<(), String>,
    ) -> Result<(), StoreError> {
        self.insert(actor, action, target, outcome)?;
        self.store.flush().await
    }

    /// Writes a successful action by the current actor without flushing: the caller's next flush makes
    /// the entry durable together with the change it records (one fsync for both). If that flush
    /// fails, the caller takes the entry back with [`AuditLog::unstage`] and records the failure.
    pub fn stage(&self, action: &str, target: &str) -> Result<u64, StoreError> {
        self.insert(&current_actor(), action, target, Ok(()))
    }

    /// Removes a staged entry whose change did not become durable.
    pub fn unstage(&self, id: u64) {
        if let Err(e) = self.entries.remove(&key(id)) {
            tracing::error!(error = %e, "cannot take back an audit entry");
        }
    }

    /// Adds an entry (not yet durable); returns its id.
    fn insert(
        &self,
        actor: &Actor,
        action: &str,
        target: &str,
        outcome: Result<(), String>,
    ) -> Result<u64, StoreError> {
        let id = self.store.next_sequence(trees::AUDIT)?;
        let (outcome, detail) = match outcome {
            Ok(()) => (AuditOutcome::Ok, None),
            Err(why) => (AuditOutcome::Failed, Some(clean(&why))),
        };
        let entry = AuditRecord {
            id,
            at: now_rfc3339(),
            actor_kind: actor.kind.into(),
            actor: clean(&actor.name),
            address: actor.address.map(|a| a.to_canonical().to_string()),
            action: action.to_string(),
            target: clean(target),
            outcome: outcome.into(),
            detail,
            count: None,
        };
        self.entries.insert(&key(id), &entry)?;
        self.trim(id)?;
        Ok(id)
    }

    /// Drops the entries older than the newest [`MAX_ENTRIES`] (`id` being the newest).
    fn trim(&self, id: u64) -> Result<(), StoreError> {
        if id > self.max_entries {
            self.entries
                .remove_before(&key(id - self.max_entries + 1))?;
        }
        Ok(())
    }

    /// The newest `limit` entries (at most [`MAX_LIMIT`]), newest first.
    pub fn recent(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let records = self.entries.newest(limit.min(MAX_LIMIT))?;
        Ok(records.into_iter().map(AuditEntry::from).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_newest_first_with_the_current_actor_and_stays_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let log = AuditLog::open(&store).unwrap();
        log.record("warden.start", "", Ok(())).await;
        let user = Actor {
            kind: ActorKind::User,
            name: "admin".into(),
            address: Some("::ffff:192.0.2.1".parse().unwrap()),
        };
        acting_as(user, async {
            log.record("service.create", "web\nfake line", Err("no".into()))
                .await;
        })
        .await;
        let entries = log.recent(10).unwrap();
        assert_eq!(entries.len(), 2);
        let newest = &entries[0];
        assert_eq!(newest.action, "service.create");
        assert_eq!(newest.actor, "admin");
        assert_eq!(newest.address.as_deref(), Some("192.0.2.1"));
        assert_eq!(newest.outcome, AuditOutcome::Failed);
        assert!(!newest.target.contains('\n'));
        assert_eq!(entries[1].actor_kind, ActorKind::System);
        assert!(entries[0].id > entries[1].id);
    }

    #[tokio::test]
    async fn old_entries_are_dropped_past_the_bound_and_ids_continue_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let log = AuditLog::open(&store).unwrap().with_max_entries(3);
        for i in 0..7 {
            log.record("test", &i.to_string(), Ok(())).await;
        }
        let targets: Vec<String> = log
            .recent(1000)
            .unwrap()
            .into_iter()
            .map(|e| e.target)
            .collect();
        assert_eq!(targets, ["6", "5", "4"]);
        drop(log);
        let log = AuditLog::open(&store).unwrap();
        log.record("again", "", Ok(())).await;
        assert_eq!(log.recent(1).unwrap()[0].id, 8);
    }
}
