//! [`SupervisorError`]: why a call of the service domain failed. The REST layer maps it to 404, 422, 409,
//! 503 (store) and 500, the UI layer to its own error.

use app::model::service::SpecErrors;
use app::model::FieldError;

use crate::store::StoreError;

/// Why a supervisor call failed; the HTTP layer maps these to 404, 422, 409, 503 and 500.
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error("no service with id {0}")]
    NotFound(String),
    #[error("invalid service: {}", join_errors(.0))]
    Validation(Vec<FieldError>),
    #[error("conflicts with another service: {}", join_errors(.0))]
    Conflict(Vec<FieldError>),
    #[error("internal supervisor error: {0}")]
    Internal(String),
    /// The store could not be written: the change was refused and nothing changed (503).
    #[error("{0}")]
    Store(#[from] StoreError),
}

fn join_errors(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl From<SpecErrors> for SupervisorError {
    fn from(e: SpecErrors) -> Self {
        if e.invalid.is_empty() {
            SupervisorError::Conflict(e.conflicts)
        } else {
            SupervisorError::Validation(e.invalid)
        }
    }
}
