//! The kinds of failure the domain layer reports, and the one place each domain's error is sorted into
//! them. Every adapter maps [`DomainError`] once (REST: `http::error`, the UI's server functions:
//! `ui::errors`), so the same refusal reads the same, with the same status, whichever way it came in.

use std::time::Duration;

use app::model::FieldError;

use crate::access::{AuthError, CredentialError};
use crate::firewall_ctl::FirewallError;
use crate::jails::JailError;
use crate::notifications::NotificationError;
use crate::settings::SettingsError;
use crate::store::StoreError;
use crate::supervisor::SupervisorError;

/// What went wrong, as the adapters need to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainError {
    /// The thing named does not exist (a sentence naming it).
    NotFound(String),
    /// The input is invalid, by field.
    Invalid(Vec<FieldError>),
    /// The input conflicts with existing state, by field (a name or port already taken).
    Conflict(Vec<FieldError>),
    /// The request conflicts with the current state, as a sentence (nothing pending to confirm, a preset
    /// already open, a protected address).
    Refused(String),
    /// A capability is missing on this host (the firewall without root or nft); `code` names it
    /// (`firewall_unavailable`).
    Unavailable { code: &'static str, message: String },
    /// An outside program refused the change; the previous state is intact. `code` names the program's
    /// failure (`nft_failed`), `message` is its own message with that promise.
    OutsideFailure { code: &'static str, message: String },
    /// Too many failed attempts from this address; `field` is the input the refusal belongs to, if any.
    RateLimited {
        retry_after: Duration,
        field: Option<&'static str>,
    },
    /// A server-side failure. The cause is logged where the adapter maps it, never shown to clients.
    Internal(String),
}

impl DomainError {
    /// The sentence shown for a rate-limited attempt.
    pub fn rate_limited_message(retry_after: Duration) -> String {
        format!(
            "Too many failed attempts; try again in {} s.",
            retry_after.as_secs().max(1)
        )
    }
}

/// `text` with its first letter in upper case (domain messages are lower-case clauses).
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A store that cannot be written refuses the change (503 `store_unavailable`): nothing was
/// acknowledged, and nothing changed.
impl From<StoreError> for DomainError {
    fn from(e: StoreError) -> Self {
        DomainError::Unavailable {
            code: "store_unavailable",
            message: format!("Warden cannot write its store, so nothing was changed: {e}"),
        }
    }
}

impl From<SupervisorError> for DomainError {
    fn from(e: SupervisorError) -> Self {
        match e {
            SupervisorError::NotFound(id) => {
                DomainError::NotFound(format!("There is no service with id {id}."))
            }
            SupervisorError::Validation(fields) => DomainError::Invalid(fields),
            SupervisorError::Conflict(fields) => DomainError::Conflict(fields),
            SupervisorError::Internal(cause) => DomainError::Internal(cause),
            SupervisorError::Store(e) => e.into(),
        }
    }
}

impl From<FirewallError> for DomainError {
    fn from(e: FirewallError) -> Self {
        match e {
            FirewallError::NotFound(_) => DomainError::NotFound(sentence(&e.to_string())),
            FirewallError::Invalid(errors) => DomainError::Invalid(errors),
            FirewallError::Conflict(message) => DomainError::Refused(sentence(&message)),
            FirewallError::Unavailable(_) => DomainError::Unavailable {
                code: "firewall_unavailable",
                message: sentence(&e.to_string()),
            },
            FirewallError::Nft(nft) => DomainError::OutsideFailure {
                code: "nft_failed",
                message: format!("{nft}. The previous firewall state is unchanged."),
            },
            FirewallError::Store(cause) => cause.into(),
            FirewallError::Internal(cause) => DomainError::Internal(cause),
        }
    }
}

impl From<JailError> for DomainError {
    fn from(e: JailError) -> Self {
        match e {
            JailError::NotFound(_) => DomainError::NotFound(sentence(&e.to_string())),
            JailError::Invalid(errors) => DomainError::Invalid(errors),
            JailError::Conflict(errors) => DomainError::Conflict(errors),
            JailError::Store(cause) => cause.into(),
        }
    }
}

impl From<SettingsError> for DomainError {
    fn from(e: SettingsError) -> Self {
        match e {
            SettingsError::Invalid(fields) => DomainError::Invalid(fields),
            SettingsError::Store(cause) => cause.into(),
        }
    }
}

impl From<NotificationError> for DomainError {
    fn from(e: NotificationError) -> Self {
        match e {
            NotificationError::Invalid(fields) => DomainError::Invalid(fields),
            NotificationError::NotFound(_) => DomainError::NotFound(sentence(&e.to_string()) + "."),
            NotificationError::Store(cause) => cause.into(),
            NotificationError::Internal(cause) => DomainError::Internal(cause),
        }
    }
}

impl From<AuthError> for DomainError {
    fn from(e: AuthError) -> Self {
        DomainError::Internal(e.to_string())
    }
}

impl From<CredentialError> for DomainError {
    fn from(e: CredentialError) -> Self {
        match e {
            CredentialError::Invalid(fields) => DomainError::Invalid(fields),
            CredentialError::Conflict(fields) => DomainError::Conflict(fields),
            CredentialError::NotFound(message) => DomainError::NotFound(message),
            // Only the password change is throttled this way; the refusal belongs to its current password.
            CredentialError::Throttled(retry_after) => DomainError::RateLimited {
                retry_after,
                field: Some("current_password"),
            },
            CredentialError::Busy(retry_after) => DomainError::RateLimited {
                retry_after,
                field: None,
            },
            CredentialError::Internal(cause) => DomainError::Internal(cause.to_string()),
        }
    }
}

/// Implements `From<E> for $target` through [`DomainError`] for every domain error `E`, so an adapter's
/// error type gets all of them from its one `From<DomainError>`.
#[macro_export]
macro_rules! through_domain_error {
    ($target:ty) => {
        $crate::through_domain_error!(
            $target: $crate::store::StoreError,
            $crate::supervisor::SupervisorError,
            $crate::firewall_ctl::FirewallError,
            $crate::jails::JailError,
            $crate::settings::SettingsError,
            $crate::access::AuthError,
            $crate::access::CredentialError,
            $crate::desired::DesiredError,
            $crate::notifications::NotificationError
        );
    };
    ($target:ty: $($source:ty),+) => {
        $(
            impl From<$source> for $target {
                fn from(e: $source) -> Self {
                    <$target>::from($crate::domain_error::DomainError::from(e))
                }
            }
        )+
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_domain_error_has_one_kind() {
        let cases: Vec<(DomainError, DomainError)> = vec![
            (
                SupervisorError::NotFound("abc".into()).into(),
                DomainError::NotFound("There is no service with id abc.".into()),
            ),
            (
                FirewallError::Conflict("nothing is pending".into()).into(),
                DomainError::Refused("Nothing is pending".into()),
            ),
            (
                FirewallError::Unavailable("not root".into()).into(),
                DomainError::Unavailable {
                    code: "firewall_unavailable",
                    message: "The firewall cannot be changed on this host: not root".into(),
                },
            ),
            (
                SettingsError::Invalid(vec![FieldError::new("hostname", "required")]).into(),
                DomainError::Invalid(vec![FieldError::new("hostname", "required")]),
            ),
            (
                CredentialError::Throttled(Duration::from_secs(30)).into(),
                DomainError::RateLimited {
                    retry_after: Duration::from_secs(30),
                    field: Some("current_password"),
                },
            ),
        ];
        for (got, want) in cases {
            assert_eq!(got, want);
        }
    }
}
