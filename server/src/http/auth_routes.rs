//! Login and logout, for the API (`/api/v1/auth/*`, JSON) and for the browser's login form (`/login`,
//! `/logout`, form posts answered with redirects). Both set or clear the session cookie; the access domain
//! (`crate::access`) decides everything else.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form, Json};
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::json::ApiJson;

use crate::access::{LoginOutcome, Principal, SecondFactor, SESSION_COOKIE, SESSION_LIFETIME};
use crate::clock::unix_to_rfc3339;
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
    /// The current 6-digit code, for an account with a second factor.
    #[serde(default)]
    pub totp: Option<String>,
    /// One of the account's recovery codes, instead of `totp` (each works once).
    #[serde(default)]
    pub recovery_code: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LoginResponse {
    pub token: String,
    pub expires_at: String,
}

fn session_cookie(state: &AppState, token: &str) -> HeaderValue {
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    let value = format!(
        "{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}",
        SESSION_LIFETIME.as_secs()
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn clear_cookie(state: &AppState) -> HeaderValue {
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A login attempt through the access domain (throttle, bans and audit included).
async fn attempt(
    state: &AppState,
    req: &LoginRequest,
    addr: SocketAddr,
) -> Result<LoginOutcome, ApiError> {
    let factor = SecondFactor {
        totp: req.totp.clone(),
        recovery_code: req.recovery_code.clone(),
    };
    Ok(state
        .access
        .login(
            &req.username,
            &req.password,
            &factor,
            addr.ip().to_canonical(),
        )
        .await?)
}

/// `POST /api/v1/auth/login`.
#[utoipa::path(post, path = "/auth/login", tag = super::openapi::TAG_AUTH, operation_id = "login",
    security(()), request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in: a session token (also set as the session cookie)", body = LoginResponse),
        (status = 401, description = "Wrong user name, password or code (`unauthorized`; counted as a failed login), or a right password for an account with a second factor but no `totp` or `recovery_code` (`totp_required`)", body = super::error::ErrorResponse),
        (status = 429, description = "Too many failed attempts from this address, or its IPv6 /64; or every password-hashing slot is busy (see Retry-After)", body = super::error::ErrorResponse),
    ))]
pub async fn api_login(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    match attempt(&state, &req, addr).await? {
        LoginOutcome::Ok { token, expires_at } => {
            let cookie = session_cookie(&state, &token);
            let body = LoginResponse {
                token,
                expires_at: unix_to_rfc3339(expires_at),
            };
            Ok(([(header::SET_COOKIE, cookie)], Json(body)).into_response())
        }
        LoginOutcome::Invalid => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Wrong user name, password or code.",
        )),
        LoginOutcome::TotpRequired => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "totp_required",
            "This account has a second factor: send the current code as `totp` (or a `recovery_code`).",
        )),
        LoginOutcome::Throttled { retry_after } => {
            Err(ApiError::rate_limited(retry_after.as_secs().max(1)))
        }
        LoginOutcome::Busy { retry_after } => Err(ApiError {
            message: "Warden is checking too many passwords right now; try again in a moment."
                .into(),
            ..ApiError::rate_limited(retry_after.as_secs().max(1))
        }),
    }
}

/// `POST /api/v1/auth/logout`: the token or cookie used stops working at once.
#[utoipa::path(post, path = "/auth/logout", tag = super::openapi::TAG_AUTH, operation_id = "logout",
    responses((status = 204, description = "The token or cookie used stops working at once")))]
pub async fn api_logout(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<Response, ApiError> {
    state.access.logout(&principal).await?;
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, clear_cookie(&state))],
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    /// The code field, shown once the account turned out to need one.
    #[serde(default)]
    pub totp: String,
}

/// `POST /login` from the login page's form.
pub async fn form_login(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Form(form): Form<LoginForm>,
) -> Response {
    if form.username.is_empty() || form.password.is_empty() {
        return Redirect::to("/login?error=missing").into_response();
    }
    // The code field takes a TOTP code or, when it is not six digits, a recovery code.
    let code = form.totp.trim().to_string();
    let is_totp = app::model::users::validate_totp_code(&code).is_empty();
    let req = LoginRequest {
        username: form.username,
        password: form.password,
        totp: (!code.is_empty() && is_totp).then(|| code.clone()),
        recovery_code: (!code.is_empty() && !is_totp).then_some(code),
    };
    match attempt(&state, &req, addr).await {
        Ok(LoginOutcome::Ok { token, .. }) => (
            [(header::SET_COOKIE, session_cookie(&state, &token))],
            Redirect::to("/"),
        )
            .into_response(),
        Ok(LoginOutcome::Invalid) => Redirect::to("/login?error=invalid").into_response(),
        Ok(LoginOutcome::TotpRequired) => Redirect::to("/login?error=totp").into_response(),
        Ok(LoginOutcome::Throttled { .. } | LoginOutcome::Busy { .. }) => {
            Redirect::to("/login?error=throttled").into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// `POST /logout` from the shell's logout button.
pub async fn form_logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some((principal, _)) = state.principal(&headers) {
        if let Err(e) = state.access.logout(&principal).await {
            return ApiError::from(e).into_response();
        }
    }
    (
        [(header::SET_COOKIE, clear_cookie(&state))],
        Redirect::to("/login"),
    )
        .into_response()
}
