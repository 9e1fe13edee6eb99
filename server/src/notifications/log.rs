//! The delivery log: per destination the newest [`KEEP`] attempts (time, event, ok or error, attempt,
//! HTTP status), in the sled tree `notification_log` under `<destination id>/<sequence>` so a prefix scan
//! reads one destination's log in order. Older entries are dropped as new ones arrive.

use app::model::notifications::DeliveryRecord;

use crate::store::{trees, Collection, Store, StoreError};

/// Attempts kept per destination.
pub const KEEP: usize = 50;

#[derive(Clone, Debug)]
pub struct DeliveryLog {
    store: Store,
    entries: Collection<DeliveryRecord>,
}

fn prefix(destination: &str) -> String {
    format!("{destination}/")
}

impl DeliveryLog {
    pub fn open(store: &Store) -> Result<DeliveryLog, StoreError> {
        Ok(DeliveryLog {
            store: store.clone(),
            entries: store.collection(trees::NOTIFICATION_LOG)?,
        })
    }

    /// Appends one attempt and drops what is beyond [`KEEP`].
    pub fn append(&self, destination: &str, record: &DeliveryRecord) -> Result<(), StoreError> {
        let seq = self.store.next_sequence(trees::NOTIFICATION_LOG)?;
        self.entries
            .insert(&format!("{}{seq:020}", prefix(destination)), record)?;
        let all = self.entries.scan_prefix(&prefix(destination))?;
        for (key, _) in all.iter().take(all.len().saturating_sub(KEEP)) {
            self.entries.remove(key)?;
        }
        Ok(())
    }

    /// The newest `limit` attempts, newest first.
    pub fn newest(
        &self,
        destination: &str,
        limit: usize,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let mut all: Vec<DeliveryRecord> = self
            .entries
            .scan_prefix(&prefix(destination))?
            .into_iter()
            .map(|(_, r)| r)
            .collect();
        all.reverse();
        all.truncate(limit);
        Ok(all)
    }

    /// The newest attempt and the newest failed one.
    pub fn last(
        &self,
        destination: &str,
    ) -> Result<(Option<DeliveryRecord>, Option<DeliveryRecord>), StoreError> {
        let newest = self.newest(destination, KEEP)?;
        let error = newest.iter().find(|r| !r.ok).cloned();
        Ok((newest.into_iter().next(), error))
    }

    /// Forgets a deleted destination's log.
    pub fn remove_all(&self, destination: &str) -> Result<(), StoreError> {
        for (key, _) in self.entries.scan_prefix(&prefix(destination))? {
            self.entries.remove(&key)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(attempt: u32, ok: bool) -> DeliveryRecord {
        DeliveryRecord {
            at: "2026-01-01T00:00:00Z".into(),
            event: "test".into(),
            ok,
            attempt,
            status: None,
            error: (!ok).then(|| "boom".to_string()),
        }
    }

    #[test]
    fn keeps_the_newest_per_destination() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let log = DeliveryLog::open(&store).unwrap();
        for i in 0..(KEEP as u32 + 5) {
            log.append("a", &record(i, i % 2 == 0)).unwrap();
        }
        log.append("b", &record(99, true)).unwrap();
        let a = log.newest("a", 1000).unwrap();
        assert_eq!(a.len(), KEEP);
        assert_eq!(a[0].attempt, KEEP as u32 + 4);
        let (last, error) = log.last("a").unwrap();
        assert_eq!(last.map(|r| r.attempt), Some(KEEP as u32 + 4));
        assert_eq!(error.map(|r| r.attempt), Some(KEEP as u32 + 3));
        log.remove_all("a").unwrap();
        assert!(log.newest("a", 10).unwrap().is_empty());
        assert_eq!(log.newest("b", 10).unwrap().len(), 1);
    }
}
