//! Server functions for accounts: the users (listed to everyone, managed by admins) and the caller's own
//! second factor (enroll, confirm, remove). The same access domain as `/api/v1/users` and
//! `/api/v1/auth/totp/*`, which validates, audits and enforces the last-admin rule.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use super::codec::JsonText;

use crate::model::error::AppError;
use crate::model::users::{RecoveryCodes, TotpEnrollment, UserCreate, UserPatch, UserView};

/// Every user, by name.
#[server(prefix = "/rpc", endpoint = "users/list", input = Json, output = JsonText)]
pub async fn list_users() -> Result<Vec<UserView>, AppError> {
    let (backend, _user) = crate::backend::require_user().await?;
    backend.list_users().await
}

/// The caller's own account (role, whether a second factor protects it).
#[server(prefix = "/rpc", endpoint = "users/me", input = Json, output = JsonText)]
pub async fn own_account() -> Result<Option<UserView>, AppError> {
    let (backend, user) = crate::backend::require_user().await?;
    backend.own_account(&user).await
}

/// Creates a user.
#[server(prefix = "/rpc", endpoint = "users/create", input = Json, output = JsonText)]
pub async fn create_user(create: UserCreate) -> Result<UserView, AppError> {
    let (backend, user) = crate::backend::require_user().await?;
    backend.create_user(&user, create).await
}

/// Changes a user's role, enabled state or password.
#[server(prefix = "/rpc", endpoint = "users/update", input = Json, output = JsonText)]
pub async fn update_user(username: String, patch: UserPatch) -> Result<UserView, AppError> {
    let (backend, user) = crate::backend::require_user().await?;
    backend.update_user(&user, &username, patch).await
}

/// Deletes a user (never the last enabled admin).
#[server(prefix = "/rpc", endpoint = "users/delete", input = Json, output = JsonText)]
pub async fn delete_user(username: String) -> Result<(), AppError> {
    let (backend, user) = crate::backend::require_user().await?;
    backend.delete_user(&user, &username).await
}

/// Removes a user's second factor (`username`), or the caller's own (`None`).
#[server(prefix = "/rpc", endpoint = "users/totp/remove", input = Json, output = JsonText)]
pub async fn remove_totp(username: Option<String>) -> Result<(), AppError> {
    let (backend, user) = crate::backend::require_user().await?;
    backend.remove_totp(&user, username).await
}

/// Starts enrolling the caller's second factor: the secret, its URI and QR code, shown once.
#[server(prefix = "/rpc", endpoint = "users/totp/enroll", input = Json, output = JsonText)]
pub async fn enroll_totp() -> Result<TotpEnrollment, AppError> {
    let (backend, user) = crate::backend::require_user().await?;
    backend.enroll_totp(&user).await
}

/// Confirms the caller's enrolled secret with a current code; the answer holds the recovery codes.
#[server(prefix = "/rpc", endpoint = "users/totp/confirm", input = Json, output = JsonText)]
pub async fn confirm_totp(code: String) -> Result<RecoveryCodes, AppError> {
    let (backend, user) = crate::backend::require_user().await?;
    backend.confirm_totp(&user, code).await
}
