//! REST routes for the firewall (`/api/v1/firewall*`), mounted by `http::api_router`. Thin adapters over
//! the firewall handle; no business rule lives here.

use axum::Router;

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
}
