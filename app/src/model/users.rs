//! Accounts DTOs shared by the UI and the server: users with a role (`admin` or `read`), the second
//! factor (TOTP enrollment, confirmation, recovery codes) and the pure validation both sides run (user
//! names, the password policy with its small bundled list of common passwords).

use serde::{Deserialize, Serialize};

use super::admin::{TokenScope, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};
use super::FieldError;

/// A user's role: the same two levels as an API token's scope (`admin`: everything; `read`: every page
/// and GET, no mutation). A session or token of a user never does more than the user's role allows.
pub type Role = TokenScope;

/// The longest user name.
pub const MAX_USERNAME_CHARS: usize = 32;
/// How many recovery codes a confirmed second factor comes with.
pub const RECOVERY_CODES: usize = 10;

/// The bundled list of the most common passwords (lower case, one per line) that the policy refuses.
const COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

/// A user as listed (`GET /api/v1/users`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UserView {
    pub username: String,
    pub role: TokenScope,
    /// A disabled user cannot log in; its sessions and tokens ended when it was disabled.
    pub enabled: bool,
    /// Whether a confirmed second factor (TOTP) protects its logins.
    pub totp: bool,
    /// RFC 3339 UTC.
    pub created_at: String,
}

/// The body of `POST /api/v1/users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UserCreate {
    /// 1-32 characters: lower-case letters, digits, `.`, `_`, `-`; starting with a letter or digit.
    pub username: String,
    /// At least 12 characters, not one of the most common passwords.
    pub password: String,
    #[serde(default)]
    pub role: TokenScope,
}

/// The body of `PATCH /api/v1/users/{username}`: each field present is changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    #[serde(default)]
    pub role: Option<TokenScope>,
    /// `false` ends the user's sessions and API tokens at once.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// A new password (the user's sessions end).
    #[serde(default)]
    pub password: Option<String>,
}

/// The answer to `POST /api/v1/auth/totp/enroll`: the new secret, shown once, to be confirmed with a
/// first code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TotpEnrollment {
    /// The shared secret, base32 (RFC 4648, no padding).
    pub secret: String,
    /// The `otpauth://totp/...` URI an authenticator app reads (also as the QR code).
    pub otpauth_uri: String,
    /// The URI as a QR code, an SVG document rendered by Warden itself.
    pub qr_svg: String,
}

/// The body of `POST /api/v1/auth/totp/confirm`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TotpConfirm {
    /// The current 6-digit code of the enrolled secret.
    pub code: String,
}

/// The answer to a confirmation: the one-time recovery codes, shown only this once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RecoveryCodes {
    pub recovery_codes: Vec<String>,
}

/// Validates a user name.
pub fn validate_username(name: &str) -> Vec<FieldError> {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c);
    let first_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if name.is_empty() {
        vec![FieldError::new("username", "a user name is required")]
    } else if name.chars().count() > MAX_USERNAME_CHARS {
        vec![FieldError::new(
            "username",
            format!("at most {MAX_USERNAME_CHARS} characters"),
        )]
    } else if !first_ok || !name.chars().all(ok_char) {
        vec![FieldError::new(
            "username",
            "lower-case letters, digits, '.', '_' and '-', starting with a letter or digit",
        )]
    } else {
        Vec::new()
    }
}

/// Whether `password` is on the bundled list of common passwords (compared in lower case).
pub fn is_common_password(password: &str) -> bool {
    let lower = super::lowercase(password.trim());
    COMMON_PASSWORDS.lines().any(|line| line.trim() == lower)
}

/// The password policy for a new password (in `field`): length bounds, not only spaces, not a common
/// password. Empty when acceptable.
pub fn validate_new_password(field: &str, password: &str) -> Vec<FieldError> {
    let n = password.chars().count();
    let why = if n < MIN_PASSWORD_CHARS {
        format!("at least {MIN_PASSWORD_CHARS} characters")
    } else if n > MAX_PASSWORD_CHARS {
        format!("at most {MAX_PASSWORD_CHARS} characters")
    } else if password.trim().is_empty() {
        "must not be only spaces".to_string()
    } else if is_common_password(password) {
        "this is one of the most common passwords; choose another".to_string()
    } else {
        return Vec::new();
    };
    vec![FieldError::new(field, why)]
}

/// Validates a new user.
pub fn validate_user_create(create: &UserCreate) -> Vec<FieldError> {
    let mut errors = validate_username(&create.username);
    errors.extend(validate_new_password("password", &create.password));
    errors
}

/// Validates a user change (the password, when one is given).
pub fn validate_user_patch(patch: &UserPatch) -> Vec<FieldError> {
    match &patch.password {
        Some(password) => validate_new_password("password", password),
        None => Vec::new(),
    }
}

/// Validates the shape of a TOTP code: six digits (spaces ignored).
pub fn validate_totp_code(code: &str) -> Vec<FieldError> {
    let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.len() == 6 && digits.chars().all(|c| c.is_ascii_digit()) {
        Vec::new()
    } else {
        vec![FieldError::new("code", "the 6-digit code from your app")]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names() {
        for ok in ["admin", "alice", "ops-1", "j.doe", "9lives"] {
            assert!(validate_username(ok).is_empty(), "{ok}");
        }
        for bad in ["", "Alice", "-x", "a b", "ä", &"x".repeat(33)] {
            assert_eq!(validate_username(bad).len(), 1, "{bad}");
        }
    }

    #[test]
    fn the_policy_refuses_short_and_common_passwords() {
        assert!(validate_new_password("password", "a-long-enough-secret").is_empty());
        assert_eq!(validate_new_password("p", "short").len(), 1);
        let common = validate_new_password("password", "Password1234");
        assert_eq!(common.len(), 1);
        assert!(common[0].message.contains("common"), "{common:?}");
        assert_eq!(validate_new_password("p", &" ".repeat(13)).len(), 1);
    }

    #[test]
    fn roles_and_patches_read_the_way_the_api_spells_them() {
        let create: UserCreate =
            serde_json::from_str(r#"{"username":"bob","password":"x","role":"read"}"#).unwrap();
        assert_eq!(create.role, Role::Read);
        let patch: UserPatch = serde_json::from_str(r#"{"enabled":false}"#).unwrap();
        assert_eq!(patch.enabled, Some(false));
        assert!(serde_json::from_str::<UserPatch>(r#"{"role":"root"}"#).is_err());
        assert!(validate_totp_code("123 456").is_empty());
        assert_eq!(validate_totp_code("12345a").len(), 1);
    }
}
