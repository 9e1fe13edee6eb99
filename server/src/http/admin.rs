//! REST routes for administration, mounted by `http::api_router`: API tokens (`/tokens`), the password
//! change (`/auth/password`) and the audit log (`/audit`). Thin adapters over the access domain and the audit log,
//! which also record the audit entries.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use app::model::admin::{ApiToken, AuditEntry, CreatedToken, PasswordChange, TokenRequest};

use super::error::ApiError;
use super::json::ApiJson;
use super::openapi::{TAG_AUDIT, TAG_AUTH};
use crate::access::Principal;
use crate::audit::{DEFAULT_LIMIT, MAX_LIMIT};
use crate::state::AppState;

/// The administration routes with their OpenAPI operations (paths relative to `/api/v1`).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
        .routes(routes!(change_password))
        .routes(routes!(audit))
}

#[utoipa::path(get, path = "/tokens", tag = TAG_AUTH, operation_id = "list_tokens",
    responses((status = 200, description = "The caller's API tokens (without secrets), oldest first", body = Vec<ApiToken>)))]
async fn list_tokens(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<Json<Vec<ApiToken>>, ApiError> {
    Ok(Json(state.access.api_tokens(&principal.username)?))
}

#[utoipa::path(post, path = "/tokens", tag = TAG_AUTH, operation_id = "create_token",
    request_body = TokenRequest,
    responses(
        (status = 201, description = "Created; `token` is the secret, shown only this once", body = CreatedToken),
        (status = 422, description = "An invalid name, or an `expires_at` that is not a future RFC 3339 time", body = super::error::ErrorResponse),
    ))]
async fn create_token(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    ApiJson(req): ApiJson<TokenRequest>,
) -> Result<Response, ApiError> {
    let created = state
        .access
        .create_api_token(&principal.username, &req)
        .await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

#[utoipa::path(delete, path = "/tokens/{id}", tag = TAG_AUTH, operation_id = "revoke_token",
    params(("id" = String, Path, description = "The server-assigned id")), responses((status = 204, description = "Revoked; it stops working at once")))]
async fn revoke_token(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .access
        .revoke_api_token(&principal.username, &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/auth/password", tag = TAG_AUTH, operation_id = "change_password",
    request_body = PasswordChange,
    responses(
        (status = 204, description = "Changed; the user's other login sessions end (API tokens stay)"),
        (status = 429, description = "Too many wrong current passwords from this address (they count as failed logins; see Retry-After)", body = super::error::ErrorResponse),
    ))]
async fn change_password(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(change): ApiJson<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    state
        .access
        .change_password(&principal, &change, peer.ip().to_canonical())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    /// How many of the newest entries (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/audit", tag = TAG_AUDIT, operation_id = "audit_log",
    params(AuditQuery),
    responses((status = 200, description = "The newest audit entries, newest first", body = Vec<AuditEntry>)))]
async fn audit(
    State(state): State<AppState>,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    let Query(query) = query.map_err(|_| ApiError {
        field: Some("limit".into()),
        ..ApiError::bad_request(format!(
            "limit must be a whole number from 1 to {MAX_LIMIT}"
        ))
    })?;
    let limit = match query.limit {
        None => DEFAULT_LIMIT,
        Some(n) if (1..=MAX_LIMIT as u32).contains(&n) => n as usize,
        Some(_) => {
            return Err(ApiError {
                field: Some("limit".into()),
                ..ApiError::bad_request(format!(
                    "limit must be a whole number from 1 to {MAX_LIMIT}"
                ))
            })
        }
    };
    Ok(Json(state.audit.recent(limit)?))
}
