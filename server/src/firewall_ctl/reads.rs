//! Reads: the status (with drift), the saved rules with live counters, presets, the ruleset texts
//! (preview for a requester, and what the live apply installed) and the exposure of service ports.

use std::collections::HashMap;
use std::net::IpAddr;

use warden_firewall::{
    compile_lenient, exposure_compiled, exposure_hostnames, preset_is_open, presets,
    render_ruleset, ApplyContext, FirewallConfig, PacketProtocol,
};

use super::record::FirewallRecord;
use super::resolve::resolve_hostnames;
use app::model::firewall::{
    ExposureView, FirewallStatus, PendingStatus, PresetView, RollbackCause, RollbackStatus,
    RuleView,
};

use super::record;
use super::{ms_to_rfc3339, now_ms, seconds_until, FirewallError, FirewallHandle};

impl FirewallHandle {
    /// The status (contract fields plus capability, policy, anti-lockout).
    ///
    /// Read under the operations lock: an apply, rollback or deactivation changes the kernel first and
    /// the record second, and a read between the two would report the old record with drift.
    pub async fn status(&self) -> Result<FirewallStatus, FirewallError> {
        let _guard = self.inner.op.lock().await;
        let record = self.load()?;
        let health = self.restore_health();
        let ssh = self.ssh_ports(&self.settings()).await;
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
                seconds_left: seconds_until(p.rollback_at_ms, now_ms()),
            }),
            drift,
            capability: self.capability().clone(),
            default_inbound_policy: record.default_inbound_policy,
            anti_lockout: record.anti_lockout(),
            last_rollback: record.last_rollback.as_ref().map(|r| RollbackStatus {
                at: ms_to_rfc3339(r.at_ms),
                revision: r.revision,
                cause: match r.cause {
                    record::RollbackCause::Timer => RollbackCause::Timer,
                    record::RollbackCause::Request => RollbackCause::Request,
                    record::RollbackCause::Restart => RollbackCause::Restart,
                },
            }),
            admin_port: self.inner.admin_port,
            ssh_ports: ssh.ports,
            ssh_ports_source: ssh.source,
            live_ssh_ports: record
                .applied
                .as_ref()
                .map(|a| a.ssh_ports.clone())
                .unwrap_or_default(),
            your_address: None,
            default_guard: record.applied.as_ref().is_some_and(|a| a.default_guard),
            stale_hosts: health.stale_hosts,
            fallback: health.fallback,
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
    pub async fn ruleset_preview(&self, requester: IpAddr) -> Result<String, FirewallError> {
        let record = self.load()?;
        let config = self
            .config(
                record.default_inbound_policy,
                vec![requester.to_canonical()],
                &self.settings(),
            )
            .await;
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
    pub async fn exposure(&self) -> Result<Vec<ExposureView>, FirewallError> {
        let services = (self.inner.services)();
        let services = services.as_slice();
        let settings = &self.settings();
        let record = self.load()?;
        let saved_context = ApplyContext {
            resolved_hosts: resolve_hostnames(record.rules.hostnames()).await,
            bans: Vec::new(),
        };
        let saved_config = self
            .config(record.default_inbound_policy, Vec::new(), settings)
            .await;
        let saved = compile_lenient(&record.rules, &saved_config, &saved_context);
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
            let live_config = FirewallConfig {
                default_inbound_policy: applied.default_inbound_policy,
                anti_lockout: Vec::new(),
                ssh_ports: applied.ssh_ports.clone(),
                ..saved_config.clone()
            };
            live = Some(compile_lenient(&applied.rules, &live_config, &context));
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
}
