//! Data shapes shared by the UI (WASM) and the server: DTOs that cross the wire and the pure validation
//! that both sides run, so a form shows the same field errors the server would return.

pub mod admin;
pub mod error;
pub mod firewall;
pub mod service;
pub mod service_form;
pub mod service_ports;
pub mod settings;

use serde::{Deserialize, Serialize};

/// One problem with one input field. `field` is the API field name (e.g. `ports[1]`, `environment.PATH`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// What the app shell shows on every page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShellInfo {
    pub hostname: String,
    pub username: String,
    pub version: String,
}

/// Whether Warden can drive the kernel firewall, and if not, why (shown on the firewall pages).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FirewallCapability {
    pub available: bool,
    pub reason: Option<String>,
}

/// What a start/stop/restart button asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceAction {
    /// Start (and re-enable a disabled service).
    Start,
    /// Stop: SIGTERM to the group, SIGKILL after the grace; the service stays stopped.
    Stop,
    /// Restart: SIGHUP to the group, SIGKILL after the grace, then start.
    Restart,
}
