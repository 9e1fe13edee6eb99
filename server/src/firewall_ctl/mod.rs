//! Firewall control: [`FirewallHandle`], the one domain API over the firewall that the REST handlers,
//! the UI's server functions and the login throttle use. It owns the durable firewall record (saved
//! rules and revisions, what is applied, the pending commit-confirm with its rollback snapshot, ban
//! metadata), the commit-confirm rollback timer, start-up recovery (roll back an unconfirmed apply,
//! re-apply an active rule set), bans (also before any apply, through a minimal bans-only table) and
//! exposure of service ports. The rule model, rendering and evaluation are the `warden-firewall`
//! crate's; the kernel is reached only through [`kernel::Kernel`].
//!
//! Semantics chosen here (documented for the API):
//! - Without the capability (no nft, not root): reads answer; apply, confirm, rollback, deactivate,
//!   ban and unban fail with [`FirewallError::Unavailable`] (HTTP 503 `firewall_unavailable`).
//! - A rule set is re-applied within a pending window: the rollback still returns to the state
//!   before the first unconfirmed apply.
//! - `deactivate` deletes Warden's table, and with it every ban.
//! - Bans work before any apply: the first ban creates a bans-only table (ban sets plus a raw
//!   prerouting chain that drops banned sources); when the last ban of an inactive firewall is lifted,
//!   it is removed.
//!
//! Where each concern lives (one `impl FirewallHandle` block per file):
//! - `mod.rs`: the handle, its start, the record load/save, event publishing, the audit helper;
//! - [`error`]: the domain error, [`FirewallError`];
//! - [`recovery`]: start-up recovery; [`reads`]: status, rules, presets, ruleset texts, exposure;
//! - [`edits`]: edits of the saved rules; [`commit`]: apply / confirm / rollback / deactivate /
//!   re-apply and the rollback timer; [`bans`]: bans and the protection of administering addresses;
//! - [`resolve`]: hostname resolution; [`record`]: the durable record (pure state transitions);
//! - [`kernel`]: the nft backend behind `spawn_blocking`; [`admins`]: who is administering;
//! - [`drift_watch`]: the alerts (a rollback by the timer or at start, drift seen by a periodic check).
//!
//! The answers (status, rules, bans, presets, exposure) are the DTOs of `app::model::firewall`: the
//! REST handlers and the UI's server functions return the same values.

pub mod admins;
mod bans;
pub mod batch;
mod commit;
mod drift_watch;
mod edits;
mod error;
pub mod kernel;
mod reads;
pub mod record;
mod recovery;
mod resolve;
pub mod restore;
pub mod ssh_ports;

use std::net::IpAddr;
use std::sync::Arc;

use tokio::sync::watch;

use warden_firewall::backend::{Capability, NftBackend};
use warden_firewall::{FirewallConfig, Policy, PortRange};

use record::AppliedState;

use app::model::settings::Settings;

use crate::clock::rfc3339;
use crate::events::EventBus;
use crate::store::{trees, Collection, Store};
use admins::AdminAddresses;
use kernel::Kernel;
use record::{FirewallRecord, RECORD_KEY};

pub use bans::{parse_ban_address, BanDetails, JailBanOutcome};
pub use error::FirewallError;
use record::RollbackCause;
pub use resolve::RESOLVE_TIMEOUT;

/// Longest commit-confirm window.
pub const MAX_CONFIRM_SECS: u64 = 24 * 3600;
/// Longest manual ban.
pub const MAX_BAN_SECS: u64 = 365 * 24 * 3600;

struct HandleInner {
    store: Store,
    records: Collection<FirewallRecord>,
    kernel: Kernel,
    events: EventBus,
    admin_port: u16,
    /// Serialises every change (record and kernel).
    op: tokio::sync::Mutex<()>,
    admins: std::sync::Mutex<AdminAddresses>,
    audit: crate::audit::AuditLog,
    /// The settings in force (service port range, ban rule), as the settings domain publishes them.
    settings: watch::Receiver<Settings>,
    /// The services' reserved ports, read when exposure is asked for.
    services: ServicePortsSource,
    /// What the status shows of the last restore (stale hostnames, a fallback guard).
    restore_health: std::sync::Mutex<restore::RestoreHealth>,
    /// A restore retry task is running.
    retrying: std::sync::atomic::AtomicBool,
    /// Time between restore retries.
    retry_every: std::time::Duration,
    /// Where rollbacks and drift are reported.
    alerts: crate::alerts::AlertSink,
}

/// How firewall control starts.
#[derive(Debug)]
pub struct FirewallOptions {
    /// The nft backend.
    pub backend: NftBackend,
    /// `false` (`--firewall off`): the kernel is never touched, not even probed.
    pub managed: bool,
    /// Warden's admin port (anti-lockout).
    pub admin_port: u16,
    /// Time between retries of a restore that fell back.
    pub retry_every: std::time::Duration,
    /// Where rollbacks and drift are reported.
    pub alerts: crate::alerts::AlertSink,
}

/// Where the firewall reads the services' reserved ports (the supervisor, in Warden).
pub type ServicePortsSource = Arc<dyn Fn() -> Vec<ServicePorts> + Send + Sync>;

/// The firewall domain API. Cheap to clone.
#[derive(Clone)]
pub struct FirewallHandle {
    inner: Arc<HandleInner>,
}

impl std::fmt::Debug for FirewallHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FirewallHandle")
            .field("capability", self.inner.kernel.capability())
            .finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
        .unwrap_or(i64::MAX)
}

fn ms_to_rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map(rfc3339)
        .unwrap_or_else(|_| ms.to_string())
}

/// Whole seconds from `now_ms` until `at_ms`, rounded up ("1 s left" until the moment itself); 0 once
/// past.
fn seconds_until(at_ms: i64, now_ms: i64) -> u64 {
    u64::try_from(at_ms.saturating_sub(now_ms).saturating_add(999) / 1000).unwrap_or(0)
}

/// The ports a service reserves (input of [`FirewallHandle::exposure`] and
/// [`FirewallHandle::expose`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePorts {
    /// Service id.
    pub service_id: String,
    /// Its ports.
    pub ports: Vec<u16>,
}

/// The service port range of the settings (the default if unparsable).
fn service_ports(settings: &Settings) -> PortRange {
    settings.service_port_range().unwrap_or_default().into()
}

impl FirewallHandle {
    /// Probes nft, loads the record and recovers (see [`recovery`]): an apply that was still
    /// unconfirmed when Warden stopped (even by kill -9) is rolled back; an active rule set is
    /// restored; a start that finds nothing applied (and nobody turned the firewall off) installs the
    /// default guard. Returns once the kernel holds Warden's table: the caller starts services after.
    /// Failures of the recovery are logged and retried, not fatal.
    pub async fn start(
        store: Store,
        options: FirewallOptions,
        events: EventBus,
        settings: watch::Receiver<Settings>,
        services: ServicePortsSource,
    ) -> Result<FirewallHandle, FirewallError> {
        let kernel = if options.managed {
            Kernel::probe(options.backend).await
        } else {
            Kernel::off(options.backend)
        };
        let admin_port = options.admin_port;
        let handle = FirewallHandle {
            inner: Arc::new(HandleInner {
                records: store.collection(trees::FIREWALL)?,
                audit: crate::audit::AuditLog::open(&store)?,
                store,
                kernel,
                events,
                admin_port,
                op: tokio::sync::Mutex::new(()),
                admins: std::sync::Mutex::new(AdminAddresses::default()),
                settings,
                services,
                restore_health: std::sync::Mutex::new(restore::RestoreHealth::default()),
                retrying: std::sync::atomic::AtomicBool::new(false),
                retry_every: options.retry_every,
                alerts: options.alerts,
            }),
        };
        handle.recover(&handle.settings()).await;
        Ok(handle)
    }

    /// The settings in force now.
    fn settings(&self) -> Settings {
        self.inner.settings.borrow().clone()
    }

    /// Whether the firewall can be managed here, and why not.
    pub fn capability(&self) -> &Capability {
        self.inner.kernel.capability()
    }

    fn require_capability(&self) -> Result<(), FirewallError> {
        let capability = self.capability();
        if capability.available {
            return Ok(());
        }
        Err(FirewallError::Unavailable(
            capability
                .reason
                .clone()
                .unwrap_or_else(|| "nft cannot be used here".to_string()),
        ))
    }

    fn load(&self) -> Result<FirewallRecord, FirewallError> {
        Ok(self.inner.records.get(RECORD_KEY)?.unwrap_or_default())
    }

    async fn save(&self, record: &FirewallRecord) -> Result<(), FirewallError> {
        self.inner.records.insert(RECORD_KEY, record)?;
        self.inner.store.flush().await?;
        Ok(())
    }

    /// Saves `next`, or — if it cannot be made durable — puts `before` back in the store's memory
    /// too, so nothing acts on a change that was refused (e.g. a rollback timer on a confirm).
    async fn save_or_revert(
        &self,
        next: &FirewallRecord,
        before: &FirewallRecord,
    ) -> Result<(), FirewallError> {
        let result = self.save(next).await;
        if result.is_err() {
            if let Err(e) = self.inner.records.insert(RECORD_KEY, before) {
                tracing::error!(error = %e, "cannot put the previous firewall record back");
            }
        }
        result
    }

    async fn publish(&self) {
        match self.status().await {
            Ok(status) => self.inner.events.publish("firewall", &status),
            Err(e) => tracing::warn!(error = %e, "cannot publish the firewall status"),
        }
    }

    /// The firewall configuration in force for `settings`: the SSH ports are the setting's, else
    /// sshd's (looked up now), else 22.
    async fn config(
        &self,
        policy: Policy,
        anti_lockout: Vec<IpAddr>,
        settings: &Settings,
    ) -> FirewallConfig {
        FirewallConfig {
            service_ports: service_ports(settings),
            default_inbound_policy: policy,
            admin_port: self.inner.admin_port,
            ssh_ports: self.ssh_ports(settings).await.ports,
            anti_lockout,
        }
    }

    /// [`Self::config`] for putting `applied` back: its SSH ports are covered as well as those in
    /// force now.
    async fn config_restoring(
        &self,
        applied: &AppliedState,
        settings: &Settings,
    ) -> FirewallConfig {
        let mut config = self
            .config(
                applied.default_inbound_policy,
                applied.anti_lockout.clone(),
                settings,
            )
            .await;
        config.ssh_ports.extend(&applied.ssh_ports);
        config.ssh_ports.sort_unstable();
        config.ssh_ports.dedup();
        config
    }

    /// The SSH ports anti-lockout covers now, and where they come from ([`ssh_ports`]).
    pub async fn ssh_ports(&self, settings: &Settings) -> ssh_ports::SshPorts {
        if !settings.ssh_ports.is_empty() {
            return ssh_ports::choose(&settings.ssh_ports, &[]);
        }
        let detected = tokio::task::spawn_blocking(ssh_ports::sshd_listening_ports)
            .await
            .unwrap_or_default();
        ssh_ports::choose(&[], &detected)
    }

    async fn audit<T>(&self, action: &str, target: &str, result: &Result<T, FirewallError>) {
        let outcome = match result {
            Ok(_) => Ok(()),
            Err(FirewallError::Invalid(errors)) => Err(errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; ")),
            Err(e) => Err(e.to_string()),
        };
        self.inner.audit.record(action, target, outcome).await;
    }
}

#[cfg(test)]
mod tests {
    use super::seconds_until;

    #[test]
    fn seconds_until_counts_up_to_the_moment() {
        assert_eq!(seconds_until(31_000, 1_000), 30);
        assert_eq!(seconds_until(31_000, 1_001), 30);
        assert_eq!(seconds_until(1_001, 1_000), 1);
        assert_eq!(seconds_until(1_000, 1_000), 0);
        assert_eq!(seconds_until(0, 1_000), 0);
        assert_eq!(seconds_until(i64::MIN, i64::MAX), 0);
    }
}
