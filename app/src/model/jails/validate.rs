//! Validation of jails, shared by the UI (which runs [`JailInput::validate_settings`], everything but
//! compiling the patterns: the regular-expression engine stays out of the browser's code) and the
//! server (which runs [`JailInput::validate`], the same checks plus compiling the patterns).

use super::pattern::{precheck_pattern, HOST_PLACEHOLDER, MAX_PATTERNS};
use super::presets;
use super::*;
use crate::model::service::is_valid_service_name;

impl JailSource {
    /// In words, e.g. `service web`, `file /var/log/auth.log`.
    pub fn describe(&self) -> String {
        match self {
            JailSource::Service(name) => format!("service {name}"),
            JailSource::File(path) => format!("file {path}"),
            JailSource::Journal(unit) => format!("journal {unit}"),
        }
    }

    fn validate(&self, errors: &mut Vec<FieldError>) {
        match self {
            JailSource::Service(name) => {
                if !is_valid_service_name(name) {
                    errors.push(FieldError::new(
                        "source.service",
                        "a service name (1-64 of a-z, 0-9, _ and -)",
                    ));
                }
            }
            JailSource::File(path) => {
                if !path.starts_with('/')
                    || path.chars().count() > SOURCE_MAX_CHARS
                    || path.chars().any(char::is_control)
                    || path.split('/').any(|part| part == "..")
                {
                    errors.push(FieldError::new(
                        "source.file",
                        "an absolute path without .. or control characters",
                    ));
                }
            }
            JailSource::Journal(unit) => {
                let ok = !unit.is_empty()
                    && unit.chars().count() <= 256
                    && !unit.starts_with('-')
                    && unit.chars().all(|c| {
                        c.is_ascii_alphanumeric() || matches!(c, '@' | '.' | '_' | '-' | ':' | '\\')
                    });
                if !ok {
                    errors.push(FieldError::new(
                        "source.journal",
                        "a systemd unit (e.g. ssh.service) or syslog identifier (e.g. sshd): letters, digits and @ . _ - : \\",
                    ));
                }
            }
        }
    }
}

/// Whether `name` is a valid jail name.
pub fn is_valid_jail_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= NAME_MAX_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Parses an `ignore` entry: an address or a network.
pub fn parse_ignore(entry: &str) -> Option<ipnet::IpNet> {
    let entry = entry.trim();
    if let Ok(addr) = entry.parse::<std::net::IpAddr>() {
        return Some(ipnet::IpNet::from(addr.to_canonical()));
    }
    entry.parse::<ipnet::IpNet>().ok().map(|n| n.trunc())
}

impl JailInput {
    /// A jail with the defaults.
    pub fn new(name: impl Into<String>, source: JailSource) -> JailInput {
        JailInput {
            name: name.into(),
            enabled: true,
            source,
            preset: None,
            patterns: Vec::new(),
            max_failures: DEFAULT_MAX_FAILURES,
            window_secs: DEFAULT_WINDOW_SECS,
            ban_secs: DEFAULT_BAN_SECS,
            ignore: Vec::new(),
            increment: true,
            max_ban_secs: DEFAULT_MAX_BAN_SECS,
        }
    }

    /// Checks every field; on success the compiled patterns (the server's check).
    pub fn validate(&self) -> Result<Matcher, Vec<FieldError>> {
        let mut errors = self.settings_errors();
        match Matcher::compile(self.preset.as_deref(), &self.patterns) {
            Ok(m) if errors.is_empty() => Ok(m),
            Ok(_) => Err(errors),
            Err(mut more) => {
                errors.append(&mut more);
                Err(errors)
            }
        }
    }

    /// Every check but compiling the patterns (the browser's check): the patterns are checked for
    /// what can be seen without the regular-expression engine (not empty, not too long, one `<HOST>`),
    /// with the same messages as [`Self::validate`]; syntax errors come from the server.
    pub fn validate_settings(&self) -> Vec<FieldError> {
        let mut errors = self.settings_errors();
        errors.extend(patterns_precheck(self.preset.as_deref(), &self.patterns));
        errors
    }

    /// The checks of everything but the preset and patterns.
    fn settings_errors(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if !is_valid_jail_name(&self.name) {
            errors.push(FieldError::new(
                "name",
                format!("1-{NAME_MAX_CHARS} of letters, digits, '.', '_' and '-'"),
            ));
        }
        self.source.validate(&mut errors);
        if self.max_failures == 0 || self.max_failures > MAX_FAILURES_LIMIT {
            errors.push(FieldError::new(
                "max_failures",
                format!("between 1 and {MAX_FAILURES_LIMIT}"),
            ));
        }
        if self.window_secs == 0 || self.window_secs > MAX_WINDOW_SECS {
            errors.push(FieldError::new(
                "window_secs",
                format!("between 1 and {MAX_WINDOW_SECS} seconds"),
            ));
        }
        if self.ban_secs == 0 || self.ban_secs > MAX_BAN_SECS {
            errors.push(FieldError::new(
                "ban_secs",
                format!("between 1 and {MAX_BAN_SECS} seconds"),
            ));
        }
        if self.max_ban_secs < self.ban_secs || self.max_ban_secs > MAX_BAN_SECS {
            errors.push(FieldError::new(
                "max_ban_secs",
                format!("between ban_secs and {MAX_BAN_SECS} seconds"),
            ));
        }
        if self.ignore.len() > MAX_IGNORE {
            errors.push(FieldError::new(
                "ignore",
                format!("at most {MAX_IGNORE} entries"),
            ));
        }
        for (i, entry) in self.ignore.iter().enumerate().take(MAX_IGNORE) {
            if parse_ignore(entry).is_none() {
                errors.push(FieldError::new(
                    format!("ignore[{i}]"),
                    format!("{entry:?} is not an address or a network (CIDR)"),
                ));
            }
        }
        errors
    }

    /// The `ignore` networks (entries that do not parse are left out; [`Self::validate`] refuses them).
    pub fn ignore_networks(&self) -> Vec<ipnet::IpNet> {
        self.ignore.iter().filter_map(|e| parse_ignore(e)).collect()
    }
}

/// What [`Matcher::compile`] refuses that is visible without compiling: an unknown preset, too many
/// patterns, a pattern that cannot name the address, neither a preset nor a pattern. Same field names
/// and messages.
pub fn patterns_precheck(preset: Option<&str>, patterns: &[String]) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Some(name) = preset {
        if presets::find(name).is_none() {
            errors.push(unknown_preset(name));
        }
    }
    if patterns.len() > MAX_PATTERNS {
        errors.push(FieldError::new(
            "patterns",
            format!("at most {MAX_PATTERNS} patterns"),
        ));
    }
    for (i, pattern) in patterns.iter().enumerate().take(MAX_PATTERNS) {
        if let Err(e) = precheck_pattern(pattern) {
            errors.push(FieldError::new(format!("patterns[{i}]"), e));
        }
    }
    let preset_patterns = preset
        .and_then(presets::find)
        .map_or(0, |p| p.patterns.len());
    if errors.is_empty() && preset_patterns + patterns.len() == 0 {
        errors.push(no_patterns());
    }
    errors
}

/// The error of an unknown preset name.
pub fn unknown_preset(name: &str) -> FieldError {
    FieldError::new(
        "preset",
        format!(
            "unknown preset {name:?}: one of {}",
            presets::names().join(", ")
        ),
    )
}

/// The error of a jail without a preset or a pattern.
pub fn no_patterns() -> FieldError {
    FieldError::new(
        "patterns",
        format!("a jail needs a preset or at least one pattern with {HOST_PLACEHOLDER}"),
    )
}
