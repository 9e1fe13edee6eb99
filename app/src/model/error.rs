//! `AppError`: the error every server function returns. It crosses the wire as JSON, so the UI can show
//! field errors next to the fields they belong to and sentences everywhere else — never raw JSON.

use crate::rpc::codec::JsonTextEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

use super::FieldError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    /// Not logged in (or the session expired).
    #[error("You are not logged in (or your session expired). Log in again.")]
    Unauthorized,
    #[error("{0}")]
    NotFound(String),
    /// The input is invalid; one entry per field.
    #[error("{}", summarize(.0))]
    Invalid(Vec<FieldError>),
    /// The input conflicts with existing state (a name or port already taken).
    #[error("{}", summarize(.0))]
    Conflict(Vec<FieldError>),
    /// The request conflicts with the current state (nothing pending to confirm, a preset already open,
    /// a protected address, too many failed attempts): a sentence.
    #[error("{0}")]
    Refused(String),
    /// The operation cannot be done here (e.g. the firewall without root).
    #[error("{0}")]
    Unavailable(String),
    /// A server-side failure; the details are in the server log.
    #[error("{0}")]
    Internal(String),
    /// The call itself failed (network, encoding).
    #[error("The request failed: {0}")]
    Call(String),
}

fn summarize(errors: &[FieldError]) -> String {
    match errors {
        [] => "The input is not valid.".to_string(),
        [one] => format!("{}: {}", one.field, one.message),
        [first, rest @ ..] => format!(
            "{}: {} (and {} more)",
            first.field,
            first.message,
            rest.len()
        ),
    }
}

impl AppError {
    /// Field errors, if this error has any.
    pub fn field_errors(&self) -> &[FieldError] {
        match self {
            AppError::Invalid(e) | AppError::Conflict(e) => e,
            _ => &[],
        }
    }

    /// The message for one field, if any.
    pub fn field(&self, name: &str) -> Option<String> {
        self.field_errors()
            .iter()
            .find(|e| {
                e.field == name
                    || e.field.starts_with(&format!("{name}["))
                    || e.field.starts_with(&format!("{name}."))
            })
            .map(|e| e.message.clone())
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonTextEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        AppError::Call(value.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_fields() {
        let e = AppError::Invalid(vec![
            FieldError::new("ports[0]", "must be 1-65535"),
            FieldError::new("name", "taken"),
        ]);
        assert_eq!(e.to_string(), "ports[0]: must be 1-65535 (and 1 more)");
        assert_eq!(e.field("ports").as_deref(), Some("must be 1-65535"));
        assert_eq!(e.field("name").as_deref(), Some("taken"));
        assert_eq!(e.field("command"), None);
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(serde_json::from_str::<AppError>(&json).unwrap(), e);
    }
}
