//! The dispatcher: one task that reads the alert channel and hands each alert to every enabled
//! destination that wants its event, each delivery in a task of its own (at most [`IN_FLIGHT`] at once;
//! beyond that the dispatcher waits and the bounded alert queue absorbs the burst, or drops). A delivery
//! is tried up to [`RetryPolicy::attempts`] times with exponential backoff; every attempt goes to the
//! destination's delivery log.

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
            while let Some(alert) = alerts.recv().await {
                let targets = match handle.subscribers(alert.event) {
                    Ok(targets) => targets,
                    Err(e) => {
                        tracing::error!(error = %e, event = alert.event, "cannot read the notification destinations");
                        continue;
                    }
                };
                for id in targets {
                    let Ok(permit) = handle.inner.in_flight.clone().acquire_owned().await else {
                        return;
                    };
                    let handle = handle.clone();
                    let alert = alert.clone();
                    tokio::spawn(async move {
                        handle.deliver(&id, &alert).await;
                        drop(permit);
                    });
                }
            }
        });
    }

    /// Delivers `alert` to destination `id`, retrying with backoff; stops early if the destination
    /// was deleted or disabled meanwhile.
    async fn deliver(&self, id: &str, alert: &Alert) {
        let policy = self.inner.options.retry;
        for attempt in 1..=policy.attempts.max(1) {
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
            if attempt == policy.attempts {
                tracing::warn!(
                    destination = %id,
                    event = alert.event,
                    attempts = attempt,
                    error = record.error.as_deref().unwrap_or_default(),
                    "a notification could not be delivered"
                );
                return;
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
