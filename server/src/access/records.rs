//! The access domain's stored records: users (`users` tree, keyed by name) and tokens (`tokens` tree,
//! keyed by the SHA-256 of the secret). Server-side types, never sent to clients as they are. Versioned by
//! the store's schema version (`store::SCHEMA_VERSION`); this is the layout of schema version 1.

use serde::{Deserialize, Serialize};

use app::model::admin::TokenScope;

/// A user and its password hash, role, state and second factor. Records written before accounts
/// existed (the one `admin`) have none of the later fields and load as an enabled admin without a
/// second factor; those fields are written only when they differ from that, so such a record keeps its
/// bytes until it changes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserRecord {
    pub username: String,
    /// PHC string of an argon2id hash.
    pub password_hash: String,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "StoredScope::is_admin")]
    pub role: StoredScope,
    #[serde(default, skip_serializing_if = "is_false")]
    pub disabled: bool,
    /// The second factor, once enrolled (confirmed or not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totp: Option<TotpRecord>,
}

/// A user's TOTP second factor (RFC 6238: SHA-1, 6 digits, 30 s steps).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TotpRecord {
    /// The shared secret, base32 without padding (the authenticator app holds the same).
    pub secret: String,
    /// False from enrollment until a first code confirms it; logins need a code only once confirmed.
    pub confirmed: bool,
    /// The last time step whose code was accepted: a code is accepted once only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_step: Option<u64>,
    /// SHA-256 digests (hex) of the recovery codes not yet used.
    #[serde(default)]
    pub recovery_hashes: Vec<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
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
    pub fn is_admin(&self) -> bool {
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

    /// The admin user as schema version 1 stored it, before accounts had roles and a second factor.
    const STORED_V1_USER: &str = r#"{"username":"admin","password_hash":"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA","created_at":"2026-11-30T10:00:00Z"}"#;

    #[test]
    fn a_user_without_role_or_second_factor_loads_as_an_enabled_admin_and_keeps_its_bytes() {
        let record: UserRecord = serde_json::from_str(STORED_V1_USER).unwrap();
        assert_eq!(record.role, StoredScope::Admin);
        assert!(!record.disabled && record.totp.is_none());
        assert_eq!(serde_json::to_string(&record).unwrap(), STORED_V1_USER);
        let reader = UserRecord {
            role: StoredScope::Read,
            disabled: true,
            ..record
        };
        let back: UserRecord =
            serde_json::from_str(&serde_json::to_string(&reader).unwrap()).unwrap();
        assert_eq!(back.role, StoredScope::Read);
        assert!(back.disabled);
    }

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
