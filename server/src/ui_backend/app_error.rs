//! The one mapping of domain errors to the UI's `AppError` (what each kind of failure reads as in the
//! browser; internal causes are logged, never shown).

use app::model::error::AppError;

use crate::domain_error::DomainError;

const INTERNAL_MESSAGE: &str = "Warden hit an internal error; the server log has the details.";

impl From<DomainError> for AppError {
    /// How each kind of domain failure reads in the UI (the one mapping for server functions).
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::NotFound(message) => AppError::NotFound(message),
            DomainError::Invalid(fields) => AppError::Invalid(fields),
            DomainError::Conflict(fields) => AppError::Conflict(fields),
            DomainError::Refused(message) => AppError::Refused(message),
            DomainError::Unavailable { message, .. } => AppError::Unavailable(message),
            DomainError::OutsideFailure { code, message } => {
                tracing::error!(code, error = %message, "an outside program refused a change (server function)");
                AppError::Internal(message)
            }
            DomainError::RateLimited { retry_after, field } => {
                let message = DomainError::rate_limited_message(retry_after);
                match field {
                    // Shown under the field the refusal belongs to (the current password).
                    Some(field) => {
                        AppError::Invalid(vec![app::model::FieldError::new(field, message)])
                    }
                    None => AppError::Refused(message),
                }
            }
            DomainError::Internal(cause) => {
                tracing::error!(error = %cause, "internal error in a server function");
                AppError::Internal(INTERNAL_MESSAGE.into())
            }
        }
    }
}

crate::through_domain_error!(AppError);
