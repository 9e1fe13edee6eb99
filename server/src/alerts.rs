//! The alert channel: where the domains report what an operator must hear about (a service disabled, a
//! failing health check, a firewall rollback or drift, a ban, an unclean restart) as an [`Alert`], for
//! the notifications domain to deliver. Sending never blocks nor waits: the channel is bounded, and an
//! alert that finds it full is dropped with a warning in the log (the publisher goes on).

use serde_json::{Map, Value};
use tokio::sync::mpsc;

use app::model::notifications as names;

/// How many alerts may wait for the dispatcher before new ones are dropped.
pub const QUEUE: usize = 256;

/// One noteworthy happening, ready to deliver.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// The event name (`app::model::notifications::EVENTS`).
    pub event: &'static str,
    /// RFC 3339 UTC.
    pub at: String,
    /// One line (an e-mail subject).
    pub subject: String,
    /// A sentence or two (the webhook's `text`, the e-mail body).
    pub text: String,
    /// The event's details (service name, reason, address...), merged into the webhook payload.
    pub details: Map<String, Value>,
}

impl Alert {
    fn new(event: &'static str, subject: String, text: String, details: Value) -> Alert {
        Alert {
            event,
            at: crate::clock::now_rfc3339(),
            subject,
            text,
            details: match details {
                Value::Object(map) => map,
                _ => Map::new(),
            },
        }
    }

    /// The "send test" notification.
    pub fn test() -> Alert {
        Alert::new(
            names::TEST_EVENT,
            "Test notification from Warden".to_string(),
            "This is a test notification from Warden: this destination works.".to_string(),
            serde_json::json!({}),
        )
    }

    /// A service was disabled by the crash-loop rule (or for daemonizing).
    pub fn service_disabled(id: &str, name: &str, reason: &str) -> Alert {
        Alert::new(
            names::SERVICE_DISABLED,
            format!("Service {name} was disabled"),
            format!(
                "Service {name} was disabled: {reason}. Start it again once the cause is fixed."
            ),
            serde_json::json!({"service": name, "service_id": id, "reason": reason}),
        )
    }

    /// A service's monitoring command started failing.
    pub fn health_failing(id: &str, name: &str, reason: &str) -> Alert {
        Alert::new(
            names::SERVICE_HEALTH_FAILING,
            format!("Service {name} is failing its health check"),
            format!("The monitoring check of service {name} fails ({reason}); Warden restarts it."),
            serde_json::json!({"service": name, "service_id": id, "reason": reason}),
        )
    }

    /// A service's monitoring command passes again after failing.
    pub fn health_recovered(id: &str, name: &str) -> Alert {
        Alert::new(
            names::SERVICE_HEALTH_RECOVERED,
            format!("Service {name} is healthy again"),
            format!("The monitoring check of service {name} passes again."),
            serde_json::json!({"service": name, "service_id": id}),
        )
    }

    /// A service was restarted for exceeding its memory limit.
    pub fn memory_restart(id: &str, name: &str, reason: &str) -> Alert {
        Alert::new(
            names::SERVICE_MEMORY_RESTART,
            format!("Service {name} was restarted over its memory limit"),
            format!("Service {name}: {reason}."),
            serde_json::json!({"service": name, "service_id": id, "reason": reason}),
        )
    }

    /// A firewall apply was rolled back.
    pub fn firewall_rolled_back(revision: u64, cause: &str) -> Alert {
        Alert::new(
            names::FIREWALL_ROLLED_BACK,
            format!("Firewall revision {revision} was rolled back"),
            format!(
                "The firewall apply of revision {revision} was rolled back ({cause}); the previous rules are in force."
            ),
            serde_json::json!({"revision": revision, "cause": cause}),
        )
    }

    /// The live firewall table differs from the applied rule set.
    pub fn firewall_drift(revision: Option<u64>) -> Alert {
        Alert::new(
            names::FIREWALL_DRIFT,
            "The live firewall differs from the applied rules".to_string(),
            "Warden's nftables table was changed or removed outside Warden; re-apply the rules (Firewall page) to fix it."
                .to_string(),
            serde_json::json!({"applied_revision": revision}),
        )
    }

    /// An address used up its failed logins and was banned.
    pub fn address_banned(address: &str, reason: &str, ban_secs: u64, kernel: bool) -> Alert {
        let how = if kernel {
            "banned at the firewall and refused logins"
        } else {
            "refused logins (not banned at the firewall: protected or no firewall here)"
        };
        Alert::new(
            names::ADDRESS_BANNED,
            format!("Address {address} was banned"),
            format!("Address {address} was {how} for {ban_secs} s: {reason}."),
            serde_json::json!({"address": address, "reason": reason, "ban_secs": ban_secs, "firewall_ban": kernel}),
        )
    }

    /// Warden started and found its previous run did not stop cleanly.
    pub fn unclean_restart(since: Option<&str>) -> Alert {
        Alert::new(
            names::WARDEN_UNCLEAN_RESTART,
            "Warden restarted after an unclean stop".to_string(),
            "Warden started, and its previous run did not stop cleanly (a crash, kill -9 or power loss). Services were recovered and started again."
                .to_string(),
            serde_json::json!({"previous_start": since}),
        )
    }
}

/// The sending side of the alert channel. Cheap to clone; [`AlertSink::default`] is connected to
/// nothing (alerts are discarded), for tests and tools.
#[derive(Debug, Clone, Default)]
pub struct AlertSink {
    tx: Option<mpsc::Sender<Alert>>,
}

impl AlertSink {
    /// A bounded channel of [`QUEUE`] alerts.
    pub fn channel() -> (AlertSink, mpsc::Receiver<Alert>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        (AlertSink { tx: Some(tx) }, rx)
    }

    /// Queues `alert` without waiting; a full queue drops it (logged).
    pub fn send(&self, alert: Alert) {
        let Some(tx) = &self.tx else {
            return;
        };
        match tx.try_send(alert) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(alert)) => {
                tracing::warn!(
                    event = alert.event,
                    "the notification queue is full; an alert was dropped"
                );
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_drops_without_blocking() {
        let (sink, mut rx) = AlertSink::channel();
        for i in 0..QUEUE + 10 {
            sink.send(Alert::health_recovered("id", &format!("s{i}")));
        }
        let mut got = 0;
        while rx.try_recv().is_ok() {
            got += 1;
        }
        assert_eq!(got, QUEUE);
        AlertSink::default().send(Alert::unclean_restart(None));
    }

    #[test]
    fn details_name_the_service() {
        let a = Alert::service_disabled("ab12", "web", "5 failures within 60 s");
        assert_eq!(a.event, "service_disabled");
        assert_eq!(a.details["service"], "web");
        assert!(a.text.contains("5 failures within 60 s"), "{}", a.text);
    }
}
