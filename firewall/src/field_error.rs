//! [`FieldError`]: one problem with one input field, as every Warden API reports validation failures
//! (`{"field": "ports[1]", "message": "..."}`). Defined here, at the bottom of the crate graph, so the
//! firewall crate, the UI crate (re-exported as `app::model::FieldError`) and the server share one
//! type. Its OpenAPI schema (feature `openapi`) is the one the REST API has always published.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One problem with one input field. `field` is the API field name (e.g. `ports[1]`, `environment.PATH`).
// The fields carry no doc comments on purpose: utoipa would publish them as schema descriptions,
// and the schema stays as it was. `field` names the API field with an index for list entries
// (`hosts[2]`); `message` is a human sentence.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    /// A field error.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for FieldError {}
