//! The HTTP surface: one axum router serving the server-rendered UI and its server functions, the REST API
//! under `/api/v1`, the login form endpoints, static assets under `/pkg`, and `/healthz`. Cross-cutting
//! guards (CSRF, authentication, security headers, body limit, tracing) are layered here, once.

pub mod auth_routes;
pub mod error;
pub mod firewall;
pub mod json;
pub mod middleware;
pub mod services;
pub mod settings;

use std::path::Path;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue};
use axum::routing::{any, get, post};
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_http::services::ServeDir;

use app::backend::SharedBackend;

use crate::state::AppState;
use error::ApiError;

/// The largest request body Warden accepts (413 beyond).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

async fn healthz() -> &'static str {
    "ok"
}

async fn api_not_found() -> ApiError {
    ApiError::not_found("There is no such API route.")
}

/// The REST API, mounted at `/api/v1`.
fn api_router() -> Router<AppState> {
    Router::new()
        .route("/auth/login", post(auth_routes::api_login))
        .route("/auth/logout", post(auth_routes::api_logout))
        .merge(services::routes())
        .merge(firewall::routes())
        .merge(settings::routes())
        .fallback(any(api_not_found))
}

/// Sets `Cache-Control` on `/pkg` responses by file name (see `crate::assets::cache_control`).
async fn pkg_cache_control(
    uri: axum::http::Uri,
    mut response: axum::response::Response,
) -> axum::response::Response {
    if response.status().is_success() || response.status() == axum::http::StatusCode::NOT_MODIFIED {
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(crate::assets::cache_control(uri.path())),
        );
    }
    response
}

/// Builds the whole application router.
pub fn router(state: AppState, site_root: &Path) -> Router {
    let leptos_options = state.leptos_options.clone();
    let routes = generate_route_list(app::App);
    let backend: SharedBackend = Arc::new(state.clone());

    // Content-hashed assets are cached for a year; `X.br` twins are served to browsers that accept br.
    let pkg = Router::new()
        .fallback_service(ServeDir::new(site_root.join("pkg")).precompressed_br())
        .layer(axum::middleware::map_response(pkg_cache_control));

    Router::new()
        .route("/healthz", get(healthz))
        .route("/login", post(auth_routes::form_login))
        .route("/logout", post(auth_routes::form_logout))
        .nest("/api/v1", api_router())
        // Anything else under /api (including `/api/v1/` itself) answers in the API's error shape too.
        .route("/api", any(api_not_found))
        .route("/api/", any(api_not_found))
        .route("/api/{*rest}", any(api_not_found))
        .leptos_routes_with_context(&state, routes, move || provide_context(backend.clone()), {
            let leptos_options = leptos_options.clone();
            move || app::shell(leptos_options.clone())
        })
        .nest_service("/pkg", pkg)
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(
            app::shell,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::auth_gate,
        ))
        .layer(axum::middleware::from_fn(middleware::csrf_guard))
        .layer(axum::middleware::from_fn(middleware::security_headers))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}
