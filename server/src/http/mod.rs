//! The HTTP surface: one axum router serving the server-rendered UI and its server functions, the REST API
//! under `/api/v1`, the login form endpoints, static assets under `/pkg`, and `/healthz`. Cross-cutting
//! guards are layered here, once, in this order: the client address (`client_addr`), the Host check
//! (`host`), security headers (and HSTS under TLS), CSRF, authentication, and only then the body limit:
//! no request body is read before the request is authenticated (public login endpoints read at most
//! `middleware::PUBLIC_MAX_BODY_BYTES`).

pub mod admin;
pub mod auth_routes;
pub mod backup;
pub mod client_addr;
pub mod error;
pub mod firewall;
pub mod host;
pub mod jails;
pub mod json;
pub mod metrics;
pub mod middleware;
pub mod notifications;
pub mod openapi;
pub mod services;
pub mod settings;
pub mod state;
pub mod users;

use std::path::Path;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue};
use axum::routing::{any, get, post};
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_http::services::ServeDir;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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

/// The REST API with its OpenAPI document: every route under `/api/v1`, each one registered together
/// with its operation (`routes!`), so router and document cannot drift apart. Add API routes only here
/// and only with `routes!`.
pub fn api_routes() -> OpenApiRouter<AppState> {
    let v1 = OpenApiRouter::new()
        .routes(routes!(auth_routes::api_login))
        .routes(routes!(auth_routes::api_logout))
        .routes(routes!(openapi::openapi_json))
        .merge(admin::routes())
        .merge(services::routes())
        .merge(firewall::routes())
        .merge(jails::routes())
        .merge(settings::routes())
        .merge(state::routes())
        .merge(users::routes())
        .merge(notifications::routes());
    OpenApiRouter::with_openapi(openapi::base())
        .nest("/api/v1", v1)
        .routes(routes!(metrics::metrics))
}

/// Every registered server function endpoint as `(method, path)`, sorted. Read from the server-fn
/// registry itself, so a new server function cannot be missed by the tests that walk this list.
pub fn server_fn_endpoints() -> Vec<(String, String)> {
    let mut endpoints: Vec<(String, String)> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, method)| (method.to_string(), path.to_string()))
        .collect();
    endpoints.sort();
    endpoints
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
        .merge(api_routes().split_for_parts().0)
        // Anything else under /api (including `/api/v1/` itself) answers in the API's error shape too.
        .route("/api", any(api_not_found))
        .route("/api/", any(api_not_found))
        .route("/api/{*rest}", any(api_not_found))
        .leptos_routes_with_context(
            &state,
            routes,
            move || {
                provide_context(backend.clone());
                middleware::provide_request_nonce();
            },
            {
                let leptos_options = leptos_options.clone();
                move || app::shell(leptos_options.clone())
            },
        )
        .nest_service("/pkg", pkg)
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(middleware::provide_request_nonce, app::shell))
        // Layers run from the last added to the first: the body limit (which reads bodies) runs only
        // after authentication has let the request through.
        .layer(axum::middleware::from_fn(middleware::body_limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::auth_gate,
        ))
        .layer(axum::middleware::from_fn(middleware::csrf_guard))
        // Inside the security headers, so the 421 page gets them (CSP, no framing, HSTS) too.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            host::host_guard,
        ))
        .layer(axum::middleware::from_fn(middleware::security_headers))
        .layer(
            tower_http::set_header::SetResponseHeaderLayer::if_not_present(
                header::STRICT_TRANSPORT_SECURITY,
                state.secure_cookies.then(host::hsts_value),
            ),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            client_addr::client_address_layer,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .layer(axum::middleware::from_fn(metrics::record_duration))
        .layer(axum::Extension(Arc::new(metrics::HttpMetrics::default())))
        .with_state(state)
}
