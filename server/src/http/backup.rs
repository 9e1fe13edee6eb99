//! `GET /api/v1/backup` (admin only: the snapshot holds password hashes and token digests): a thin
//! adapter over `crate::backup::snapshot`. Answered as a JSON attachment that is never cached.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

use super::error::ApiError;
use super::openapi::TAG_STATE;
use crate::access::Principal;
use crate::backup::{snapshot, BackupError};
use crate::state::AppState;
use axum::extract::State;

#[utoipa::path(get, path = "/backup", tag = TAG_STATE, operation_id = "backup",
    responses(
        (status = 200, description = "A consistent snapshot of everything: the desired-state document and every stored record (users with password hashes, token digests, audit log, firewall record), without login sessions. Restore it with `warden restore FILE --data-dir D` on a stopped Warden. Admin credentials only.", content_type = "application/json"),
        (status = 403, description = "Not an admin credential (a read token or a read user)", body = super::error::ErrorResponse)))]
pub async fn backup(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<Response, ApiError> {
    if !principal.scope.may_mutate() {
        return Err(ApiError::forbidden(
            "A backup holds password hashes and token digests: only an admin credential may take one.",
        ));
    }
    let file = snapshot(&super::state::domains(&state))
        .await
        .map_err(|e| match e {
            BackupError::Desired(e) => ApiError::from(e),
            BackupError::Store(e) => ApiError::from(e),
            BackupError::Unreadable(e) => ApiError::internal(e),
        })?;
    let mut resp = Json(file).into_response();
    let headers = resp.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"warden-backup.json\""),
    );
    Ok(resp)
}
