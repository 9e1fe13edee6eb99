//! The access domain's stored records: users (`users` tree, keyed by name) and tokens (`tokens` tree,
//! keyed by the SHA-256 of the secret). Server-side types, never sent to clients as they are. Versioned by
//! the store's schema version (`store::SCHEMA_VERSION`); this is the layout of schema version 1.

use serde::{Deserialize, Serialize};

use app::model::admin::TokenScope;

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
    /// What the token may do. Absent in records written before scopes existed, and for admin tokens
    /// (so those keep their old bytes): admin.
    #[serde(default, skip_serializing_if = "StoredScope::is_admin")]
    pub scope: StoredScope,
}

/// A token's scope as stored (separate from the wire's `TokenScope`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoredScope {
    #[default]
    Admin,
    Read,
}

impl StoredScope {
    fn is_admin(&self) -> bool {
        *self == StoredScope::Admin
    }
}

impl From<TokenScope> for StoredScope {
    fn from(scope: TokenScope) -> Self {
        match scope {
            TokenScope::Admin => StoredScope::Admin,
            TokenScope::Read => StoredScope::Read,
        }
    }
}

impl From<StoredScope> for TokenScope {
    fn from(scope: StoredScope) -> Self {
        match scope {
            StoredScope::Admin => TokenScope::Admin,
            StoredScope::Read => TokenScope::Read,
        }
    }
}

/// How often the last use of an API token is written (it costs a store write).
pub(crate) const LAST_USED_RESOLUTION_SECS: i64 = 60;

#[cfg(test)]
mod tests {
    use super::*;

    /// An API token as schema version 1 stored it, before scopes existed.
    const STORED_V1_API: &str = r#"{"username":"admin","kind":"api","id":"8dd1340e2f39cf31","name":"ci","created_at":"2026-11-30T10:00:00Z","expires_at":null,"last_used_at":1764496800}"#;

    #[test]
    fn tokens_without_a_scope_load_as_admin_and_keep_their_bytes() {
        let record: TokenRecord = serde_json::from_str(STORED_V1_API).unwrap();
        assert_eq!(record.scope, StoredScope::Admin);
        assert_eq!(record.expires_at, None);
        assert_eq!(serde_json::to_string(&record).unwrap(), STORED_V1_API);
        let read = TokenRecord {
            scope: StoredScope::Read,
            expires_at: Some(1_900_000_000),
            ..record
        };
        let text = serde_json::to_string(&read).unwrap();
        assert!(text.contains(r#""scope":"read""#), "{text}");
        let back: TokenRecord = serde_json::from_str(&text).unwrap();
        assert_eq!(back.scope, StoredScope::Read);
        assert_eq!(back.expires_at, Some(1_900_000_000));
    }
}
