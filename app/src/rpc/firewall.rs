//! Server functions for the firewall: status, rules (with live counters), rule edits and moves,
//! presets, the ruleset texts for the diff, apply / confirm / rollback / deactivate, bans and exposure.
//! Each checks the session first, then notes the caller's address as administering (as the REST layer
//! does: that address is never banned, and an apply keeps it reaching the admin port and SSH).

use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use super::codec::JsonText;
use warden_firewall::{Rule, RuleInput, RulePatch};

use crate::model::error::AppError;
use crate::model::firewall::{
    BanView, ExposureView, FirewallControl, FirewallStatus, PresetView, RuleView, RulesetTexts,
};

/// The backend, the user and the caller's address (noted as administering).
#[cfg(feature = "ssr")]
pub(super) async fn caller() -> Result<
    (
        crate::backend::SharedBackend,
        crate::backend::SessionUser,
        std::net::IpAddr,
    ),
    AppError,
> {
    let (backend, user) = crate::backend::require_user().await?;
    let extensions: http::Extensions = leptos_axum::extract()
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let client = backend.client_address(&extensions).ok_or_else(|| {
        AppError::Internal("the address of this connection is unknown".to_string())
    })?;
    Ok((backend, user, client))
}

/// Status: active, pending window (with seconds left), drift, capability, anti-lockout.
#[server(prefix = "/rpc", endpoint = "firewall/state", input = Json, output = JsonText)]
pub async fn get_firewall_state() -> Result<FirewallStatus, AppError> {
    let (backend, _user, client) = caller().await?;
    backend.firewall_state(client).await
}

/// The saved rules in order, with live packet/byte counters when the firewall is active.
#[server(prefix = "/rpc", endpoint = "firewall/rules", input = Json, output = JsonText)]
pub async fn firewall_rules() -> Result<Vec<RuleView>, AppError> {
    let (backend, _user, client) = caller().await?;
    backend.firewall_rules(client).await
}

/// Adds a rule to the saved set (appended unless `input.position` is given).
#[server(prefix = "/rpc", endpoint = "firewall/rules/add", input = Json, output = JsonText)]
pub async fn add_firewall_rule(input: RuleInput) -> Result<Rule, AppError> {
    let (backend, user, client) = caller().await?;
    backend.add_firewall_rule(&user, client, input).await
}

/// Changes a saved rule (also used by the enable toggle).
#[server(prefix = "/rpc", endpoint = "firewall/rules/update", input = Json, output = JsonText)]
pub async fn update_firewall_rule(id: String, patch: RulePatch) -> Result<Rule, AppError> {
    let (backend, user, client) = caller().await?;
    backend
        .update_firewall_rule(&user, client, &id, patch)
        .await
}

/// Deletes a saved rule.
#[server(prefix = "/rpc", endpoint = "firewall/rules/delete", input = Json, output = JsonText)]
pub async fn delete_firewall_rule(id: String) -> Result<(), AppError> {
    let (backend, user, client) = caller().await?;
    backend.delete_firewall_rule(&user, client, &id).await
}

/// Moves a saved rule to `position` (0 = top).
#[server(prefix = "/rpc", endpoint = "firewall/rules/move", input = Json, output = JsonText)]
pub async fn move_firewall_rule(id: String, position: u32) -> Result<Rule, AppError> {
    let (backend, user, client) = caller().await?;
    backend
        .move_firewall_rule(&user, client, &id, position)
        .await
}

/// Every preset, with whether it is open.
#[server(prefix = "/rpc", endpoint = "firewall/presets", input = Json, output = JsonText)]
pub async fn firewall_presets() -> Result<Vec<PresetView>, AppError> {
    let (backend, _user, client) = caller().await?;
    backend.firewall_presets(client).await
}

/// Opens (adds its rules) or closes (removes them) a preset.
#[server(prefix = "/rpc", endpoint = "firewall/presets/set", input = Json, output = JsonText)]
pub async fn set_firewall_preset(name: String, open: bool) -> Result<Vec<Rule>, AppError> {
    let (backend, user, client) = caller().await?;
    backend
        .set_firewall_preset(&user, client, &name, open)
        .await
}

/// The applied ruleset text and what Apply would install now, for the diff.
#[server(prefix = "/rpc", endpoint = "firewall/ruleset", input = Json, output = JsonText)]
pub async fn firewall_ruleset_texts() -> Result<RulesetTexts, AppError> {
    let (backend, _user, client) = caller().await?;
    backend.firewall_ruleset_texts(client).await
}

/// Applies the saved rules; unless confirmed within `confirm_within_secs` (0 = no window) the
/// previous kernel state comes back by itself.
#[server(prefix = "/rpc", endpoint = "firewall/apply", input = Json, output = JsonText)]
pub async fn apply_firewall(confirm_within_secs: u64) -> Result<FirewallStatus, AppError> {
    let (backend, user, client) = caller().await?;
    backend
        .apply_firewall(&user, client, confirm_within_secs)
        .await
}

/// Keep the pending apply, revert it now, or remove Warden's table.
#[server(prefix = "/rpc", endpoint = "firewall/control", input = Json, output = JsonText)]
pub async fn control_firewall(op: FirewallControl) -> Result<FirewallStatus, AppError> {
    let (backend, user, client) = caller().await?;
    backend.control_firewall(&user, client, op).await
}

/// The bans in the kernel with the time left.
#[server(prefix = "/rpc", endpoint = "firewall/bans", input = Json, output = JsonText)]
pub async fn firewall_bans() -> Result<Vec<BanView>, AppError> {
    let (backend, _user, client) = caller().await?;
    backend.firewall_bans(client).await
}

/// Lifts a ban (idempotent).
#[server(prefix = "/rpc", endpoint = "firewall/unban", input = Json, output = JsonText)]
pub async fn unban_address(address: String) -> Result<(), AppError> {
    let (backend, user, client) = caller().await?;
    backend.unban_address(&user, client, &address).await
}

/// Opens one service port to everyone: adds an accept rule for it at the top of the saved rules (Apply
/// makes it live). The port must be one the service reserves.
#[server(prefix = "/rpc", endpoint = "firewall/expose", input = Json, output = JsonText)]
pub async fn expose_service_port(service_id: String, port: u16) -> Result<Rule, AppError> {
    let (backend, user, client) = caller().await?;
    backend
        .expose_service_port(&user, client, &service_id, port)
        .await
}

/// Whether each service port is reachable from outside, and what decides (saved and live rule sets).
#[server(prefix = "/rpc", endpoint = "firewall/exposure", input = Json, output = JsonText)]
pub async fn firewall_exposure() -> Result<Vec<ExposureView>, AppError> {
    let (backend, _user, client) = caller().await?;
    backend.firewall_exposure(client).await
}
