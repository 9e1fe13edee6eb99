//! Server functions: the UI's calls into the server, one submodule per domain (re-exported here). Each one
//! authenticates the caller itself (`backend::require_user`) before touching anything, whatever the HTTP
//! layer already checked, and then calls the same domain layer as the REST API through the `Backend` seam.
//! Which of them only read is listed once, in [`READ_ONLY_ENDPOINTS`]: a read-only API token may call
//! those and no other (the server's auth gate refuses the rest with 403, so a new server function is a
//! mutation until it is listed here).

pub mod admin;
pub mod codec;
pub mod firewall;
pub mod jails;
pub mod notifications;
pub mod services;
pub mod users;

pub use admin::*;
pub use firewall::*;
pub use jails::*;
pub use notifications::*;
pub use services::*;
pub use users::*;

use leptos::prelude::*;

use codec::JsonText;

/// The paths of the server functions that change nothing (besides noting the caller's address as
/// administering). Every other server function is a mutation, refused to read-only tokens.
pub const READ_ONLY_ENDPOINTS: &[&str] = &[
    "/rpc/shell_info",
    "/rpc/firewall_capability",
    "/rpc/admin/settings",
    "/rpc/admin/server",
    "/rpc/admin/tokens",
    "/rpc/admin/audit",
    "/rpc/firewall/state",
    "/rpc/firewall/rules",
    "/rpc/firewall/presets",
    "/rpc/firewall/ruleset",
    "/rpc/firewall/bans",
    "/rpc/firewall/exposure",
    "/rpc/services/list",
    "/rpc/services/get",
    "/rpc/services/logs",
    "/rpc/services/processes",
    "/rpc/services/port_range",
    "/rpc/services/capabilities",
    "/rpc/services/import_convert",
    "/rpc/users/list",
    "/rpc/users/me",
    "/rpc/notifications/list",
    "/rpc/notifications/log",
    "/rpc/jails/list",
    "/rpc/jails/presets",
    "/rpc/jails/test",
];

/// Whether the server function at `path` only reads (see [`READ_ONLY_ENDPOINTS`]).
pub fn is_read_only_endpoint(path: &str) -> bool {
    READ_ONLY_ENDPOINTS.contains(&path)
}

/// The server functions that act on the caller's own account only: the password and the second factor.
/// A `read` user's session may call them (a read-only API token may not); removing *another* user's
/// second factor through `users/totp/remove` stays an administrator's (checked by the server).
pub const OWN_ACCOUNT_ENDPOINTS: &[&str] = &[
    "/rpc/admin/password",
    "/rpc/users/totp/enroll",
    "/rpc/users/totp/confirm",
    "/rpc/users/totp/remove",
];

/// Whether `path` is one of [`OWN_ACCOUNT_ENDPOINTS`].
pub fn is_own_account_endpoint(path: &str) -> bool {
    OWN_ACCOUNT_ENDPOINTS.contains(&path)
}

use crate::model::error::AppError;
use crate::model::{FirewallCapability, ShellInfo};

/// Hostname, user and version for the app shell.
#[server(prefix = "/rpc", endpoint = "shell_info", output = JsonText)]
pub async fn get_shell_info() -> Result<ShellInfo, AppError> {
    let (backend, user) = crate::backend::require_user().await?;
    Ok(backend.shell_info(&user).await)
}

/// Whether the firewall can be driven here, and why not.
#[server(prefix = "/rpc", endpoint = "firewall_capability", output = JsonText)]
pub async fn get_firewall_capability() -> Result<FirewallCapability, AppError> {
    let (backend, _user) = crate::backend::require_user().await?;
    Ok(backend.firewall_capability().await)
}
