//! The API error type and its JSON shape: `{"error": {"code", "message", "field", "details"}}` with the
//! status codes of the REST contract. Internal errors are logged here and never leak details to clients.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use app::model::FieldError;

use crate::domain_error::DomainError;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    pub details: Vec<FieldError>,
    pub retry_after_secs: Option<u64>,
}

/// The error body every API error answers with (also the OpenAPI schema `ErrorResponse`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorResponse {
    pub error: ErrorDetail,
}

/// The `error` object of [`ErrorResponse`].
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// `unauthorized`, `forbidden`, `not_found`, `validation_failed`, `conflict`, `payload_too_large`,
    /// `rate_limited`, `internal`, `firewall_unavailable`, `nft_failed`.
    pub code: String,
    /// A human sentence.
    pub message: String,
    /// The (first) field the error is about, or null.
    pub field: Option<String>,
    /// Every field error, when there are any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(required = false)]
    pub details: Vec<FieldError>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            details: Vec::new(),
            retry_after_secs: None,
        }
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Authentication required: log in or send a bearer token.",
        )
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "validation_failed", message)
    }

    /// Field-level validation errors (422). The first error's field is the top-level `field`.
    pub fn validation(details: Vec<FieldError>) -> Self {
        let first = details.first().cloned();
        let message = match &first {
            Some(e) if details.len() == 1 => format!("{}: {}", e.field, e.message),
            Some(e) => format!(
                "{}: {} (and {} more problems)",
                e.field,
                e.message,
                details.len() - 1
            ),
            None => "The request is not valid.".to_string(),
        };
        ApiError {
            field: first.map(|e| e.field),
            details,
            ..Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                message,
            )
        }
    }

    /// A conflict (409), e.g. a name or port already taken.
    pub fn conflict(details: Vec<FieldError>) -> Self {
        ApiError {
            status: StatusCode::CONFLICT,
            code: "conflict",
            ..Self::validation(details)
        }
    }

    pub fn rate_limited(retry_after_secs: u64) -> Self {
        ApiError {
            retry_after_secs: Some(retry_after_secs),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                DomainError::rate_limited_message(std::time::Duration::from_secs(retry_after_secs)),
            )
        }
    }

    /// A server-side failure: logged with its cause, answered with no details.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error while handling a request");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Warden hit an internal error; the server log has the details.",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorResponse {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
                field: self.field,
                details: self.details,
            },
        };
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after_secs {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        resp
    }
}

impl From<DomainError> for ApiError {
    /// The REST status and code of each kind of domain failure (the one mapping for the API).
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::NotFound(message) => ApiError::not_found(message),
            DomainError::Invalid(fields) => ApiError::validation(fields),
            DomainError::Conflict(fields) => ApiError::conflict(fields),
            DomainError::Refused(message) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", message)
            }
            DomainError::Unavailable { code, message } => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
            }
            DomainError::OutsideFailure { code, message } => {
                tracing::error!(code, error = %message, "an outside program refused a change");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, code, message)
            }
            DomainError::RateLimited { retry_after, .. } => {
                ApiError::rate_limited(retry_after.as_secs().max(1))
            }
            DomainError::Internal(cause) => ApiError::internal(cause),
        }
    }
}

crate::through_domain_error!(ApiError);
