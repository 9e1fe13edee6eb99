//! REST routes for accounts, mounted by `http::api_routes`: users (`/users`, admins manage them; a
//! `read` user may list them) and the caller's own second factor (`/auth/totp/*`). Thin adapters over
//! the access domain, which validates, enforces the last-admin rule and records the audit entries.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use app::model::users::{
    RecoveryCodes, TotpConfirm, TotpEnrollment, UserCreate, UserPatch, UserView,
};

use super::error::ApiError;
use super::json::ApiJson;
use super::openapi::{TAG_AUTH, TAG_USERS};
use crate::access::Principal;
use crate::state::AppState;

/// The account routes with their OpenAPI operations (paths relative to `/api/v1`).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(update_user, delete_user))
        .routes(routes!(reset_user_totp))
        .routes(routes!(enroll_totp))
        .routes(routes!(confirm_totp))
        .routes(routes!(remove_own_totp))
}

#[utoipa::path(get, path = "/users", tag = TAG_USERS, operation_id = "list_users",
    responses((status = 200, description = "Every user, by name", body = Vec<UserView>)))]
async fn list_users(State(state): State<AppState>) -> Result<Json<Vec<UserView>>, ApiError> {
    Ok(Json(state.access.users()?))
}

#[utoipa::path(post, path = "/users", tag = TAG_USERS, operation_id = "create_user",
    request_body = UserCreate,
    responses(
        (status = 201, description = "Created", body = UserView),
        (status = 409, description = "A user with this name exists", body = super::error::ErrorResponse),
        (status = 422, description = "An invalid name, or a password the policy refuses (too short, too common)", body = super::error::ErrorResponse),
    ))]
async fn create_user(
    State(state): State<AppState>,
    ApiJson(create): ApiJson<UserCreate>,
) -> Result<Response, ApiError> {
    let user = state.access.create_user(&create).await?;
    Ok((StatusCode::CREATED, Json(user)).into_response())
}

#[utoipa::path(patch, path = "/users/{username}", tag = TAG_USERS, operation_id = "update_user",
    params(("username" = String, Path, description = "The user's name")), request_body = UserPatch,
    responses(
        (status = 200, description = "Changed. Disabling ends the user's sessions and API tokens at once; a new password ends its sessions", body = UserView),
        (status = 404, description = "No such user", body = super::error::ErrorResponse),
        (status = 409, description = "The last enabled admin cannot be demoted or disabled", body = super::error::ErrorResponse),
        (status = 422, description = "A password the policy refuses", body = super::error::ErrorResponse),
    ))]
async fn update_user(
    State(state): State<AppState>,
    Path(username): Path<String>,
    ApiJson(patch): ApiJson<UserPatch>,
) -> Result<Json<UserView>, ApiError> {
    Ok(Json(state.access.update_user(&username, &patch).await?))
}

#[utoipa::path(delete, path = "/users/{username}", tag = TAG_USERS, operation_id = "delete_user",
    params(("username" = String, Path, description = "The user's name")),
    responses(
        (status = 204, description = "Deleted, with its sessions and API tokens"),
        (status = 404, description = "No such user", body = super::error::ErrorResponse),
        (status = 409, description = "The last enabled admin cannot be deleted", body = super::error::ErrorResponse),
    ))]
async fn delete_user(
    State(state): State<AppState>,
    Path(username): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.access.delete_user(&username).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/users/{username}/totp", tag = TAG_USERS, operation_id = "reset_user_totp",
    params(("username" = String, Path, description = "The user's name")),
    responses(
        (status = 204, description = "The user's second factor is removed: its logins need the password only"),
        (status = 404, description = "No such user", body = super::error::ErrorResponse),
    ))]
async fn reset_user_totp(
    State(state): State<AppState>,
    Path(username): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.access.remove_totp(&username).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/auth/totp/enroll", tag = TAG_AUTH, operation_id = "enroll_totp",
    responses(
        (status = 200, description = "A new secret for the caller, shown once (also as an `otpauth://` URI and its QR code); confirm it with a first code", body = TotpEnrollment),
        (status = 409, description = "A confirmed second factor is active; remove it first", body = super::error::ErrorResponse),
    ))]
async fn enroll_totp(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<Json<TotpEnrollment>, ApiError> {
    Ok(Json(state.access.enroll_totp(&principal.username).await?))
}

#[utoipa::path(post, path = "/auth/totp/confirm", tag = TAG_AUTH, operation_id = "confirm_totp",
    request_body = TotpConfirm,
    responses(
        (status = 200, description = "Confirmed: from now on logins need a code. The recovery codes, shown only this once", body = RecoveryCodes),
        (status = 409, description = "Nothing to confirm: enroll first", body = super::error::ErrorResponse),
        (status = 422, description = "Not the current code of the enrolled secret", body = super::error::ErrorResponse),
    ))]
async fn confirm_totp(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    ApiJson(confirm): ApiJson<TotpConfirm>,
) -> Result<Json<RecoveryCodes>, ApiError> {
    Ok(Json(
        state
            .access
            .confirm_totp(&principal.username, &confirm.code)
            .await?,
    ))
}

#[utoipa::path(delete, path = "/auth/totp", tag = TAG_AUTH, operation_id = "remove_own_totp",
    responses((status = 204, description = "The caller's second factor is removed")))]
async fn remove_own_totp(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<StatusCode, ApiError> {
    state.access.remove_totp(&principal.username).await?;
    Ok(StatusCode::NO_CONTENT)
}
