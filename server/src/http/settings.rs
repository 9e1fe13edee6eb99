//! REST routes for settings (`/api/v1/settings`) and the event stream (`/api/v1/events`), mounted by
//! `http::api_router`.
//!
//! `PATCH /settings` merges a partial document (unknown fields are rejected at every level; nested
//! objects merge field by field; `environment` is replaced as a whole), validates the result
//! (`validate_settings` plus a host check that the service user exists), persists it durably and only
//! then applies it live: to `AppState::settings` and to the supervisor.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Json;
use futures::Stream;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use app::model::settings::{validate_settings, BanSettings, CrashLoopSettings, Settings};
use app::model::FieldError;

use super::error::ApiError;
use super::json::ApiJson;
use super::openapi::{TAG_EVENTS, TAG_SETTINGS};
use super::services::{from_object, sse_stream, JsonObject};
use crate::state::AppState;
use crate::store::trees;

/// The settings and events routes with their OpenAPI operations (paths relative to `/api/v1`).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(show, update))
        .routes(routes!(events))
}

/// The body of `PATCH /api/v1/settings`: absent fields keep their value.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    pub hostname: Option<String>,
    pub environment: Option<BTreeMap<String, String>>,
    pub service_user: Option<String>,
    pub service_ports: Option<String>,
    pub crash_loop: Option<CrashLoopPatch>,
    pub ban: Option<BanPatch>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CrashLoopPatch {
    pub max_failures: Option<u32>,
    pub window_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BanPatch {
    pub max_failures: Option<u32>,
    pub window_secs: Option<u64>,
    pub ban_secs: Option<u64>,
}

fn set<T>(target: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *target = v;
    }
}

impl SettingsPatch {
    /// The settings that result from applying this patch to `current` (validate before use).
    pub fn apply_to(self, current: &Settings) -> Settings {
        let mut s = current.clone();
        set(&mut s.hostname, self.hostname);
        set(&mut s.environment, self.environment);
        set(&mut s.service_user, self.service_user);
        set(&mut s.service_ports, self.service_ports);
        if let Some(p) = self.crash_loop {
            let c: &mut CrashLoopSettings = &mut s.crash_loop;
            set(&mut c.max_failures, p.max_failures);
            set(&mut c.window_secs, p.window_secs);
        }
        if let Some(p) = self.ban {
            let b: &mut BanSettings = &mut s.ban;
            set(&mut b.max_failures, p.max_failures);
            set(&mut b.window_secs, p.window_secs);
            set(&mut b.ban_secs, p.ban_secs);
        }
        s
    }
}

/// Serialises settings writes, so two concurrent PATCHes cannot lose each other's changes.
static WRITES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The names of the top-level settings that differ between `a` and `b` (the audit log's target).
pub fn changed_fields(a: &Settings, b: &Settings) -> Vec<&'static str> {
    let fields: [(&'static str, bool); 6] = [
        ("hostname", a.hostname != b.hostname),
        ("environment", a.environment != b.environment),
        ("service_user", a.service_user != b.service_user),
        ("service_ports", a.service_ports != b.service_ports),
        ("crash_loop", a.crash_loop != b.crash_loop),
        ("ban", a.ban != b.ban),
    ];
    fields
        .into_iter()
        .filter(|(_, changed)| *changed)
        .map(|(name, _)| name)
        .collect()
}

impl SettingsPatch {
    /// The names of the fields this patch sets (the audit log's target).
    pub fn field_names(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        let fields: [(&'static str, bool); 6] = [
            ("hostname", self.hostname.is_some()),
            ("environment", self.environment.is_some()),
            ("service_user", self.service_user.is_some()),
            ("service_ports", self.service_ports.is_some()),
            ("crash_loop", self.crash_loop.is_some()),
            ("ban", self.ban.is_some()),
        ];
        for (name, set) in fields {
            if set {
                names.push(name);
            }
        }
        names
    }
}

/// Validates, persists (flushed before it returns) and applies a settings patch, and records it in the
/// audit log. Shared by the REST handler and the UI's server function.
pub async fn apply_patch(state: &AppState, patch: SettingsPatch) -> Result<Settings, ApiError> {
    let before = state.settings();
    let named = patch.field_names().join(", ");
    let result = apply_patch_unaudited(state, patch).await;
    let (target, outcome) = match &result {
        Ok(after) => (changed_fields(&before, after).join(", "), Ok(())),
        Err(e) => (named, Err(e.message.clone())),
    };
    state
        .audit
        .record("settings.update", &target, outcome)
        .await;
    result
}

async fn apply_patch_unaudited(
    state: &AppState,
    patch: SettingsPatch,
) -> Result<Settings, ApiError> {
    let _guard = WRITES.lock().await;
    let next = patch.apply_to(&state.settings());
    let mut errors = validate_settings(&next);
    if !errors.iter().any(|e| e.field == "service_user") {
        if let Err(e) = crate::supervisor::spawn::resolve_user(&next.service_user) {
            errors.push(FieldError::new("service_user", e));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let tree = state.store.collection::<Settings>(trees::SETTINGS)?;
    tree.insert(crate::SETTINGS_KEY, &next)?;
    state.store.flush().await?;
    *state.settings.write().unwrap_or_else(|p| p.into_inner()) = next.clone();
    state.supervisor.update_settings(next.clone());
    state
        .events
        .publish("settings", &serde_json::json!({ "settings": &next }));
    Ok(next)
}

#[utoipa::path(get, path = "/settings", tag = TAG_SETTINGS, operation_id = "get_settings",
    responses((status = 200, description = "The settings", body = Settings)))]
async fn show(State(state): State<AppState>) -> Json<Settings> {
    Json(state.settings())
}

#[utoipa::path(patch, path = "/settings", tag = TAG_SETTINGS, operation_id = "update_settings",
    request_body = SettingsPatch,
    responses((status = 200, description = "The settings after the change (applied live)", body = Settings)))]
async fn update(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<JsonObject>,
) -> Result<Json<Settings>, ApiError> {
    let patch: SettingsPatch = from_object(body)?;
    Ok(Json(apply_patch(&state, patch).await?))
}

/// `GET /api/v1/events`: every event of the bus as one `data:` line of JSON with a `"type"`.
#[utoipa::path(get, path = "/events", tag = TAG_EVENTS, operation_id = "events",
    responses((status = 200, description = "Server-sent events: one `data:` line of JSON with a `type` per status change of services, firewall and settings", body = String, content_type = "text/event-stream")))]
async fn events(
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<Event, std::convert::Infallible>>> {
    let stream = sse_stream(
        state.events.subscribe(),
        state.supervisor.closed(),
        |value: serde_json::Value| Event::default().data(value.to_string()),
    );
    Sse::new(stream).keep_alive(KeepAlive::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_fields_name_only_what_differs() {
        let a = Settings::defaults("box".into(), "nobody".into());
        let mut b = a.clone();
        assert!(changed_fields(&a, &b).is_empty());
        b.hostname = "other".into();
        b.ban.ban_secs += 1;
        assert_eq!(changed_fields(&a, &b), ["hostname", "ban"]);
    }

    #[test]
    fn patch_merges_nested_fields_and_rejects_unknown_ones() {
        let current = Settings::defaults("box".into(), "nobody".into());
        let patch: SettingsPatch =
            serde_json::from_str(r#"{"hostname": "h2", "crash_loop": {"window_secs": 5}}"#)
                .expect("valid patch");
        let next = patch.apply_to(&current);
        assert_eq!(next.hostname, "h2");
        assert_eq!(next.crash_loop.window_secs, 5);
        assert_eq!(
            next.crash_loop.max_failures,
            current.crash_loop.max_failures
        );
        assert_eq!(next.environment, current.environment);
        for bad in [
            r#"{"nope": 1}"#,
            r#"{"crash_loop": {"nope": 1}}"#,
            r#"{"ban": {"x": 1}}"#,
        ] {
            assert!(serde_json::from_str::<SettingsPatch>(bad).is_err(), "{bad}");
        }
    }
}
