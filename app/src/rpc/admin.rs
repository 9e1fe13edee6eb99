//! Server functions for administration: settings, password change, API tokens, the audit log.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use super::codec::JsonText;

use crate::model::admin::{ApiToken, AuditEntry, CreatedToken, PasswordChange, TokenScope};
use crate::model::error::AppError;
use crate::model::settings::{ServerInfo, Settings};

/// The current settings.
#[server(prefix = "/rpc", endpoint = "admin/settings", input = Json, output = JsonText)]
pub async fn get_settings() -> Result<Settings, AppError> {
    let (backend, _user) = crate::backend::require_user().await?;
    backend.get_settings().await
}

/// Replaces the settings (validated like `PATCH /api/v1/settings`, applied live).
#[server(prefix = "/rpc", endpoint = "admin/settings/update", input = Json, output = JsonText)]
pub async fn update_settings(settings: Settings) -> Result<Settings, AppError> {
    let (backend, user) = crate::backend::require_user().await?;
    backend.update_settings(&user, settings).await
}

/// Whether Warden is served over TLS, and where it listens.
#[server(prefix = "/rpc", endpoint = "admin/server", input = Json, output = JsonText)]
pub async fn get_server_info() -> Result<ServerInfo, AppError> {
    let (backend, _user) = crate::backend::require_user().await?;
    Ok(backend.server_info().await)
}

/// Changes the caller's password; their other sessions end.
#[server(prefix = "/rpc", endpoint = "admin/password", input = Json, output = JsonText)]
pub async fn change_password(change: PasswordChange) -> Result<(), AppError> {
    let (backend, user) = crate::backend::require_user().await?;
    let extensions: http::Extensions = leptos_axum::extract()
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let client = backend.peer_address(&extensions).ok_or_else(|| {
        AppError::Internal("the address of this connection is unknown".to_string())
    })?;
    backend.change_password(&user, client, change).await
}

/// The caller's API tokens (without secrets).
#[server(prefix = "/rpc", endpoint = "admin/tokens", input = Json, output = JsonText)]
pub async fn list_tokens() -> Result<Vec<ApiToken>, AppError> {
    let (backend, user) = crate::backend::require_user().await?;
    backend.list_tokens(&user).await
}

/// Creates an API token; the answer holds the secret, shown once.
/// `scope` defaults to admin and `expires_at` (RFC 3339) to never, as in `POST /api/v1/tokens`.
#[server(prefix = "/rpc", endpoint = "admin/tokens/create", input = Json, output = JsonText)]
pub async fn create_token(
    name: String,
    scope: Option<TokenScope>,
    expires_at: Option<String>,
) -> Result<CreatedToken, AppError> {
    let (backend, user) = crate::backend::require_user().await?;
    let request = crate::model::admin::TokenRequest {
        name,
        scope: scope.unwrap_or_default(),
        expires_at,
    };
    backend.create_token(&user, request).await
}

/// Revokes an API token; it stops working at once.
#[server(prefix = "/rpc", endpoint = "admin/tokens/revoke", input = Json, output = JsonText)]
pub async fn revoke_token(id: String) -> Result<(), AppError> {
    let (backend, user) = crate::backend::require_user().await?;
    backend.revoke_token(&user, &id).await
}

/// The newest `limit` audit entries (at most 1000), newest first.
#[server(prefix = "/rpc", endpoint = "admin/audit", input = Json, output = JsonText)]
pub async fn audit_log(limit: usize) -> Result<Vec<AuditEntry>, AppError> {
    let (backend, _user) = crate::backend::require_user().await?;
    backend.audit_log(limit.clamp(1, 1000)).await
}
