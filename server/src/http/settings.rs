//! REST routes for settings (`/api/v1/settings`) and the event stream (`/api/v1/events`), mounted by
//! `http::api_router`.
//!
//! `PATCH /settings` hands a [`SettingsPatch`] to the settings domain (`crate::settings`), which merges,
//! validates, persists and applies it.

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Json;
use futures::Stream;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use app::model::settings::Settings;

use super::error::ApiError;
use super::json::ApiJson;
use super::openapi::{TAG_EVENTS, TAG_SETTINGS};
use super::services::{from_object, sse_stream, JsonObject};
use crate::settings::SettingsPatch;
use crate::state::AppState;

/// The settings and events routes with their OpenAPI operations (paths relative to `/api/v1`).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(show, update))
        .routes(routes!(events))
}

#[utoipa::path(get, path = "/settings", tag = TAG_SETTINGS, operation_id = "get_settings",
    responses((status = 200, description = "The settings", body = Settings)))]
async fn show(State(state): State<AppState>) -> Json<Settings> {
    Json(state.settings.current())
}

#[utoipa::path(patch, path = "/settings", tag = TAG_SETTINGS, operation_id = "update_settings",
    request_body = SettingsPatch,
    responses((status = 200, description = "The settings after the change (applied live)", body = Settings)))]
async fn update(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<JsonObject>,
) -> Result<Json<Settings>, ApiError> {
    let patch: SettingsPatch = from_object(body)?;
    Ok(Json(state.settings.update(patch).await?))
}

/// `GET /api/v1/events`: every event of the bus as one `data:` line of JSON with a `"type"`.
#[utoipa::path(get, path = "/events", tag = TAG_EVENTS, operation_id = "events",
    responses((status = 200, description = "Server-sent events: one `data:` line of JSON with a `type` per status change of services, firewall and settings", body = String, content_type = "text/event-stream")))]
async fn events(
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<Event, std::convert::Infallible>>> {
    let stream = sse_stream(
        state.events.subscribe(),
        state.supervisor.closed(),
        |value: serde_json::Value| Event::default().data(value.to_string()),
    );
    Sse::new(stream).keep_alive(KeepAlive::default())
}
