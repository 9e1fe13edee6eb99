//! The server's implementation of the UI's `Backend` seam: server functions reach the same domain layer
//! (supervisor, firewall, store) as the REST API through these methods, with errors mapped to `AppError`.

use axum::http::HeaderMap;

use app::backend::{Backend, SessionUser};
use app::model::error::AppError;
use app::model::service::{ProcessInfo, Service, ServiceInput, ServicePatch};
use app::model::{FirewallCapability, ServiceAction, ShellInfo};

use crate::state::AppState;
use crate::supervisor::SupervisorError;

impl From<SupervisorError> for AppError {
    fn from(e: SupervisorError) -> Self {
        match e {
            SupervisorError::NotFound(id) => {
                AppError::NotFound(format!("There is no service with id {id}."))
            }
            SupervisorError::Validation(fields) => AppError::Invalid(fields),
            SupervisorError::Conflict(fields) => AppError::Conflict(fields),
            SupervisorError::Internal(cause) => {
                tracing::error!(error = %cause, "supervisor error in a server function");
                AppError::Internal(
                    "Warden hit an internal error; the server log has the details.".into(),
                )
            }
        }
    }
}

#[async_trait::async_trait]
impl Backend for AppState {
    fn authenticate(&self, headers: &HeaderMap) -> Option<SessionUser> {
        self.principal(headers).map(|(p, _)| SessionUser {
            username: p.username,
        })
    }

    async fn shell_info(&self, user: &SessionUser) -> ShellInfo {
        ShellInfo {
            hostname: self.settings().hostname,
            username: user.username.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    async fn firewall_capability(&self) -> FirewallCapability {
        self.firewall_capability.clone()
    }

    async fn list_services(&self) -> Result<Vec<Service>, AppError> {
        Ok(self.supervisor.list())
    }

    async fn get_service(&self, id: &str) -> Result<Service, AppError> {
        Ok(self.supervisor.get(id)?)
    }

    async fn create_service(
        &self,
        user: &SessionUser,
        input: ServiceInput,
    ) -> Result<Service, AppError> {
        let service = self.supervisor.create(input).await?;
        tracing::info!(user = %user.username, service = %service.spec.name, "service created");
        Ok(service)
    }

    async fn update_service(
        &self,
        user: &SessionUser,
        id: &str,
        patch: ServicePatch,
    ) -> Result<Service, AppError> {
        let service = self.supervisor.update(id, patch).await?;
        tracing::info!(user = %user.username, service = %service.spec.name, "service changed");
        Ok(service)
    }

    async fn delete_service(&self, user: &SessionUser, id: &str) -> Result<(), AppError> {
        self.supervisor.delete(id).await?;
        tracing::info!(user = %user.username, service_id = %id, "service deleted");
        Ok(())
    }

    async fn service_action(
        &self,
        user: &SessionUser,
        id: &str,
        action: ServiceAction,
    ) -> Result<Service, AppError> {
        let service = match action {
            ServiceAction::Start => self.supervisor.start_service(id).await?,
            ServiceAction::Stop => self.supervisor.stop_service(id).await?,
            ServiceAction::Restart => self.supervisor.restart_service(id).await?,
        };
        tracing::info!(user = %user.username, service = %service.spec.name, ?action, "service action");
        Ok(service)
    }

    async fn service_logs(&self, id: &str, lines: usize) -> Result<Vec<String>, AppError> {
        Ok(self.supervisor.logs_tail(id, lines).await?)
    }

    async fn service_processes(&self, id: &str) -> Result<Vec<ProcessInfo>, AppError> {
        Ok(self.supervisor.processes(id).await?)
    }

    async fn service_port_range(&self) -> (u16, u16) {
        self.settings()
            .service_port_range()
            .unwrap_or(app::model::service::DEFAULT_PORT_RANGE)
    }

    // ---- firewall ----

    // ---- administration: settings, password, API tokens, audit log ----
}
