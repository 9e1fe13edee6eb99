//! Start-up recovery, which runs before any service starts: an apply that was still unconfirmed when
//! Warden stopped (even by kill -9) is rolled back (retried until it succeeds); an active rule set
//! is restored (see [`super::restore`]: never leaving the host without a table); and a start that
//! finds nothing applied, with nobody having turned the firewall off, installs the default guard.

use app::model::settings::Settings;

use super::restore::ROLLBACK_RETRY;
use super::{now_ms, FirewallHandle, RollbackCause};

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
        let _guard = self.inner.op.lock().await;
        if let Some(pending) = &record.pending {
            let apply_id = pending.apply_id;
            tracing::warn!(
                revision = pending.revision,
                "Warden restarted while an apply was unconfirmed: rolling back"
            );
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
                tracing::error!(error = %e, "rolling back the unconfirmed firewall apply failed; retrying");
                let retry_at = now_ms()
                    .saturating_add(i64::try_from(ROLLBACK_RETRY.as_millis()).unwrap_or(5000));
                self.schedule_rollback(apply_id, retry_at);
            }
        } else if let Some(applied) = record.applied.clone() {
            match self.restore_locked(record, applied, settings).await {
                Ok(()) => tracing::info!("restored the active firewall rule set"),
                Err(e) => tracing::error!(error = %e, "restoring the firewall failed"),
            }
        }
        let record = match self.load() {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the firewall state");
                return;
            }
        };
        if record.wants_default_guard() {
            let result = self.install_default_guard_locked(record, settings).await;
            self.inner
                .audit
                .record_as(
                    &crate::audit::Actor::system("start-up"),
                    "firewall.default_guard",
                    "",
                    result.as_ref().map(|_| ()).map_err(ToString::to_string),
                )
                .await;
            if let Err(e) = result {
                tracing::error!(error = %e, "installing the default firewall guard failed");
            }
        }
    }
}
