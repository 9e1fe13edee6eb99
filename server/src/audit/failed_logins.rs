//! Failed logins in the audit log, aggregated: one entry per source (an IPv4 address or an IPv6 /64)
//! per minute, whose `count` grows with every further failure of that minute, so a guessing client
//! cannot push older evidence out of the bounded log. The entry keeps the first user name tried as its
//! actor and lists the first few distinct names tried in its detail.

use std::collections::HashMap;

use super::record::AuditRecord;
use super::{clean, key, Actor, AuditLog};
use crate::clock::{now_rfc3339, now_unix};
use crate::store::StoreError;
use app::model::admin::AuditOutcome;

/// How many sources are aggregated within one minute; beyond, each failure gets its own entry.
const MAX_SOURCES_PER_MINUTE: usize = 4096;
/// How many distinct user names one entry lists.
const MAX_NAMES: usize = 5;

/// The entries of the current minute, by source.
#[derive(Debug, Default)]
pub(super) struct Aggregates {
    minute: i64,
    by_source: HashMap<String, Aggregate>,
}

#[derive(Debug)]
struct Aggregate {
    id: u64,
    count: u32,
    names: Vec<String>,
}

impl Aggregate {
    fn detail(&self, source: &str) -> String {
        let names = self.names.join(", ");
        if self.count == 1 {
            "wrong user name or password".to_string()
        } else {
            format!(
                "wrong user name or password: {} failed logins from {source} within this minute \
                 (user names tried: {names})",
                self.count
            )
        }
    }
}

impl AuditLog {
    /// Records a failed login by `actor` (the user name tried, the client address) from `source` (its
    /// address, or its IPv6 /64): the source's entry of this minute counts one more, or a new entry
    /// starts. Flushed before it returns; a failure to write is logged, never returned.
    pub async fn record_failed_login(&self, actor: &Actor, source: &str) {
        if let Err(e) = self.write_failed_login(actor, source) {
            tracing::error!(error = %e, "cannot write the audit log");
            return;
        }
        if let Err(e) = self.store.flush().await {
            tracing::error!(error = %e, "cannot write the audit log");
        }
    }

    fn write_failed_login(&self, actor: &Actor, source: &str) -> Result<(), StoreError> {
        let minute = now_unix().div_euclid(60);
        let name = clean(&actor.name);
        // Held across the read-modify-write, so concurrent failures of one source all count.
        let mut aggregates = self.failed_logins.lock().unwrap_or_else(|p| p.into_inner());
        if aggregates.minute != minute {
            aggregates.minute = minute;
            aggregates.by_source.clear();
        }
        if let Some(aggregate) = aggregates.by_source.get_mut(source) {
            if let Some(mut record) = self.entries.get(&key(aggregate.id))? {
                aggregate.count = aggregate.count.saturating_add(1);
                if aggregate.names.len() < MAX_NAMES && !aggregate.names.contains(&name) {
                    aggregate.names.push(name);
                }
                record.count = Some(aggregate.count);
                record.detail = Some(clean(&aggregate.detail(source)));
                self.entries.insert(&key(aggregate.id), &record)?;
                return Ok(());
            }
        }
        let id = self.store.next_sequence(super::trees::AUDIT)?;
        let aggregate = Aggregate {
            id,
            count: 1,
            names: vec![name.clone()],
        };
        let entry = AuditRecord {
            id,
            at: now_rfc3339(),
            actor_kind: actor.kind.into(),
            actor: name,
            address: Some(source.to_string()),
            action: "auth.login".to_string(),
            target: String::new(),
            outcome: AuditOutcome::Failed.into(),
            detail: Some(aggregate.detail(source)),
            count: Some(1),
        };
        self.entries.insert(&key(id), &entry)?;
        self.trim(id)?;
        if aggregates.by_source.len() < MAX_SOURCES_PER_MINUTE {
            aggregates.by_source.insert(source.to_string(), aggregate);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use app::model::admin::ActorKind;

    fn guesser(name: &str, address: &str) -> Actor {
        Actor {
            kind: ActorKind::Anonymous,
            name: name.into(),
            address: Some(address.parse().unwrap()),
        }
    }

    #[tokio::test]
    async fn failed_logins_are_one_entry_per_source_and_minute_with_a_count() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let log = AuditLog::open(&store).unwrap().with_max_entries(5);
        log.record("warden.start", "", Ok(())).await;
        // The minute may turn during the test: then the counts are split over two entries.
        let start_minute = now_unix().div_euclid(60);
        for i in 0..300 {
            let name = ["admin", "root", "mallory"][i % 3];
            log.record_failed_login(&guesser(name, "2001:db8::7"), "2001:db8::/64")
                .await;
        }
        log.record_failed_login(&guesser("admin", "192.0.2.7"), "192.0.2.7")
            .await;
        let entries = log.recent(100).unwrap();
        let same_minute = now_unix().div_euclid(60) == start_minute;
        let v6: Vec<_> = entries
            .iter()
            .filter(|e| e.address.as_deref() == Some("2001:db8::/64"))
            .collect();
        let total: u32 = v6.iter().map(|e| e.count.unwrap_or(1)).sum();
        assert_eq!(total, 300);
        if same_minute {
            assert_eq!(v6.len(), 1, "{entries:?}");
            let detail = v6[0].detail.as_deref().unwrap_or_default();
            assert!(detail.contains("300 failed logins"), "{detail}");
            assert!(detail.contains("admin, root, mallory"), "{detail}");
            assert_eq!(v6[0].actor, "admin");
            // The older evidence was not pushed out: the start entry is still there.
            assert!(entries.iter().any(|e| e.action == "warden.start"));
        }
        let v4 = entries
            .iter()
            .find(|e| e.address.as_deref() == Some("192.0.2.7"))
            .unwrap();
        assert_eq!(v4.count, Some(1));
        assert_eq!(v4.outcome, AuditOutcome::Failed);
    }
}
