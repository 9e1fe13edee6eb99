//! REST routes for desired state, mounted by `http::api_routes`. Thin adapters over
//! `crate::desired::Domains` (which works through the services, firewall, settings, notifications and
//! jails handles):
//!
//! - `GET /state`: the whole desired state as one document (no secrets);
//! - `POST /state/plan`: what applying a document would change (changes nothing, so a read-only
//!   credential may ask: `middleware::READ_ONLY_POST_ROUTES`);
//! - `PUT /state`: apply a document (one durable write; only what changed starts or restarts);
//! - `GET /backup` (admin only, see `super::backup`).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::{Extension, Json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use app::model::state::{ApplyOutcome, Plan, StateDocument};

use super::error::ApiError;
use super::json::ApiJson;
use super::openapi::TAG_STATE;
use crate::access::Principal;
use crate::desired::Domains;
use crate::state::AppState;

/// The desired-state routes with their OpenAPI operations (paths relative to `/api/v1`).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(export, apply))
        .routes(routes!(plan))
        .routes(routes!(super::backup::backup))
}

/// The domain handles of this Warden.
pub fn domains(state: &AppState) -> Domains<'_> {
    Domains {
        store: &state.store,
        supervisor: &state.supervisor,
        firewall: &state.firewall,
        settings: &state.settings,
        notifications: &state.notifications,
        jails: &state.jails,
        audit: &state.audit,
    }
}

#[utoipa::path(get, path = "/state", tag = TAG_STATE, operation_id = "export_state",
    responses((status = 200, description = "The whole desired state: services (without id and status), the saved firewall rules in order (without id and position) and default policy, the settings, the notification destinations (without ids, delivery state or SMTP passwords; for a read-only credential without webhook URLs either), the jails (without ids or their counts). No secrets; a read-only credential may read it.", body = StateDocument)))]
async fn export(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<Json<StateDocument>, ApiError> {
    let mut doc = domains(&state).export()?;
    if !principal.scope.may_mutate() {
        // A webhook URL is often the credential itself: left out for a read-only credential (a
        // document without it cannot be applied by mistake).
        for destination in doc.notifications.iter_mut().flatten() {
            destination.url = None;
        }
    }
    Ok(Json(doc))
}

#[utoipa::path(post, path = "/state/plan", tag = TAG_STATE, operation_id = "plan_state",
    request_body = StateDocument,
    responses((status = 200, description = "What applying the document would do, per resource (changes nothing; a read-only credential may ask). Sections absent from the document are not managed; `prune: true` deletes services, rules, notification destinations and jails the document does not name (in the sections it has).", body = Plan)))]
async fn plan(
    State(state): State<AppState>,
    ApiJson(doc): ApiJson<StateDocument>,
) -> Result<Json<Plan>, ApiError> {
    Ok(Json(domains(&state).plan(&doc).await?))
}

#[utoipa::path(put, path = "/state", tag = TAG_STATE, operation_id = "apply_state",
    request_body = StateDocument,
    responses((status = 200, description = "Applied: every changed record written in one durable commit, then only what changed started, restarted or stopped; a firewall change applied with the commit-confirm window `firewall_confirm_within_secs` (0 or absent: none). The same document twice answers `changed: false`. A validation error anywhere answers 422 naming the resource and field (e.g. `services[web].command`, `jails[sshd].patterns[0]`), and nothing changes. Changed jails restart their watchers (their counts kept), unchanged ones are not touched.", body = ApplyOutcome)))]
async fn apply(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(doc): ApiJson<StateDocument>,
) -> Result<Json<ApplyOutcome>, ApiError> {
    let applying = peer.ip().to_canonical();
    state.firewall.note_administering(applying);
    Ok(Json(domains(&state).apply(&doc, applying).await?))
}
