//! The access domain's stored records: users (`users` tree, keyed by name) and tokens (`tokens` tree,
//! keyed by the SHA-256 of the secret). Server-side types, never sent to clients as they are. Versioned by
//! the store's schema version (`store::SCHEMA_VERSION`); this is the layout of schema version 1.

use serde::{Deserialize, Serialize};

/// A user and its password hash.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserRecord {
    pub username: String,
    /// PHC string of an argon2id hash.
    pub password_hash: String,
    pub created_at: String,
}

/// What a token is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TokenKind {
    /// A login session (browser cookie or the token `auth/login` returns).
    Session,
    /// A named API token created by the user.
    Api { id: String, name: String },
}

/// A stored token, keyed by the SHA-256 of the secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenRecord {
    pub username: String,
    #[serde(flatten)]
    pub kind: TokenKind,
    pub created_at: String,
    /// Unix seconds; `None` never expires (API tokens until revoked).
    pub expires_at: Option<i64>,
    /// Unix seconds of the last use of an API token (written at most once a minute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<i64>,
}

/// How often the last use of an API token is written (it costs a store write).
pub(crate) const LAST_USED_RESOLUTION_SECS: i64 = 60;
