//! Administration DTOs shared by the UI and the server: API tokens (with their scope and expiry), the
//! password change and the audit log, with the pure validation both sides run (token requests, the new
//! password).

use serde::{Deserialize, Serialize};

use super::FieldError;

/// The shortest password a password change accepts.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// The longest password accepted anywhere (argon2 input stays bounded).
pub const MAX_PASSWORD_CHARS: usize = 1024;
/// The longest API token name.
pub const MAX_TOKEN_NAME_CHARS: usize = 64;

/// What an API token may do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TokenScope {
    /// Everything its user may do.
    #[default]
    Admin,
    /// Reads only: every mutation (a REST call other than GET/HEAD, a mutating server function) is
    /// refused with 403 `forbidden`.
    Read,
}

impl TokenScope {
    /// `admin` or `read`, as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Admin => "admin",
            TokenScope::Read => "read",
        }
    }

    /// Whether a credential of this scope may change anything.
    pub fn may_mutate(self) -> bool {
        self == TokenScope::Admin
    }
}

/// An API token as listed (`GET /api/v1/tokens`); the secret is never shown again after creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// RFC 3339 UTC of the last request made with it (updated at most once a minute), or null.
    pub last_used_at: Option<String>,
    /// What it may do (`admin` for tokens created before scopes existed).
    #[serde(default)]
    pub scope: TokenScope,
    /// RFC 3339 UTC after which it stops working (401), or null: until revoked.
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// The answer to `POST /api/v1/tokens`: the only time the secret `token` is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CreatedToken {
    pub id: String,
    pub name: String,
    /// The secret: send it as `Authorization: Bearer <token>`. Shown once.
    pub token: String,
    pub created_at: String,
    #[serde(default)]
    pub scope: TokenScope,
    /// RFC 3339 UTC, or null: until revoked.
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// The body of `POST /api/v1/tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// 1-64 characters, no control characters; unique among the user's tokens.
    pub name: String,
    /// `admin` (the default) or `read` (every mutation is refused with 403).
    #[serde(default)]
    pub scope: TokenScope,
    /// When it stops working: an RFC 3339 time in the future (e.g. `2027-01-31T00:00:00Z`), or null
    /// (the default) for a token that works until revoked.
    #[serde(default)]
    pub expires_at: Option<String>,
}

impl TokenRequest {
    /// A request for an admin token without expiry.
    pub fn named(name: impl Into<String>) -> TokenRequest {
        TokenRequest {
            name: name.into(),
            scope: TokenScope::Admin,
            expires_at: None,
        }
    }
}

/// The body of `POST /api/v1/auth/password`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    /// At least 12 characters, different from the current one.
    pub new_password: String,
}

/// How an audited action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcome {
    /// It was done.
    Ok,
    /// It was refused or failed (the detail says why).
    Failed,
}

/// Who did something: a user's session, a named API token, or Warden itself (timers, the login
/// throttle).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    User,
    Token,
    System,
    /// Not authenticated (e.g. a failed login).
    Anonymous,
}

/// One audit log entry (`GET /api/v1/audit`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    /// Increasing with time.
    pub id: u64,
    /// RFC 3339 UTC.
    pub at: String,
    pub actor_kind: ActorKind,
    /// The user name, `user/token-name` for an API token, or `warden` / the subsystem for Warden itself.
    pub actor: String,
    /// The client address, if the action came from a request.
    pub address: Option<String>,
    /// Dotted action name, e.g. `service.create`, `firewall.apply`, `auth.login`.
    pub action: String,
    /// What it acted on (a service name or id, a rule id, an address, ...), or empty.
    pub target: String,
    pub outcome: AuditOutcome,
    /// Why it failed, or a short note.
    pub detail: Option<String>,
    /// How many times it happened, for an aggregated entry (failed logins: one entry per address, or
    /// IPv6 /64, per minute), else null.
    #[serde(default)]
    pub count: Option<u32>,
}

/// Validates an API token name.
pub fn validate_token_name(name: &str) -> Vec<FieldError> {
    let n = name.chars().count();
    if name.trim().is_empty() {
        vec![FieldError::new("name", "a name is required")]
    } else if n > MAX_TOKEN_NAME_CHARS {
        vec![FieldError::new(
            "name",
            format!("at most {MAX_TOKEN_NAME_CHARS} characters"),
        )]
    } else if name.chars().any(char::is_control) {
        vec![FieldError::new("name", "no control characters")]
    } else {
        Vec::new()
    }
}

/// Parses a token expiry: an RFC 3339 time (any offset), as Unix seconds. The error is a sentence.
pub fn parse_token_expiry(text: &str) -> Result<i64, String> {
    time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
        .map(time::OffsetDateTime::unix_timestamp)
        .map_err(|_| "an RFC 3339 time, e.g. 2027-01-31T00:00:00Z".to_string())
}

/// Validates a token request at `now_unix` (Unix seconds): the name, and an expiry that parses and lies
/// in the future. Returns the field errors; empty when valid.
pub fn validate_token_request(request: &TokenRequest, now_unix: i64) -> Vec<FieldError> {
    let mut errors = validate_token_name(&request.name);
    if let Some(text) = &request.expires_at {
        match parse_token_expiry(text) {
            Err(why) => errors.push(FieldError::new("expires_at", why)),
            Ok(at) if at <= now_unix => {
                errors.push(FieldError::new("expires_at", "must be in the future"))
            }
            Ok(_) => {}
        }
    }
    errors
}

/// Validates a password change's shape (the current password is checked by the server).
pub fn validate_password_change(change: &PasswordChange) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if change.current_password.is_empty() {
        errors.push(FieldError::new(
            "current_password",
            "enter your current password",
        ));
    }
    if change.new_password == change.current_password && !change.new_password.is_empty() {
        errors.push(FieldError::new(
            "new_password",
            "must differ from the current password",
        ));
    } else {
        errors.extend(super::users::validate_new_password(
            "new_password",
            &change.new_password,
        ));
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_names() {
        assert!(validate_token_name("ci").is_empty());
        assert!(validate_token_name("deploy bot ✓").is_empty());
        assert_eq!(validate_token_name("").len(), 1);
        assert_eq!(validate_token_name("   ").len(), 1);
        assert_eq!(validate_token_name("a\nb").len(), 1);
        assert_eq!(validate_token_name(&"x".repeat(65)).len(), 1);
    }

    #[test]
    fn token_requests() {
        let now = 1_800_000_000; // 2027-01-15T08:00:00Z
        let ok = TokenRequest::named("ci");
        assert!(validate_token_request(&ok, now).is_empty());
        let future = TokenRequest {
            scope: TokenScope::Read,
            expires_at: Some("2027-02-01T00:00:00+01:00".into()),
            ..ok.clone()
        };
        assert!(validate_token_request(&future, now).is_empty());
        for (bad, why) in [
            ("2027-01-01T00:00:00Z", "must be in the future"),
            ("tomorrow", "RFC 3339"),
            ("2027-02-01", "RFC 3339"),
        ] {
            let request = TokenRequest {
                expires_at: Some(bad.into()),
                ..ok.clone()
            };
            let errors = validate_token_request(&request, now);
            assert_eq!(errors.len(), 1, "{bad}");
            assert_eq!(errors[0].field, "expires_at");
            assert!(errors[0].message.contains(why), "{bad}: {errors:?}");
        }
        let both = TokenRequest {
            name: String::new(),
            expires_at: Some("x".into()),
            ..ok
        };
        assert_eq!(validate_token_request(&both, now).len(), 2);
    }

    #[test]
    fn token_scopes_default_to_admin_and_read_the_way_the_api_spells_them() {
        let request: TokenRequest = serde_json::from_str(r#"{"name":"ci"}"#).unwrap();
        assert_eq!(request, TokenRequest::named("ci"));
        let read: TokenRequest =
            serde_json::from_str(r#"{"name":"ci","scope":"read","expires_at":null}"#).unwrap();
        assert_eq!(read.scope, TokenScope::Read);
        assert!(!read.scope.may_mutate() && TokenScope::Admin.may_mutate());
        assert!(serde_json::from_str::<TokenRequest>(r#"{"name":"ci","scope":"root"}"#).is_err());
    }

    #[test]
    fn password_changes() {
        let ok = PasswordChange {
            current_password: "old-password-1".into(),
            new_password: "new-password-12".into(),
        };
        assert!(validate_password_change(&ok).is_empty());
        let short = PasswordChange {
            new_password: "short".into(),
            ..ok.clone()
        };
        assert_eq!(validate_password_change(&short)[0].field, "new_password");
        let same = PasswordChange {
            new_password: ok.current_password.clone(),
            ..ok.clone()
        };
        assert_eq!(validate_password_change(&same).len(), 1);
        let no_current = PasswordChange {
            current_password: String::new(),
            ..ok
        };
        assert_eq!(
            validate_password_change(&no_current)[0].field,
            "current_password"
        );
    }
}
