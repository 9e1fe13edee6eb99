//! Server functions: the UI's calls into the server, one submodule per domain (re-exported here). Each one
//! authenticates the caller itself (`backend::require_user`) before touching anything, whatever the HTTP
//! layer already checked, and then calls the same domain layer as the REST API through the `Backend` seam.

pub mod admin;
pub mod firewall;
pub mod services;

pub use admin::*;
pub use firewall::*;
pub use services::*;

use leptos::prelude::*;

use crate::model::error::AppError;
use crate::model::{FirewallCapability, ShellInfo};

/// Hostname, user and version for the app shell.
#[server(prefix = "/rpc", endpoint = "shell_info")]
pub async fn get_shell_info() -> Result<ShellInfo, AppError> {
    let (backend, user) = crate::backend::require_user().await?;
    Ok(backend.shell_info(&user).await)
}

/// Whether the firewall can be driven here, and why not.
#[server(prefix = "/rpc", endpoint = "firewall_capability")]
pub async fn get_firewall_capability() -> Result<FirewallCapability, AppError> {
    let (backend, _user) = crate::backend::require_user().await?;
    Ok(backend.firewall_capability().await)
}
