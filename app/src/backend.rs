//! The seam between the UI's server functions and the server's domain layer (server only). The `warden`
//! server implements [`Backend`] over its store, auth, supervisor and firewall, and provides it as context;
//! server functions reach the domain only through it, and check the caller with [`require_user`] first.

use std::sync::Arc;

use leptos::prelude::*;

use crate::model::error::AppError;
use crate::model::service::{ProcessInfo, Service, ServiceInput, ServicePatch};
use crate::model::{FirewallCapability, ServiceAction, ShellInfo};

/// The authenticated user behind a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionUser {
    pub username: String,
}

/// What the UI's server functions may ask of the server. Mutations name the user, for the audit log.
#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// The user these request headers authenticate (session cookie or bearer token), if any.
    fn authenticate(&self, headers: &http::HeaderMap) -> Option<SessionUser>;
    async fn shell_info(&self, user: &SessionUser) -> ShellInfo;
    async fn firewall_capability(&self) -> FirewallCapability;

    // ---- services ----

    async fn list_services(&self) -> Result<Vec<Service>, AppError>;
    async fn get_service(&self, id: &str) -> Result<Service, AppError>;
    async fn create_service(
        &self,
        user: &SessionUser,
        input: ServiceInput,
    ) -> Result<Service, AppError>;
    async fn update_service(
        &self,
        user: &SessionUser,
        id: &str,
        patch: ServicePatch,
    ) -> Result<Service, AppError>;
    async fn delete_service(&self, user: &SessionUser, id: &str) -> Result<(), AppError>;
    async fn service_action(
        &self,
        user: &SessionUser,
        id: &str,
        action: ServiceAction,
    ) -> Result<Service, AppError>;
    async fn service_logs(&self, id: &str, lines: usize) -> Result<Vec<String>, AppError>;
    async fn service_processes(&self, id: &str) -> Result<Vec<ProcessInfo>, AppError>;
    /// The configured service port range (inclusive), for the form's port suggestion and validation.
    async fn service_port_range(&self) -> (u16, u16);

    // ---- firewall ----

    // ---- administration: settings, password, API tokens, audit log ----
}

/// How the backend is provided as Leptos context.
pub type SharedBackend = Arc<dyn Backend>;

/// Every server function starts with this: the backend and the authenticated user, or
/// [`AppError::Unauthorized`] with HTTP status 401.
pub async fn require_user() -> Result<(SharedBackend, SessionUser), AppError> {
    let backend = use_context::<SharedBackend>()
        .ok_or_else(|| AppError::Internal("the backend is not provided".into()))?;
    let headers: http::HeaderMap = leptos_axum::extract()
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    match backend.authenticate(&headers) {
        Some(user) => Ok((backend, user)),
        None => {
            if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
                response.set_status(http::StatusCode::UNAUTHORIZED);
            }
            Err(AppError::Unauthorized)
        }
    }
}
