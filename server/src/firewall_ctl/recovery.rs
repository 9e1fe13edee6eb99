//! Start-up recovery: an apply that was still unconfirmed when Warden stopped (even by kill -9) is
//! rolled back; an active, confirmed rule set is re-applied. Failures are logged, not fatal.

use app::model::settings::Settings;

use super::{FirewallHandle, RollbackCause};

impl FirewallHandle {
    pub(super) async fn recover(&self, settings: &Settings) {
        let record = match self.load() {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the firewall state");
                return;
            }
        };
        if !self.capability().available {
            if record.pending.is_some() || record.active() {
                tracing::error!(
                    reason = ?self.capability().reason,
                    "the firewall was active but cannot be managed now; the kernel state is left as it is"
                );
            }
            return;
        }
        if let Some(pending) = &record.pending {
            tracing::warn!(
                revision = pending.revision,
                "Warden restarted while an apply was unconfirmed: rolling back"
            );
            let _guard = self.inner.op.lock().await;
            let result = self.roll_back_locked(record, RollbackCause::Restart).await;
            self.inner
                .audit
                .record_as(
                    &crate::audit::Actor::system("start-up recovery"),
                    "firewall.rollback",
                    "",
                    result.as_ref().map(|_| ()).map_err(ToString::to_string),
                )
                .await;
            if let Err(e) = result {
                tracing::error!(error = %e, "rolling back the unconfirmed firewall apply failed");
            }
        } else if let Some(applied) = record.applied.clone() {
            let _guard = self.inner.op.lock().await;
            match self.reapply_locked(record, applied, settings).await {
                Ok(()) => tracing::info!("re-applied the active firewall rule set"),
                Err(e) => tracing::error!(error = %e, "re-applying the firewall failed"),
            }
        }
    }
}
