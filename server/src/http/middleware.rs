//! Request guards applied to the whole router: the CSRF guard (mutations from a foreign origin are refused
//! unless they authenticate with a bearer token), the API/server-function authentication gate (which also
//! refuses every mutation to a read-only token, [`read_only_may`]), the page guard (unauthenticated page
//! loads go to /login), and the security headers on every response.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use super::error::ApiError;
use crate::audit::{acting_as, Actor};
use crate::state::{AppState, CredentialSource};

/// Paths that answer without authentication.
pub fn is_public_path(path: &str) -> bool {
    matches!(
        path,
        "/healthz"
            | "/login"
            | "/logout"
            | "/api/v1/auth/login"
            | "/api/v1/openapi.json"
            | "/favicon.ico"
    ) || path.starts_with("/pkg/")
}

fn is_safe_method(m: &Method) -> bool {
    matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Whether a read-only credential may make this request: REST reads (GET/HEAD) and the server functions
/// listed as reads (`app::rpc::READ_ONLY_ENDPOINTS`); everything else changes something.
pub fn read_only_may(method: &Method, path: &str) -> bool {
    if path.starts_with("/rpc/") {
        return app::rpc::is_read_only_endpoint(path);
    }
    matches!(*method, Method::GET | Method::HEAD)
        || READ_ONLY_POST_ROUTES
            .iter()
            .any(|(m, p)| method.as_str() == *m && path == *p)
}

/// The REST routes that use POST (they take a body) but change nothing, so a read-only credential may
/// call them: the desired-state plan (what a document would change) and the jail pattern test.
pub const READ_ONLY_POST_ROUTES: &[(&str, &str)] = &[
    ("POST", "/api/v1/state/plan"),
    ("POST", "/api/v1/firewall/jails/test"),
];

/// The REST routes that act on the caller's own account only (method, path): its password, its second
/// factor, its logout. A `read` user's login session may use them (see `app::rpc::OWN_ACCOUNT_ENDPOINTS`
/// for the server functions); a read-only API token may not.
pub const OWN_ACCOUNT_ROUTES: &[(&str, &str)] = &[
    ("POST", "/api/v1/auth/password"),
    ("POST", "/api/v1/auth/totp/enroll"),
    ("POST", "/api/v1/auth/totp/confirm"),
    ("DELETE", "/api/v1/auth/totp"),
    ("POST", "/api/v1/auth/logout"),
];

/// Whether a login session of a `read` user may make this request: its own account's password, second
/// factor and logout.
pub fn own_account_may(method: &Method, path: &str) -> bool {
    if path.starts_with("/rpc/") {
        return app::rpc::is_own_account_endpoint(path);
    }
    OWN_ACCOUNT_ROUTES
        .iter()
        .any(|(m, p)| *m == method.as_str() && *p == path)
}

/// True when the request's `Origin` (or, lacking it, `Sec-Fetch-Site`) says it comes from another site.
/// The request's own authority is its `Host` header, or over HTTP/2 (which has no `Host`) the
/// `:authority` that hyper puts into the request URI, passed as `uri_authority`.
pub fn is_cross_origin(headers: &HeaderMap, uri_authority: Option<&str>) -> bool {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or(uri_authority);
    if let Some(origin) = headers.get(header::ORIGIN) {
        let Ok(origin) = origin.to_str() else {
            return true;
        };
        let authority = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        return match (authority, host) {
            (Some(a), Some(h)) => !a.eq_ignore_ascii_case(h),
            _ => true, // "null", other schemes, or no Host to compare with
        };
    }
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        Some(site) => !matches!(site, "same-origin" | "none"),
        None => false, // non-browser clients send neither
    }
}

/// Refuses state-changing requests from a foreign origin, unless they carry a bearer token (which a
/// browser never attaches by itself, so it cannot be forged cross-site).
pub async fn csrf_guard(req: Request, next: Next) -> Response {
    if !is_safe_method(req.method()) {
        let bearer = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.len() > 7 && v[..7].eq_ignore_ascii_case("bearer "));
        let authority = req.uri().authority().map(|a| a.as_str());
        if !bearer && is_cross_origin(req.headers(), authority) {
            return ApiError::forbidden("Cross-origin requests may not change anything.")
                .into_response();
        }
    }
    next.run(req).await
}

/// Authentication for the API, server functions and pages. API and server-function calls without valid
/// credentials get 401 in the API's error shape; page loads are redirected to the login page. The rest
/// of the request runs with the audit log's actor set (see `crate::audit`).
pub async fn auth_gate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    if let Some(peer) = req.extensions().get::<crate::socket::SocketPeer>().copied() {
        // The control socket admits root (and Warden's own user) only: full rights, audited as
        // `<user>@socket`, acting for the admin account.
        req.extensions_mut().insert(socket_principal());
        return acting_as(socket_actor(peer), next.run(req)).await;
    }
    let path = req.uri().path().to_string();
    let principal = state.principal(req.headers());
    let address = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip().to_canonical());
    let has_session_cookie = matches!(principal, Some((_, CredentialSource::Cookie)));
    if path == "/login" && has_session_cookie && req.method() == Method::GET {
        return Redirect::to("/").into_response();
    }
    if is_public_path(&path) {
        let actor = match &principal {
            Some((p, _)) => p.actor(address),
            None => Actor::anonymous(address),
        };
        return acting_as(actor, next.run(req)).await;
    }
    let is_machine_path = path == "/api"
        || path.starts_with("/api/")
        || path.starts_with("/rpc/")
        || path == "/metrics";
    match principal {
        Some((p, source)) => {
            // Pages are for browsers: a bearer token alone does not open them.
            if !is_machine_path && source == CredentialSource::Bearer {
                return Redirect::to("/login").into_response();
            }
            let own_account =
                p.kind == crate::access::TokenKind::Session && own_account_may(req.method(), &path);
            if !p.scope.may_mutate() && !read_only_may(req.method(), &path) && !own_account {
                return ApiError::forbidden(
                    "This credential is read-only (a read token, or a user with role read): it may not change anything.",
                )
                    .into_response();
            }
            let actor = p.actor(address);
            req.extensions_mut().insert(p);
            acting_as(actor, next.run(req)).await
        }
        None if path == "/metrics"
            && metrics_open_without_token(
                state.settings.current().metrics_loopback_without_token,
                req.method(),
                req.extensions()
                    .get::<super::client_addr::PeerAddr>()
                    .map(|p| p.0.ip()),
                address,
                req.headers(),
            ) =>
        {
            acting_as(Actor::anonymous(address), next.run(req)).await
        }
        None if is_machine_path => ApiError::unauthorized().into_response(),
        None if is_safe_method(req.method()) => Redirect::to("/login").into_response(),
        None => ApiError::unauthorized().into_response(),
    }
}

/// The headers by which a proxy names the client it forwards for.
const PROXY_HEADERS: &[&str] = &["forwarded", "x-forwarded-for", "x-real-ip"];

/// Whether a credential-less `GET /metrics` may be answered: the `metrics_loopback_without_token`
/// setting is on, the TCP peer is a loopback address, the client address is that same peer, and the
/// request carries no proxy header (a reverse proxy on this machine forwards for someone else).
pub fn metrics_open_without_token(
    enabled: bool,
    method: &Method,
    peer: Option<std::net::IpAddr>,
    client: Option<std::net::IpAddr>,
    headers: &HeaderMap,
) -> bool {
    let loopback_peer = peer.map(|p| p.to_canonical()).filter(|p| p.is_loopback());
    enabled
        && matches!(*method, Method::GET | Method::HEAD)
        && loopback_peer.is_some()
        && client.map(|c| c.to_canonical()) == loopback_peer
        && !PROXY_HEADERS.iter().any(|h| headers.contains_key(*h))
}

/// Who a control-socket request acts for: the admin account, with every right.
fn socket_principal() -> crate::access::Principal {
    crate::access::Principal {
        username: crate::access::ADMIN_USER.to_string(),
        kind: crate::access::TokenKind::Session,
        scope: app::model::admin::TokenScope::Admin,
        token_key: String::new(),
    }
}

/// The audit log's actor for a control-socket peer: `root@socket` (or `<user>@socket`).
fn socket_actor(peer: crate::socket::SocketPeer) -> Actor {
    let user = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(peer.uid))
        .ok()
        .flatten()
        .map_or_else(|| format!("uid{}", peer.uid), |u| u.name);
    Actor {
        kind: app::model::admin::ActorKind::User,
        name: format!("{user}@socket"),
        address: None,
    }
}

/// The most a public (unauthenticated) endpoint reads of a request body: the login and logout forms and
/// `POST /api/v1/auth/login` carry a user name and a password, nothing more.
pub const PUBLIC_MAX_BODY_BYTES: usize = 16 * 1024;

/// The request body limit in the API's error shape, after authentication (see `super::router`) and
/// before any handler runs: a declared `Content-Length` over the limit is refused at once; server
/// functions and the login endpoints, whose extractors would turn an over-long body into a 500, get
/// their body read here (bounded) first. The public login endpoints have the small limit
/// [`PUBLIC_MAX_BODY_BYTES`], everything else `super::MAX_BODY_BYTES`.
pub async fn body_limit(req: Request, next: Next) -> Response {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "The request body is too large.",
        )
        .into_response()
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let path = req.uri().path();
    let public = is_public_path(path);
    let limit = if public {
        PUBLIC_MAX_BODY_BYTES
    } else {
        super::MAX_BODY_BYTES
    };
    if declared.is_some_and(|len| len > limit as u64) {
        return too_large();
    }
    if path.starts_with("/rpc/") || (public && !is_safe_method(req.method())) {
        let (parts, body) = req.into_parts();
        return match axum::body::to_bytes(body, limit).await {
            Ok(bytes) => next.run(Request::from_parts(parts, bytes.into())).await,
            Err(_) => too_large(),
        };
    }
    next.run(req).await
}

/// The per-request CSP nonce: put in the request's extensions by [`security_headers`], handed to Leptos
/// (which puts it on its hydration and streaming scripts) by [`provide_request_nonce`].
#[derive(Debug, Clone)]
pub struct CspNonce(pub std::sync::Arc<str>);

/// The Content-Security-Policy of every response: scripts only from Warden itself (its `/pkg` module and
/// the inline scripts carrying this response's nonce) plus WebAssembly compilation; nothing may frame the
/// UI, post forms elsewhere, or change the base URL.
pub fn content_security_policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
         base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    )
}

/// Called in the Leptos rendering context of each page: makes the nonce of the response's CSP header the
/// one Leptos uses (instead of the nonce it generates itself).
pub fn provide_request_nonce() {
    use leptos::prelude::{provide_context, use_context};
    if let Some(nonce) = use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<CspNonce>().cloned())
    {
        provide_context(leptos::nonce::Nonce::from_value(nonce.0));
    }
}

/// Security headers on every response, including a Content-Security-Policy with a fresh nonce.
pub async fn security_headers(mut req: Request, next: Next) -> Response {
    let nonce: std::sync::Arc<str> = leptos::nonce::Nonce::new().to_string().into();
    req.extensions_mut().insert(CspNonce(nonce.clone()));
    let mut resp = next.run(req).await;
    let not_modified = resp.status() == StatusCode::NOT_MODIFIED;
    let h = resp.headers_mut();
    if let Ok(csp) = HeaderValue::from_str(&content_security_policy(&nonce)) {
        h.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
    );
    if !h.contains_key(header::CACHE_CONTROL) && !not_modified {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn metrics_without_a_token_only_for_a_direct_loopback_scraper_when_enabled() {
        let lo4: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        let lo6: std::net::IpAddr = "::1".parse().unwrap();
        let mapped: std::net::IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        let outside: std::net::IpAddr = "192.0.2.7".parse().unwrap();
        let none = headers(&[]);
        let open = |enabled, method: &Method, peer, client, h: &HeaderMap| {
            metrics_open_without_token(enabled, method, Some(peer), Some(client), h)
        };
        assert!(open(true, &Method::GET, lo4, lo4, &none));
        assert!(open(true, &Method::HEAD, lo6, lo6, &none));
        assert!(open(true, &Method::GET, mapped, lo4, &none));
        assert!(
            !open(false, &Method::GET, lo4, lo4, &none),
            "off by default"
        );
        assert!(!open(true, &Method::POST, lo4, lo4, &none));
        assert!(!open(true, &Method::GET, outside, outside, &none));
        // A trusted proxy on loopback forwarding for an outside client.
        assert!(!open(true, &Method::GET, lo4, outside, &none));
        for proxy in ["x-forwarded-for", "forwarded", "x-real-ip"] {
            let mut h = HeaderMap::new();
            h.insert(proxy, HeaderValue::from_static("127.0.0.1"));
            assert!(!open(true, &Method::GET, lo4, lo4, &h), "{proxy}");
        }
        assert!(!metrics_open_without_token(
            true,
            &Method::GET,
            None,
            Some(lo4),
            &none
        ));
    }

    #[test]
    fn origin_checks() {
        assert!(!is_cross_origin(
            &headers(&[
                ("host", "127.0.0.1:8080"),
                ("origin", "http://127.0.0.1:8080")
            ]),
            None
        ));
        assert!(is_cross_origin(
            &headers(&[
                ("host", "127.0.0.1:8080"),
                ("origin", "http://evil.example")
            ]),
            None
        ));
        assert!(is_cross_origin(
            &headers(&[("host", "127.0.0.1:8080"), ("origin", "null")]),
            None
        ));
        assert!(
            !is_cross_origin(&headers(&[("host", "h:1")]), None),
            "curl sends no Origin"
        );
        assert!(is_cross_origin(
            &headers(&[("host", "h:1"), ("sec-fetch-site", "cross-site")]),
            None
        ));
        assert!(!is_cross_origin(
            &headers(&[("host", "h:1"), ("sec-fetch-site", "same-origin")]),
            None
        ));
    }

    #[test]
    fn http2_requests_compare_the_origin_with_the_uri_authority() {
        let same = headers(&[("origin", "https://warden.example:8443")]);
        assert!(!is_cross_origin(&same, Some("warden.example:8443")));
        assert!(is_cross_origin(&same, Some("other.example:8443")));
        assert!(is_cross_origin(&same, None), "nothing to compare with");
        // A Host header, when there is one, is what the browser addressed.
        let with_host = headers(&[
            ("host", "warden.example:8443"),
            ("origin", "https://warden.example:8443"),
        ]);
        assert!(!is_cross_origin(&with_host, Some("ignored:1")));
    }

    #[test]
    fn read_only_credentials_may_only_read() {
        assert!(read_only_may(&Method::GET, "/api/v1/services"));
        assert!(read_only_may(&Method::HEAD, "/api/v1/services"));
        for m in [
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ] {
            assert!(!read_only_may(&m, "/api/v1/services"), "{m}");
        }
        assert!(read_only_may(&Method::POST, "/rpc/services/list"));
        assert!(read_only_may(&Method::POST, "/api/v1/state/plan"));
        assert!(!read_only_may(&Method::PUT, "/api/v1/state"));
        assert!(!read_only_may(&Method::POST, "/api/v1/state/plan/x"));
        assert!(!read_only_may(&Method::POST, "/rpc/services/create"));
        assert!(!read_only_may(&Method::GET, "/rpc/services/create"));
        assert!(!read_only_may(&Method::POST, "/rpc/some/new/function"));
    }

    #[test]
    fn public_paths() {
        assert!(is_public_path("/healthz"));
        assert!(is_public_path("/pkg/warden.wasm"));
        assert!(is_public_path("/api/v1/auth/login"));
        assert!(!is_public_path("/api/v1/auth/logout"));
        assert!(!is_public_path("/"));
        assert!(!is_public_path("/rpc/shell_info"));
    }
}
