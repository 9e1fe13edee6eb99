//! REST routes for settings (`/api/v1/settings`) and the event stream (`/api/v1/events`), mounted by
//! `http::api_router`.

use axum::Router;

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
}
