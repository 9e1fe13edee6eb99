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

pub mod admins;
pub mod kernel;
pub mod record;
pub mod views;

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use warden_firewall::backend::{Capability, NftBackend, NftError, Snapshot};
use warden_firewall::{
    ban_network, compile_lenient, exposure_compiled, exposure_hostnames, preset_is_open, presets,
    render_bans_only, render_ruleset, ApplyContext, Ban, DecidedBy, FieldError, FirewallConfig,
    IpNetwork, PacketProtocol, Policy, PortRange, Protocol, ResolvedHosts, Rule, RuleInput,
    RulePatch,
};

use app::model::settings::{BanSettings, Settings};

use crate::clock::{now_rfc3339, rfc3339};
use crate::events::EventBus;
use crate::store::{trees, Collection, Store, StoreError};
use admins::{never_bannable, AdminAddresses};
use kernel::Kernel;
pub use record::RollbackCause;
use record::{AppliedState, EditError, FirewallRecord, RollbackNote, RECORD_KEY};

/// Longest commit-confirm window.
pub const MAX_CONFIRM_SECS: u64 = 24 * 3600;
/// Longest manual ban.
pub const MAX_BAN_SECS: u64 = 365 * 24 * 3600;
/// How long one hostname may take to resolve at apply time.
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Failures of firewall operations; the HTTP adapter maps each to a status and error code.
#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    /// No such rule, preset, ban or service (the text names it).
    #[error("{0} was not found")]
    NotFound(String),
    /// Invalid input, by field.
    #[error("invalid firewall input")]
    Invalid(Vec<FieldError>),
    /// The request conflicts with the current state (nothing pending, preset already open, the
    /// address is administering Warden, ...).
    #[error("{0}")]
    Conflict(String),
    /// Warden cannot drive nft on this host.
    #[error("the firewall cannot be changed on this host: {0}")]
    Unavailable(String),
    /// nft refused or failed; the kernel state is unchanged. Carries nft's own message.
    #[error(transparent)]
    Nft(NftError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Anything else (a failed task).
    #[error("{0}")]
    Internal(String),
}

impl From<EditError> for FirewallError {
    fn from(e: EditError) -> Self {
        match e {
            EditError::NotFound(what) => FirewallError::NotFound(what),
            EditError::Invalid(errors) => FirewallError::Invalid(errors),
            EditError::Conflict(message) => FirewallError::Conflict(message),
        }
    }
}

/// `GET /api/v1/firewall`: the contract's fields, then extras.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FirewallStatus {
    /// Warden's rule set is live.
    pub active: bool,
    /// The saved revision that is live.
    pub applied_revision: Option<u64>,
    /// The revision of the saved rule set.
    pub saved_revision: u64,
    /// An apply waiting for confirmation.
    pub pending: Option<PendingStatus>,
    /// The live table differs from what Warden applied (someone changed or deleted it).
    pub drift: bool,
    /// Whether Warden can drive nft here.
    pub capability: Capability,
    /// Policy for inbound traffic no rule decides (saved).
    pub default_inbound_policy: Policy,
    /// Addresses that always reach the admin port and SSH under the live rule set.
    #[schema(value_type = Vec<String>)]
    pub anti_lockout: Vec<IpAddr>,
    /// Warden's admin port (covered by anti-lockout together with 22).
    pub admin_port: u16,
    /// The last apply that was rolled back (kept until the next apply).
    pub last_rollback: Option<RollbackStatus>,
}

/// The last rollback, in [`FirewallStatus`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RollbackStatus {
    /// RFC 3339: when the previous state came back.
    pub at: String,
    /// The revision that was rolled back.
    pub revision: u64,
    /// `timer` (not confirmed in time), `request` or `restart` (Warden started during the window).
    pub cause: RollbackCause,
}

/// The pending part of [`FirewallStatus`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PendingStatus {
    /// The applied revision.
    pub revision: u64,
    /// RFC 3339: when the previous state comes back unless confirmed.
    pub rollback_at: String,
}

/// A rule with its live counters (`null` when the firewall is not active).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RuleView {
    /// The rule.
    #[serde(flatten)]
    pub rule: Rule,
    /// Packets matched since the last apply.
    pub packets: Option<u64>,
    /// Bytes matched since the last apply.
    pub bytes: Option<u64>,
}

/// One ban as the API lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BanView {
    /// The banned address (IPv4) or /64 network (IPv6).
    pub address: String,
    /// Why, if Warden made the ban.
    pub reason: Option<String>,
    /// RFC 3339, if Warden made the ban.
    pub banned_at: Option<String>,
    /// RFC 3339, read back from the kernel's timeout; `null` = no timeout.
    pub expires_at: Option<String>,
}

/// A preset with whether it is open in the saved rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PresetView {
    /// Slug.
    pub name: String,
    /// Display title.
    pub title: String,
    /// One sentence.
    pub description: String,
    /// The rules it adds.
    pub rules: Vec<RuleInput>,
    /// All its rules are in the saved rule set and enabled.
    pub open: bool,
}

/// The ports a service reserves (input of [`FirewallHandle::exposure`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePorts {
    /// Service id.
    pub service_id: String,
    /// Its ports.
    pub ports: Vec<u16>,
}

/// One entry of `GET /api/v1/firewall/exposure`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExposureView {
    /// The service.
    pub service_id: String,
    /// Its port.
    pub port: u16,
    /// `tcp` or `udp` (every port is listed for both).
    pub protocol: PacketProtocol,
    /// Under the saved rule set, some outside host can connect.
    pub reachable_from_outside: bool,
    /// The user rule that decides, if a rule decides (else the guard or the policy does).
    pub deciding_rule: Option<String>,
    /// Every outside host can connect.
    pub reachable_from_everywhere: bool,
    /// What decides.
    pub decided_by: DecidedBy,
    /// Whether Warden's rule set is live.
    pub firewall_active: bool,
    /// Reachability under what is live now (`true` when no rule set is applied: nothing filters).
    pub live_reachable_from_outside: bool,
    /// Hostnames in the hosts of the saved inbound rules that cover this port and protocol: the
    /// answer depends on what they resolve to. They were resolved now, as `apply` resolves them.
    pub hostnames: Vec<String>,
    /// Those of `hostnames` that do not resolve now: they match nothing in this answer, and `apply`
    /// would refuse the rule set naming them.
    pub unresolved_hostnames: Vec<String>,
}

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
}

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

/// The service port range of the settings (the default if unparsable).
fn service_ports(settings: &Settings) -> PortRange {
    settings.service_port_range().unwrap_or_default().into()
}

/// Resolves hostnames concurrently, each within [`RESOLVE_TIMEOUT`]. Names that do not resolve are
/// left out, so rendering fails naming them.
async fn resolve_hostnames(names: Vec<String>) -> ResolvedHosts {
    let lookups = names.into_iter().map(|name| async move {
        let found =
            tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((name.clone(), 0))).await;
        let addrs: BTreeSet<IpAddr> = match found {
            Ok(Ok(addrs)) => addrs.map(|a| a.ip().to_canonical()).collect(),
            Ok(Err(e)) => {
                tracing::warn!(host = %name, error = %e, "a firewall hostname does not resolve");
                BTreeSet::new()
            }
            Err(_) => {
                tracing::warn!(host = %name, "resolving a firewall hostname timed out");
                BTreeSet::new()
            }
        };
        (name, addrs.into_iter().collect::<Vec<_>>())
    });
    futures::future::join_all(lookups)
        .await
        .into_iter()
        .filter(|(_, addrs)| !addrs.is_empty())
        .collect()
}

/// Parses a banned address as the API names it: an address, or the /64 network of an IPv6 ban.
pub fn parse_ban_address(text: &str) -> Result<IpAddr, FirewallError> {
    let invalid = || {
        FirewallError::Invalid(vec![FieldError::new(
            "address",
            format!("{text:?} is not an IP address"),
        )])
    };
    if let Ok(addr) = text.parse::<IpAddr>() {
        return Ok(addr.to_canonical());
    }
    let network: IpNetwork = text.parse().map_err(|_| invalid())?;
    match network.addr() {
        IpAddr::V6(_) if network.prefix_len() >= 64 => Ok(network.addr()),
        _ => Err(invalid()),
    }
}

impl FirewallHandle {
    /// Probes nft, loads the record and recovers: an apply that was still unconfirmed when Warden
    /// stopped (even by kill -9) is rolled back; an active, confirmed rule set is re-applied. Failures
    /// of the recovery are logged, not fatal: Warden still starts (the status then shows drift).
    pub async fn start(
        store: Store,
        backend: NftBackend,
        admin_port: u16,
        events: EventBus,
        settings: &Settings,
    ) -> Result<FirewallHandle, FirewallError> {
        let kernel = Kernel::probe(backend).await;
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
            }),
        };
        handle.recover(settings).await;
        Ok(handle)
    }

    async fn recover(&self, settings: &Settings) {
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

    async fn publish(&self) {
        match self.status().await {
            Ok(status) => self.inner.events.publish("firewall", &status),
            Err(e) => tracing::warn!(error = %e, "cannot publish the firewall status"),
        }
    }

    /// `addr` authenticated (login, or an authenticated firewall request): it is not banned for a while.
    pub fn note_administering(&self, addr: IpAddr) {
        self.inner
            .admins
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .note(addr, Instant::now());
    }

    /// Why `addr` must not be banned, if it must not.
    fn ban_protection(&self, addr: IpAddr, record: &FirewallRecord) -> Option<String> {
        let addr = addr.to_canonical();
        if never_bannable(addr) {
            return Some(format!(
                "{addr} is a loopback or special address and is never banned"
            ));
        }
        if record.anti_lockout().contains(&addr) {
            return Some(format!(
                "{addr} applied the live rule set (anti-lockout) and is never banned"
            ));
        }
        let administering = self
            .inner
            .admins
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_administering(addr, Instant::now());
        administering.then(|| format!("{addr} is administering Warden and is never banned"))
    }

    fn config(
        &self,
        policy: Policy,
        anti_lockout: Vec<IpAddr>,
        settings: &Settings,
    ) -> FirewallConfig {
        FirewallConfig {
            service_ports: service_ports(settings),
            default_inbound_policy: policy,
            admin_port: self.inner.admin_port,
            anti_lockout,
        }
    }

    // ---- reads ----

    /// The status (contract fields plus capability, policy, anti-lockout).
    ///
    /// Read under the operations lock: an apply, rollback or deactivation changes the kernel first and
    /// the record second, and a read between the two would report the old record with drift.
    pub async fn status(&self) -> Result<FirewallStatus, FirewallError> {
        let _guard = self.inner.op.lock().await;
        let record = self.load()?;
        let drift = match &record.applied {
            Some(applied) if self.capability().available => {
                match self.inner.kernel.run(|b| b.fingerprint()).await {
                    Ok(live) => live.is_none() || live != applied.fingerprint,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read the live firewall table");
                        true
                    }
                }
            }
            _ => false,
        };
        Ok(FirewallStatus {
            active: record.active(),
            applied_revision: record.applied.as_ref().map(|a| a.revision),
            saved_revision: record.saved_revision,
            pending: record.pending.as_ref().map(|p| PendingStatus {
                revision: p.revision,
                rollback_at: ms_to_rfc3339(p.rollback_at_ms),
            }),
            drift,
            capability: self.capability().clone(),
            default_inbound_policy: record.default_inbound_policy,
            anti_lockout: record.anti_lockout(),
            last_rollback: record.last_rollback.as_ref().map(|r| RollbackStatus {
                at: ms_to_rfc3339(r.at_ms),
                revision: r.revision,
                cause: r.cause,
            }),
            admin_port: self.inner.admin_port,
        })
    }

    async fn live_counters(
        &self,
        record: &FirewallRecord,
    ) -> Option<HashMap<String, warden_firewall::backend::RuleCounters>> {
        if !record.active() || !self.capability().available {
            return None;
        }
        match self.inner.kernel.run(|b| b.counters()).await {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the firewall counters");
                None
            }
        }
    }

    /// The saved rules in order, with live counters when the firewall is active.
    pub async fn rules(&self) -> Result<Vec<RuleView>, FirewallError> {
        let record = self.load()?;
        let counters = self.live_counters(&record).await;
        Ok(record
            .rules
            .rules
            .into_iter()
            .map(|rule| {
                let c = counters
                    .as_ref()
                    .map(|c| c.get(&rule.id).copied().unwrap_or_default());
                RuleView {
                    packets: c.map(|c| c.packets),
                    bytes: c.map(|c| c.bytes),
                    rule,
                }
            })
            .collect())
    }

    /// One saved rule with its counters.
    pub async fn rule(&self, id: &str) -> Result<RuleView, FirewallError> {
        self.rules()
            .await?
            .into_iter()
            .find(|r| r.rule.id == id)
            .ok_or_else(|| FirewallError::NotFound(format!("firewall rule {id:?}")))
    }

    /// Every preset, with whether it is open.
    pub fn presets(&self) -> Result<Vec<PresetView>, FirewallError> {
        let record = self.load()?;
        Ok(presets()
            .into_iter()
            .map(|p| PresetView {
                open: preset_is_open(&record.rules, &p.name),
                name: p.name,
                title: p.title,
                description: p.description,
                rules: p.rules,
            })
            .collect())
    }

    /// The nft text `apply` would install now for `requester` (saved rules, hostnames resolved, ban
    /// elements omitted).
    pub async fn ruleset_preview(
        &self,
        requester: IpAddr,
        settings: &Settings,
    ) -> Result<String, FirewallError> {
        let record = self.load()?;
        let config = self.config(
            record.default_inbound_policy,
            vec![requester.to_canonical()],
            settings,
        );
        let context = ApplyContext {
            resolved_hosts: resolve_hostnames(record.rules.hostnames()).await,
            bans: Vec::new(),
        };
        render_ruleset(&record.rules, &config, &context)
            .map(|r| r.text)
            .map_err(|e| FirewallError::Invalid(e.field_errors(&record.rules)))
    }

    /// The nft text installed by the live apply (ban elements omitted).
    pub fn applied_ruleset(&self) -> Result<String, FirewallError> {
        self.load()?
            .applied
            .map(|a| a.text)
            .ok_or_else(|| FirewallError::NotFound("an applied rule set".to_string()))
    }

    /// Exposure of every service port, TCP and UDP, under the saved rules (and, as extra fields,
    /// under what is live). Hostnames of the saved rules are resolved now, like `apply` resolves them;
    /// the live answer uses what they resolved to when the table was installed.
    pub async fn exposure(
        &self,
        services: &[ServicePorts],
        settings: &Settings,
    ) -> Result<Vec<ExposureView>, FirewallError> {
        let record = self.load()?;
        let saved_context = ApplyContext {
            resolved_hosts: resolve_hostnames(record.rules.hostnames()).await,
            bans: Vec::new(),
        };
        let saved = compile_lenient(
            &record.rules,
            &self.config(record.default_inbound_policy, Vec::new(), settings),
            &saved_context,
        );
        let mut live = None;
        if let Some(applied) = record.applied.as_ref() {
            let names = applied.rules.hostnames();
            // Records written before the resolution was kept: resolve now.
            let resolved_hosts = if applied.resolved_hosts.is_empty() && !names.is_empty() {
                resolve_hostnames(names).await
            } else {
                applied.resolved_hosts.clone()
            };
            let context = ApplyContext {
                resolved_hosts,
                bans: Vec::new(),
            };
            live = Some(compile_lenient(
                &applied.rules,
                &self.config(applied.default_inbound_policy, Vec::new(), settings),
                &context,
            ));
        }
        let mut out = Vec::new();
        for service in services {
            for &port in &service.ports {
                for protocol in [PacketProtocol::Tcp, PacketProtocol::Udp] {
                    let e = exposure_compiled(&saved, port, protocol);
                    let hostnames = exposure_hostnames(&record.rules, port, protocol);
                    let unresolved_hostnames = hostnames
                        .iter()
                        .filter(|name| !saved_context.resolved_hosts.contains_key(*name))
                        .cloned()
                        .collect();
                    let live_reachable = live.as_ref().is_none_or(|compiled| {
                        exposure_compiled(compiled, port, protocol).reachable_from_outside
                    });
                    out.push(ExposureView {
                        service_id: service.service_id.clone(),
                        port,
                        protocol,
                        reachable_from_outside: e.reachable_from_outside,
                        deciding_rule: e.deciding_rule,
                        reachable_from_everywhere: e.reachable_from_everywhere,
                        decided_by: e.decided_by,
                        firewall_active: record.active(),
                        live_reachable_from_outside: live_reachable,
                        hostnames,
                        unresolved_hostnames,
                    });
                }
            }
        }
        Ok(out)
    }

    // ---- rule edits (saved rules only) ----

    async fn edit<T>(
        &self,
        f: impl FnOnce(&mut FirewallRecord) -> Result<T, EditError>,
    ) -> Result<T, FirewallError> {
        let guard = self.inner.op.lock().await;
        let mut record = self.load()?;
        let out = f(&mut record)?;
        self.save(&record).await?;
        drop(guard);
        self.publish().await;
        Ok(out)
    }

    /// Adds a rule (appended unless `position` is given).
    async fn add_rule_unaudited(&self, input: RuleInput) -> Result<Rule, FirewallError> {
        self.edit(|r| r.add_rule(input)).await
    }

    /// Changes a rule.
    async fn patch_rule_unaudited(
        &self,
        id: &str,
        patch: RulePatch,
    ) -> Result<Rule, FirewallError> {
        self.edit(|r| r.patch_rule(id, &patch)).await
    }

    /// Moves a rule to `position` (clamped to the end).
    async fn move_rule_unaudited(&self, id: &str, position: u32) -> Result<Rule, FirewallError> {
        self.edit(|r| r.move_rule(id, position)).await
    }

    /// Deletes a rule.
    async fn delete_rule_unaudited(&self, id: &str) -> Result<Rule, FirewallError> {
        self.edit(|r| r.remove_rule(id)).await
    }

    /// Opens a preset; returns the rules added (or re-enabled).
    async fn open_preset_unaudited(&self, name: &str) -> Result<Vec<Rule>, FirewallError> {
        self.edit(|r| r.open_preset(name)).await
    }

    /// Closes a preset; returns the rules removed.
    async fn close_preset_unaudited(&self, name: &str) -> Result<Vec<Rule>, FirewallError> {
        self.edit(|r| r.close_preset(name)).await
    }

    /// Sets the saved default inbound policy (an edit: takes effect at the next apply).
    async fn set_default_inbound_policy_unaudited(
        &self,
        policy: Policy,
    ) -> Result<(), FirewallError> {
        self.edit(|r| {
            if r.default_inbound_policy != policy {
                r.default_inbound_policy = policy;
                r.saved_revision += 1;
            }
            Ok(())
        })
        .await
    }

    /// One-click expose: an accept rule for `port` of the service, at the top.
    pub async fn expose(
        &self,
        services: &[ServicePorts],
        service_id: &str,
        port: u16,
    ) -> Result<Rule, FirewallError> {
        let service = services
            .iter()
            .find(|s| s.service_id == service_id)
            .ok_or_else(|| FirewallError::NotFound(format!("service {service_id:?}")))?;
        if !service.ports.contains(&port) {
            return Err(FirewallError::Invalid(vec![FieldError::new(
                "port",
                format!("service {service_id:?} does not reserve port {port}"),
            )]));
        }
        let input = RuleInput {
            position: Some(0),
            protocol: Some(Protocol::Any),
            ports: Some(vec![port.to_string()]),
            annotation: Some(format!("expose service {service_id} port {port}")),
            ..RuleInput::default()
        };
        self.add_rule(input).await
    }

    // ---- apply / confirm / rollback / deactivate ----

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
        let config = self.config(
            record.default_inbound_policy,
            anti_lockout.clone(),
            settings,
        );
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
                default_inbound_policy: record.default_inbound_policy,
                fingerprint: None,
                resolved_hosts: display.resolved_hosts.clone(),
                text: shown.text,
                applied_at: now_rfc3339(),
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

    fn schedule_rollback(&self, apply_id: u64, at_ms: i64) {
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
                Err(e) => tracing::error!(error = %e, "the automatic firewall rollback failed"),
            }
        });
    }

    /// Restores the state before the pending apply. Call with the op lock held.
    async fn roll_back_locked(
        &self,
        mut record: FirewallRecord,
        cause: RollbackCause,
    ) -> Result<(), FirewallError> {
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
        self.inner.kernel.run(move |b| b.restore(&snapshot)).await?;
        if !had_table && !live_bans.is_empty() {
            // The previous state had no table; bans made meanwhile stay enforced.
            let bans_only = render_bans_only(&live_bans);
            self.inner.kernel.run(move |b| b.apply(&bans_only)).await?;
        }
        if let Some(applied) = record.applied.as_mut() {
            applied.fingerprint = self.inner.kernel.run(|b| b.fingerprint()).await?;
        }
        self.save(&record).await?;
        tracing::info!(revision = pending.revision, "firewall rolled back");
        Ok(())
    }

    async fn reapply_locked(
        &self,
        mut record: FirewallRecord,
        applied: AppliedState,
        settings: &Settings,
    ) -> Result<(), FirewallError> {
        let config = self.config(
            applied.default_inbound_policy,
            applied.anti_lockout.clone(),
            settings,
        );
        let context = ApplyContext {
            resolved_hosts: resolve_hostnames(applied.rules.hostnames()).await,
            bans: self.inner.kernel.run(|b| b.bans()).await?,
        };
        let rendered = render_ruleset(&applied.rules, &config, &context)
            .map_err(|e| FirewallError::Invalid(e.field_errors(&applied.rules)))?;
        self.inner.kernel.run(move |b| b.apply(&rendered)).await?;
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
        let mut record = self.load()?;
        if !record.confirm() {
            return Err(FirewallError::Conflict(
                "nothing to confirm: no apply is waiting for confirmation".to_string(),
            ));
        }
        self.save(&record).await?;
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

    // ---- bans ----

    /// The bans in the kernel, with Warden's reason and time for those it made.
    pub async fn bans(&self) -> Result<Vec<BanView>, FirewallError> {
        if !self.capability().available {
            return Ok(Vec::new());
        }
        let live = self.inner.kernel.run(|b| b.bans()).await?;
        let record = self.load()?;
        let now = now_ms();
        Ok(live
            .into_iter()
            .map(|ban| {
                let address = ban.network.to_string();
                let meta = record.bans.get(&address);
                BanView {
                    reason: meta.map(|m| m.reason.clone()),
                    banned_at: meta.map(|m| m.banned_at.clone()),
                    expires_at: ban.expires_in_secs.map(|secs| {
                        ms_to_rfc3339(now.saturating_add(
                            i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX),
                        ))
                    }),
                    address,
                }
            })
            .collect())
    }

    /// Bans `addr` (IPv6: its /64) for `secs`; refuses loopback, anti-lockout and administering
    /// addresses. Works before any apply (creates the bans-only table).
    async fn ban_unaudited(
        &self,
        addr: IpAddr,
        reason: &str,
        secs: u64,
    ) -> Result<BanView, FirewallError> {
        if secs == 0 || secs > MAX_BAN_SECS {
            return Err(FirewallError::Invalid(vec![FieldError::new(
                "ban_secs",
                format!("between 1 and {MAX_BAN_SECS} seconds"),
            )]));
        }
        if reason.chars().count() > 256 || reason.chars().any(char::is_control) {
            return Err(FirewallError::Invalid(vec![FieldError::new(
                "reason",
                "at most 256 characters, no control characters",
            )]));
        }
        self.require_capability()?;
        let addr = addr.to_canonical();
        let guard = self.inner.op.lock().await;
        let mut record = self.load()?;
        if let Some(why) = self.ban_protection(addr, &record) {
            return Err(FirewallError::Conflict(why));
        }
        let network = ban_network(addr);
        let has_table = self
            .inner
            .kernel
            .run(|b| b.live_table_text().map(|t| t.is_some()))
            .await?;
        if has_table {
            self.inner.kernel.run(move |b| b.ban(addr, secs)).await?;
        } else {
            let bans_only = render_bans_only(&[Ban {
                network,
                expires_in_secs: Some(secs),
            }]);
            self.inner.kernel.run(move |b| b.apply(&bans_only)).await?;
        }
        let live: BTreeSet<String> = self
            .inner
            .kernel
            .run(|b| b.bans())
            .await?
            .iter()
            .map(|b| b.network.to_string())
            .collect();
        record.bans.retain(|k, _| live.contains(k));
        let meta = record::BanMeta {
            reason: reason.to_string(),
            banned_at: now_rfc3339(),
        };
        record.bans.insert(network.to_string(), meta.clone());
        self.save(&record).await?;
        drop(guard);
        tracing::warn!(address = %network, reason, secs, "address banned");
        Ok(BanView {
            address: network.to_string(),
            reason: Some(meta.reason),
            banned_at: Some(meta.banned_at),
            expires_at: Some(ms_to_rfc3339(now_ms().saturating_add(
                i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX),
            ))),
        })
    }

    /// Lifts the ban covering `addr`. Idempotent: lifting a ban that is not (or no longer) in the kernel
    /// only forgets its stored details. When the firewall is not active and no ban is left, the
    /// bans-only table is removed.
    async fn unban_unaudited(&self, addr: IpAddr) -> Result<(), FirewallError> {
        self.require_capability()?;
        let addr = addr.to_canonical();
        let network = ban_network(addr);
        let guard = self.inner.op.lock().await;
        let mut record = self.load()?;
        let live = self.inner.kernel.run(|b| b.bans()).await?;
        if !live.iter().any(|b| b.network.covers(&network)) {
            if record.bans.remove(&network.to_string()).is_some() {
                self.save(&record).await?;
            }
            return Ok(());
        }
        self.inner.kernel.run(move |b| b.unban(addr)).await?;
        record.bans.remove(&network.to_string());
        let remaining = self.inner.kernel.run(|b| b.bans()).await?;
        if remaining.is_empty() && !record.active() && record.pending.is_none() {
            self.inner.kernel.run(|b| b.delete_table()).await?;
        }
        self.save(&record).await?;
        drop(guard);
        tracing::info!(address = %network, "ban lifted");
        Ok(())
    }

    // ---- audited changes: each records its outcome in the audit log, for REST and UI alike ----

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

    /// Adds a rule (appended unless `position` is given).
    pub async fn add_rule(&self, input: RuleInput) -> Result<Rule, FirewallError> {
        let result = self.add_rule_unaudited(input).await;
        let target = result.as_ref().map(|r| r.id.clone()).unwrap_or_default();
        self.audit("firewall.rule.create", &target, &result).await;
        result
    }

    /// Changes a rule.
    pub async fn patch_rule(&self, id: &str, patch: RulePatch) -> Result<Rule, FirewallError> {
        let result = self.patch_rule_unaudited(id, patch).await;
        self.audit("firewall.rule.update", id, &result).await;
        result
    }

    /// Moves a rule to `position` (clamped to the end).
    pub async fn move_rule(&self, id: &str, position: u32) -> Result<Rule, FirewallError> {
        let result = self.move_rule_unaudited(id, position).await;
        self.audit(
            "firewall.rule.move",
            &format!("{id} to {position}"),
            &result,
        )
        .await;
        result
    }

    /// Deletes a rule.
    pub async fn delete_rule(&self, id: &str) -> Result<Rule, FirewallError> {
        let result = self.delete_rule_unaudited(id).await;
        self.audit("firewall.rule.delete", id, &result).await;
        result
    }

    /// Opens a preset; returns the rules added (or re-enabled).
    pub async fn open_preset(&self, name: &str) -> Result<Vec<Rule>, FirewallError> {
        let result = self.open_preset_unaudited(name).await;
        self.audit("firewall.preset.open", name, &result).await;
        result
    }

    /// Closes a preset; returns the rules removed.
    pub async fn close_preset(&self, name: &str) -> Result<Vec<Rule>, FirewallError> {
        let result = self.close_preset_unaudited(name).await;
        self.audit("firewall.preset.close", name, &result).await;
        result
    }

    /// Sets the saved default inbound policy (takes effect at the next apply).
    pub async fn set_default_inbound_policy(&self, policy: Policy) -> Result<(), FirewallError> {
        let result = self.set_default_inbound_policy_unaudited(policy).await;
        self.audit(
            "firewall.policy",
            &format!("{policy:?}").to_lowercase(),
            &result,
        )
        .await;
        result
    }

    /// Applies the saved rules (see `apply_unaudited`).
    pub async fn apply(
        &self,
        confirm_within_secs: u64,
        applying: IpAddr,
        settings: &Settings,
    ) -> Result<FirewallStatus, FirewallError> {
        let result = self
            .apply_unaudited(confirm_within_secs, applying, settings)
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
    pub async fn reapply(&self, settings: &Settings) -> Result<FirewallStatus, FirewallError> {
        let result = self.reapply_unaudited(settings).await;
        self.audit("firewall.reapply", "", &result).await;
        result
    }

    /// Bans `addr` (see `ban_unaudited`).
    pub async fn ban(
        &self,
        addr: IpAddr,
        reason: &str,
        secs: u64,
    ) -> Result<BanView, FirewallError> {
        let result = self.ban_unaudited(addr, reason, secs).await;
        self.audit("firewall.ban", &addr.to_canonical().to_string(), &result)
            .await;
        result
    }

    /// Lifts the ban covering `addr` (idempotent).
    pub async fn unban(&self, addr: IpAddr) -> Result<(), FirewallError> {
        let result = self.unban_unaudited(addr).await;
        self.audit("firewall.unban", &addr.to_canonical().to_string(), &result)
            .await;
        result
    }

    /// Called when `addr` exceeded the failed-login threshold: bans it for `ban.ban_secs` unless it
    /// is protected, already banned, or the firewall cannot be driven. Returns whether it banned.
    pub async fn ban_failed_logins(&self, addr: IpAddr, ban: &BanSettings) -> bool {
        if !self.capability().available {
            return false;
        }
        let addr = addr.to_canonical();
        let Ok(record) = self.load() else {
            return false;
        };
        if let Some(why) = self.ban_protection(addr, &record) {
            tracing::warn!(client = %addr, "too many failed logins, but not banned: {why}");
            return false;
        }
        let network = ban_network(addr);
        match self.inner.kernel.run(|b| b.bans()).await {
            Ok(live) if live.iter().any(|b| b.network.covers(&network)) => return false,
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, "cannot read the bans");
                return false;
            }
        }
        let reason = format!(
            "{} failed logins within {} s",
            ban.max_failures, ban.window_secs
        );
        let throttle = crate::audit::Actor {
            address: Some(addr),
            ..crate::audit::Actor::system("login throttle")
        };
        match crate::audit::acting_as(throttle, self.ban(addr, &reason, ban.ban_secs)).await {
            Ok(_) => true,
            Err(e) => {
                tracing::error!(client = %addr, error = %e, "banning a brute-forcing address failed");
                false
            }
        }
    }
}
