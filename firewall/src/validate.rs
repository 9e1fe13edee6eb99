//! Validation of rules: every field parsed and checked with per-field errors ([`FieldError`]), and
//! the validated builders of the model ([`RuleInput::into_rule`], [`Rule::patched`]). Validation
//! depends on the model, never the reverse. Host and port spellings are parsed by
//! [`crate::network`] and [`crate::ports`] (their rules are documented there).
//!
//! Further rules: annotations have at most 256 characters and no control characters; an IPv4 host on
//! an IPv6-only rule (or the reverse) is an error.
//!
//! Nothing here panics on any input (property-tested on arbitrary strings).

use crate::field_error::FieldError;
use crate::model::{
    Action, Direction, Family, IpVersion, PortRange, Protocol, Rule, RuleInput, RulePatch,
};
use crate::network::{parse_host, HostSpec};
use crate::ports::{merge_port_ranges, parse_port, PortSpec};

/// Longest annotation, in characters.
pub const MAX_ANNOTATION_CHARS: usize = 256;

/// Most host entries in one rule.
pub const MAX_HOSTS_PER_RULE: usize = 20_000;

/// Most port entries in one rule.
pub const MAX_PORTS_PER_RULE: usize = 1_000;

impl RuleInput {
    /// Builds and validates a rule with the given server-assigned id. On success the hosts and ports
    /// are in their normalised spelling (see [`crate::validate`]). `position` is left at 0; insert
    /// the rule with [`crate::ruleset::RuleSet::insert`] to place it.
    pub fn into_rule(self, id: impl Into<String>) -> Result<Rule, Vec<FieldError>> {
        let rule = Rule {
            id: id.into(),
            position: 0,
            enabled: self.enabled.unwrap_or(true),
            protocol: self.protocol.unwrap_or_default(),
            action: self.action.unwrap_or_default(),
            direction: self.direction.unwrap_or_default(),
            hosts: self.hosts.unwrap_or_default(),
            ports: self.ports.unwrap_or_default(),
            ip_version: self.ip_version.unwrap_or_default(),
            annotation: self.annotation.unwrap_or_default(),
        };
        normalize_rule(&rule)
    }
}

impl Rule {
    /// The rule with `patch` applied, validated and normalised (the rule itself is unchanged: rejected
    /// input changes nothing). Ignores `patch.position`; use [`crate::ruleset::RuleSet::patch`] to also move it.
    pub fn patched(&self, patch: &RulePatch) -> Result<Rule, Vec<FieldError>> {
        let mut next = self.clone();
        if let Some(v) = patch.enabled {
            next.enabled = v;
        }
        if let Some(v) = patch.protocol {
            next.protocol = v;
        }
        if let Some(v) = patch.action {
            next.action = v;
        }
        if let Some(v) = patch.direction {
            next.direction = v;
        }
        if let Some(v) = &patch.hosts {
            next.hosts = v.clone();
        }
        if let Some(v) = &patch.ports {
            next.ports = v.clone();
        }
        if let Some(v) = patch.ip_version {
            next.ip_version = v;
        }
        if let Some(v) = &patch.annotation {
            next.annotation = v.clone();
        }
        normalize_rule(&next)
    }
}

/// Checks an annotation; the error is a human sentence.
pub fn check_annotation(annotation: &str) -> Result<(), String> {
    let count = annotation.chars().count();
    if count > MAX_ANNOTATION_CHARS {
        return Err(format!(
            "the annotation has {count} characters; at most {MAX_ANNOTATION_CHARS} are allowed"
        ));
    }
    if annotation.chars().any(char::is_control) {
        return Err(
            "the annotation must not contain control characters (such as newlines or tabs)"
                .to_string(),
        );
    }
    Ok(())
}

/// Checks a rule id (`[A-Za-z0-9_.-]{1,64}`); the error is a human sentence.
pub fn check_rule_id(id: &str) -> Result<(), String> {
    if id.is_empty()
        || id.len() > 64
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        return Err(format!(
            "{id:?} is not a valid rule id: use 1 to 64 of the characters A-Z a-z 0-9 _ . -"
        ));
    }
    Ok(())
}

/// A rule with every field parsed and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedRule {
    /// The rule id.
    pub id: String,
    /// Enabled flag.
    pub enabled: bool,
    /// Protocol.
    pub protocol: Protocol,
    /// Action.
    pub action: Action,
    /// Direction.
    pub direction: Direction,
    /// IP version.
    pub ip_version: IpVersion,
    /// Parsed hosts in input order (duplicates kept); empty = any host.
    pub hosts: Vec<HostSpec>,
    /// Port ranges sorted and merged; `None` = any port.
    pub ports: Option<Vec<PortRange>>,
    /// Annotation.
    pub annotation: String,
}

/// Parses and checks every field of `rule`, collecting all errors.
pub fn validate_rule(rule: &Rule) -> Result<ValidatedRule, Vec<FieldError>> {
    let mut errors = Vec::new();
    if let Err(message) = check_rule_id(&rule.id) {
        errors.push(FieldError::new("id", message));
    }
    if rule.hosts.len() > MAX_HOSTS_PER_RULE {
        errors.push(FieldError::new(
            "hosts",
            format!("a rule may list at most {MAX_HOSTS_PER_RULE} hosts"),
        ));
    }
    if rule.ports.len() > MAX_PORTS_PER_RULE {
        errors.push(FieldError::new(
            "ports",
            format!("a rule may list at most {MAX_PORTS_PER_RULE} ports or ranges"),
        ));
    }
    let mut hosts = Vec::with_capacity(rule.hosts.len());
    for (index, text) in rule.hosts.iter().enumerate() {
        let field = format!("hosts[{index}]");
        match parse_host(text) {
            Ok(HostSpec::Network(net)) if !rule.ip_version.includes(net.family()) => {
                let (kind, only) = match net.family() {
                    Family::Ipv4 => ("an IPv4", "IPv6-only (ip_version \"6\")"),
                    Family::Ipv6 => ("an IPv6", "IPv4-only (ip_version \"4\")"),
                };
                errors.push(FieldError::new(
                    field,
                    format!("{} is {kind} host but the rule is {only}", text.trim()),
                ));
            }
            Ok(spec) => hosts.push(spec),
            Err(message) => errors.push(FieldError::new(field, message)),
        }
    }
    let mut ranges = Vec::with_capacity(rule.ports.len());
    let mut all_ports = rule.ports.is_empty();
    for (index, text) in rule.ports.iter().enumerate() {
        match parse_port(text) {
            Ok(PortSpec::All) => all_ports = true,
            Ok(PortSpec::Range(range)) => ranges.push(range),
            Err(message) => errors.push(FieldError::new(format!("ports[{index}]"), message)),
        }
    }
    if let Err(message) = check_annotation(&rule.annotation) {
        errors.push(FieldError::new("annotation", message));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(ValidatedRule {
        id: rule.id.clone(),
        enabled: rule.enabled,
        protocol: rule.protocol,
        action: rule.action,
        direction: rule.direction,
        ip_version: rule.ip_version,
        hosts,
        ports: (!all_ports).then(|| merge_port_ranges(ranges)),
        annotation: rule.annotation.clone(),
    })
}

/// Validates `rule` and returns it with hosts and ports in their normalised spelling (each entry kept
/// in place, so field indices stay meaningful; `"0:65535"` stays as written).
pub fn normalize_rule(rule: &Rule) -> Result<Rule, Vec<FieldError>> {
    validate_rule(rule)?;
    let mut normalized = rule.clone();
    normalized.hosts = rule
        .hosts
        .iter()
        .map(|h| {
            parse_host(h)
                .map(|s| s.to_string())
                .unwrap_or_else(|_| h.clone())
        })
        .collect();
    normalized.ports = rule
        .ports
        .iter()
        .map(|p| match parse_port(p) {
            Ok(PortSpec::All) => "0:65535".to_string(),
            Ok(PortSpec::Range(r)) => r.to_string(),
            Err(_) => p.clone(),
        })
        .collect();
    Ok(normalized)
}
