//! Server functions for jails (Firewall → Jails): the list with live counters, the shipped presets and
//! the pattern test (reads: the test changes nothing), create, change and delete (mutations, refused to
//! read-only credentials by the server's auth gate). The same jails domain as
//! `/api/v1/firewall/jails*`, which validates, stores, audits and runs them. Each call notes the
//! caller's address as administering (never banned), as the REST routes do.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use super::codec::JsonText;

use crate::model::error::AppError;
use crate::model::jails::{
    Jail, JailInput, JailPatch, JailPresetView, JailTestRequest, JailTestResult, JailView,
};

/// Every jail with its counters (lines read, failures, bans, addresses failing now, recent failure
/// lines), by name.
#[server(prefix = "/rpc", endpoint = "jails/list", input = Json, output = JsonText)]
pub async fn list_jails() -> Result<Vec<JailView>, AppError> {
    let (backend, _user, client) = super::firewall::caller().await?;
    backend.jails(client).await
}

/// The presets shipped with Warden and their patterns.
#[server(prefix = "/rpc", endpoint = "jails/presets", input = Json, output = JsonText)]
pub async fn jail_presets() -> Result<Vec<JailPresetView>, AppError> {
    crate::backend::require_user().await?;
    Ok(crate::model::jails::preset_views())
}

/// Tries a preset and/or patterns on pasted lines: which match, and the address each names. Changes
/// nothing.
#[server(prefix = "/rpc", endpoint = "jails/test", input = Json, output = JsonText)]
pub async fn test_jail_patterns(request: JailTestRequest) -> Result<JailTestResult, AppError> {
    crate::backend::require_user().await?;
    request.run().map_err(AppError::Invalid)
}

/// Adds a jail.
#[server(prefix = "/rpc", endpoint = "jails/create", input = Json, output = JsonText)]
pub async fn create_jail(input: JailInput) -> Result<Jail, AppError> {
    let (backend, user, client) = super::firewall::caller().await?;
    backend.create_jail(&user, client, input).await
}

/// Changes a jail (also the enable toggle).
#[server(prefix = "/rpc", endpoint = "jails/update", input = Json, output = JsonText)]
pub async fn update_jail(id: String, patch: JailPatch) -> Result<Jail, AppError> {
    let (backend, user, client) = super::firewall::caller().await?;
    backend.update_jail(&user, client, &id, patch).await
}

/// Deletes a jail.
#[server(prefix = "/rpc", endpoint = "jails/delete", input = Json, output = JsonText)]
pub async fn delete_jail(id: String) -> Result<(), AppError> {
    let (backend, user, client) = super::firewall::caller().await?;
    backend.delete_jail(&user, client, &id).await
}
