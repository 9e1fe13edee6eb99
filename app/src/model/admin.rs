//! Administration DTOs shared by the UI and the server: API tokens, the password change and the audit
//! log, with the pure validation both sides run (token names, the new password).

use serde::{Deserialize, Serialize};

use super::FieldError;

/// The shortest password a password change accepts.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// The longest password accepted anywhere (argon2 input stays bounded).
pub const MAX_PASSWORD_CHARS: usize = 1024;
/// The longest API token name.
pub const MAX_TOKEN_NAME_CHARS: usize = 64;

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
}

/// The body of `POST /api/v1/tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// 1-64 characters, no control characters; unique among the user's tokens.
    pub name: String,
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

/// Validates a password change's shape (the current password is checked by the server).
pub fn validate_password_change(change: &PasswordChange) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if change.current_password.is_empty() {
        errors.push(FieldError::new(
            "current_password",
            "enter your current password",
        ));
    }
    let n = change.new_password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        errors.push(FieldError::new(
            "new_password",
            format!("at least {MIN_PASSWORD_CHARS} characters"),
        ));
    } else if n > MAX_PASSWORD_CHARS {
        errors.push(FieldError::new(
            "new_password",
            format!("at most {MAX_PASSWORD_CHARS} characters"),
        ));
    } else if change.new_password == change.current_password {
        errors.push(FieldError::new(
            "new_password",
            "must differ from the current password",
        ));
    } else if change.new_password.trim().is_empty() {
        errors.push(FieldError::new("new_password", "must not be only spaces"));
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
