//! The dispatcher: one task that reads the alert channel and hands each alert to every enabled
//! destination that wants its event, each delivery in a task of its own (at most [`IN_FLIGHT`] at once;
//! beyond that the dispatcher waits and the bounded alert queue absorbs the burst, or drops). A delivery
//! is tried up to [`RetryPolicy::attempts`] times with exponential backoff; every attempt goes to the
//! destination's delivery log. Each delivery is kept in the [`super::outbox`] until it is over, and
//! the deliveries a previous run left unfinished are resumed (at once, with their attempt count)
//! when the dispatcher starts.

use std::time::Duration;

use tokio::sync::mpsc;

use super::Notifications;
use crate::alerts::Alert;

/// Deliveries running at once.
pub const IN_FLIGHT: usize = 16;

/// How often and how patiently a delivery is tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all (the first included).
    pub attempts: u32,
    /// The wait after the first failure; each further failure doubles it ...
    pub first_delay: Duration,
    /// ... up to this.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt `attempt` (1-based).
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.first_delay
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }
}

impl Notifications {
    /// Starts the dispatcher on `alerts` (see the module docs); it ends when every sender is gone.
    pub fn start_dispatcher(&self, mut alerts: mpsc::Receiver<Alert>) {
        let handle = self.clone();
        tokio::spawn(async move {
            match handle.inner.outbox.pending() {
                Ok(pending) => {
                    for (key, delivery) in pending {
                        let Some(alert) = delivery.alert() else {
                            handle.finish(&key);
                            continue;
                        };
                        tracing::info!(destination = %delivery.destination, event = alert.event, "resuming a notification delivery of the previous run");
                        let Ok(permit) = handle.inner.in_flight.clone().acquire_owned().await
                        else {
                            return;
                        };
                        let handle = handle.clone();
                        tokio::spawn(async move {
                            let id = delivery.destination.clone();
                            handle
                                .deliver(Some(&key), &id, &alert, delivery.next_attempt)
                                .await;
                            drop(permit);
                        });
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the notification outbox");
                }
            }
            while let Some(alert) = alerts.recv().await {
                let targets = match handle.subscribers(alert.event) {
                    Ok(targets) => targets,
                    Err(e) => {
                        tracing::error!(error = %e, event = alert.event, "cannot read the notification destinations");
                        continue;
                    }
                };
                for id in targets {
                    let key = match handle.inner.outbox.add(&id, &alert).await {
                        Ok(key) => Some(key),
                        Err(e) => {
                            tracing::error!(error = %e, destination = %id, "cannot keep a notification in the outbox; delivering it anyway");
                            None
                        }
                    };
                    let Ok(permit) = handle.inner.in_flight.clone().acquire_owned().await else {
                        return;
                    };
                    let handle = handle.clone();
                    let alert = alert.clone();
                    tokio::spawn(async move {
                        handle.deliver(key.as_deref(), &id, &alert, 1).await;
                        drop(permit);
                    });
                }
            }
        });
    }

    /// Delivers `alert` to destination `id` from attempt `first_attempt` on, retrying with backoff;
    /// stops early if the destination was deleted or disabled meanwhile. Its outbox entry `key`
    /// follows the attempts and is removed at the end.
    async fn deliver(&self, key: Option<&str>, id: &str, alert: &Alert, first_attempt: u32) {
        self.attempts(key, id, alert, first_attempt).await;
        if let Some(key) = key {
            self.finish(key);
        }
    }

    fn finish(&self, key: &str) {
        if let Err(e) = self.inner.outbox.finish(key) {
            tracing::error!(error = %e, "cannot remove a finished notification from the outbox");
        }
    }

    async fn attempts(&self, key: Option<&str>, id: &str, alert: &Alert, first_attempt: u32) {
        let policy = self.inner.options.retry;
        for attempt in first_attempt.max(1)..=policy.attempts.max(1) {
            let Ok(Some(destination)) = self.inner.destinations.get(id) else {
                return;
            };
            if !destination.wants(alert.event) {
                return;
            }
            let record = self.attempt_once(&destination, alert, attempt).await;
            if record.ok {
                return;
            }
            if attempt >= policy.attempts {
                tracing::warn!(
                    destination = %id,
                    event = alert.event,
                    attempts = attempt,
                    error = record.error.as_deref().unwrap_or_default(),
                    "a notification could not be delivered"
                );
                return;
            }
            if let Some(key) = key {
                if let Err(e) = self.inner.outbox.advance(key, attempt + 1).await {
                    tracing::warn!(error = %e, "cannot note a notification attempt in the outbox");
                }
            }
            tokio::time::sleep(policy.delay_after(attempt)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy::default();
        let waits: Vec<u64> = (1..=8).map(|a| p.delay_after(a).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(p.delay_after(200), p.max_delay);
    }
}
