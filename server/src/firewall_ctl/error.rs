//! [`FirewallError`]: the one error type of the firewall domain (sorted into `DomainError` once, in
//! `domain_error.rs`, for REST and the UI alike).

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
