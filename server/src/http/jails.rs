//! REST routes for jails (`/api/v1/firewall/jails*`), mounted by `http::api_router`. Thin adapters over
//! the jails handle; no business rule lives here.
//!
//! Beyond `api-v1.md`:
//! - a jail adds `increment` (repeat offenders: each new ban twice as long) and `max_ban_secs` (its cap);
//! - `GET /firewall/jails` and `GET /firewall/jails/{id}` add the live counters: `lines` (lines read
//!   since Warden started), `matched` (failure lines since then), `bans` (bans made since then),
//!   `failing` (addresses counting failures in the window), `recent` (the last failure lines, newest
//!   first) and `source_problem`;
//! - `POST /firewall/jails/test {"preset"?, "patterns"?, "lines"}` tries patterns on pasted lines and
//!   changes nothing (a read-only credential may call it);
//! - `GET /firewall/jails/presets` lists the shipped presets with their patterns.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use app::model::jails::{
    preset_views, Jail, JailInput, JailPatch, JailPresetView, JailTestRequest, JailTestResult,
    JailView,
};

use super::error::ApiError;
use super::json::ApiJson;
use super::openapi::TAG_FIREWALL;
use crate::state::AppState;

/// The jail routes with their OpenAPI operations (paths relative to `/api/v1`).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_jails, create_jail))
        .routes(routes!(test_jail))
        .routes(routes!(list_jail_presets))
        .routes(routes!(get_jail, patch_jail, delete_jail))
}

/// The caller counts as administering (its address is never banned).
fn client(state: &AppState, peer: SocketAddr) {
    state.firewall.note_administering(peer.ip().to_canonical());
}

#[utoipa::path(get, path = "/firewall/jails", tag = TAG_FIREWALL, operation_id = "list_jails", responses((status = 200, description = "The jails with their live counters, by name", body = Vec<JailView>)))]
async fn list_jails(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Result<Response, ApiError> {
    client(&state, peer);
    Ok(Json(state.jails.list()?).into_response())
}

#[utoipa::path(post, path = "/firewall/jails", tag = TAG_FIREWALL, operation_id = "create_jail", request_body = JailInput, responses((status = 201, description = "Added (and watching its source if enabled)", body = Jail)))]
async fn create_jail(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(input): ApiJson<JailInput>,
) -> Result<Response, ApiError> {
    client(&state, peer);
    let jail = state.jails.create(input).await?;
    Ok((StatusCode::CREATED, Json(jail)).into_response())
}

#[utoipa::path(get, path = "/firewall/jails/{id}", tag = TAG_FIREWALL, operation_id = "get_jail", params(("id" = String, Path, description = "The server-assigned id")), responses((status = 200, description = "The jail with its live counters", body = JailView)))]
async fn get_jail(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    client(&state, peer);
    Ok(Json(state.jails.get(&id)?).into_response())
}

#[utoipa::path(patch, path = "/firewall/jails/{id}", tag = TAG_FIREWALL, operation_id = "update_jail", params(("id" = String, Path, description = "The server-assigned id")), request_body = JailPatch, responses((status = 200, description = "The changed jail (its counts are kept)", body = Jail)))]
async fn patch_jail(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<JailPatch>,
) -> Result<Response, ApiError> {
    client(&state, peer);
    Ok(Json(state.jails.patch(&id, patch).await?).into_response())
}

#[utoipa::path(delete, path = "/firewall/jails/{id}", tag = TAG_FIREWALL, operation_id = "delete_jail", params(("id" = String, Path, description = "The server-assigned id")), responses((status = 204, description = "Deleted (its bans stay until they expire)")))]
async fn delete_jail(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    client(&state, peer);
    state.jails.delete(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(post, path = "/firewall/jails/test", tag = TAG_FIREWALL, operation_id = "test_jail_patterns", request_body = JailTestRequest, responses((status = 200, description = "Which lines match, and the address each names (nothing is changed)", body = JailTestResult)))]
async fn test_jail(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(request): ApiJson<JailTestRequest>,
) -> Result<Response, ApiError> {
    client(&state, peer);
    Ok(Json(state.jails.test(&request)?).into_response())
}

#[utoipa::path(get, path = "/firewall/jails/presets", tag = TAG_FIREWALL, operation_id = "list_jail_presets", responses((status = 200, description = "The shipped presets and their patterns", body = Vec<JailPresetView>)))]
async fn list_jail_presets(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Result<Response, ApiError> {
    client(&state, peer);
    Ok(Json(preset_views()).into_response())
}
