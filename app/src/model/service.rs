//! Services: the shapes of a service definition and its status (exactly the `Service` object of
//! `api-v1.md`), the create/patch bodies, and the pure validation both the UI (WASM) and the server run.
//! Checks that need the host (does the working directory exist, does the user exist) live server-side.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::service_lifecycle::{validate_lifecycle, LifecycleInput, OtherServices};
pub use super::service_lifecycle::{MonitoringTimings, RestartPolicy, StopSignalName};
use super::service_limits::validate_limits;
pub use super::service_limits::ServiceLimits;
pub use super::service_patch::ServicePatch;
use super::service_ports::ServicePortRange;
pub use super::service_status::{
    Containment, Health, LastExit, ProcessInfo, Service, ServiceEvent, ServiceState, ServiceStatus,
    ServiceUsage, ServiceWarning, WarningKind,
};
use super::settings::validate_environment;
use super::FieldError;

/// The longest service name accepted.
pub const NAME_MAX_CHARS: usize = 64;

/// A service definition as persisted and served (everything except `id` and `status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ServiceSpec {
    pub name: String,
    /// Run by `/bin/sh -c` in the foreground.
    pub command: String,
    pub working_directory: Option<String>,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    pub monitoring_command: Option<String>,
    #[serde(default)]
    pub ports: Vec<u16>,
    /// `None` = the configured service user (settings).
    pub user: Option<String>,
    pub enabled: bool,
    /// Allows ports outside the reserved service range (e.g. an app's default port).
    #[serde(default)]
    pub allow_ports_outside_range: bool,
    /// The signal a stop starts with (`TERM`, `INT`, `QUIT`, `HUP`, `USR1`, `USR2`, `KILL`).
    #[serde(default)]
    pub stop_signal: StopSignalName,
    /// Between the stop signal and the kill of everything left; `null` = 10.
    #[serde(default)]
    pub stop_grace_secs: Option<u64>,
    /// A restart's SIGHUP: still running after this long = reloaded in place; `null` = 2.
    #[serde(default)]
    pub reload_grace_secs: Option<u64>,
    /// What an exit leads to: `always` (default), `on_failure`, `never`.
    #[serde(default)]
    pub restart: RestartPolicy,
    /// The monitoring schedule; `null` values = the defaults (10 / 30 / 10).
    #[serde(default)]
    pub monitoring: MonitoringTimings,
    /// Services that must be running (and passing, when monitored) before this one starts.
    #[serde(default)]
    pub after: Vec<String>,
    /// Resource limits; `null` values = no limit.
    #[serde(default)]
    pub limits: ServiceLimits,
}

fn default_true() -> bool {
    true
}

/// The body of `POST /api/v1/services`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ServiceInput {
    pub name: String,
    pub command: String,
    #[serde(default)]
    pub working_directory: Option<String>,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    #[serde(default)]
    pub monitoring_command: Option<String>,
    #[serde(default)]
    pub ports: Vec<u16>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default)]
    pub allow_ports_outside_range: bool,
    /// The signal a stop starts with (`TERM`, `INT`, `QUIT`, `HUP`, `USR1`, `USR2`, `KILL`).
    #[serde(default)]
    pub stop_signal: StopSignalName,
    /// Between the stop signal and the kill of everything left; `null` = 10.
    #[serde(default)]
    pub stop_grace_secs: Option<u64>,
    /// A restart's SIGHUP: still running after this long = reloaded in place; `null` = 2.
    #[serde(default)]
    pub reload_grace_secs: Option<u64>,
    /// What an exit leads to: `always` (default), `on_failure`, `never`.
    #[serde(default)]
    pub restart: RestartPolicy,
    /// The monitoring schedule; `null` values = the defaults (10 / 30 / 10).
    #[serde(default)]
    pub monitoring: MonitoringTimings,
    /// Services that must be running (and passing, when monitored) before this one starts.
    #[serde(default)]
    pub after: Vec<String>,
    /// Resource limits; `null` values = no limit.
    #[serde(default)]
    pub limits: ServiceLimits,
}

impl ServiceInput {
    /// A minimal enabled input with the given name and command.
    pub fn new(name: impl Into<String>, command: impl Into<String>) -> Self {
        ServiceInput {
            name: name.into(),
            command: command.into(),
            working_directory: None,
            environment: BTreeMap::new(),
            monitoring_command: None,
            ports: Vec::new(),
            user: None,
            enabled: true,
            allow_ports_outside_range: false,
            stop_signal: StopSignalName::default(),
            stop_grace_secs: None,
            reload_grace_secs: None,
            restart: RestartPolicy::default(),
            monitoring: MonitoringTimings::default(),
            after: Vec::new(),
            limits: ServiceLimits::default(),
        }
    }
}

impl From<ServiceSpec> for ServiceInput {
    fn from(s: ServiceSpec) -> Self {
        ServiceInput {
            name: s.name,
            command: s.command,
            working_directory: s.working_directory,
            environment: s.environment,
            monitoring_command: s.monitoring_command,
            ports: s.ports,
            user: s.user,
            enabled: s.enabled,
            allow_ports_outside_range: s.allow_ports_outside_range,
            stop_signal: s.stop_signal,
            stop_grace_secs: s.stop_grace_secs,
            reload_grace_secs: s.reload_grace_secs,
            restart: s.restart,
            monitoring: s.monitoring,
            after: s.after,
            limits: s.limits,
        }
    }
}

/// What validation needs to know about the rest of the system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationContext {
    /// The reserved service port range.
    pub port_range: ServicePortRange,
    /// Names of the other services (exclude the one being updated).
    pub taken_names: BTreeSet<String>,
    /// Ports of the other services, with the name of the service holding each.
    pub taken_ports: BTreeMap<u16, String>,
    /// The `after` lists of the other services (by name; a name missing here starts after nothing).
    pub after: BTreeMap<String, Vec<String>>,
}

/// Why an input was rejected: `invalid` fields (422) and `conflicts` with other services (409).
/// When both are present, `invalid` wins: fix the input first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecErrors {
    pub invalid: Vec<FieldError>,
    pub conflicts: Vec<FieldError>,
}

impl SpecErrors {
    pub fn is_empty(&self) -> bool {
        self.invalid.is_empty() && self.conflicts.is_empty()
    }
}

/// Is `name` a valid service name (1-64 of `[a-z0-9_-]`)?
pub fn is_valid_service_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= NAME_MAX_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'))
}

/// Is `name` shaped like a Unix user name (existence is checked server-side)?
pub fn is_valid_user_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn check_command(field: &str, command: &str, errors: &mut Vec<FieldError>) {
    if command.trim().is_empty() {
        errors.push(FieldError::new(field, "the command cannot be empty"));
    } else if command.contains('\0') {
        errors.push(FieldError::new(
            field,
            "the command cannot contain a NUL character",
        ));
    } else if command.len() > super::settings::MAX_EXEC_STRING_BYTES {
        errors.push(FieldError::new(
            field,
            format!(
                "the command has more than {} bytes",
                super::settings::MAX_EXEC_STRING_BYTES
            ),
        ));
    }
}

/// Validates a create body (or a patched spec) against the rest of the system. Pure: host checks
/// (directory and user existence) are the server's job.
pub fn validate_service(
    input: &ServiceInput,
    ctx: &ValidationContext,
) -> Result<ServiceSpec, SpecErrors> {
    let mut errors = SpecErrors::default();
    let invalid = &mut errors.invalid;

    if !is_valid_service_name(&input.name) {
        invalid.push(FieldError::new(
            "name",
            "use 1-64 characters: lowercase letters, digits, - and _",
        ));
    } else if ctx.taken_names.contains(&input.name) {
        errors.conflicts.push(FieldError::new(
            "name",
            format!("a service named {} already exists", input.name),
        ));
    }

    check_command("command", &input.command, invalid);

    if let Some(dir) = &input.working_directory {
        if !dir.starts_with('/') {
            invalid.push(FieldError::new(
                "working_directory",
                "use an absolute path (starting with /)",
            ));
        } else if dir.contains('\0') {
            invalid.push(FieldError::new(
                "working_directory",
                "the path cannot contain a NUL character",
            ));
        }
    }

    invalid.extend(validate_environment("environment", &input.environment));

    if let Some(monitor) = &input.monitoring_command {
        check_command("monitoring_command", monitor, invalid);
    }

    let range = ctx.port_range;
    let mut seen = BTreeSet::new();
    for (i, &port) in input.ports.iter().enumerate() {
        let field = format!("ports[{i}]");
        if port == 0 {
            invalid.push(FieldError::new(field, "port 0 is not a port"));
            continue;
        }
        if !input.allow_ports_outside_range && !range.contains(port) {
            invalid.push(FieldError::new(
                field,
                format!(
                    "port {port} is outside the service range {}-{} (set allow_ports_outside_range to use it)",
                    range.first(),
                    range.last()
                ),
            ));
            continue;
        }
        if !seen.insert(port) {
            invalid.push(FieldError::new(
                field,
                format!("port {port} is listed twice"),
            ));
            continue;
        }
        if let Some(owner) = ctx.taken_ports.get(&port) {
            errors.conflicts.push(FieldError::new(
                field,
                format!("port {port} is already reserved by service {owner}"),
            ));
        }
    }

    if let Some(user) = &input.user {
        if !is_valid_user_name(user) {
            errors
                .invalid
                .push(FieldError::new("user", "not a valid Unix user name"));
        }
    }

    validate_lifecycle(
        LifecycleInput {
            name: &input.name,
            stop_grace_secs: input.stop_grace_secs,
            reload_grace_secs: input.reload_grace_secs,
            monitoring: &input.monitoring,
            after: &input.after,
        },
        OtherServices {
            names: &ctx.taken_names,
            after: &ctx.after,
        },
        &mut errors.invalid,
    );
    validate_limits(&input.limits, &mut errors.invalid);

    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(ServiceSpec {
        name: input.name.clone(),
        command: input.command.clone(),
        working_directory: input.working_directory.clone(),
        environment: input.environment.clone(),
        monitoring_command: input.monitoring_command.clone(),
        ports: input.ports.clone(),
        user: input.user.clone(),
        enabled: input.enabled,
        allow_ports_outside_range: input.allow_ports_outside_range,
        stop_signal: input.stop_signal,
        stop_grace_secs: input.stop_grace_secs,
        reload_grace_secs: input.reload_grace_secs,
        restart: input.restart,
        monitoring: input.monitoring,
        after: input.after.clone(),
        limits: input.limits,
    })
}

#[cfg(test)]
#[path = "service_tests.rs"]
mod tests;
