//! The OpenAPI 3.1 document of `/api/v1`, generated from the handlers' `#[utoipa::path]` annotations and
//! the DTOs' `ToSchema` derives. The API router is built from the same `OpenApiRouter`
//! (`http::api_routes`), so a route cannot exist without its operation in the document, nor the other way
//! round. Added here: the bearer and cookie security schemes (every operation requires one of them unless
//! it is marked public with an empty requirement), and the error shape as the answer of every operation's
//! 4XX and 5XX responses.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi, RefOr, Response, ResponseBuilder};
use utoipa::{IntoParams, OpenApi as _};

use super::error::ErrorResponse;
use crate::access::SESSION_COOKIE;

pub const TAG_AUTH: &str = "auth";
pub const TAG_SERVICES: &str = "services";
pub const TAG_FIREWALL: &str = "firewall";
pub const TAG_SETTINGS: &str = "settings";
pub const TAG_EVENTS: &str = "events";
pub const TAG_AUDIT: &str = "audit";
pub const TAG_USERS: &str = "users";
pub const TAG_OPERATIONS: &str = "operations";
pub const TAG_STATE: &str = "state";
pub const TAG_NOTIFICATIONS: &str = "notifications";

/// The names of the security schemes in the document.
pub const BEARER_SCHEME: &str = "bearer";
pub const COOKIE_SCHEME: &str = "session_cookie";

/// The `{id}` path parameter of services, rules and tokens.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct IdPath {
    /// The server-assigned id.
    #[allow(dead_code)]
    id: String,
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Warden REST API",
        description = "Supervise services and manage the host firewall. Errors answer \
            `{\"error\": {\"code\", \"message\", \"field\"}}`. Authenticate with \
            `Authorization: Bearer <token>` (from `POST /api/v1/auth/login` or `POST /api/v1/tokens`), or \
            the browser's session cookie on same-origin requests. Requests must address Warden by one of its \
            own names (its addresses, `localhost`, the host name, the TLS certificate's names, the \
            `allowed_hosts` setting): any other `Host` gets 421 `misdirected_request`. Behind a reverse \
            proxy listed in `trusted_proxies`, the client is the rightmost untrusted `X-Forwarded-For` hop. \
            Request bodies are read only after authentication (login: 16 KiB at most, else 1 MiB).",
        license(name = "AGPL-3.0-or-later")
    ),
    components(schemas(ErrorResponse)),
    tags(
        (name = "auth", description = "Login, logout, password, second factor (TOTP), API tokens"),
        (name = "services", description = "Supervised services"),
        (name = "firewall", description = "Rules, apply/confirm/rollback, bans, presets, exposure"),
        (name = "settings", description = "Global settings"),
        (name = "events", description = "Live status changes"),
        (name = "audit", description = "Who did what, when"),
        (name = "users", description = "Accounts: users with a role (admin or read) and their second factor"),
        (name = "operations", description = "Monitoring: Prometheus metrics"),
        (name = "state", description = "Desired state: export, plan and apply one document (services, firewall rules, settings); backups"),
        (name = "notifications", description = "Alerts by webhook and e-mail: destinations, the events they receive, send test, delivery log"),
    )
)]
struct BaseDoc;

/// The document's fixed part (info, tags, the error schema); the routes add their operations.
pub fn base() -> OpenApi {
    BaseDoc::openapi()
}

fn error_response(description: &str) -> RefOr<Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                utoipa::openapi::ContentBuilder::new()
                    .schema(Some(utoipa::openapi::Ref::from_schema_name(
                        "ErrorResponse",
                    )))
                    .build(),
            )
            .build(),
    )
}

fn operations_mut(item: &mut utoipa::openapi::PathItem) -> Vec<&mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.options.as_mut(),
        item.head.as_mut(),
        item.patch.as_mut(),
        item.trace.as_mut(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Whether an operation is public: it names the empty security requirement (`security(())`).
pub fn is_public(operation: &Operation) -> bool {
    operation.security.as_ref().is_some_and(|reqs| {
        reqs.iter().any(|r| {
            serde_json::to_value(r).is_ok_and(|v| v.as_object().is_some_and(|o| o.is_empty()))
        })
    })
}

/// Adds the security schemes, the global requirement and the error responses to the routes' document.
pub fn finish(mut doc: OpenApi) -> OpenApi {
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        BEARER_SCHEME,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "A session token from `POST /api/v1/auth/login` or an API token from `POST /api/v1/tokens`",
                ))
                .build(),
        ),
    );
    components.add_security_scheme(
        COOKIE_SCHEME,
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            SESSION_COOKIE,
            "The browser's session cookie (mutations must come from the same origin)",
        ))),
    );
    doc.security = Some(vec![
        utoipa::openapi::security::SecurityRequirement::new(BEARER_SCHEME, Vec::<String>::new()),
        utoipa::openapi::security::SecurityRequirement::new(COOKIE_SCHEME, Vec::<String>::new()),
    ]);
    for item in doc.paths.paths.values_mut() {
        let mutations = [
            item.put.as_mut(),
            item.post.as_mut(),
            item.delete.as_mut(),
            item.patch.as_mut(),
        ];
        for op in mutations.into_iter().flatten().filter(|op| !is_public(op)) {
            op.responses
                .responses
                .entry("403".to_string())
                .or_insert_with(|| {
                    error_response(
                        "Refused: a read-only API token (scope `read`) or a session or token of a user with role \
                         `read` may not change anything, or a cookie-authenticated request came from a foreign origin",
                    )
                });
        }
        for op in operations_mut(item) {
            let public = is_public(op);
            let responses = &mut op.responses.responses;
            if !public {
                responses
                    .entry("401".to_string())
                    .or_insert_with(|| error_response("No valid credentials"));
            }
            responses.entry("4XX".to_string()).or_insert_with(|| {
                error_response(
                    "The request was refused (invalid input, unknown id, conflict, too large, ...)",
                )
            });
            responses.entry("5XX".to_string()).or_insert_with(|| {
                error_response("Warden failed (or cannot drive the firewall here)")
            });
        }
    }
    doc
}

/// The complete document, built once.
pub fn document() -> &'static OpenApi {
    static DOC: OnceLock<OpenApi> = OnceLock::new();
    DOC.get_or_init(|| finish(super::api_routes().into_openapi()))
}

/// `GET /api/v1/openapi.json`.
#[utoipa::path(get, path = "/openapi.json", tag = TAG_AUTH, operation_id = "openapi",
    security(()),
    responses((status = 200, description = "This document", content_type = "application/json")))]
pub async fn openapi_json() -> axum::response::Response {
    match document().to_json() {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(e) => super::error::ApiError::internal(e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    /// utoipa infers path parameters from the handlers' extractors; declaring an `IntoParams` struct
    /// for the same name as well writes it twice, which OpenAPI validators refuse.
    #[test]
    fn no_operation_declares_a_parameter_twice() {
        let doc = serde_json::to_value(super::document()).unwrap_or_default();
        let paths = doc["paths"].as_object().cloned().unwrap_or_default();
        assert!(paths.len() > 30, "the document has its paths");
        for (path, item) in paths {
            for (method, op) in item.as_object().cloned().unwrap_or_default() {
                let mut seen = std::collections::BTreeSet::new();
                for p in op["parameters"].as_array().into_iter().flatten() {
                    let key = (p["name"].to_string(), p["in"].to_string());
                    assert!(seen.insert(key.clone()), "{method} {path}: {key:?} twice");
                }
            }
        }
    }
}
