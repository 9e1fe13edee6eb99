//! Compilation of a [`RuleSet`] + [`FirewallConfig`] + [`ApplyContext`] into the one typed,
//! resolved form that both the renderer ([`crate::render`]) and the evaluator ([`mod@crate::evaluate`])
//! walk, so the two cannot disagree on what a rule matches.
//!
//! Per enabled rule, host entries (literal networks plus resolved hostnames, filtered to the rule's
//! IP version) are grouped by family into [`AddressMatch`]es; each becomes one nft rule. A rule whose
//! hosts leave no address for any family matches nothing and renders nothing.

use std::net::IpAddr;

use crate::field_error::FieldError;
use crate::model::{
    Action, ApplyContext, Ban, Direction, Family, FirewallConfig, IpVersion, PortRange, Protocol,
    Rule,
};
use crate::network::{merge_networks, HostSpec, IpNetwork};
use crate::ruleset::RuleSet;
use crate::validate;

/// Which packets of one address family (or both) a compiled rule matches by address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressMatch {
    /// `None` = both families (no host filter and ip_version `any`).
    pub family: Option<Family>,
    /// `None` = any address; otherwise the networks (all of `family`), merged.
    pub networks: Option<Vec<IpNetwork>>,
}

impl AddressMatch {
    /// Whether `addr` (the packet's remote address) matches.
    pub fn matches(&self, addr: &IpAddr) -> bool {
        if self.family.is_some_and(|f| f != Family::of(addr)) {
            return false;
        }
        match &self.networks {
            None => true,
            Some(nets) => nets.iter().any(|n| n.contains(addr)),
        }
    }
}

/// One enabled, valid user rule in resolved form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledRule {
    /// The rule id.
    pub id: String,
    /// The annotation.
    pub annotation: String,
    /// Verdict.
    pub action: Action,
    /// Chain.
    pub direction: Direction,
    /// Protocol.
    pub protocol: Protocol,
    /// `None` = any port.
    pub ports: Option<Vec<PortRange>>,
    /// One entry per rendered nft rule; empty = the rule matches nothing.
    pub addresses: Vec<AddressMatch>,
    /// Hostnames of the rule with the addresses they resolved to (for the rendered listing).
    pub resolved: Vec<(String, Vec<IpAddr>)>,
}

/// A rule set ready to render or evaluate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledRuleset {
    /// Enabled user rules in order (both directions).
    pub rules: Vec<CompiledRule>,
    /// The configuration.
    pub config: FirewallConfig,
    /// Ban networks with their timeouts, minus those covering an anti-lockout address, merged.
    pub bans: Vec<Ban>,
}

/// Why a rule set cannot be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// A rule does not validate (stored data from an older version, or a hand-edited store).
    #[error("firewall rule {rule_id:?} is invalid: {}", join(errors))]
    InvalidRule {
        /// The rule id.
        rule_id: String,
        /// Its field errors.
        errors: Vec<FieldError>,
    },
    /// Two rules share an id.
    #[error("two firewall rules have the id {0:?}")]
    DuplicateId(String),
    /// A hostname could not be resolved (it is missing from, or empty in, the resolved hosts).
    #[error("firewall rule {rule_id:?}: the host {hostname:?} does not resolve to any address")]
    Unresolved {
        /// The rule id.
        rule_id: String,
        /// The API field, e.g. `hosts[2]`.
        field: String,
        /// The hostname.
        hostname: String,
    },
}

fn join(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl RenderError {
    /// The error as field errors of the rule set, fields prefixed with the rule's position:
    /// `rules[3].hosts[2]`.
    pub fn field_errors(&self, rules: &RuleSet) -> Vec<FieldError> {
        let prefix = |id: &str| match rules.rules.iter().position(|r| r.id == id) {
            Some(p) => format!("rules[{p}]"),
            None => "rules".to_string(),
        };
        match self {
            RenderError::InvalidRule { rule_id, errors } => errors
                .iter()
                .map(|e| FieldError::new(format!("{}.{}", prefix(rule_id), e.field), &e.message))
                .collect(),
            RenderError::DuplicateId(id) => vec![FieldError::new(
                format!("{}.id", prefix(id)),
                self.to_string(),
            )],
            RenderError::Unresolved {
                rule_id,
                field,
                hostname,
            } => vec![FieldError::new(
                format!("{}.{field}", prefix(rule_id)),
                format!("the host {hostname:?} does not resolve to any address"),
            )],
        }
    }
}

/// How hostnames without a resolution are handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Strictness {
    /// Errors (rendering).
    Strict,
    /// Invalid rules are skipped and unresolved hostnames match nothing (evaluation).
    Lenient,
}

/// Compiles for rendering: every enabled rule must validate and every hostname must resolve.
pub fn compile(
    rules: &RuleSet,
    config: &FirewallConfig,
    context: &ApplyContext,
) -> Result<CompiledRuleset, RenderError> {
    compile_with(rules, config, context, Strictness::Strict)
}

/// Compiles for evaluation: invalid rules are inert and unresolved hostnames match nothing.
pub fn compile_lenient(
    rules: &RuleSet,
    config: &FirewallConfig,
    context: &ApplyContext,
) -> CompiledRuleset {
    match compile_with(rules, config, context, Strictness::Lenient) {
        Ok(compiled) => compiled,
        // Lenient compilation only fails on duplicate ids; then evaluate the first of each.
        Err(_) => {
            let mut seen = std::collections::HashSet::new();
            let unique = RuleSet {
                rules: rules
                    .rules
                    .iter()
                    .filter(|r| seen.insert(r.id.clone()))
                    .cloned()
                    .collect(),
            };
            compile_with(&unique, config, context, Strictness::Lenient).unwrap_or(CompiledRuleset {
                rules: Vec::new(),
                config: config.clone(),
                bans: Vec::new(),
            })
        }
    }
}

pub(crate) fn compile_with(
    rules: &RuleSet,
    config: &FirewallConfig,
    context: &ApplyContext,
    strictness: Strictness,
) -> Result<CompiledRuleset, RenderError> {
    let mut seen = std::collections::HashSet::new();
    let mut compiled = Vec::new();
    for rule in &rules.rules {
        if !seen.insert(rule.id.as_str()) {
            return Err(RenderError::DuplicateId(rule.id.clone()));
        }
        if !rule.enabled {
            continue;
        }
        match compile_rule(rule, context, strictness) {
            Ok(c) => compiled.push(c),
            Err(e) if strictness == Strictness::Strict => return Err(e),
            Err(_) => {}
        }
    }
    Ok(CompiledRuleset {
        rules: compiled,
        config: config.clone(),
        bans: compile_bans(&context.bans, &config.anti_lockout),
    })
}

/// Compiles one enabled rule. An unresolved hostname is an error when `strictness` is strict (apply
/// refuses it); when lenient (evaluation) it contributes no address and the rule's other hosts still
/// count.
fn compile_rule(
    rule: &Rule,
    context: &ApplyContext,
    strictness: Strictness,
) -> Result<CompiledRule, RenderError> {
    let valid = validate::validate_rule(rule).map_err(|errors| RenderError::InvalidRule {
        rule_id: rule.id.clone(),
        errors,
    })?;
    let mut resolved = Vec::new();
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    let mut push = |net: IpNetwork| {
        if valid.ip_version.includes(net.family()) {
            match net.family() {
                Family::Ipv4 => v4.push(net),
                Family::Ipv6 => v6.push(net),
            }
        }
    };
    for (index, host) in valid.hosts.iter().enumerate() {
        match host {
            HostSpec::Network(net) => push(*net),
            HostSpec::Hostname(name) => {
                let found = context.resolved_hosts.get(name).filter(|a| !a.is_empty());
                let addrs = match (found, strictness) {
                    (Some(addrs), _) => addrs,
                    (None, Strictness::Lenient) => continue,
                    (None, Strictness::Strict) => {
                        return Err(RenderError::Unresolved {
                            rule_id: rule.id.clone(),
                            field: format!("hosts[{index}]"),
                            hostname: name.clone(),
                        })
                    }
                };
                for addr in addrs {
                    push(IpNetwork::host(*addr));
                }
                resolved.push((name.clone(), addrs.clone()));
            }
        }
    }
    let addresses = if valid.hosts.is_empty() {
        match valid.ip_version {
            IpVersion::Any => vec![AddressMatch {
                family: None,
                networks: None,
            }],
            IpVersion::V4 => vec![AddressMatch {
                family: Some(Family::Ipv4),
                networks: None,
            }],
            IpVersion::V6 => vec![AddressMatch {
                family: Some(Family::Ipv6),
                networks: None,
            }],
        }
    } else {
        [(Family::Ipv4, v4), (Family::Ipv6, v6)]
            .into_iter()
            .filter(|(_, nets)| !nets.is_empty())
            .map(|(family, nets)| AddressMatch {
                family: Some(family),
                networks: Some(merge_networks(nets)),
            })
            .collect()
    };
    Ok(CompiledRule {
        id: valid.id,
        annotation: valid.annotation,
        action: valid.action,
        direction: valid.direction,
        protocol: valid.protocol,
        ports: valid.ports,
        addresses,
        resolved,
    })
}

fn compile_bans(bans: &[Ban], anti_lockout: &[IpAddr]) -> Vec<Ban> {
    let mut kept: Vec<Ban> = bans
        .iter()
        .filter(|b| b.expires_in_secs != Some(0))
        .filter(|b| !anti_lockout.iter().any(|a| b.network.contains(a)))
        .cloned()
        .collect();
    kept.sort_by_key(|b| (b.network.family(), b.network.addr(), b.network.prefix_len()));
    // Drop bans covered by a broader one (nft refuses overlapping interval elements).
    let mut merged: Vec<Ban> = Vec::with_capacity(kept.len());
    for ban in kept {
        match merged.last() {
            Some(last) if last.network.covers(&ban.network) => {}
            _ => merged.push(ban),
        }
    }
    merged
}
