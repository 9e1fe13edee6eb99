//! Server functions: the UI's calls into the server. Each one authenticates the caller itself
//! (`backend::require_user`) before touching anything, whatever the HTTP layer already checked.

use leptos::prelude::*;

use crate::model::{FirewallCapability, ShellInfo};

/// Hostname, user and version for the app shell.
#[server(prefix = "/rpc", endpoint = "shell_info")]
pub async fn get_shell_info() -> Result<ShellInfo, ServerFnError> {
    let (backend, user) = crate::backend::require_user().await?;
    Ok(backend.shell_info(&user).await)
}

/// Whether the firewall can be driven here, and why not.
#[server(prefix = "/rpc", endpoint = "firewall_capability")]
pub async fn get_firewall_capability() -> Result<FirewallCapability, ServerFnError> {
    let (backend, _user) = crate::backend::require_user().await?;
    Ok(backend.firewall_capability().await)
}
