//! The outbox: every delivery the dispatcher starts (one alert to one destination) is written to the
//! sled tree `notification_outbox` and flushed before the first attempt, moved on (flushed) after
//! each failed attempt and removed once delivered or given up. A Warden that is killed or crashes in the middle
//! of a retry series thus resumes it at its next start instead of losing the alert: delivery is at
//! least once (a delivery that succeeded just before the crash may be sent again).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use app::model::notifications as names;

use crate::alerts::Alert;
use crate::store::{trees, Collection, Store, StoreError};

/// One delivery not yet finished.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingDelivery {
    pub destination: String,
    pub event: String,
    pub at: String,
    pub subject: String,
    pub text: String,
    #[serde(default)]
    pub details: Map<String, Value>,
    /// The number of the next attempt (1 = none made yet).
    pub next_attempt: u32,
}

impl PendingDelivery {
    fn new(destination: &str, alert: &Alert) -> PendingDelivery {
        PendingDelivery {
            destination: destination.to_string(),
            event: alert.event.to_string(),
            at: alert.at.clone(),
            subject: alert.subject.clone(),
            text: alert.text.clone(),
            details: alert.details.clone(),
            next_attempt: 1,
        }
    }

    /// The alert again; `None` for an event this Warden does not know (written by another version).
    pub fn alert(&self) -> Option<Alert> {
        let event = names::EVENTS
            .iter()
            .map(|(name, _)| *name)
            .find(|name| *name == self.event)?;
        Some(Alert {
            event,
            at: self.at.clone(),
            subject: self.subject.clone(),
            text: self.text.clone(),
            details: self.details.clone(),
        })
    }
}

/// The outbox tree.
#[derive(Clone, Debug)]
pub struct Outbox {
    store: Store,
    entries: Collection<PendingDelivery>,
}

impl Outbox {
    pub fn open(store: &Store) -> Result<Outbox, StoreError> {
        Ok(Outbox {
            store: store.clone(),
            entries: store.collection(trees::NOTIFICATION_OUTBOX)?,
        })
    }

    /// Records a delivery of `alert` to `destination`, durably; returns its key.
    pub async fn add(&self, destination: &str, alert: &Alert) -> Result<String, StoreError> {
        let seq = self.store.next_sequence(trees::NOTIFICATION_OUTBOX)?;
        let key = format!("{seq:020}");
        self.entries
            .insert(&key, &PendingDelivery::new(destination, alert))?;
        self.store.flush().await?;
        Ok(key)
    }

    /// After a failed attempt: the next one is `next_attempt`. Flushed (with the delivery log entry
    /// of the failed attempt): a restart goes on counting.
    pub async fn advance(&self, key: &str, next_attempt: u32) -> Result<(), StoreError> {
        if let Some(mut pending) = self.entries.get(key)? {
            pending.next_attempt = next_attempt;
            self.entries.insert(key, &pending)?;
        }
        self.store.flush().await
    }

    /// The delivery is over (delivered, given up, or its destination is gone).
    pub fn finish(&self, key: &str) -> Result<(), StoreError> {
        self.entries.remove(key)?;
        Ok(())
    }

    /// Every unfinished delivery, oldest first.
    pub fn pending(&self) -> Result<Vec<(String, PendingDelivery)>, StoreError> {
        self.entries.list()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pending_delivery_gives_its_alert_back_and_forgets_unknown_events() {
        let alert = Alert::service_disabled("id1", "shop", "failed 5 times within 60 s");
        let mut pending = PendingDelivery::new("dest", &alert);
        assert_eq!(pending.alert(), Some(alert));
        pending.event = "from_a_newer_warden".into();
        assert_eq!(pending.alert(), None);
    }
}
