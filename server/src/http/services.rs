//! REST routes for services (`/api/v1/services*`), mounted by `http::api_router`. Thin adapters over
//! `SupervisorHandle`; no business rule lives here.

use axum::Router;

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
}
