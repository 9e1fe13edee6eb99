//! REST routes for notification destinations (`/api/v1/notifications/destinations*`), mounted by
//! `http::api_routes`. Thin adapters over the notifications domain, which validates, stores, audits and
//! delivers; no business rule lives here.
//!
//! - `GET|POST /notifications/destinations`, `GET|PATCH|DELETE /notifications/destinations/{id}`
//! - `POST /notifications/destinations/{id}/test`: one real delivery attempt now, answered with its outcome
//! - `GET /notifications/destinations/{id}/log?limit=N`: the newest delivery attempts, newest first

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use app::model::notifications::{
    DeliveryLog, DeliveryRecord, Destination, DestinationInput, DestinationPatch,
};

use super::error::ApiError;
use super::json::ApiJson;
use super::openapi::TAG_NOTIFICATIONS;
use crate::access::Principal;
use crate::notifications::log::KEEP;
use crate::state::AppState;

/// The notification routes with their OpenAPI operations (paths relative to `/api/v1`).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, update, remove))
        .routes(routes!(test))
        .routes(routes!(delivery_log))
}

#[utoipa::path(get, path = "/notifications/destinations", tag = TAG_NOTIFICATIONS, operation_id = "list_notification_destinations",
    responses((status = 200, description = "Every destination, oldest first, with its newest delivery and newest failure (the SMTP password is never returned: `password_set`; to a read-only credential a webhook URL is shortened to scheme and host, `url_redacted: true`)", body = Vec<Destination>)))]
async fn list(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<Json<Vec<Destination>>, ApiError> {
    let all = state.notifications.list()?;
    Ok(Json(
        all.into_iter().map(|d| shown_to(&principal, d)).collect(),
    ))
}

/// `destination` as `principal` may see it: a webhook URL in full to admin credentials only (it is
/// often the credential itself), shortened to scheme and host for read-only ones.
fn shown_to(principal: &Principal, destination: Destination) -> Destination {
    if principal.scope.may_mutate() {
        destination
    } else {
        destination.redacted()
    }
}

#[utoipa::path(post, path = "/notifications/destinations", tag = TAG_NOTIFICATIONS, operation_id = "create_notification_destination",
    request_body = DestinationInput,
    responses(
        (status = 201, description = "Created", body = Destination),
        (status = 422, description = "Invalid, by field (`url`, `smtp.host`, `smtp.port`, `smtp.from`, `to[i]`, `events[i]`...)", body = super::error::ErrorResponse),
    ))]
async fn create(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<DestinationInput>,
) -> Result<(StatusCode, Json<Destination>), ApiError> {
    let created = state.notifications.create(&input).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

#[utoipa::path(get, path = "/notifications/destinations/{id}", tag = TAG_NOTIFICATIONS, operation_id = "get_notification_destination",
    params(("id" = String, Path, description = "The destination's id")),
    responses(
        (status = 200, description = "The destination", body = Destination),
        (status = 404, description = "No such destination", body = super::error::ErrorResponse),
    ))]
async fn show(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Destination>, ApiError> {
    Ok(Json(shown_to(&principal, state.notifications.get(&id)?)))
}

#[utoipa::path(patch, path = "/notifications/destinations/{id}", tag = TAG_NOTIFICATIONS, operation_id = "update_notification_destination",
    params(("id" = String, Path, description = "The destination's id")), request_body = DestinationPatch,
    responses(
        (status = 200, description = "Changed (a left-out `smtp.password` keeps the stored one; `\"\"` removes it)", body = Destination),
        (status = 404, description = "No such destination", body = super::error::ErrorResponse),
        (status = 422, description = "Invalid, by field", body = super::error::ErrorResponse),
    ))]
async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<DestinationPatch>,
) -> Result<Json<Destination>, ApiError> {
    Ok(Json(state.notifications.update(&id, &patch).await?))
}

#[utoipa::path(delete, path = "/notifications/destinations/{id}", tag = TAG_NOTIFICATIONS, operation_id = "delete_notification_destination",
    params(("id" = String, Path, description = "The destination's id")),
    responses(
        (status = 204, description = "Deleted, with its delivery log"),
        (status = 404, description = "No such destination", body = super::error::ErrorResponse),
    ))]
async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.notifications.delete(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/notifications/destinations/{id}/test", tag = TAG_NOTIFICATIONS, operation_id = "test_notification_destination",
    params(("id" = String, Path, description = "The destination's id")),
    responses(
        (status = 200, description = "The outcome of one real delivery attempt of a `test` notification (made now, enabled or not; also in the delivery log): `ok`, the HTTP `status`, or the `error` in words", body = DeliveryRecord),
        (status = 404, description = "No such destination", body = super::error::ErrorResponse),
    ))]
async fn test(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<DeliveryRecord>, ApiError> {
    Ok(Json(state.notifications.test(&id).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct LogQuery {
    /// How many of the newest attempts (default and most: 50).
    #[param(minimum = 1, maximum = 50)]
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/notifications/destinations/{id}/log", tag = TAG_NOTIFICATIONS, operation_id = "notification_delivery_log",
    params(("id" = String, Path, description = "The destination's id"), LogQuery),
    responses(
        (status = 200, description = "The newest delivery attempts, newest first (each: time, event, ok, attempt, HTTP status, error)", body = DeliveryLog),
        (status = 404, description = "No such destination", body = super::error::ErrorResponse),
    ))]
async fn delivery_log(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<LogQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<DeliveryLog>, ApiError> {
    let invalid = || ApiError {
        field: Some("limit".into()),
        ..ApiError::bad_request(format!("limit must be a whole number from 1 to {KEEP}"))
    };
    let Query(query) = query.map_err(|_| invalid())?;
    let limit = match query.limit {
        None => KEEP,
        Some(n) if (1..=KEEP as u32).contains(&n) => n as usize,
        Some(_) => return Err(invalid()),
    };
    Ok(Json(DeliveryLog {
        entries: state.notifications.delivery_log(&id, limit)?,
    }))
}
