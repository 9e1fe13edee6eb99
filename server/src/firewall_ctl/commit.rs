//! Commit-confirm: apply the saved rules in one nft transaction (with the write-ahead record and the
//! rollback timer), confirm, roll back (on request, by the timer, at start-up), deactivate and
//! re-apply. Each public operation records its outcome in the audit log.

use std::net::IpAddr;
use std::time::Duration;

use app::model::settings::Settings;
use warden_firewall::backend::Snapshot;
use warden_firewall::{render_bans_only, render_ruleset, ApplyContext, FieldError};

use super::record::{AppliedState, FirewallRecord, RollbackNote};
use super::resolve::resolve_hostnames;
use super::restore::{RestoreHealth, ROLLBACK_RETRY};
use app::model::firewall::FirewallStatus;

use super::{now_ms, FirewallError, FirewallHandle, RollbackCause, MAX_CONFIRM_SECS};
use crate::clock::now_rfc3339;

impl FirewallHandle {
    /// Applies the saved rules in one nft transaction. `confirm_within_secs > 0` schedules a
    /// rollback to the exact previous kernel state unless [`confirm`](Self::confirm) comes first.
    /// `applying` is the client's address: it keeps reaching the admin port and SSH (anti-lockout).
    async fn apply_unaudited(
        &self,
        confirm_within_secs: u64,
        applying: IpAddr,
        settings: &Settings,
    ) -> Result<FirewallStatus, FirewallError> {
        if confirm_within_secs > MAX_CONFIRM_SECS {
            return Err(FirewallError::Invalid(vec![FieldError::new(
                "confirm_within_secs",
                format!("at most {MAX_CONFIRM_SECS} seconds"),
            )]));
        }
        self.require_capability()?;
        let guard = self.inner.op.lock().await;
        let record = self.load()?;
        let anti_lockout = vec![applying.to_canonical()];
        let config = self
            .config(
                record.default_inbound_policy,
                anti_lockout.clone(),
                settings,
            )
            .await;
        let rules = record.rules.clone();
        let resolved_hosts = resolve_hostnames(rules.hostnames()).await;
        let bans = self.inner.kernel.run(|b| b.bans()).await?;
        let display = ApplyContext {
            resolved_hosts: resolved_hosts.clone(),
            bans: Vec::new(),
        };
        let invalid =
            |e: warden_firewall::RenderError| FirewallError::Invalid(e.field_errors(&rules));
        let shown = render_ruleset(&rules, &config, &display).map_err(invalid)?;
        let context = ApplyContext {
            resolved_hosts,
            bans,
        };
        let rendered = render_ruleset(&rules, &config, &context).map_err(invalid)?;
        let snapshot = self.inner.kernel.run(|b| b.snapshot()).await?;

        let rollback_at = (confirm_within_secs > 0).then(|| {
            now_ms().saturating_add(i64::try_from(confirm_within_secs * 1000).unwrap_or(i64::MAX))
        });
        let mut next = record.clone();
        let apply_id = next.record_apply(
            AppliedState {
                revision: record.saved_revision,
                rules: rules.clone(),
                anti_lockout,
                ssh_ports: config.ssh_ports.clone(),
                default_inbound_policy: record.default_inbound_policy,
                fingerprint: None,
                resolved_hosts: display.resolved_hosts.clone(),
                text: shown.text,
                applied_at: now_rfc3339(),
                default_guard: false,
            },
            snapshot,
            rollback_at,
        );
        // Write-ahead: a crash between here and the confirmation rolls back at the next start.
        if rollback_at.is_some() {
            self.save(&next).await?;
        }
        if let Err(e) = self.inner.kernel.run(move |b| b.apply(&rendered)).await {
            if rollback_at.is_some() {
                self.save(&record).await?;
            }
            return Err(e);
        }
        self.set_restore_health(RestoreHealth::default());
        // Armed at once: whatever fails below, an unconfirmed apply still rolls back in time.
        if let Some(at) = rollback_at {
            self.schedule_rollback(apply_id, at);
        }
        let fingerprint = match self.inner.kernel.run(|b| b.fingerprint()).await {
            Ok(fingerprint) => fingerprint,
            Err(e) => {
                tracing::warn!(error = %e, "cannot fingerprint the applied table (drift will show)");
                None
            }
        };
        if let Some(applied) = next.applied.as_mut() {
            applied.fingerprint = fingerprint;
        }
        self.save(&next).await?;
        drop(guard);
        tracing::info!(
            revision = record.saved_revision,
            confirm_within_secs,
            client = %applying,
            "firewall applied"
        );
        self.publish().await;
        self.status().await
    }

    /// Rolls back apply `apply_id` at `at_ms` unless it was confirmed, rolled back or superseded
    /// meanwhile; a rollback that fails is tried again [`ROLLBACK_RETRY`] later, until it succeeds.
    pub(super) fn schedule_rollback(&self, apply_id: u64, at_ms: i64) {
        let handle = self.clone();
        tokio::spawn(async move {
            let wait = u64::try_from(at_ms.saturating_sub(now_ms())).unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(wait)).await;
            let guard = handle.inner.op.lock().await;
            let record = match handle.load() {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the firewall state for the rollback");
                    return;
                }
            };
            if record.pending.as_ref().map(|p| p.apply_id) != Some(apply_id) {
                return; // confirmed, rolled back, or superseded
            }
            tracing::warn!("the firewall apply was not confirmed in time: rolling back");
            let result = handle.roll_back_locked(record, RollbackCause::Timer).await;
            drop(guard);
            handle
                .inner
                .audit
                .record_as(
                    &crate::audit::Actor::system("commit-confirm timer"),
                    "firewall.rollback",
                    "",
                    result.as_ref().map(|_| ()).map_err(ToString::to_string),
                )
                .await;
            match result {
                Ok(()) => handle.publish().await,
                Err(e) => {
                    tracing::error!(error = %e, retry_in = ?ROLLBACK_RETRY, "the automatic firewall rollback failed; retrying");
                    let retry_at = now_ms()
                        .saturating_add(i64::try_from(ROLLBACK_RETRY.as_millis()).unwrap_or(5000));
                    handle.schedule_rollback(apply_id, retry_at);
                }
            }
        });
    }

    /// Restores the state before the pending apply. Call with the op lock held.
    pub(super) async fn roll_back_locked(
        &self,
        mut record: FirewallRecord,
        cause: RollbackCause,
    ) -> Result<(), FirewallError> {
        let before = record.clone();
        let Some(pending) = record.roll_back() else {
            return Err(FirewallError::Conflict(
                "nothing to roll back: no apply is waiting for confirmation".to_string(),
            ));
        };
        record.last_rollback = Some(RollbackNote {
            at_ms: now_ms(),
            revision: pending.revision,
            cause,
        });
        let snapshot: Snapshot = pending.previous.snapshot.clone();
        let live_bans = self
            .inner
            .kernel
            .run(|b| b.bans())
            .await
            .unwrap_or_default();
        let had_table = snapshot.table.is_some();
        if let Err(e) = self.inner.kernel.run(move |b| b.restore(&snapshot)).await {
            let Some(previous) = pending.previous.applied.clone() else {
                return Err(e);
            };
            // The snapshot did not go back: rebuild the previous rule set (or the guard) instead.
            tracing::error!(error = %e, "cannot restore the firewall snapshot; rebuilding the previous rule set");
            let settings = self.settings();
            self.restore_locked(record, previous, &settings).await?;
            tracing::info!(
                revision = pending.revision,
                "firewall rolled back (rebuilt)"
            );
            self.alert_rollback(pending.revision, cause);
            return Ok(());
        }
        self.set_restore_health(RestoreHealth::default());
        if !had_table && !live_bans.is_empty() {
            // The previous state had no table; bans made meanwhile stay enforced.
            let bans_only = render_bans_only(&live_bans);
            self.inner.kernel.run(move |b| b.apply(&bans_only)).await?;
        }
        if let Some(applied) = record.applied.as_mut() {
            applied.fingerprint = self.inner.kernel.run(|b| b.fingerprint()).await?;
        }
        // Not on disk → still pending, in memory too: the timer's retry does it again.
        self.save_or_revert(&record, &before).await?;
        tracing::info!(revision = pending.revision, "firewall rolled back");
        self.alert_rollback(pending.revision, cause);
        Ok(())
    }

    pub(super) async fn reapply_locked(
        &self,
        mut record: FirewallRecord,
        applied: AppliedState,
        settings: &Settings,
    ) -> Result<(), FirewallError> {
        let config = self.config_restoring(&applied, settings).await;
        let context = ApplyContext {
            resolved_hosts: resolve_hostnames(applied.rules.hostnames()).await,
            bans: self.inner.kernel.run(|b| b.bans()).await?,
        };
        let rendered = render_ruleset(&applied.rules, &config, &context)
            .map_err(|e| FirewallError::Invalid(e.field_errors(&applied.rules)))?;
        self.inner.kernel.run(move |b| b.apply(&rendered)).await?;
        self.set_restore_health(RestoreHealth::default());
        let fingerprint = self.inner.kernel.run(|b| b.fingerprint()).await?;
        if let Some(a) = record.applied.as_mut() {
            a.fingerprint = fingerprint;
            a.resolved_hosts = context.resolved_hosts;
        }
        self.save(&record).await
    }

    /// Keeps the pending apply.
    async fn confirm_unaudited(&self) -> Result<FirewallStatus, FirewallError> {
        self.require_capability()?;
        let guard = self.inner.op.lock().await;
        let before = self.load()?;
        let mut record = before.clone();
        if !record.confirm() {
            return Err(FirewallError::Conflict(
                "nothing to confirm: no apply is waiting for confirmation".to_string(),
            ));
        }
        // A confirm that is not on disk is refused, and the rollback stays armed.
        self.save_or_revert(&record, &before).await?;
        drop(guard);
        tracing::info!("firewall apply confirmed");
        self.publish().await;
        self.status().await
    }

    /// Restores the state before the pending apply now.
    async fn rollback_unaudited(&self) -> Result<FirewallStatus, FirewallError> {
        self.require_capability()?;
        let guard = self.inner.op.lock().await;
        let record = self.load()?;
        self.roll_back_locked(record, RollbackCause::Request)
            .await?;
        drop(guard);
        self.publish().await;
        self.status().await
    }

    /// Deletes Warden's table (rules and bans); nothing is applied or pending afterwards.
    async fn deactivate_unaudited(&self) -> Result<FirewallStatus, FirewallError> {
        self.require_capability()?;
        let guard = self.inner.op.lock().await;
        let mut record = self.load()?;
        self.inner.kernel.run(|b| b.delete_table()).await?;
        self.set_restore_health(RestoreHealth::default());
        record.deactivate();
        self.save(&record).await?;
        drop(guard);
        tracing::info!("firewall deactivated");
        self.publish().await;
        self.status().await
    }

    /// Re-applies what is live (fixes drift) — same as apply of the applied revision, keeping any
    /// pending window.
    async fn reapply_unaudited(
        &self,
        settings: &Settings,
    ) -> Result<FirewallStatus, FirewallError> {
        self.require_capability()?;
        let guard = self.inner.op.lock().await;
        let record = self.load()?;
        let Some(applied) = record.applied.clone() else {
            return Err(FirewallError::Conflict(
                "nothing to re-apply: the firewall is not active".to_string(),
            ));
        };
        self.reapply_locked(record, applied, settings).await?;
        drop(guard);
        self.publish().await;
        self.status().await
    }

    /// Applies the saved rules (see `apply_unaudited`).
    pub async fn apply(
        &self,
        confirm_within_secs: u64,
        applying: IpAddr,
    ) -> Result<FirewallStatus, FirewallError> {
        let settings = self.settings();
        let result = self
            .apply_unaudited(confirm_within_secs, applying, &settings)
            .await;
        let target = result
            .as_ref()
            .map(|s| format!("revision {}", s.saved_revision))
            .unwrap_or_default();
        self.audit("firewall.apply", &target, &result).await;
        result
    }

    /// Keeps the pending apply.
    pub async fn confirm(&self) -> Result<FirewallStatus, FirewallError> {
        let result = self.confirm_unaudited().await;
        self.audit("firewall.confirm", "", &result).await;
        result
    }

    /// Restores the state before the pending apply now.
    pub async fn rollback(&self) -> Result<FirewallStatus, FirewallError> {
        let result = self.rollback_unaudited().await;
        self.audit("firewall.rollback", "", &result).await;
        result
    }

    /// Deletes Warden's table (rules and bans).
    pub async fn deactivate(&self) -> Result<FirewallStatus, FirewallError> {
        let result = self.deactivate_unaudited().await;
        self.audit("firewall.deactivate", "", &result).await;
        result
    }

    /// Re-applies what is live (fixes drift).
    pub async fn reapply(&self) -> Result<FirewallStatus, FirewallError> {
        let result = self.reapply_unaudited(&self.settings()).await;
        self.audit("firewall.reapply", "", &result).await;
        result
    }
}
