//! REST routes for the firewall (`/api/v1/firewall*`), mounted by `http::api_router`. Thin adapters over
//! the firewall handle; no business rule lives here.
//!
//! Beyond `api-v1.md`:
//! - every rule in `GET /rules` and `GET /rules/{id}` carries `packets` and `bytes` (live counters;
//!   `null` while the firewall is not active);
//! - `GET /firewall` adds `capability`, `default_inbound_policy`, `anti_lockout`, `admin_port`,
//!   `last_rollback`, `pending.seconds_left` and `your_address` (the caller's address, which an
//!   apply keeps reaching the admin port and SSH; every answer with the status carries it);
//!   `PATCH /firewall {"default_inbound_policy": "accept"|"drop"}` edits the saved policy;
//! - `POST /firewall/reapply` re-applies the live rule set (fixes drift without a new revision);
//! - `GET /firewall/ruleset?applied=true` gives the text installed by the live apply (default: what
//!   `apply` would install now for the calling address); ban elements are omitted from both;
//! - `POST /firewall/bans {"address", "reason"?, "ban_secs"?}` → 201 bans an address by hand;
//!   bans add `seconds_left` (until the kernel lifts the ban);
//! - `GET /firewall/presets` adds `title` and `open`; `DELETE /firewall/presets/{name}` → 204 closes a
//!   preset (removes its rules);
//! - `POST /firewall/exposure/{service_id}/{port}` → 201 adds an accept rule for that port at the top;
//!   exposure entries add `hostnames` (hostnames of the rules covering the port, resolved for the
//!   answer as apply resolves them), `unresolved_hostnames` (those that do not resolve: they match
//!   nothing, and apply would refuse them), `reachable_from_everywhere`, `decided_by`, `firewall_active` and
//!   `live_reachable_from_outside`.
//!
//! Errors: without the capability to drive nft, changes of kernel state answer 503
//! `firewall_unavailable` with the reason; nft's own refusal answers 500 `nft_failed` with its
//! message; nothing pending / preset already open / protected address → 409 `conflict`.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use app::model::firewall::{BanView, ExposureView, FirewallStatus, PresetView, RuleView};
use app::model::FieldError;
use warden_firewall::{Policy, RuleInput, RulePatch};

use super::error::ApiError;
use super::json::ApiJson;
use super::openapi::TAG_FIREWALL;
use crate::firewall_ctl::parse_ban_address;
use crate::state::AppState;
use warden_firewall::Rule;

/// The default commit-confirm window when the body leaves it out.
pub const DEFAULT_CONFIRM_SECS: u64 = 60;

/// The firewall routes with their OpenAPI operations (paths relative to `/api/v1`).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(status, patch_firewall))
        .routes(routes!(list_rules, create_rule))
        .routes(routes!(get_rule, patch_rule, delete_rule))
        .routes(routes!(move_rule))
        .routes(routes!(apply))
        .routes(routes!(confirm))
        .routes(routes!(rollback))
        .routes(routes!(deactivate))
        .routes(routes!(reapply))
        .routes(routes!(ruleset))
        .routes(routes!(list_bans, create_ban))
        .routes(routes!(delete_ban))
        .routes(routes!(list_presets))
        .routes(routes!(open_preset, close_preset))
        .routes(routes!(exposure))
        .routes(routes!(expose))
}

/// The client address, with IPv4-mapped IPv6 turned back into IPv4; it counts as administering.
fn client(state: &AppState, peer: SocketAddr) -> IpAddr {
    let addr = peer.ip().to_canonical();
    state.firewall.note_administering(addr);
    addr
}

#[utoipa::path(get, path = "/firewall", tag = TAG_FIREWALL, operation_id = "firewall_status", responses((status = 200, description = "The firewall status", body = FirewallStatus)))]
async fn status(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Result<Response, ApiError> {
    let addr = client(&state, peer);
    Ok(Json(state.firewall.status().await?.for_client(addr)).into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct FirewallPatch {
    default_inbound_policy: Option<Policy>,
}

#[utoipa::path(patch, path = "/firewall", tag = TAG_FIREWALL, operation_id = "update_firewall", request_body = FirewallPatch, responses((status = 200, description = "The status after the change", body = FirewallStatus)))]
async fn patch_firewall(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(patch): ApiJson<FirewallPatch>,
) -> Result<Response, ApiError> {
    let addr = client(&state, peer);
    if let Some(policy) = patch.default_inbound_policy {
        state.firewall.set_default_inbound_policy(policy).await?;
    }
    Ok(Json(state.firewall.status().await?.for_client(addr)).into_response())
}

#[utoipa::path(get, path = "/firewall/rules", tag = TAG_FIREWALL, operation_id = "list_rules", responses((status = 200, description = "The saved rules in order, with live counters", body = Vec<RuleView>)))]
async fn list_rules(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Result<Response, ApiError> {
    client(&state, peer);
    Ok(Json(state.firewall.rules().await?).into_response())
}

#[utoipa::path(post, path = "/firewall/rules", tag = TAG_FIREWALL, operation_id = "create_rule", request_body = RuleInput, responses((status = 201, description = "Added to the saved rules (appended unless `position` is given)", body = Rule)))]
async fn create_rule(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(input): ApiJson<RuleInput>,
) -> Result<Response, ApiError> {
    client(&state, peer);
    let rule = state.firewall.add_rule(input).await?;
    Ok((StatusCode::CREATED, Json(rule)).into_response())
}

#[utoipa::path(get, path = "/firewall/rules/{id}", tag = TAG_FIREWALL, operation_id = "get_rule", params(("id" = String, Path, description = "The server-assigned id")), responses((status = 200, description = "The rule", body = RuleView)))]
async fn get_rule(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    client(&state, peer);
    Ok(Json(state.firewall.rule(&id).await?).into_response())
}

#[utoipa::path(patch, path = "/firewall/rules/{id}", tag = TAG_FIREWALL, operation_id = "update_rule", params(("id" = String, Path, description = "The server-assigned id")), request_body = RulePatch, responses((status = 200, description = "The changed rule", body = Rule)))]
async fn patch_rule(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<RulePatch>,
) -> Result<Response, ApiError> {
    client(&state, peer);
    Ok(Json(state.firewall.patch_rule(&id, patch).await?).into_response())
}

#[utoipa::path(delete, path = "/firewall/rules/{id}", tag = TAG_FIREWALL, operation_id = "delete_rule", params(("id" = String, Path, description = "The server-assigned id")), responses((status = 204, description = "Deleted from the saved rules")))]
async fn delete_rule(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    client(&state, peer);
    state.firewall.delete_rule(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct MoveRequest {
    position: u32,
}

#[utoipa::path(post, path = "/firewall/rules/{id}/move", tag = TAG_FIREWALL, operation_id = "move_rule", params(("id" = String, Path, description = "The server-assigned id")), request_body = MoveRequest, responses((status = 200, description = "The moved rule", body = Rule)))]
async fn move_rule(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<MoveRequest>,
) -> Result<Response, ApiError> {
    client(&state, peer);
    Ok(Json(state.firewall.move_rule(&id, req.position).await?).into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ApplyRequest {
    #[serde(default = "default_confirm_secs")]
    confirm_within_secs: u64,
}

fn default_confirm_secs() -> u64 {
    DEFAULT_CONFIRM_SECS
}

#[utoipa::path(post, path = "/firewall/apply", tag = TAG_FIREWALL, operation_id = "apply_firewall", request_body = ApplyRequest, responses((status = 202, description = "Live now; rolled back unless confirmed in time", body = FirewallStatus)))]
async fn apply(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(req): ApiJson<ApplyRequest>,
) -> Result<Response, ApiError> {
    let addr = client(&state, peer);
    let status = state.firewall.apply(req.confirm_within_secs, addr).await?;
    Ok((StatusCode::ACCEPTED, Json(status.for_client(addr))).into_response())
}

#[utoipa::path(post, path = "/firewall/confirm", tag = TAG_FIREWALL, operation_id = "confirm_firewall", responses((status = 200, description = "The pending apply is kept", body = FirewallStatus)))]
async fn confirm(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Result<Response, ApiError> {
    let addr = client(&state, peer);
    Ok(Json(state.firewall.confirm().await?.for_client(addr)).into_response())
}

#[utoipa::path(post, path = "/firewall/rollback", tag = TAG_FIREWALL, operation_id = "rollback_firewall", responses((status = 200, description = "The state before the pending apply is back", body = FirewallStatus)))]
async fn rollback(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Result<Response, ApiError> {
    let addr = client(&state, peer);
    Ok(Json(state.firewall.rollback().await?.for_client(addr)).into_response())
}

#[utoipa::path(post, path = "/firewall/deactivate", tag = TAG_FIREWALL, operation_id = "deactivate_firewall", responses((status = 200, description = "Warden's table is removed", body = FirewallStatus)))]
async fn deactivate(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Result<Response, ApiError> {
    let addr = client(&state, peer);
    Ok(Json(state.firewall.deactivate().await?.for_client(addr)).into_response())
}

#[utoipa::path(post, path = "/firewall/reapply", tag = TAG_FIREWALL, operation_id = "reapply_firewall", responses((status = 200, description = "The live rule set is installed again", body = FirewallStatus)))]
async fn reapply(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Result<Response, ApiError> {
    let addr = client(&state, peer);
    Ok(Json(state.firewall.reapply().await?.for_client(addr)).into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RulesetQuery {
    #[serde(default)]
    applied: bool,
}

#[utoipa::path(get, path = "/firewall/ruleset", tag = TAG_FIREWALL, operation_id = "firewall_ruleset", params(("applied" = Option<bool>, Query, description = "The text installed by the live apply instead of what apply would install now")), responses((status = 200, description = "The nftables ruleset", body = String, content_type = "text/plain")))]
async fn ruleset(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    query: Result<Query<RulesetQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let addr = client(&state, peer);
    let Query(query) =
        query.map_err(|e| ApiError::bad_request(format!("Bad query string: {e}")))?;
    let text = if query.applied {
        state.firewall.applied_ruleset()?
    } else {
        state.firewall.ruleset_preview(addr).await?
    };
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

#[utoipa::path(get, path = "/firewall/bans", tag = TAG_FIREWALL, operation_id = "list_bans", responses((status = 200, description = "The bans in the kernel", body = Vec<BanView>)))]
async fn list_bans(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Result<Response, ApiError> {
    client(&state, peer);
    Ok(Json(state.firewall.bans().await?).into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct BanRequest {
    address: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    ban_secs: Option<u64>,
}

#[utoipa::path(post, path = "/firewall/bans", tag = TAG_FIREWALL, operation_id = "create_ban", request_body = BanRequest, responses((status = 201, description = "Banned", body = BanView)))]
async fn create_ban(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(req): ApiJson<BanRequest>,
) -> Result<Response, ApiError> {
    client(&state, peer);
    let addr = parse_ban_address(&req.address)?;
    let ban = state
        .firewall
        .ban_by_hand(addr, req.reason, req.ban_secs)
        .await?;
    Ok((StatusCode::CREATED, Json(ban)).into_response())
}

#[utoipa::path(delete, path = "/firewall/bans/{address}", tag = TAG_FIREWALL, operation_id = "delete_ban", params(("address" = String, Path, description = "An IP address, or an IPv6 /64 network")), responses((status = 204, description = "Lifted (also when it had expired)")))]
async fn delete_ban(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(address): Path<String>,
) -> Result<Response, ApiError> {
    client(&state, peer);
    let addr = parse_ban_address(&address)?;
    state.access.unban(addr).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(get, path = "/firewall/presets", tag = TAG_FIREWALL, operation_id = "list_presets", responses((status = 200, description = "The presets", body = Vec<PresetView>)))]
async fn list_presets(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Result<Response, ApiError> {
    client(&state, peer);
    Ok(Json(state.firewall.presets()?).into_response())
}

#[utoipa::path(post, path = "/firewall/presets/{name}", tag = TAG_FIREWALL, operation_id = "open_preset", params(("name" = String, Path, description = "The preset's name")), responses((status = 201, description = "The rules it added", body = Vec<Rule>)))]
async fn open_preset(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    client(&state, peer);
    let rules = state.firewall.open_preset(&name).await?;
    Ok((StatusCode::CREATED, Json(rules)).into_response())
}

#[utoipa::path(delete, path = "/firewall/presets/{name}", tag = TAG_FIREWALL, operation_id = "close_preset", params(("name" = String, Path, description = "The preset's name")), responses((status = 204, description = "Its rules are removed")))]
async fn close_preset(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    client(&state, peer);
    state.firewall.close_preset(&name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(get, path = "/firewall/exposure", tag = TAG_FIREWALL, operation_id = "firewall_exposure", responses((status = 200, description = "Which service ports are reachable from outside", body = Vec<ExposureView>)))]
async fn exposure(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Result<Response, ApiError> {
    client(&state, peer);
    Ok(Json(state.firewall.exposure().await?).into_response())
}

#[utoipa::path(post, path = "/firewall/exposure/{service_id}/{port}", tag = TAG_FIREWALL, operation_id = "expose_service_port", params(("service_id" = String, Path, description = "The service"), ("port" = u16, Path, description = "One of its ports")), responses((status = 201, description = "An accept rule for the port, at the top", body = Rule)))]
async fn expose(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((service_id, port)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    client(&state, peer);
    let port: u16 = port.parse().map_err(|_| {
        ApiError::validation(vec![FieldError::new(
            "port",
            format!("{port:?} is not a port number"),
        )])
    })?;
    let rule = state.firewall.expose(&service_id, port).await?;
    Ok((StatusCode::CREATED, Json(rule)).into_response())
}
