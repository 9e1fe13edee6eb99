//! Server functions for services: list, get, create, update, delete, start/stop/restart, logs, processes.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use super::codec::JsonText;

use crate::model::error::AppError;
use crate::model::import::{ImportFile, ImportFormat, ImportOutcome};
use crate::model::service::{ProcessInfo, Service, ServiceInput, ServicePatch};
use crate::model::service_limits::LimitCapabilities;
use crate::model::service_ports::ServicePortRange;
use crate::model::ServiceAction;

/// All services with their status, sorted by name.
#[server(prefix = "/rpc", endpoint = "services/list", input = Json, output = JsonText)]
pub async fn list_services() -> Result<Vec<Service>, AppError> {
    let (backend, _user) = crate::backend::require_user().await?;
    backend.list_services().await
}

#[server(prefix = "/rpc", endpoint = "services/get", input = Json, output = JsonText)]
pub async fn get_service(id: String) -> Result<Service, AppError> {
    let (backend, _user) = crate::backend::require_user().await?;
    backend.get_service(&id).await
}

/// Creates a service (an enabled one starts at once).
#[server(prefix = "/rpc", endpoint = "services/create", input = Json, output = JsonText)]
pub async fn create_service(input: ServiceInput) -> Result<Service, AppError> {
    let (backend, user) = crate::backend::require_user().await?;
    backend.create_service(&user, input).await
}

/// Changes a service (a running one restarts with the new spec).
#[server(prefix = "/rpc", endpoint = "services/update", input = Json, output = JsonText)]
pub async fn update_service(id: String, patch: ServicePatch) -> Result<Service, AppError> {
    let (backend, user) = crate::backend::require_user().await?;
    backend.update_service(&user, &id, patch).await
}

/// Stops and deletes a service.
#[server(prefix = "/rpc", endpoint = "services/delete", input = Json, output = JsonText)]
pub async fn delete_service(id: String) -> Result<(), AppError> {
    let (backend, user) = crate::backend::require_user().await?;
    backend.delete_service(&user, &id).await
}

/// Start (re-enables a disabled service), stop or restart (SIGHUP) a service.
#[server(prefix = "/rpc", endpoint = "services/action", input = Json, output = JsonText)]
pub async fn act_on_service(id: String, action: ServiceAction) -> Result<Service, AppError> {
    let (backend, user) = crate::backend::require_user().await?;
    backend.service_action(&user, &id, action).await
}

/// The last `lines` lines of a service's log (the supervisor caps how many).
#[server(prefix = "/rpc", endpoint = "services/logs", input = Json, output = JsonText)]
pub async fn service_logs(id: String, lines: usize) -> Result<Vec<String>, AppError> {
    let (backend, _user) = crate::backend::require_user().await?;
    backend.service_logs(&id, lines).await
}

/// The processes of a service's process group, main process first.
#[server(prefix = "/rpc", endpoint = "services/processes", input = Json, output = JsonText)]
pub async fn service_processes(id: String) -> Result<Vec<ProcessInfo>, AppError> {
    let (backend, _user) = crate::backend::require_user().await?;
    backend.service_processes(&id).await
}

/// How services are contained here and which limits this host can enforce.
#[server(prefix = "/rpc", endpoint = "services/capabilities", input = Json, output = JsonText)]
pub async fn service_capabilities() -> Result<LimitCapabilities, AppError> {
    let (backend, _user) = crate::backend::require_user().await?;
    Ok(backend.service_capabilities().await)
}

/// The configured service port range (the default if the settings hold an unreadable one); travels as
/// `"8300:8499"`.
#[server(name = GetServicePortRange, prefix = "/rpc", endpoint = "services/port_range", input = Json, output = JsonText)]
pub async fn service_port_range() -> Result<ServicePortRange, AppError> {
    let (backend, _user) = crate::backend::require_user().await?;
    Ok(backend.service_port_range().await)
}

/// Converts pasted or uploaded supervisord / systemd / PM2 definitions into services and a report
/// (nothing is created; the server's own files are not read).
#[server(prefix = "/rpc", endpoint = "services/import_convert", input = Json, output = JsonText)]
pub async fn convert_import(
    format: ImportFormat,
    files: Vec<ImportFile>,
) -> Result<ImportOutcome, AppError> {
    let (backend, _user) = crate::backend::require_user().await?;
    Ok(backend.convert_import(format, files).await)
}
