//! Restoring Warden's table without ever leaving the host without one: at start (a reboot clears the
//! kernel table) and when a rollback cannot restore its snapshot.
//!
//! The ladder, top first:
//! 1. the applied rule set, with every hostname resolved now;
//! 2. the applied rule set, with hostnames that do not resolve now taken from the addresses they
//!    resolved to at the last apply (kept with the applied revision) — those rules are "stale
//!    resolution" until a background retry resolves them;
//! 3. Warden's minimal guard: the empty rule set with inbound policy accept (loopback, anti-lockout,
//!    the service-range guard, bans) — the applied rule set is retried in the background.
//!
//! The default guard (a first start, or any start that finds nothing applied and nobody turned the
//! firewall off) is rung 3 recorded as what is applied, so later applies roll back to it.
//!
//! Owns the restore health shown in the status (`stale_hosts`, `fallback`) and the retry task.

use std::net::IpAddr;
use std::time::Duration;

use app::model::settings::Settings;
use warden_firewall::{render_ruleset, ApplyContext, Policy, ResolvedHosts, RuleSet};

use super::record::{AppliedState, FirewallRecord};
use super::resolve::resolve_hostnames;
use super::{FirewallError, FirewallHandle};
use crate::clock::now_rfc3339;

/// What the status shows of the last restore.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreHealth {
    /// Hostnames running on the addresses of an earlier resolution.
    pub stale_hosts: Vec<String>,
    /// Why the minimal guard stands in for the applied rule set.
    pub fallback: Option<String>,
}

impl RestoreHealth {
    fn needs_retry(&self) -> bool {
        !self.stale_hosts.is_empty() || self.fallback.is_some()
    }
}

/// Fills in the hostnames that did not resolve now with what they resolved to at the last apply.
/// Returns the resolution to render with and the names taken from `last_known` (stale).
pub fn with_last_known(
    names: &[String],
    fresh: ResolvedHosts,
    last_known: &ResolvedHosts,
) -> (ResolvedHosts, Vec<String>) {
    let mut merged = fresh;
    let mut stale = Vec::new();
    for name in names {
        if merged.get(name).is_some_and(|addrs| !addrs.is_empty()) {
            continue;
        }
        if let Some(addrs) = last_known.get(name).filter(|a| !a.is_empty()) {
            merged.insert(name.clone(), addrs.clone());
            stale.push(name.clone());
        }
    }
    stale.sort();
    stale.dedup();
    (merged, stale)
}

impl FirewallHandle {
    /// Installs the default guard and records it as applied. Call with the op lock held.
    pub(super) async fn install_default_guard_locked(
        &self,
        mut record: FirewallRecord,
        settings: &Settings,
    ) -> Result<(), FirewallError> {
        let (text, ssh_ports) = self
            .install_minimal_guard(Vec::new(), &[], settings)
            .await?;
        let fingerprint = self.inner.kernel.run(|b| b.fingerprint()).await?;
        record.applied = Some(AppliedState {
            revision: 0,
            rules: RuleSet::default(),
            anti_lockout: Vec::new(),
            ssh_ports,
            default_inbound_policy: Policy::Accept,
            fingerprint,
            resolved_hosts: ResolvedHosts::new(),
            text,
            applied_at: now_rfc3339(),
            default_guard: true,
        });
        self.save(&record).await?;
        tracing::info!(
            "installed the default firewall guard: the service port range is closed to new connections from outside until a rule opens it"
        );
        Ok(())
    }

    /// Puts the minimal guard in the kernel (keeping live bans), its anti-lockout covering the SSH
    /// ports in force and `also_ssh`; returns its text and the SSH ports it covers.
    async fn install_minimal_guard(
        &self,
        anti_lockout: Vec<IpAddr>,
        also_ssh: &[u16],
        settings: &Settings,
    ) -> Result<(String, Vec<u16>), FirewallError> {
        let mut config = self.config(Policy::Accept, anti_lockout, settings).await;
        config.ssh_ports.extend(also_ssh);
        config.ssh_ports.sort_unstable();
        config.ssh_ports.dedup();
        let bans = self
            .inner
            .kernel
            .run(|b| b.bans())
            .await
            .unwrap_or_default();
        let empty = RuleSet::default();
        let shown = render_ruleset(&empty, &config, &ApplyContext::default())
            .map_err(|e| FirewallError::Internal(format!("cannot render the guard: {e}")))?;
        let rendered = render_ruleset(
            &empty,
            &config,
            &ApplyContext {
                resolved_hosts: ResolvedHosts::new(),
                bans,
            },
        )
        .map_err(|e| FirewallError::Internal(format!("cannot render the guard: {e}")))?;
        self.inner.kernel.run(move |b| b.apply(&rendered)).await?;
        Ok((shown.text, config.ssh_ports))
    }

    /// Puts `applied` back in the kernel, down the ladder of this module's header; saves the new
    /// fingerprint and resolution. Errs only if not even the minimal guard could be installed.
    /// Call with the op lock held.
    pub(super) async fn restore_locked(
        &self,
        mut record: FirewallRecord,
        applied: AppliedState,
        settings: &Settings,
    ) -> Result<(), FirewallError> {
        let names = applied.rules.hostnames();
        let fresh = resolve_hostnames(names.clone()).await;
        let (resolved_hosts, stale_hosts) = with_last_known(&names, fresh, &applied.resolved_hosts);
        let config = self.config_restoring(&applied, settings).await;
        let bans = self
            .inner
            .kernel
            .run(|b| b.bans())
            .await
            .unwrap_or_default();
        let attempt = match render_ruleset(
            &applied.rules,
            &config,
            &ApplyContext {
                resolved_hosts: resolved_hosts.clone(),
                bans,
            },
        ) {
            Ok(rendered) => self
                .inner
                .kernel
                .run(move |b| b.apply(&rendered))
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let health = match attempt {
            Ok(()) => {
                if !stale_hosts.is_empty() {
                    tracing::warn!(
                        hosts = ?stale_hosts,
                        "firewall restored with the last known addresses of hostnames that do not resolve now"
                    );
                }
                if let Some(a) = record.applied.as_mut() {
                    // Fresh addresses are kept for the next restore; stale ones stay as they were.
                    a.resolved_hosts = resolved_hosts;
                }
                RestoreHealth {
                    stale_hosts,
                    fallback: None,
                }
            }
            Err(reason) => {
                tracing::error!(
                    error = %reason,
                    "cannot restore the applied firewall rule set: installing Warden's minimal guard instead"
                );
                self.install_minimal_guard(
                    applied.anti_lockout.clone(),
                    &applied.ssh_ports,
                    settings,
                )
                .await?;
                RestoreHealth {
                    stale_hosts: Vec::new(),
                    fallback: Some(format!(
                        "the applied rule set (revision {}) could not be restored ({reason}); Warden's minimal guard is live and the rule set is retried",
                        applied.revision
                    )),
                }
            }
        };
        if health.fallback.is_none() {
            if let Some(a) = record.applied.as_mut() {
                a.fingerprint = self.inner.kernel.run(|b| b.fingerprint()).await?;
            }
        }
        // Under a fallback the applied fingerprint stays the rule set's: the status shows drift.
        self.save(&record).await?;
        self.set_restore_health(health);
        Ok(())
    }

    /// The restore health the status shows.
    pub(super) fn restore_health(&self) -> RestoreHealth {
        self.inner
            .restore_health
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Records the outcome of a restore (or of a user's apply, which clears it) and, if it needs one,
    /// makes sure a retry task runs.
    pub(super) fn set_restore_health(&self, health: RestoreHealth) {
        let retry = health.needs_retry();
        *self
            .inner
            .restore_health
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = health;
        if retry {
            self.spawn_restore_retries();
        }
    }

    /// Retries the restore of the applied rule set every `retry_every` until it is live with every
    /// hostname resolved (or something else — an apply, a rollback, deactivate — made the retry moot).
    fn spawn_restore_retries(&self) {
        use std::sync::atomic::Ordering;
        if self.inner.retrying.swap(true, Ordering::SeqCst) {
            return;
        }
        let handle = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(handle.inner.retry_every).await;
                let guard = handle.inner.op.lock().await;
                if !handle.restore_health().needs_retry() {
                    break;
                }
                let record = match handle.load() {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot read the firewall state for a restore retry");
                        continue;
                    }
                };
                let Some(applied) = record.applied.clone() else {
                    handle.set_restore_health(RestoreHealth::default());
                    break;
                };
                let settings = handle.settings();
                if let Err(e) = handle.restore_locked(record, applied, &settings).await {
                    tracing::error!(error = %e, "retrying the firewall restore failed");
                }
                drop(guard);
                if !handle.restore_health().needs_retry() {
                    tracing::info!("the firewall rule set is restored in full");
                    handle.publish().await;
                    break;
                }
            }
            handle.inner.retrying.store(false, Ordering::SeqCst);
        });
    }
}

/// How long to wait before retrying a failed rollback.
pub const ROLLBACK_RETRY: Duration = Duration::from_secs(5);

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn hosts(entries: &[(&str, &str)]) -> ResolvedHosts {
        let mut map = ResolvedHosts::new();
        for (name, addr) in entries {
            map.entry(name.to_string())
                .or_default()
                .push(addr.parse().unwrap());
        }
        map
    }

    #[test]
    fn unresolved_names_take_their_last_known_addresses_and_are_stale() {
        let names = vec![
            "a.test".to_string(),
            "b.test".to_string(),
            "c.test".to_string(),
        ];
        let fresh = hosts(&[("a.test", "192.0.2.1")]);
        let last = hosts(&[("a.test", "192.0.2.9"), ("b.test", "198.51.100.2")]);
        let (merged, stale) = with_last_known(&names, fresh, &last);
        // A fresh answer wins over the old one.
        assert_eq!(
            merged["a.test"],
            vec!["192.0.2.1".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(
            merged["b.test"],
            vec!["198.51.100.2".parse::<IpAddr>().unwrap()]
        );
        // Never resolved: still missing (rendering then fails and the guard stands in).
        assert!(!merged.contains_key("c.test"));
        assert_eq!(stale, vec!["b.test".to_string()]);
    }

    #[test]
    fn everything_resolved_is_not_stale() {
        let names = vec!["a.test".to_string()];
        let (merged, stale) = with_last_known(
            &names,
            hosts(&[("a.test", "192.0.2.1")]),
            &ResolvedHosts::new(),
        );
        assert_eq!(merged.len(), 1);
        assert!(stale.is_empty());
    }
}
