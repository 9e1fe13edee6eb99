//! [`FirewallError`]: the one error type of the firewall domain, and its mapping to the UI's
//! `AppError` (with the sentences the REST layer sends; the REST mapping to `ApiError` is in
//! `http::firewall`).

use app::model::error::AppError;
use warden_firewall::backend::NftError;
use warden_firewall::FieldError;

use super::record::EditError;
use crate::store::StoreError;

/// Failures of firewall operations; the HTTP adapter maps each to a status and error code.
#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    /// No such rule, preset, ban or service (the text names it).
    #[error("{0} was not found")]
    NotFound(String),
    /// Invalid input, by field.
    #[error("invalid firewall input")]
    Invalid(Vec<FieldError>),
    /// The request conflicts with the current state (nothing pending, preset already open, the
    /// address is administering Warden, ...).
    #[error("{0}")]
    Conflict(String),
    /// Warden cannot drive nft on this host.
    #[error("the firewall cannot be changed on this host: {0}")]
    Unavailable(String),
    /// nft refused or failed; the kernel state is unchanged. Carries nft's own message.
    #[error(transparent)]
    Nft(NftError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Anything else (a failed task).
    #[error("{0}")]
    Internal(String),
}

impl From<EditError> for FirewallError {
    fn from(e: EditError) -> Self {
        match e {
            EditError::NotFound(what) => FirewallError::NotFound(what),
            EditError::Invalid(errors) => FirewallError::Invalid(errors),
            EditError::Conflict(message) => FirewallError::Conflict(message),
        }
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

impl From<FirewallError> for AppError {
    fn from(e: FirewallError) -> Self {
        match e {
            FirewallError::NotFound(_) => AppError::NotFound(capitalised(&e.to_string())),
            FirewallError::Invalid(errors) => AppError::Invalid(errors),
            // A state conflict (nothing pending, preset already open, protected address): a sentence.
            FirewallError::Conflict(message) => AppError::Unavailable(capitalised(&message)),
            FirewallError::Unavailable(_) => AppError::Unavailable(capitalised(&e.to_string())),
            FirewallError::Nft(nft) => {
                tracing::error!(error = %nft, "nft failed (server function)");
                AppError::Internal(format!("{nft}. The previous firewall state is unchanged."))
            }
            FirewallError::Store(cause) => {
                tracing::error!(error = %cause, "store error in a firewall server function");
                AppError::Internal(
                    "Warden hit an internal error; the server log has the details.".into(),
                )
            }
            FirewallError::Internal(cause) => {
                tracing::error!(error = %cause, "internal error in a firewall server function");
                AppError::Internal(
                    "Warden hit an internal error; the server log has the details.".into(),
                )
            }
        }
    }
}
