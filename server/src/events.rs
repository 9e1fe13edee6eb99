//! The event bus behind `GET /api/v1/events` (and the UI's live updates): every status change of a service
//! or of the firewall is published here as `{"type": <kind>, ...payload}` and fanned out to subscribers.
//! Publishing never blocks; a subscriber that lags loses the oldest events (and is told so).

use serde::Serialize;
use tokio::sync::broadcast;

/// How many events a slow subscriber may fall behind before it loses some.
const CAPACITY: usize = 1024;

#[derive(Clone, Debug)]
pub struct EventBus {
    tx: broadcast::Sender<serde_json::Value>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus {
            tx: broadcast::channel(CAPACITY).0,
        }
    }
}

impl EventBus {
    /// Publishes an already-shaped event object (it should carry a `"type"` field).
    pub fn publish_value(&self, event: serde_json::Value) {
        // No subscribers is fine.
        let _ = self.tx.send(event);
    }

    /// Publishes `payload` (serialized) under `"type": kind`, merged into one object.
    pub fn publish(&self, kind: &str, payload: &impl Serialize) {
        let mut value = match serde_json::to_value(payload) {
            Ok(serde_json::Value::Object(map)) => serde_json::Value::Object(map),
            Ok(other) => serde_json::json!({ "data": other }),
            Err(e) => {
                tracing::error!(error = %e, kind, "cannot serialize an event");
                return;
            }
        };
        if let Some(map) = value.as_object_mut() {
            map.insert("type".into(), serde_json::Value::String(kind.to_string()));
        }
        self.publish_value(value);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<serde_json::Value> {
        self.tx.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn publish_merges_the_type() {
        let bus = EventBus::default();
        let mut rx = bus.subscribe();
        bus.publish("firewall", &serde_json::json!({"active": true}));
        let ev = rx.recv().await.unwrap();
        assert_eq!(ev, serde_json::json!({"type": "firewall", "active": true}));
    }
}
