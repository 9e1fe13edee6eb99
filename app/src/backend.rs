//! The seam between the UI's server functions and the server's domain layer (server only). The `warden`
//! server implements [`Backend`] over its store, auth, supervisor and firewall, and provides it as context;
//! server functions reach the domain only through it, and check the caller with [`require_user`] first.

use std::sync::Arc;

use leptos::prelude::*;

use crate::model::{FirewallCapability, ShellInfo};

/// The authenticated user behind a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionUser {
    pub username: String,
}

/// What the UI's server functions may ask of the server.
#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// The user these request headers authenticate (session cookie or bearer token), if any.
    fn authenticate(&self, headers: &http::HeaderMap) -> Option<SessionUser>;
    async fn shell_info(&self, user: &SessionUser) -> ShellInfo;
    async fn firewall_capability(&self) -> FirewallCapability;
}

/// How the backend is provided as Leptos context.
pub type SharedBackend = Arc<dyn Backend>;

/// Every server function starts with this: the backend and the authenticated user, or an `unauthorized`
/// error with HTTP status 401.
pub async fn require_user() -> Result<(SharedBackend, SessionUser), ServerFnError> {
    let backend = use_context::<SharedBackend>()
        .ok_or_else(|| ServerFnError::new("internal: the backend is not provided"))?;
    let headers: http::HeaderMap = leptos_axum::extract()
        .await
        .map_err(|e| ServerFnError::new(format!("internal: {e}")))?;
    match backend.authenticate(&headers) {
        Some(user) => Ok((backend, user)),
        None => {
            if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
                response.set_status(http::StatusCode::UNAUTHORIZED);
            }
            Err(ServerFnError::new("unauthorized: log in again"))
        }
    }
}
