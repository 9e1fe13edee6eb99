//! Alerts of the firewall domain: a rollback (reported where it happens, in `commit`) and drift — the
//! live table changed or removed outside Warden — which only a look at the kernel shows, so a watch task
//! reads the status every so often and reports each change from "no drift" to "drift" once.

use std::time::Duration;

use super::record::RollbackCause;
use super::FirewallHandle;
use crate::alerts::Alert;

impl FirewallHandle {
    /// Reports a rollback by the confirm timer or at start (one asked for by hand is not news).
    pub(super) fn alert_rollback(&self, revision: u64, cause: RollbackCause) {
        let cause = match cause {
            RollbackCause::Timer => "the apply was not confirmed in time",
            RollbackCause::Restart => "Warden restarted before the apply was confirmed",
            RollbackCause::Request => return,
        };
        self.inner
            .alerts
            .send(Alert::firewall_rolled_back(revision, cause));
    }

    /// Starts the drift watch: every `every`, where the firewall is managed, compares the live table
    /// with the applied rule set; a new drift is reported once, until it is gone again.
    pub fn spawn_drift_watch(&self, every: Duration) {
        if !self.capability().available {
            return;
        }
        let weak = std::sync::Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut drifting = false;
            loop {
                tokio::time::sleep(every).await;
                let Some(inner) = weak.upgrade() else {
                    return;
                };
                let handle = FirewallHandle { inner };
                match handle.status().await {
                    Ok(status) => {
                        if status.drift && !drifting {
                            tracing::warn!(
                                "the live firewall differs from the applied rules (drift)"
                            );
                            handle
                                .inner
                                .alerts
                                .send(Alert::firewall_drift(status.applied_revision));
                        }
                        drifting = status.drift;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "the drift check cannot read the firewall status")
                    }
                }
            }
        });
    }
}
