//! Settings: the global configuration an operator edits (hostname, global environment, service user,
//! service port range, crash-loop and ban thresholds, the extra host names Warden answers to and the
//! reverse proxies it trusts), with defaults and pure validation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::service_ports::ServicePortRange;
use super::FieldError;

/// Crash-loop rule: `max_failures` failures within `window_secs` disable a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CrashLoopSettings {
    pub max_failures: u32,
    pub window_secs: u64,
}

impl Default for CrashLoopSettings {
    fn default() -> Self {
        CrashLoopSettings {
            max_failures: 5,
            window_secs: 60,
        }
    }
}

/// Ban rule for failed logins: `max_failures` within `window_secs` ban the address for `ban_secs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BanSettings {
    pub max_failures: u32,
    pub window_secs: u64,
    pub ban_secs: u64,
}

impl Default for BanSettings {
    fn default() -> Self {
        BanSettings {
            max_failures: 50,
            window_secs: 600,
            ban_secs: 600,
        }
    }
}

/// How Warden is served, for the settings page (read-only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerInfo {
    /// Whether the UI and API are served over TLS (HTTPS, `Secure` cookies).
    pub tls: bool,
    /// The address Warden listens on.
    pub listen: String,
    /// Set when Warden listens beyond this machine over plain HTTP (shown on the dashboard).
    #[serde(default)]
    pub warning: Option<String>,
}

/// The settings document (`GET|PATCH /api/v1/settings`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Settings {
    /// Shown in the header; defaults to the machine's hostname.
    pub hostname: String,
    /// The global environment every service gets (per-service variables override it).
    pub environment: BTreeMap<String, String>,
    /// The Unix user services run as when their spec names none.
    pub service_user: String,
    /// The reserved service port range as the operator wrote it, e.g. `"8300:8499"` (kept verbatim on the
    /// wire and on disk; read it with [`Settings::service_port_range`]).
    pub service_ports: String,
    pub crash_loop: CrashLoopSettings,
    pub ban: BanSettings,
    /// Extra host names (or addresses) Warden answers to, besides `localhost`, the loopback and listen
    /// addresses, the machine's host name and the TLS certificate's names: requests for any other name
    /// are refused (421) to defeat DNS rebinding. E.g. the name of a reverse proxy in front of Warden.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Reverse proxies (addresses or CIDRs) whose `X-Forwarded-For` header names the client. From any
    /// other peer the header is ignored. Empty (the default): the TCP peer is always the client.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// The TCP ports of SSH, which anti-lockout keeps open (with the admin port) for the address that
    /// applies the rules. Empty (the default): the ports sshd listens on, found at each apply, else 22.
    #[serde(default)]
    pub ssh_ports: Vec<u16>,
    /// `GET /metrics` answers without a token to a scraper on this machine (a direct loopback
    /// connection with no proxy headers). Off (the default): a token is required, as everywhere.
    #[serde(default)]
    pub metrics_loopback_without_token: bool,
}

/// Most entries in `allowed_hosts` and in `trusted_proxies`.
pub const MAX_LIST_ENTRIES: usize = 64;

/// Most entries in `ssh_ports`.
pub const MAX_SSH_PORTS: usize = 8;

/// Validates the `ssh_ports` list: 1-65535, at most [`MAX_SSH_PORTS`], no repeats.
pub fn validate_ssh_ports(ports: &[u16]) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if ports.len() > MAX_SSH_PORTS {
        errors.push(FieldError::new(
            "ssh_ports",
            format!("at most {MAX_SSH_PORTS} ports"),
        ));
    }
    if ports.contains(&0) {
        errors.push(FieldError::new("ssh_ports", "ports are 1-65535"));
    }
    let mut seen = std::collections::BTreeSet::new();
    if let Some(repeated) = ports.iter().find(|p| !seen.insert(**p)) {
        errors.push(FieldError::new(
            "ssh_ports",
            format!("port {repeated} is listed twice"),
        ));
    }
    errors
}

/// Reads the settings page's SSH ports field: ports separated by commas or spaces; empty means
/// "detect". Names the first entry that is not a port.
pub fn parse_ssh_ports(text: &str) -> Result<Vec<u16>, FieldError> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<u16>()
                .map_err(|_| FieldError::new("ssh_ports", format!("{t:?} is not a port (1-65535)")))
        })
        .collect()
}

/// Whether `host` is a host name (letters, digits, `-` and `.`, labels of 1-63 characters, at most 253
/// in all, no port) or an IP address.
pub fn is_valid_host_name(host: &str) -> bool {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    let host = host.strip_suffix('.').unwrap_or(host);
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// Whether `entry` is an IP address or a network in CIDR notation (`192.0.2.0/24`, `2001:db8::/32`).
pub fn is_valid_proxy(entry: &str) -> bool {
    entry.parse::<std::net::IpAddr>().is_ok() || entry.parse::<ipnet::IpNet>().is_ok()
}

/// Validates the `allowed_hosts` and `trusted_proxies` lists.
fn validate_lists(s: &Settings) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (field, list, valid, what) in [
        (
            "allowed_hosts",
            &s.allowed_hosts,
            is_valid_host_name as fn(&str) -> bool,
            "a host name (like panel.example.com, no port) or an IP address",
        ),
        (
            "trusted_proxies",
            &s.trusted_proxies,
            is_valid_proxy,
            "an IP address or a network like 10.0.0.0/8",
        ),
    ] {
        if list.len() > MAX_LIST_ENTRIES {
            errors.push(FieldError::new(
                field,
                format!("at most {MAX_LIST_ENTRIES} entries"),
            ));
        }
        for entry in list {
            if !valid(entry) {
                errors.push(FieldError::new(field, format!("{entry:?} is not {what}")));
            }
        }
    }
    errors
}

impl Settings {
    /// Defaults for a fresh data dir. `service_user` is `nobody` when Warden runs as root (services never run
    /// as root unless chosen), otherwise Warden's own user.
    pub fn defaults(hostname: String, service_user: String) -> Self {
        Settings {
            hostname,
            environment: BTreeMap::from([(
                "PATH".to_string(),
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
            )]),
            service_user,
            service_ports: ServicePortRange::DEFAULT.to_string(),
            crash_loop: CrashLoopSettings::default(),
            ban: BanSettings::default(),
            allowed_hosts: Vec::new(),
            trusted_proxies: Vec::new(),
            ssh_ports: Vec::new(),
            metrics_loopback_without_token: false,
        }
    }

    /// The service port range, `None` if the text is not one (validation refuses to save that).
    pub fn service_port_range(&self) -> Option<ServicePortRange> {
        ServicePortRange::parse(&self.service_ports).ok()
    }
}

/// Is `key` a valid environment variable name (`[A-Za-z_][A-Za-z0-9_]*`)?
pub fn is_valid_env_key(key: &str) -> bool {
    let mut chars = key.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Longest environment variable name.
pub const MAX_ENV_KEY_CHARS: usize = 255;
/// Longest environment value, and longest command, in bytes: Linux refuses to exec with any single
/// argument or variable over 128 KiB, so a longer one could never start.
pub const MAX_EXEC_STRING_BYTES: usize = 64 * 1024;

/// Validates an environment map; `field` is the API field that holds it.
pub fn validate_environment(field: &str, env: &BTreeMap<String, String>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (k, v) in env {
        if k.chars().count() > MAX_ENV_KEY_CHARS {
            errors.push(FieldError::new(
                field,
                format!("variable names have at most {MAX_ENV_KEY_CHARS} characters"),
            ));
            continue;
        }
        if !is_valid_env_key(k) {
            errors.push(FieldError::new(
                format!("{field}.{k}"),
                "variable names use letters, digits and _, and do not start with a digit",
            ));
        }
        if v.contains('\0') {
            errors.push(FieldError::new(
                format!("{field}.{k}"),
                "values cannot contain a NUL character",
            ));
        } else if v.len() > MAX_EXEC_STRING_BYTES {
            errors.push(FieldError::new(
                format!("{field}.{k}"),
                format!("values have at most {MAX_EXEC_STRING_BYTES} bytes"),
            ));
        }
    }
    errors
}

/// Validates a whole settings document.
pub fn validate_settings(s: &Settings) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let hostname_ok = !s.hostname.trim().is_empty()
        && s.hostname.chars().count() <= 253
        && !s.hostname.chars().any(char::is_control);
    if !hostname_ok {
        errors.push(FieldError::new(
            "hostname",
            "the hostname must be 1-253 printable characters",
        ));
    }
    errors.extend(validate_environment("environment", &s.environment));
    let user_ok = !s.service_user.is_empty()
        && s.service_user.len() <= 32
        && s.service_user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !user_ok {
        errors.push(FieldError::new(
            "service_user",
            "not a valid Unix user name",
        ));
    }
    if let Err(e) = ServicePortRange::parse(&s.service_ports) {
        errors.push(FieldError::new("service_ports", e.to_string()));
    }
    if s.crash_loop.max_failures == 0 || s.crash_loop.window_secs == 0 {
        errors.push(FieldError::new(
            "crash_loop",
            "max_failures and window_secs must be at least 1",
        ));
    }
    if s.ban.max_failures == 0 || s.ban.window_secs == 0 || s.ban.ban_secs == 0 {
        errors.push(FieldError::new(
            "ban",
            "max_failures, window_secs and ban_secs must be at least 1",
        ));
    }
    errors.extend(validate_lists(s));
    errors.extend(validate_ssh_ports(&s.ssh_ports));
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_ports_are_read_as_a_range() {
        let mut s = Settings::defaults("box".into(), "nobody".into());
        assert_eq!(s.service_ports, "8300:8499");
        assert_eq!(s.service_port_range(), Some(ServicePortRange::DEFAULT));
        s.service_ports = "9000-9010".into();
        assert_eq!(s.service_port_range(), ServicePortRange::new(9000, 9010));
        assert_eq!(validate_settings(&s), vec![]);
        for bad in ["8499:8300", "0:10", "1:70000", "80"] {
            s.service_ports = bad.into();
            assert_eq!(s.service_port_range(), None, "{bad}");
            assert_eq!(
                validate_settings(&s),
                vec![FieldError::new(
                    "service_ports",
                    "use a range like 8300:8499 (1-65535, low end first)"
                )],
                "{bad}"
            );
        }
    }

    #[test]
    fn ssh_ports_are_ports_without_repeats() {
        let mut s = Settings::defaults("box".into(), "nobody".into());
        assert!(s.ssh_ports.is_empty(), "empty = detect");
        s.ssh_ports = vec![22, 2222];
        assert_eq!(validate_settings(&s), vec![]);
        s.ssh_ports = vec![0];
        assert_eq!(
            validate_settings(&s),
            vec![FieldError::new("ssh_ports", "ports are 1-65535")]
        );
        s.ssh_ports = vec![2222, 22, 2222];
        assert_eq!(
            validate_settings(&s),
            vec![FieldError::new("ssh_ports", "port 2222 is listed twice")]
        );
        s.ssh_ports = (1..=9).collect();
        assert_eq!(validate_settings(&s)[0].field, "ssh_ports");
        assert_eq!(parse_ssh_ports(" 22, 2222 "), Ok(vec![22, 2222]));
        assert_eq!(parse_ssh_ports("22 2222"), Ok(vec![22, 2222]));
        assert_eq!(parse_ssh_ports(""), Ok(vec![]));
        assert_eq!(
            parse_ssh_ports("22, ssh"),
            Err(FieldError::new(
                "ssh_ports",
                "\"ssh\" is not a port (1-65535)"
            ))
        );
        assert!(parse_ssh_ports("70000").is_err());
    }

    #[test]
    fn env_keys() {
        assert!(is_valid_env_key("PATH"));
        assert!(is_valid_env_key("_x1"));
        assert!(!is_valid_env_key("1X"));
        assert!(!is_valid_env_key("A-B"));
        assert!(!is_valid_env_key(""));
    }

    #[test]
    fn allowed_hosts_and_trusted_proxies_are_checked() {
        let mut s = Settings::defaults("box".into(), "nobody".into());
        s.allowed_hosts = vec!["panel.example.com".into(), "192.0.2.1".into(), "::1".into()];
        s.trusted_proxies = vec![
            "10.0.0.0/8".into(),
            "192.0.2.7".into(),
            "2001:db8::/32".into(),
        ];
        assert_eq!(validate_settings(&s), vec![]);
        s.allowed_hosts = vec![
            "panel.example.com:8443".into(),
            "-x.example".into(),
            "".into(),
        ];
        s.trusted_proxies = vec!["10.0.0.0/33".into(), "proxy.example".into()];
        let errors = validate_settings(&s);
        assert_eq!(errors.len(), 5, "{errors:?}");
        assert!(errors[..3].iter().all(|e| e.field == "allowed_hosts"));
        assert!(errors[3..].iter().all(|e| e.field == "trusted_proxies"));
        s.allowed_hosts = vec!["a.example".into(); MAX_LIST_ENTRIES + 1];
        s.trusted_proxies = vec![];
        assert_eq!(validate_settings(&s).len(), 1);
    }

    #[test]
    fn settings_stored_without_the_newer_lists_still_load() {
        let old = r#"{"hostname":"box","environment":{},"service_user":"nobody","service_ports":"8300:8499","crash_loop":{"max_failures":5,"window_secs":60},"ban":{"max_failures":50,"window_secs":600,"ban_secs":600}}"#;
        let s: Settings = serde_json::from_str(old).unwrap();
        assert!(s.allowed_hosts.is_empty() && s.trusted_proxies.is_empty());
    }

    #[test]
    fn defaults_are_valid() {
        let s = Settings::defaults("box".into(), "nobody".into());
        assert_eq!(validate_settings(&s), vec![]);
    }
}
