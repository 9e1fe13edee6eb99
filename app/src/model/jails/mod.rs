//! Jails (fail2ban's job, built in): the shapes the REST API, the server functions and the UI share,
//! and their validation, which both sides run. A jail watches one source (a supervised service's own
//! log, a log file, or the systemd journal of a unit), counts the lines its patterns match per address
//! and bans an address after `max_failures` within `window_secs`, for `ban_secs` (doubled for each
//! repeat offence when `increment` is on, up to `max_ban_secs`). Addresses in `ignore` never count.
//!
//! [`pattern`] compiles the patterns (with `<HOST>`) into a [`pattern::Matcher`]; [`presets`] holds
//! the shipped patterns per program.

pub mod pattern;
pub mod presets;
#[cfg(test)]
mod tests;
mod validate;

use serde::{Deserialize, Serialize};

use super::FieldError;
pub use pattern::{Hit, Matcher};
pub use validate::{is_valid_jail_name, parse_ignore, patterns_precheck};

/// Default `max_failures`.
pub const DEFAULT_MAX_FAILURES: u32 = 5;
/// Default `window_secs` (10 min).
pub const DEFAULT_WINDOW_SECS: u64 = 600;
/// Default `ban_secs` (10 min).
pub const DEFAULT_BAN_SECS: u64 = 600;
/// Default `max_ban_secs` (a week).
pub const DEFAULT_MAX_BAN_SECS: u64 = 7 * 24 * 3600;
/// Longest ban (a year, as a ban by hand).
pub const MAX_BAN_SECS: u64 = 365 * 24 * 3600;
/// Longest window (a week).
pub const MAX_WINDOW_SECS: u64 = 7 * 24 * 3600;
/// Most failures a jail may wait for.
pub const MAX_FAILURES_LIMIT: u32 = 10_000;
/// Most `ignore` entries.
pub const MAX_IGNORE: usize = 256;
/// Longest jail name.
pub const NAME_MAX_CHARS: usize = 64;
/// Longest file path or journal unit.
pub const SOURCE_MAX_CHARS: usize = 4096;
/// Most lines a pattern test takes.
pub const MAX_TEST_LINES: usize = 1000;

/// What a jail watches.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum JailSource {
    /// A supervised service's own log, by service name (it may be created later).
    Service(String),
    /// A log file (absolute path), followed across rotation and truncation from its end.
    File(String),
    /// The systemd journal of a unit (`ssh.service`; a name without a suffix means its `.service`) or
    /// of a syslog identifier (`sshd`): entries of either, through `journalctl -f -o json`.
    Journal(String),
}

/// A jail as stored and answered (`GET /api/v1/firewall/jails/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Jail {
    /// The server-assigned id.
    pub id: String,
    #[serde(flatten)]
    pub spec: JailInput,
}

/// A jail's settings: the body of `POST /api/v1/firewall/jails` (everything but `name` and `source`
/// has a default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct JailInput {
    /// Unique name (1-64 of letters, digits, `.`, `_`, `-`); bans name it.
    pub name: String,
    /// Whether it watches its source.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// What it watches.
    pub source: JailSource,
    /// A shipped preset (`sshd`, `nginx-http-auth`, `nginx-limit-req`, `postfix-sasl`, `dovecot`,
    /// `vsftpd`, `generic`); its patterns come before `patterns`.
    #[serde(default)]
    pub preset: Option<String>,
    /// Regular expressions (the `regex` crate's syntax) with `<HOST>` where the address is.
    #[serde(default)]
    pub patterns: Vec<String>,
    /// Failures within the window that ban an address.
    #[serde(default = "default_max_failures")]
    pub max_failures: u32,
    /// The window failures are counted in.
    #[serde(default = "default_window_secs")]
    pub window_secs: u64,
    /// How long a first ban lasts.
    #[serde(default = "default_ban_secs")]
    pub ban_secs: u64,
    /// Addresses and networks (CIDR) that never count.
    #[serde(default)]
    pub ignore: Vec<String>,
    /// Repeat offenders: each new ban of an address this jail banned before lasts twice as long.
    #[serde(default = "yes")]
    pub increment: bool,
    /// The longest ban `increment` reaches.
    #[serde(default = "default_max_ban_secs")]
    pub max_ban_secs: u64,
}

fn yes() -> bool {
    true
}
fn default_max_failures() -> u32 {
    DEFAULT_MAX_FAILURES
}
fn default_window_secs() -> u64 {
    DEFAULT_WINDOW_SECS
}
fn default_ban_secs() -> u64 {
    DEFAULT_BAN_SECS
}
fn default_max_ban_secs() -> u64 {
    DEFAULT_MAX_BAN_SECS
}

/// `PATCH /api/v1/firewall/jails/{id}`: the fields to change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct JailPatch {
    pub name: Option<String>,
    pub enabled: Option<bool>,
    pub source: Option<JailSource>,
    /// `null` removes the preset (`{"preset": null}`); absent leaves it.
    #[serde(
        default,
        with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "ssr", schema(value_type = Option<String>))]
    pub preset: Option<Option<String>>,
    pub patterns: Option<Vec<String>>,
    pub max_failures: Option<u32>,
    pub window_secs: Option<u64>,
    pub ban_secs: Option<u64>,
    pub ignore: Option<Vec<String>>,
    pub increment: Option<bool>,
    pub max_ban_secs: Option<u64>,
}

mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(
        value: &Option<Option<String>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(inner) => inner.serialize(s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<String>>, D::Error> {
        Option::<String>::deserialize(d).map(Some)
    }
}

impl JailPatch {
    /// `jail` with this patch applied (not validated).
    pub fn apply_to(self, jail: &JailInput) -> JailInput {
        let mut next = jail.clone();
        if let Some(v) = self.name {
            next.name = v;
        }
        if let Some(v) = self.enabled {
            next.enabled = v;
        }
        if let Some(v) = self.source {
            next.source = v;
        }
        if let Some(v) = self.preset {
            next.preset = v;
        }
        if let Some(v) = self.patterns {
            next.patterns = v;
        }
        if let Some(v) = self.max_failures {
            next.max_failures = v;
        }
        if let Some(v) = self.window_secs {
            next.window_secs = v;
        }
        if let Some(v) = self.ban_secs {
            next.ban_secs = v;
        }
        if let Some(v) = self.ignore {
            next.ignore = v;
        }
        if let Some(v) = self.increment {
            next.increment = v;
        }
        if let Some(v) = self.max_ban_secs {
            next.max_ban_secs = v;
        }
        next
    }
}

/// `POST /api/v1/firewall/jails/test`: patterns (and/or a preset) tried on pasted lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct JailTestRequest {
    #[serde(default)]
    pub preset: Option<String>,
    #[serde(default)]
    pub patterns: Vec<String>,
    /// The log lines (at most 1000); a single string with newlines is split.
    pub lines: Vec<String>,
}

/// One line's outcome in a [`JailTestResult`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct JailTestLine {
    pub line: String,
    /// The address it names, when a pattern matches it.
    pub address: Option<String>,
    /// Which pattern matched: index into the preset's patterns followed by `patterns`.
    pub pattern: Option<usize>,
}

/// The answer of a pattern test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct JailTestResult {
    /// How many lines matched.
    pub matched: usize,
    pub lines: Vec<JailTestLine>,
}

impl JailTestRequest {
    /// Runs the test; field errors for bad patterns or too many lines.
    pub fn run(&self) -> Result<JailTestResult, Vec<FieldError>> {
        let matcher = Matcher::compile(self.preset.as_deref(), &self.patterns)?;
        let lines: Vec<&str> = self.lines.iter().flat_map(|l| l.lines()).collect();
        if lines.len() > MAX_TEST_LINES {
            return Err(vec![FieldError::new(
                "lines",
                format!("at most {MAX_TEST_LINES} lines"),
            )]);
        }
        let lines: Vec<JailTestLine> = lines
            .into_iter()
            .map(|line| {
                let hit = matcher.find(line);
                JailTestLine {
                    line: line.to_string(),
                    address: hit.map(|h| h.address.to_string()),
                    pattern: hit.map(|h| h.pattern),
                }
            })
            .collect();
        Ok(JailTestResult {
            matched: lines.iter().filter(|l| l.address.is_some()).count(),
            lines,
        })
    }
}

/// A preset as `GET /api/v1/firewall/jails/presets` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct JailPresetView {
    pub name: String,
    pub description: String,
    pub typical_source: String,
    pub patterns: Vec<String>,
}

/// Every preset.
pub fn preset_views() -> Vec<JailPresetView> {
    presets::PRESETS
        .iter()
        .map(|p| JailPresetView {
            name: p.name.to_string(),
            description: p.description.to_string(),
            typical_source: p.typical_source.to_string(),
            patterns: p.patterns.iter().map(|s| s.to_string()).collect(),
        })
        .collect()
}

/// A recent failure line of a jail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct JailMatch {
    /// RFC 3339.
    pub at: String,
    pub address: String,
    pub line: String,
}

/// A jail with its live counters (`GET /api/v1/firewall/jails`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct JailView {
    #[serde(flatten)]
    pub jail: Jail,
    /// Lines read from the source since Warden started.
    #[serde(default)]
    pub lines: u64,
    /// Failure lines seen since Warden started.
    #[serde(default)]
    pub matched: u64,
    /// Bans this jail made since Warden started.
    #[serde(default)]
    pub bans: u64,
    /// Addresses with failures in the window now, and how many.
    #[serde(default)]
    pub failing: Vec<JailFailing>,
    /// The last failure lines (at most 20).
    #[serde(default)]
    pub recent: Vec<JailMatch>,
    /// Why the source cannot be read right now (missing file, no journalctl...), if it cannot.
    #[serde(default)]
    pub source_problem: Option<String>,
}

/// An address counting failures in a jail's window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct JailFailing {
    pub address: String,
    pub failures: u32,
}
