//! REST routes for services (`/api/v1/services*`), mounted by `http::api_router`. Thin adapters over
//! `SupervisorHandle`; no business rule lives here.
//!
//! - `GET|POST /services`, `GET|PATCH|DELETE /services/{id}`, `POST /services/{id}/start|stop|restart`
//!   (`restart?mode=hard`: stop and start; `mode=signal`, the default: SIGHUP)
//! - `GET /services/{id}/logs?lines=N` (text/plain), `GET /services/{id}/logs/stream` (SSE, one `data:`
//!   event per new line), `GET /services/{id}/processes`, `GET /services/{id}/usage` (CPU time, memory).
//! - `GET /services/{id}/logs/file`: the current log file as a download (`text/plain`, attachment).
//!
//! Path ids are only ever looked up in the supervisor's table (never turned into a file path), so a
//! hostile id (traversal, NUL, huge) is simply "not found".

use std::convert::Infallible;

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use axum::Json;
use futures::{Stream, StreamExt};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use tokio::sync::broadcast;

use app::model::service::{ProcessInfo, Service, ServiceInput, ServicePatch, ServiceUsage};

use super::error::ApiError;
use super::json::ApiJson;
use super::openapi::{IdPath, TAG_SERVICES};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Lines `GET …/logs` returns when `lines` is not given.
pub const DEFAULT_LOG_LINES: usize = 100;
/// The most lines `GET …/logs` returns (the supervisor's limit; more is a 400 here, not a silent cut).
pub const MAX_LOG_LINES: usize = crate::supervisor::MAX_LOG_TAIL_LINES;
/// Ids longer than this cannot exist (server-assigned ids are 16 hex digits).
const MAX_ID_CHARS: usize = 128;

/// The service routes with their OpenAPI operations (paths relative to `/api/v1`).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, update, remove))
        .routes(routes!(show_by_name, put_by_name))
        .routes(routes!(start))
        .routes(routes!(stop))
        .routes(routes!(restart))
        .routes(routes!(logs))
        .routes(routes!(log_stream))
        .routes(routes!(log_file))
        .routes(routes!(processes))
        .routes(routes!(usage))
        .routes(routes!(capabilities))
}

fn no_such_service() -> ApiError {
    ApiError::not_found("There is no service with this id.")
}

/// The `{id}` path segment of a service route. Undecodable ids are a bad request; ids no service can
/// have (too long, control characters) are answered "not found" without a lookup.
pub struct ServiceId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ServiceId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::bad_request("The service id in the path is not valid."))?;
        if id.is_empty() || id.chars().count() > MAX_ID_CHARS || id.chars().any(char::is_control) {
            return Err(no_such_service());
        }
        Ok(ServiceId(id))
    }
}

/// A request body as `T`. Bodies must be JSON objects: serde alone would also read a struct from an
/// array (`["name", "command"]`).
pub fn from_object<T: DeserializeOwned>(body: JsonObject) -> Result<T, ApiError> {
    serde_json::from_value(serde_json::Value::Object(body))
        .map_err(|e| ApiError::bad_request(format!("The JSON body is not valid: {e}")))
}

/// A JSON object request body (see [`from_object`]).
pub type JsonObject = serde_json::Map<String, serde_json::Value>;

#[utoipa::path(get, path = "/services", tag = TAG_SERVICES, operation_id = "list_services",
    responses((status = 200, description = "All services, sorted by name", body = Vec<Service>)))]
async fn list(State(state): State<AppState>) -> Json<Vec<Service>> {
    Json(state.supervisor.list())
}

#[utoipa::path(post, path = "/services", tag = TAG_SERVICES, operation_id = "create_service",
    request_body = ServiceInput,
    responses((status = 201, description = "Created (an enabled service starts at once)", body = Service)))]
async fn create(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<JsonObject>,
) -> Result<(StatusCode, Json<Service>), ApiError> {
    let input: ServiceInput = from_object(body)?;
    let service = state.supervisor.create(input).await?;
    Ok((StatusCode::CREATED, Json(service)))
}

#[utoipa::path(get, path = "/services/{id}", tag = TAG_SERVICES, operation_id = "get_service",
    params(IdPath), responses((status = 200, description = "The service", body = Service)))]
async fn show(
    State(state): State<AppState>,
    ServiceId(id): ServiceId,
) -> Result<Json<Service>, ApiError> {
    Ok(Json(state.supervisor.get(&id)?))
}

#[utoipa::path(patch, path = "/services/{id}", tag = TAG_SERVICES, operation_id = "update_service",
    params(IdPath), request_body = ServicePatch,
    responses((status = 200, description = "Changed (a running service restarts with the new spec)", body = Service)))]
async fn update(
    State(state): State<AppState>,
    ServiceId(id): ServiceId,
    ApiJson(body): ApiJson<JsonObject>,
) -> Result<Json<Service>, ApiError> {
    let patch: ServicePatch = from_object(body)?;
    Ok(Json(state.supervisor.update(&id, patch).await?))
}

#[utoipa::path(get, path = "/services/by-name/{name}", tag = TAG_SERVICES, operation_id = "get_service_by_name",
    params(("name" = String, Path, description = "The service's name")),
    responses((status = 200, description = "The service", body = Service)))]
async fn show_by_name(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Service>, ApiError> {
    state
        .supervisor
        .list()
        .into_iter()
        .find(|s| s.spec.name == name)
        .map(Json)
        .ok_or_else(|| ApiError::not_found("There is no service with this name."))
}

#[utoipa::path(put, path = "/services/by-name/{name}", tag = TAG_SERVICES, operation_id = "put_service_by_name",
    params(("name" = String, Path, description = "The service's name (the body's `name` may be left out; if given it must be the same)")),
    request_body = ServiceInput,
    responses(
        (status = 200, description = "Replaced by this whole definition (absent fields take their defaults). The same body again changes nothing and restarts nothing; a running service restarts only when how it is launched changed, as on PATCH.", body = Service),
        (status = 201, description = "Created (an enabled service starts at once)", body = Service)))]
async fn put_by_name(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiJson(mut body): ApiJson<JsonObject>,
) -> Result<(StatusCode, Json<Service>), ApiError> {
    match body.get("name") {
        None => {
            body.insert("name".into(), serde_json::Value::String(name));
        }
        Some(serde_json::Value::String(given)) if *given == name => {}
        Some(_) => {
            return Err(ApiError::validation(vec![app::model::FieldError::new(
                "name",
                "the body's name must be the name in the path",
            )]))
        }
    }
    let input: ServiceInput = from_object(body)?;
    let (created, _, service) = state.supervisor.upsert_by_name(input).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(service)))
}

#[utoipa::path(delete, path = "/services/{id}", tag = TAG_SERVICES, operation_id = "delete_service",
    params(IdPath), responses((status = 204, description = "Stopped and deleted")))]
async fn remove(
    State(state): State<AppState>,
    ServiceId(id): ServiceId,
) -> Result<StatusCode, ApiError> {
    state.supervisor.delete(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/services/{id}/start", tag = TAG_SERVICES, operation_id = "start_service",
    params(IdPath), responses((status = 200, description = "Started (a disabled service is re-enabled)", body = Service)))]
async fn start(
    State(state): State<AppState>,
    ServiceId(id): ServiceId,
) -> Result<Json<Service>, ApiError> {
    Ok(Json(state.supervisor.start_service(&id).await?))
}

#[utoipa::path(post, path = "/services/{id}/stop", tag = TAG_SERVICES, operation_id = "stop_service",
    params(IdPath), responses((status = 200, description = "Stopped and disabled", body = Service)))]
async fn stop(
    State(state): State<AppState>,
    ServiceId(id): ServiceId,
) -> Result<Json<Service>, ApiError> {
    Ok(Json(state.supervisor.stop_service(&id).await?))
}

#[derive(Deserialize)]
struct RestartQuery {
    mode: Option<String>,
}

#[utoipa::path(post, path = "/services/{id}/restart", tag = TAG_SERVICES, operation_id = "restart_service",
    params(IdPath, ("mode" = Option<String>, Query, pattern = "^(signal|hard)$",
        description = "`signal` (default): SIGHUP; a service that exits on it is started again at once, one still running after its reload grace has reloaded in place. `hard`: stop (stop signal, grace, kill of everything left in its cgroup) and start.")),
    responses((status = 200, description = "Restarted", body = Service)))]
async fn restart(
    State(state): State<AppState>,
    ServiceId(id): ServiceId,
    query: Result<Query<RestartQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Service>, ApiError> {
    let Query(query) =
        query.map_err(|_| ApiError::bad_request("The query string is not valid."))?;
    match query.mode.as_deref() {
        None | Some("signal") => Ok(Json(state.supervisor.restart_service(&id).await?)),
        Some("hard") => Ok(Json(state.supervisor.hard_restart_service(&id).await?)),
        Some(_) => Err(ApiError {
            field: Some("mode".into()),
            ..ApiError::bad_request("mode must be `signal` or `hard`")
        }),
    }
}

#[derive(Deserialize)]
struct LogsQuery {
    lines: Option<String>,
}

/// Parses `?lines=N`: absent → the default; `0..=MAX_LOG_LINES` → N; anything else → 400.
fn parse_lines(raw: Option<&str>) -> Result<usize, ApiError> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_LOG_LINES);
    };
    match raw.trim().parse::<usize>() {
        Ok(n) if n <= MAX_LOG_LINES => Ok(n),
        _ => Err(ApiError {
            field: Some("lines".into()),
            ..ApiError::bad_request(format!(
                "lines must be a whole number from 0 to {MAX_LOG_LINES}"
            ))
        }),
    }
}

#[utoipa::path(get, path = "/services/{id}/logs", tag = TAG_SERVICES, operation_id = "service_logs",
    params(IdPath, ("lines" = Option<u32>, Query, maximum = 10000, description = "How many of the last lines (default 100)")),
    responses((status = 200, description = "The last lines of the service's log", body = String, content_type = "text/plain")))]
async fn logs(
    State(state): State<AppState>,
    ServiceId(id): ServiceId,
    query: Result<Query<LogsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Query(query) =
        query.map_err(|_| ApiError::bad_request("The query string is not valid."))?;
    let lines = parse_lines(query.lines.as_deref())?;
    let tail = if lines == 0 {
        state.supervisor.get(&id).map(|_| Vec::new())?
    } else {
        state.supervisor.logs_tail(&id, lines).await?
    };
    let mut body = String::with_capacity(tail.iter().map(|l| l.len() + 1).sum());
    for line in tail {
        body.push_str(&line);
        body.push('\n');
    }
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body))
}

/// Turns a broadcast receiver into an SSE stream that ends when the channel closes or Warden shuts
/// down. A subscriber that falls behind gets one `lagged` event (`{"type":"lagged","missed":n}`) and
/// continues with the newest items.
pub fn sse_stream<T, F>(
    receiver: broadcast::Receiver<T>,
    closed: impl std::future::Future<Output = ()> + Send + 'static,
    to_event: F,
) -> impl Stream<Item = Result<Event, Infallible>> + Send + 'static
where
    T: Clone + Send + 'static,
    F: Fn(T) -> Event + Send + 'static,
{
    futures::stream::unfold(
        (receiver, to_event),
        |(mut receiver, to_event)| async move {
            let event = match receiver.recv().await {
                Ok(item) => to_event(item),
                Err(broadcast::error::RecvError::Lagged(missed)) => Event::default()
                    .data(serde_json::json!({"type": "lagged", "missed": missed}).to_string()),
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            Some((Ok(event), (receiver, to_event)))
        },
    )
    .take_until(Box::pin(closed))
}

#[utoipa::path(get, path = "/services/{id}/logs/stream", tag = TAG_SERVICES, operation_id = "service_log_stream",
    params(IdPath),
    responses((status = 200, description = "Server-sent events, one `data:` event per new log line", body = String, content_type = "text/event-stream")))]
async fn log_stream(
    State(state): State<AppState>,
    ServiceId(id): ServiceId,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let receiver = state.supervisor.subscribe_logs(&id)?;
    let stream = sse_stream(receiver, state.supervisor.closed(), |line: String| {
        Event::default().data(line)
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

#[utoipa::path(get, path = "/services/{id}/logs/file", tag = TAG_SERVICES, operation_id = "service_log_file",
    params(IdPath), responses((status = 200, description = "The current log file as an attachment", content_type = "text/plain", body = String)))]
/// `GET /services/{id}/logs/file`: the current log file (rotation keeps it at most 10 MiB) as an
/// attachment named after the service. The path comes from the supervisor, never from the request.
async fn log_file(
    State(state): State<AppState>,
    ServiceId(id): ServiceId,
) -> Result<impl IntoResponse, ApiError> {
    let service = state.supervisor.get(&id)?;
    let path = state.supervisor.log_path(&id)?;
    let body = match tokio::fs::read(&path).await {
        Ok(bytes) => bytes,
        // A service that never wrote a line has no file yet: an empty download.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(ApiError::internal(format!("cannot read the log: {e}"))),
    };
    // Service names are [a-z0-9_-], safe inside the quoted file name.
    let disposition = format!("attachment; filename=\"{}.log\"", service.spec.name);
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "text/plain; charset=utf-8".to_string(),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    ))
}

#[utoipa::path(get, path = "/services/{id}/processes", tag = TAG_SERVICES, operation_id = "service_processes",
    params(IdPath), responses((status = 200, description = "The processes of the service's process group, main process first", body = Vec<ProcessInfo>)))]
async fn processes(
    State(state): State<AppState>,
    ServiceId(id): ServiceId,
) -> Result<Json<Vec<ProcessInfo>>, ApiError> {
    Ok(Json(state.supervisor.processes(&id).await?))
}

#[utoipa::path(get, path = "/capabilities", tag = TAG_SERVICES, operation_id = "service_capabilities",
    responses((status = 200, description = "How services are contained here and which resource limits this host can enforce (a limit that cannot be is refused with a field error naming the missing controller)", body = crate::supervisor::limits::LimitCapabilities)))]
async fn capabilities(
    State(state): State<AppState>,
) -> Json<crate::supervisor::limits::LimitCapabilities> {
    Json(state.supervisor.capabilities())
}

#[utoipa::path(get, path = "/services/{id}/usage", tag = TAG_SERVICES, operation_id = "service_usage",
    params(IdPath), responses((status = 200, description = "CPU time and memory of every process of the service (its cgroup, else its process group)", body = ServiceUsage)))]
async fn usage(
    State(state): State<AppState>,
    ServiceId(id): ServiceId,
) -> Result<Json<ServiceUsage>, ApiError> {
    Ok(Json(state.supervisor.usage(&id).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_lagging_subscriber_is_told_and_continues() {
        let (tx, rx) = broadcast::channel::<String>(2);
        for i in 0..5 {
            tx.send(format!("line-{i}")).expect("a receiver");
        }
        drop(tx);
        let stream = sse_stream(rx, std::future::pending(), |line| {
            Event::default().data(line)
        });
        let body = axum::body::to_bytes(Sse::new(stream).into_response().into_body(), 1 << 20)
            .await
            .expect("the stream ends when the channel closes");
        let text = String::from_utf8_lossy(&body);
        let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
        assert_eq!(events.len(), 3, "{text}");
        assert!(
            events[0].starts_with("data: {") && events[0].contains(r#""type":"lagged""#),
            "{text}"
        );
        assert!(events[0].contains(r#""missed":3"#), "{text}");
        assert_eq!(&events[1..], ["data: line-3", "data: line-4"]);
    }

    #[test]
    fn lines_parameter() {
        assert_eq!(parse_lines(None).ok(), Some(DEFAULT_LOG_LINES));
        assert_eq!(parse_lines(Some("5")).ok(), Some(5));
        assert_eq!(parse_lines(Some("0")).ok(), Some(0));
        assert_eq!(parse_lines(Some("10000")).ok(), Some(MAX_LOG_LINES));
        for bad in ["10001", "-1", "abc", "", "1e3", "99999999999999999999999"] {
            let e = parse_lines(Some(bad)).err();
            assert_eq!(e.map(|e| e.status), Some(StatusCode::BAD_REQUEST), "{bad}");
        }
    }
}
