//! The access domain: who may use Warden, and what happens to those who guess. [`Access`] is the one entry
//! point the adapters (REST, the UI's server functions, later the CLI socket) call for login, logout,
//! authentication of a secret, the password change, API tokens, and lifting a ban (which also lets the
//! address log in again at once). It owns the rule that ties the login throttle to the firewall: an
//! address that used up its failed logins (or wrong current passwords) is refused for the ban time and
//! banned at the kernel for as long.
//!
//! Users have a role (`admin` or `read`): a session or token never does more than its user's role, and a
//! disabled or deleted user's credentials stop working at once (`credentials::Auth::authenticate`). A
//! user may have a second factor (`totp`), which every password login then needs.
//!
//! Inside: `credentials` (sessions: [`Auth`]), `users` (the users and their roles), `totp` (the second
//! factor and recovery codes), `login` (the login check and the hashing gate),
//! `password` (the password change), `tokens` (API tokens with scope and expiry), `throttle` (the pure
//! per-source window: an IPv4 address or an IPv6 /64), `secrets` (random secrets, argon2id), `records`
//! (what is stored).

pub mod credentials;
pub mod login;
mod password;
pub mod records;
pub mod secrets;
pub mod throttle;
pub mod tokens;
pub mod totp;
mod users;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use app::model::admin::{
    ActorKind, ApiToken, CreatedToken, PasswordChange, TokenRequest, TokenScope,
};
use app::model::users::{RecoveryCodes, TotpEnrollment, UserCreate, UserPatch, UserView};
use app::model::FieldError;

use crate::audit::Actor;
use crate::firewall_ctl::{FirewallError, FirewallHandle};
use crate::settings::SettingsHandle;
use crate::store::StoreError;

pub use credentials::Auth;
pub use records::{TokenKind, TokenRecord, UserRecord};
pub use secrets::{generate_password, hash_password, new_secret, verify_password};
pub use throttle::LoginThrottle;
pub use totp::SecondFactor;

/// The name of the session cookie.
pub const SESSION_COOKIE: &str = "warden_session";
/// How long a login session lasts.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// The admin user created on first start (and the one an older single-user store had).
pub const ADMIN_USER: &str = "admin";

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("the password hashing task failed: {0}")]
    Join(String),
    #[error("second factor: {0}")]
    Totp(String),
}

/// Why a credential change (API token, password) was refused.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("{}", summarize(.0))]
    Invalid(Vec<FieldError>),
    #[error("{}", summarize(.0))]
    Conflict(Vec<FieldError>),
    #[error("{0}")]
    NotFound(String),
    /// Too many wrong passwords from this address: refused for the given time.
    #[error("too many wrong passwords from this address; try again in {} s", .0.as_secs().max(1))]
    Throttled(Duration),
    /// Every password-hashing slot is busy: refused at once, try again after the given time.
    #[error("Warden is checking too many passwords right now; try again in {} s", .0.as_secs().max(1))]
    Busy(Duration),
    #[error(transparent)]
    Internal(#[from] AuthError),
}

impl From<StoreError> for CredentialError {
    fn from(e: StoreError) -> Self {
        CredentialError::Internal(AuthError::Store(e))
    }
}

fn summarize(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Who is making a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub username: String,
    pub kind: TokenKind,
    /// What the credential may do: its own scope (login sessions: admin) capped by its user's role.
    pub scope: TokenScope,
    /// The digest key of the token used (to revoke it on logout).
    pub token_key: String,
}

impl Principal {
    /// The audit log's actor for this principal at `address`.
    pub fn actor(&self, address: Option<IpAddr>) -> Actor {
        match &self.kind {
            TokenKind::Session => Actor {
                kind: ActorKind::User,
                name: self.username.clone(),
                address,
            },
            TokenKind::Api { name, .. } => Actor {
                kind: ActorKind::Token,
                name: format!("{}/{name}", self.username),
                address,
            },
        }
    }
}

/// The outcome of a login attempt.
#[derive(Debug)]
pub enum LoginOutcome {
    Ok {
        token: String,
        expires_at: i64,
    },
    Invalid,
    /// The password was right, but the account has a second factor and no code was given (nothing
    /// counted: ask for the code).
    TotpRequired,
    Throttled {
        retry_after: Duration,
    },
    /// Every password-hashing slot was busy: nothing was checked (and nothing counted).
    Busy {
        retry_after: Duration,
    },
}

/// The longest user name and password a login attempt is checked with (longer ones fail at once, without
/// hashing: an argon2 run per megabyte of garbage is a denial of service).
const MAX_LOGIN_USERNAME_BYTES: usize = 128;
const MAX_LOGIN_PASSWORD_BYTES: usize = 1024;

/// The access domain handle. Cheap to clone.
#[derive(Clone)]
pub struct Access {
    inner: Arc<AccessInner>,
}

struct AccessInner {
    auth: Auth,
    settings: SettingsHandle,
    firewall: FirewallHandle,
    /// Where bans from failed logins are reported.
    alerts: crate::alerts::AlertSink,
    /// Logins refused for a wrong password or second factor since start (for metrics).
    failed_logins: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access").finish_non_exhaustive()
    }
}

impl Access {
    /// Logins refused for a wrong password or second factor since Warden started.
    pub fn failed_logins(&self) -> u64 {
        self.inner
            .failed_logins
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn new(
        auth: Auth,
        settings: SettingsHandle,
        firewall: FirewallHandle,
        alerts: crate::alerts::AlertSink,
    ) -> Access {
        Access {
            inner: Arc::new(AccessInner {
                auth,
                settings,
                firewall,
                alerts,
                failed_logins: std::sync::atomic::AtomicU64::new(0),
            }),
        }
    }

    /// Resolves a secret (cookie value or bearer token) to a principal, if valid and unexpired.
    pub fn authenticate(&self, secret: &str) -> Result<Option<Principal>, AuthError> {
        self.inner.auth.authenticate(secret)
    }

    /// A login attempt from `addr`: throttled per address with the ban settings; a success notes `addr`
    /// as administering (never banned); the failure that uses up the address's allowance blocks and bans
    /// it (see [`Access::block_and_ban`]).
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        factor: &SecondFactor,
        addr: IpAddr,
    ) -> Result<LoginOutcome, AuthError> {
        if username.len() > MAX_LOGIN_USERNAME_BYTES || password.len() > MAX_LOGIN_PASSWORD_BYTES {
            return Ok(LoginOutcome::Invalid);
        }
        let ban = self.inner.settings.current().ban;
        let outcome = self
            .inner
            .auth
            .login_with(
                username,
                password,
                factor,
                addr,
                ban.max_failures,
                Duration::from_secs(ban.window_secs),
            )
            .await?;
        match outcome {
            LoginOutcome::Ok { .. } => {
                tracing::info!(user = %username, client = %addr, "login");
                self.inner.firewall.note_administering(addr);
                Ok(outcome)
            }
            LoginOutcome::Invalid => {
                tracing::warn!(client = %addr, "failed login");
                self.inner
                    .failed_logins
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Ok(outcome)
            }
            LoginOutcome::TotpRequired => Ok(outcome),
            LoginOutcome::Throttled { .. } => {
                let retry_after = self.block_and_ban(addr).await;
                Ok(LoginOutcome::Throttled { retry_after })
            }
            LoginOutcome::Busy { .. } => {
                tracing::warn!(client = %addr, "login refused: every password-hashing slot is busy");
                Ok(outcome)
            }
        }
    }

    /// Ends the session or revokes the token the principal used.
    pub async fn logout(&self, principal: &Principal) -> Result<(), AuthError> {
        self.inner.auth.logout(principal).await
    }

    /// Changes the principal's password (see [`Auth::change_password`]): a wrong current password counts
    /// as a failed login of `addr`, and the attempt that uses up the allowance blocks and bans it.
    pub async fn change_password(
        &self,
        principal: &Principal,
        change: &PasswordChange,
        addr: IpAddr,
    ) -> Result<(), CredentialError> {
        let ban = self.inner.settings.current().ban;
        let result = self
            .inner
            .auth
            .change_password(
                principal,
                change,
                addr,
                ban.max_failures,
                Duration::from_secs(ban.window_secs),
            )
            .await;
        match result {
            Err(CredentialError::Throttled(_)) => {
                Err(CredentialError::Throttled(self.block_and_ban(addr).await))
            }
            other => other,
        }
    }

    /// Lifts the ban covering `addr` (idempotent) and lets the address (its /64 for IPv6) log in again at
    /// once, not only after the ban would have ended.
    pub async fn unban(&self, addr: IpAddr) -> Result<(), FirewallError> {
        self.inner.firewall.unban(addr).await?;
        self.inner.auth.lift_block(addr);
        Ok(())
    }

    /// An address used up its failed logins (or wrong current passwords): logins and password changes
    /// from it (IPv6: from its /64) are refused for `ban_secs`, and the attempt that starts the block
    /// bans it at the kernel for as long (unless it is protected: loopback, an administering address);
    /// afterwards it starts afresh. Returns how long the block lasts.
    async fn block_and_ban(&self, addr: IpAddr) -> Duration {
        let ban = self.inner.settings.current().ban;
        let (retry_after, started) = self
            .inner
            .auth
            .block_address(addr, Duration::from_secs(ban.ban_secs));
        if started {
            tracing::warn!(client = %addr, "too many failed logins: blocked");
            let at_firewall = self.inner.firewall.ban_failed_logins(addr).await;
            self.inner.alerts.send(crate::alerts::Alert::address_banned(
                &addr.to_canonical().to_string(),
                &format!(
                    "{} failed logins within {} s",
                    ban.max_failures, ban.window_secs
                ),
                ban.ban_secs,
                at_firewall,
            ));
        }
        retry_after
    }

    // ---- API tokens ----

    /// The API tokens of `username`, oldest first (without secrets).
    pub fn api_tokens(&self, username: &str) -> Result<Vec<ApiToken>, AuthError> {
        self.inner.auth.api_tokens(username)
    }

    /// Creates a named API token for `username` with the request's scope and expiry; the secret is in
    /// the answer only.
    pub async fn create_api_token(
        &self,
        username: &str,
        request: &TokenRequest,
    ) -> Result<CreatedToken, CredentialError> {
        self.inner.auth.create_api_token(username, request).await
    }

    /// Revokes `username`'s API token `id`; it stops working at once.
    pub async fn revoke_api_token(&self, username: &str, id: &str) -> Result<(), CredentialError> {
        self.inner.auth.revoke_api_token(username, id).await
    }

    // ---- users and second factors ----

    /// Every user, by name.
    pub fn users(&self) -> Result<Vec<UserView>, AuthError> {
        self.inner.auth.users()
    }

    /// One user, if it exists.
    pub fn user(&self, username: &str) -> Result<Option<UserView>, AuthError> {
        self.inner.auth.user(username)
    }

    /// Creates a user (audited).
    pub async fn create_user(&self, create: &UserCreate) -> Result<UserView, CredentialError> {
        self.inner.auth.create_user(create).await
    }

    /// Changes a user (audited); see [`Auth::update_user`].
    pub async fn update_user(
        &self,
        username: &str,
        patch: &UserPatch,
    ) -> Result<UserView, CredentialError> {
        self.inner.auth.update_user(username, patch).await
    }

    /// Deletes a user (audited); never the last enabled admin.
    pub async fn delete_user(&self, username: &str) -> Result<(), CredentialError> {
        self.inner.auth.delete_user(username).await
    }

    /// Starts enrollment of `username`'s second factor.
    pub async fn enroll_totp(&self, username: &str) -> Result<TotpEnrollment, CredentialError> {
        self.inner.auth.enroll_totp(username).await
    }

    /// Confirms `username`'s second factor; the answer holds the recovery codes (shown once).
    pub async fn confirm_totp(
        &self,
        username: &str,
        code: &str,
    ) -> Result<RecoveryCodes, CredentialError> {
        self.inner.auth.confirm_totp(username, code).await
    }

    /// Removes `username`'s second factor (audited).
    pub async fn remove_totp(&self, username: &str) -> Result<(), CredentialError> {
        self.inner.auth.remove_totp(username).await
    }
}
