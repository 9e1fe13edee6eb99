//! Data shapes shared by the UI (WASM) and the server: DTOs that cross the wire and the pure validation
//! that both sides run, so a form shows the same field errors the server would return.

pub mod admin;
pub mod error;
pub mod firewall;
pub mod import;
pub mod jails;
pub mod notifications;
pub mod service;
pub mod service_form;
pub mod service_lifecycle;
pub mod service_limits;
pub mod service_patch;
pub mod service_ports;
pub mod service_status;
pub mod settings;
pub mod state;
pub mod users;

use serde::{Deserialize, Serialize};

/// One problem with one input field: the firewall crate's type (one definition for the whole
/// workspace; serialised as `{"field": ..., "message": ...}`).
pub use warden_firewall::FieldError;

/// What the app shell shows on every page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShellInfo {
    pub hostname: String,
    pub username: String,
    pub version: String,
    /// The caller's effective role: `read` sees every page with its mutation controls disabled.
    #[serde(default)]
    pub role: admin::TokenScope,
}

/// Whether Warden can drive the kernel firewall, and if not, why (shown on the firewall pages): the
/// firewall crate's one type.
pub use warden_firewall::Capability as FirewallCapability;

/// `text` in lower case, as `str::to_lowercase` gives it. In the browser the JS engine's
/// `String.prototype.toLowerCase` does it (the same locale-independent Unicode mapping, final sigma
/// included): Rust's version carries core's 11.7 KB case table, and a WASM split build keeps all data in
/// the main module, so every page paid 3.3 KB brotli for the few pages that compare in lower case.
pub fn lowercase(text: &str) -> String {
    #[cfg(all(feature = "hydrate", target_arch = "wasm32"))]
    {
        String::from(js_sys::JsString::from(text).to_lower_case())
    }
    #[cfg(not(all(feature = "hydrate", target_arch = "wasm32")))]
    {
        text.to_lowercase()
    }
}

/// What a start/stop/restart button asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceAction {
    /// Start (and re-enable a disabled service).
    Start,
    /// Stop: SIGTERM to the group, SIGKILL after the grace; the service stays stopped.
    Stop,
    /// Restart: SIGHUP; started again at once if it exits on it, reloaded in place if it is still
    /// running after the reload grace.
    Restart,
    /// Hard restart: stop (stop signal, grace, kill of everything left) and start.
    HardRestart,
}

#[cfg(test)]
mod tests {
    use super::FieldError;

    #[test]
    fn field_errors_keep_their_wire_shape() {
        let error = FieldError::new("ports[1]", "not a port");
        let json = serde_json::to_value(&error).unwrap_or_default();
        assert_eq!(
            json,
            serde_json::json!({"field": "ports[1]", "message": "not a port"})
        );
        assert_eq!(error.to_string(), "ports[1]: not a port");
    }
}
