//! Authentication: the admin user and its argon2id password hash, session and API tokens (stored only as
//! SHA-256 digests), first-run bootstrap, and the per-address login throttle. The HTTP layer decides *where*
//! credentials come from (cookie or bearer); this module decides whether they are good.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use app::model::admin::{
    validate_password_change, validate_token_name, ActorKind, ApiToken, CreatedToken,
    PasswordChange, MAX_PASSWORD_CHARS,
};
use app::model::FieldError;

use crate::audit::{Actor, AuditLog};
use crate::store::{trees, Collection, Store, StoreError};

/// The name of the session cookie.
pub const SESSION_COOKIE: &str = "warden_session";
/// How long a login session lasts.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// The one admin user this version has (a seam for more users later).
pub const ADMIN_USER: &str = "admin";

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("the password hashing task failed: {0}")]
    Join(String),
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
    #[error(transparent)]
    Internal(#[from] AuthError),
}

/// What a password change with a well-formed request did.
#[derive(Debug, PartialEq, Eq)]
enum PasswordChanged {
    Yes,
    /// The current password given was wrong: nothing changed.
    WrongCurrent,
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
const LAST_USED_RESOLUTION_SECS: i64 = 60;

/// Who is making a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub username: String,
    pub kind: TokenKind,
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
    Ok { token: String, expires_at: i64 },
    Invalid,
    Throttled { retry_after: Duration },
}

pub fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

pub fn now_rfc3339() -> String {
    rfc3339(time::OffsetDateTime::now_utc())
}

pub fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

pub fn unix_to_rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .map(rfc3339)
        .unwrap_or_else(|_| secs.to_string())
}

/// A new random secret: 32 bytes, base64url.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A readable generated password: 20 characters without look-alikes.
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..20)
        .map(|_| ALPHABET[(rng.next_u32() as usize) % ALPHABET.len()] as char)
        .collect()
}

fn token_key(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Per-address failed-login counting: a pure sliding window, fed by the HTTP layer. An address that used
/// up its failures is blocked for the ban duration (see [`LoginThrottle::block`]); when the block ends it
/// starts afresh, like the kernel ban that accompanies it.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: HashMap<IpAddr, VecDeque<Instant>>,
    blocked: HashMap<IpAddr, Instant>,
}

impl LoginThrottle {
    fn prune(&mut self, addr: IpAddr, now: Instant, window: Duration) -> usize {
        let Some(q) = self.failures.get_mut(&addr) else {
            return 0;
        };
        while q.front().is_some_and(|t| now.duration_since(*t) > window) {
            q.pop_front();
        }
        let n = q.len();
        if n == 0 {
            self.failures.remove(&addr);
        }
        n
    }

    /// `Err(retry_after)` when `addr` has used up its failures in the window.
    pub fn check(
        &mut self,
        addr: IpAddr,
        now: Instant,
        max: u32,
        window: Duration,
    ) -> Result<(), Duration> {
        if let Some(until) = self.blocked.get(&addr).copied() {
            if now < until {
                return Err((until - now).max(Duration::from_secs(1)));
            }
            // The block is over: the address starts afresh.
            self.blocked.remove(&addr);
            self.failures.remove(&addr);
        }
        let n = self.prune(addr, now, window);
        if n >= max as usize {
            let oldest = self
                .failures
                .get(&addr)
                .and_then(|q| q.front().copied())
                .unwrap_or(now);
            let retry = window.saturating_sub(now.duration_since(oldest));
            return Err(retry.max(Duration::from_secs(1)));
        }
        Ok(())
    }

    /// Records a failure; returns the number of failures now in the window.
    pub fn record_failure(&mut self, addr: IpAddr, now: Instant, window: Duration) -> usize {
        self.prune(addr, now, window);
        let q = self.failures.entry(addr).or_default();
        q.push_back(now);
        q.len()
    }

    pub fn record_success(&mut self, addr: IpAddr) {
        self.failures.remove(&addr);
    }

    /// Lifts the block and forgets the failures of `addr` (for an IPv6 address: of its whole /64, the
    /// unit the firewall bans), when an administrator removes its ban.
    pub fn lift(&mut self, addr: IpAddr) {
        let covers = |other: &IpAddr| match (addr, other) {
            (IpAddr::V6(a), IpAddr::V6(b)) => a.segments()[..4] == b.segments()[..4],
            _ => addr == *other,
        };
        self.blocked.retain(|other, _| !covers(other));
        self.failures.retain(|other, _| !covers(other));
    }

    /// Blocks `addr` for `duration` from `now` unless it is blocked already; returns how long the block
    /// still lasts.
    pub fn block(&mut self, addr: IpAddr, now: Instant, duration: Duration) -> Duration {
        let until = self.blocked.entry(addr).or_insert(now + duration);
        if *until <= now {
            *until = now + duration;
        }
        (*until - now).max(Duration::from_secs(1))
    }
}

/// The authentication service. Cheap to share behind an `Arc`.
pub struct Auth {
    store: Store,
    users: Collection<UserRecord>,
    tokens: Collection<TokenRecord>,
    throttle: Mutex<LoginThrottle>,
    audit: AuditLog,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").finish_non_exhaustive()
    }
}

impl Auth {
    pub fn new(store: &Store) -> Result<Auth, AuthError> {
        Ok(Auth {
            store: store.clone(),
            users: store.collection(trees::USERS)?,
            tokens: store.collection(trees::TOKENS)?,
            throttle: Mutex::new(LoginThrottle::default()),
            audit: AuditLog::open(store)?,
        })
    }

    /// Creates the admin user on first start. Returns the generated password when none was given, so the
    /// caller can print it once; returns `None` when the user already existed or the password was given.
    pub async fn bootstrap(
        &self,
        given_password: Option<String>,
    ) -> Result<Option<String>, AuthError> {
        if self.users.get(ADMIN_USER)?.is_some() {
            return Ok(None);
        }
        let (password, generated) = match given_password.filter(|p| !p.is_empty()) {
            Some(p) => (p, false),
            None => (generate_password(), true),
        };
        let hash = {
            let password = password.clone();
            tokio::task::spawn_blocking(move || hash_password(&password))
                .await
                .map_err(|e| AuthError::Join(e.to_string()))??
        };
        self.users.insert(
            ADMIN_USER,
            &UserRecord {
                username: ADMIN_USER.to_string(),
                password_hash: hash,
                created_at: now_rfc3339(),
            },
        )?;
        self.store.flush().await?;
        Ok(generated.then_some(password))
    }

    /// Checks credentials (throttled per address) and creates a session token on success.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        addr: IpAddr,
        max_failures: u32,
        window: Duration,
    ) -> Result<LoginOutcome, AuthError> {
        if let Err(retry_after) =
            self.throttle_lock()
                .check(addr, Instant::now(), max_failures, window)
        {
            return Ok(LoginOutcome::Throttled { retry_after });
        }
        let user = self.users.get(username)?;
        // Verify against a dummy hash for unknown users, so timing does not tell which users exist.
        let phc = user
            .as_ref()
            .map(|u| u.password_hash.clone())
            .unwrap_or_else(|| dummy_hash().to_string());
        let pw = password.to_string();
        let ok = tokio::task::spawn_blocking(move || verify_password(&pw, &phc))
            .await
            .map_err(|e| AuthError::Join(e.to_string()))?;
        let mut actor = Actor {
            kind: ActorKind::Anonymous,
            name: username.chars().take(128).collect(),
            address: Some(addr),
        };
        if !ok || user.is_none() {
            self.throttle_lock()
                .record_failure(addr, Instant::now(), window);
            self.audit
                .record_as(
                    &actor,
                    "auth.login",
                    "",
                    Err("wrong user name or password".into()),
                )
                .await;
            return Ok(LoginOutcome::Invalid);
        }
        self.throttle_lock().record_success(addr);
        actor.kind = ActorKind::User;
        let token = new_secret();
        let expires_at = now_unix() + SESSION_LIFETIME.as_secs() as i64;
        self.tokens.insert(
            &token_key(&token),
            &TokenRecord {
                username: username.to_string(),
                kind: TokenKind::Session,
                created_at: now_rfc3339(),
                expires_at: Some(expires_at),
                last_used_at: None,
            },
        )?;
        self.store.flush().await?;
        self.audit.record_as(&actor, "auth.login", "", Ok(())).await;
        Ok(LoginOutcome::Ok { token, expires_at })
    }

    /// Blocks logins from `addr` for `duration` (it used up its failures; the firewall bans it for as
    /// long); returns how long the block still lasts.
    pub fn block_address(&self, addr: IpAddr, duration: Duration) -> Duration {
        self.throttle_lock().block(addr, Instant::now(), duration)
    }

    /// Lets `addr` (its /64 for IPv6) try logging in again at once (its ban was removed by hand).
    pub fn lift_block(&self, addr: IpAddr) {
        self.throttle_lock().lift(addr);
    }

    fn throttle_lock(&self) -> std::sync::MutexGuard<'_, LoginThrottle> {
        // A poisoned throttle only means a panic elsewhere mid-update; its data is still usable.
        self.throttle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Resolves a secret (cookie value or bearer token) to a principal, if valid and unexpired.
    pub fn authenticate(&self, secret: &str) -> Result<Option<Principal>, AuthError> {
        if secret.is_empty() || secret.len() > 256 {
            return Ok(None);
        }
        let key = token_key(secret);
        let Some(record) = self.tokens.get(&key)? else {
            return Ok(None);
        };
        let now = now_unix();
        if record.expires_at.is_some_and(|exp| exp <= now) {
            self.tokens.remove(&key)?;
            return Ok(None);
        }
        if matches!(record.kind, TokenKind::Api { .. })
            && record
                .last_used_at
                .is_none_or(|t| now - t >= LAST_USED_RESOLUTION_SECS)
        {
            // Not flushed: losing the last-use time in a crash is harmless.
            let used = TokenRecord {
                last_used_at: Some(now),
                ..record.clone()
            };
            self.tokens.insert(&key, &used)?;
        }
        Ok(Some(Principal {
            username: record.username,
            kind: record.kind,
            token_key: key,
        }))
    }

    /// Revokes the token a principal used; it stops working at once.
    pub async fn logout(&self, principal: &Principal) -> Result<(), AuthError> {
        self.tokens.remove(&principal.token_key)?;
        self.store.flush().await?;
        self.audit.record("auth.logout", "", Ok(())).await;
        Ok(())
    }

    // ---- API tokens ----

    /// The API tokens of `username`, oldest first.
    pub fn api_tokens(&self, username: &str) -> Result<Vec<ApiToken>, AuthError> {
        let mut tokens: Vec<ApiToken> = self
            .tokens
            .list()?
            .into_iter()
            .filter(|(_, r)| r.username == username)
            .filter_map(|(_, r)| match r.kind {
                TokenKind::Api { id, name } => Some(ApiToken {
                    id,
                    name,
                    created_at: r.created_at,
                    last_used_at: r.last_used_at.map(unix_to_rfc3339),
                }),
                TokenKind::Session => None,
            })
            .collect();
        tokens.sort_by(|a, b| (&a.created_at, &a.id).cmp(&(&b.created_at, &b.id)));
        Ok(tokens)
    }

    /// Creates a named API token for `username`; the secret is in the answer only.
    pub async fn create_api_token(
        &self,
        username: &str,
        name: &str,
    ) -> Result<CreatedToken, CredentialError> {
        let result = self.create_api_token_unaudited(username, name).await;
        self.audit
            .record_result("token.create", name, &result)
            .await;
        result
    }

    async fn create_api_token_unaudited(
        &self,
        username: &str,
        name: &str,
    ) -> Result<CreatedToken, CredentialError> {
        let errors = validate_token_name(name);
        if !errors.is_empty() {
            return Err(CredentialError::Invalid(errors));
        }
        let _guard = TOKEN_WRITES.lock().await;
        if self.api_tokens(username)?.iter().any(|t| t.name == name) {
            return Err(CredentialError::Conflict(vec![FieldError::new(
                "name",
                "a token with this name exists",
            )]));
        }
        let secret = new_secret();
        let id = format!("{:016x}", rand::random::<u64>());
        let created_at = now_rfc3339();
        self.tokens.insert(
            &token_key(&secret),
            &TokenRecord {
                username: username.to_string(),
                kind: TokenKind::Api {
                    id: id.clone(),
                    name: name.to_string(),
                },
                created_at: created_at.clone(),
                expires_at: None,
                last_used_at: None,
            },
        )?;
        self.store.flush().await?;
        Ok(CreatedToken {
            id,
            name: name.to_string(),
            token: secret,
            created_at,
        })
    }

    /// Revokes `username`'s API token `id`; it stops working at once.
    pub async fn revoke_api_token(&self, username: &str, id: &str) -> Result<(), CredentialError> {
        let found = self.tokens.list()?.into_iter().find(|(_, r)| {
            r.username == username && matches!(&r.kind, TokenKind::Api { id: i, .. } if i == id)
        });
        let Some((key, record)) = found else {
            let result: Result<(), CredentialError> = Err(CredentialError::NotFound(
                "There is no API token with this id.".into(),
            ));
            self.audit.record_result("token.revoke", id, &result).await;
            return result;
        };
        let name = match &record.kind {
            TokenKind::Api { name, .. } => name.clone(),
            TokenKind::Session => String::new(),
        };
        self.tokens.remove(&key)?;
        self.store.flush().await?;
        self.audit.record("token.revoke", &name, Ok(())).await;
        Ok(())
    }

    // ---- password ----

    /// Changes the password of the principal's user: the current password is required, the new one is
    /// validated (shared rules in `app::model::admin`). Every other login session of the user ends; the
    /// caller's session and the user's API tokens stay valid.
    ///
    /// A wrong current password counts as a failed login of `addr` (the same per-address throttle as
    /// the login: a stolen session must not become a way to guess the password); once `max_failures`
    /// are used up within `window`, the answer is [`CredentialError::Throttled`] without checking.
    pub async fn change_password(
        &self,
        principal: &Principal,
        change: &PasswordChange,
        addr: IpAddr,
        max_failures: u32,
        window: Duration,
    ) -> Result<(), CredentialError> {
        let allowed = self
            .throttle_lock()
            .check(addr, Instant::now(), max_failures, window);
        if let Err(retry_after) = allowed {
            let result = Err(CredentialError::Throttled(retry_after));
            self.audit
                .record_result("auth.password", &principal.username, &result)
                .await;
            return result;
        }
        let result = match self.change_password_unaudited(principal, change).await {
            Ok(PasswordChanged::Yes) => Ok(()),
            Ok(PasswordChanged::WrongCurrent) => {
                self.throttle_lock()
                    .record_failure(addr, Instant::now(), window);
                Err(CredentialError::Invalid(vec![FieldError::new(
                    "current_password",
                    "the current password is wrong",
                )]))
            }
            Err(e) => Err(e),
        };
        self.audit
            .record_result("auth.password", &principal.username, &result)
            .await;
        result
    }

    async fn change_password_unaudited(
        &self,
        principal: &Principal,
        change: &PasswordChange,
    ) -> Result<PasswordChanged, CredentialError> {
        let errors = validate_password_change(change);
        if !errors.is_empty() {
            return Err(CredentialError::Invalid(errors));
        }
        let Some(mut user) = self.users.get(&principal.username)? else {
            return Err(CredentialError::NotFound("The user does not exist.".into()));
        };
        let current = change.current_password.clone();
        let new = change.new_password.clone();
        let phc = user.password_hash.clone();
        let new_hash = tokio::task::spawn_blocking(move || {
            if current.chars().count() > MAX_PASSWORD_CHARS || !verify_password(&current, &phc) {
                return Ok(None);
            }
            hash_password(&new).map(Some)
        })
        .await
        .map_err(|e| AuthError::Join(e.to_string()))??;
        let Some(new_hash) = new_hash else {
            return Ok(PasswordChanged::WrongCurrent);
        };
        user.password_hash = new_hash;
        self.users.insert(&principal.username, &user)?;
        for (key, record) in self.tokens.list()? {
            if record.username == principal.username
                && record.kind == TokenKind::Session
                && key != principal.token_key
            {
                self.tokens.remove(&key)?;
            }
        }
        self.store.flush().await?;
        Ok(PasswordChanged::Yes)
    }
}

/// Serialises API token creation, so two concurrent requests cannot create the same name twice.
static TOKEN_WRITES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// An argon2id hash of a random secret, computed once, so unknown user names cost the same time to reject.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password(&new_secret()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn throttle_window() {
        let mut t = LoginThrottle::default();
        let a: IpAddr = "192.0.2.7".parse().unwrap();
        let b: IpAddr = "192.0.2.8".parse().unwrap();
        let w = Duration::from_secs(600);
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(t.check(a, t0, 3, w).is_ok(), "attempt {i}");
            t.record_failure(a, t0, w);
        }
        let retry = t.check(a, t0, 3, w).unwrap_err();
        assert!(retry <= w && retry >= Duration::from_secs(1));
        assert!(
            t.check(b, t0, 3, w).is_ok(),
            "other addresses are unaffected"
        );
        // After the window the failures age out.
        assert!(t.check(a, t0 + w + Duration::from_secs(1), 3, w).is_ok());
    }

    #[test]
    fn a_block_lasts_its_duration_then_the_address_starts_afresh() {
        let mut t = LoginThrottle::default();
        let a: IpAddr = "192.0.2.7".parse().unwrap();
        let w = Duration::from_secs(600);
        let ban = Duration::from_secs(4);
        let t0 = Instant::now();
        for _ in 0..3 {
            t.record_failure(a, t0, w);
        }
        assert!(t.check(a, t0, 3, w).is_err());
        assert_eq!(t.block(a, t0, ban), ban);
        // A second throttled attempt does not extend the block.
        assert_eq!(
            t.block(a, t0 + Duration::from_secs(2), ban),
            Duration::from_secs(2)
        );
        assert_eq!(
            t.check(a, t0 + Duration::from_secs(3), 3, w).unwrap_err(),
            Duration::from_secs(1)
        );
        // The block ends before the window: the old failures are forgotten with it.
        let later = t0 + ban + Duration::from_millis(1);
        assert!(t.check(a, later, 3, w).is_ok());
        t.record_failure(a, later, w);
        assert!(t.check(a, later, 3, w).is_ok(), "one failure, not four");
    }

    #[test]
    fn lifting_a_block_clears_the_address_or_its_v6_64() {
        let mut t = LoginThrottle::default();
        let w = Duration::from_secs(600);
        let t0 = Instant::now();
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        let v6: IpAddr = "2001:db8:1:2::5".parse().unwrap();
        let v6_same_64: IpAddr = "2001:db8:1:2::99".parse().unwrap();
        let v6_other_64: IpAddr = "2001:db8:1:3::5".parse().unwrap();
        for a in [v4, v6, v6_other_64] {
            t.record_failure(a, t0, w);
            t.block(a, t0, w);
        }
        t.lift("2001:db8:1:2::".parse().unwrap());
        assert!(t.check(v6, t0, 1, w).is_ok());
        assert!(t.check(v6_same_64, t0, 1, w).is_ok());
        assert!(t.check(v6_other_64, t0, 1, w).is_err());
        assert!(t.check(v4, t0, 1, w).is_err());
        t.lift(v4);
        assert!(t.check(v4, t0, 1, w).is_ok());
    }

    #[tokio::test]
    async fn bootstrap_login_authenticate_logout() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let auth = Auth::new(&store).unwrap();
        let generated = auth
            .bootstrap(None)
            .await
            .unwrap()
            .expect("generated password");
        assert_eq!(generated.len(), 20);
        assert_eq!(
            auth.bootstrap(None).await.unwrap(),
            None,
            "only on first start"
        );
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let w = Duration::from_secs(600);
        assert!(matches!(
            auth.login("admin", "nope", ip, 50, w).await.unwrap(),
            LoginOutcome::Invalid
        ));
        assert!(matches!(
            auth.login("root", &generated, ip, 50, w).await.unwrap(),
            LoginOutcome::Invalid
        ));
        let LoginOutcome::Ok { token, .. } =
            auth.login("admin", &generated, ip, 50, w).await.unwrap()
        else {
            panic!("login failed");
        };
        let p = auth.authenticate(&token).unwrap().expect("valid token");
        assert_eq!(p.username, "admin");
        assert_eq!(auth.authenticate("garbage").unwrap(), None);
        auth.logout(&p).await.unwrap();
        assert_eq!(auth.authenticate(&token).unwrap(), None);
    }

    /// A fresh store (kept alive by the returned directory) whose admin has `password`.
    async fn auth_with_admin(password: &str) -> (tempfile::TempDir, Auth) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let auth = Auth::new(&store).unwrap();
        auth.bootstrap(Some(password.into())).await.unwrap();
        (dir, auth)
    }

    #[tokio::test]
    async fn api_tokens_and_password_change() {
        let (_dir, auth) = auth_with_admin("first-password-1").await;
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let w = Duration::from_secs(600);
        let session = |outcome| match outcome {
            LoginOutcome::Ok { token, .. } => token,
            other => panic!("login failed: {other:?}"),
        };
        let mine = session(
            auth.login("admin", "first-password-1", ip, 50, w)
                .await
                .unwrap(),
        );
        let other = session(
            auth.login("admin", "first-password-1", ip, 50, w)
                .await
                .unwrap(),
        );
        let me = auth.authenticate(&mine).unwrap().unwrap();

        let created = auth.create_api_token("admin", "ci").await.unwrap();
        assert!(matches!(
            auth.create_api_token("admin", "ci").await,
            Err(CredentialError::Conflict(_))
        ));
        assert!(matches!(
            auth.create_api_token("admin", "").await,
            Err(CredentialError::Invalid(_))
        ));
        let p = auth.authenticate(&created.token).unwrap().unwrap();
        assert_eq!(p.actor(None).name, "admin/ci");
        let listed = auth.api_tokens("admin").unwrap();
        assert_eq!(listed.len(), 1);
        assert!(listed[0].last_used_at.is_some(), "the use was noted");

        let wrong = PasswordChange {
            current_password: "nope".into(),
            new_password: "second-password-2".into(),
        };
        assert!(matches!(
            auth.change_password(&me, &wrong, ip, 50, w).await,
            Err(CredentialError::Invalid(e)) if e[0].field == "current_password"
        ));
        let right = PasswordChange {
            current_password: "first-password-1".into(),
            ..wrong
        };
        auth.change_password(&me, &right, ip, 50, w).await.unwrap();
        assert!(
            auth.authenticate(&mine).unwrap().is_some(),
            "the caller stays"
        );
        assert!(
            auth.authenticate(&other).unwrap().is_none(),
            "other sessions end"
        );
        assert!(
            auth.authenticate(&created.token).unwrap().is_some(),
            "API tokens stay"
        );

        auth.revoke_api_token("admin", &created.id).await.unwrap();
        assert!(auth.authenticate(&created.token).unwrap().is_none());
        assert!(matches!(
            auth.revoke_api_token("admin", &created.id).await,
            Err(CredentialError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn wrong_current_passwords_are_throttled_per_address() {
        let (_dir, auth) = auth_with_admin("first-password-1").await;
        let (ip, other): (IpAddr, IpAddr) =
            ("192.0.2.7".parse().unwrap(), "192.0.2.8".parse().unwrap());
        let w = Duration::from_secs(600);
        let token = match auth.login("admin", "first-password-1", ip, 50, w).await {
            Ok(LoginOutcome::Ok { token, .. }) => token,
            other => panic!("login failed: {other:?}"),
        };
        let me = auth.authenticate(&token).unwrap().unwrap();
        let change = |current: &str| PasswordChange {
            current_password: current.into(),
            new_password: "second-password-2".into(),
        };
        // A malformed request (empty current password) is not a guess and costs nothing.
        assert!(matches!(
            auth.change_password(&me, &change(""), ip, 2, w).await,
            Err(CredentialError::Invalid(_))
        ));
        for _ in 0..2 {
            assert!(matches!(
                auth.change_password(&me, &change("guess"), ip, 2, w).await,
                Err(CredentialError::Invalid(e)) if e[0].field == "current_password"
            ));
        }
        // The failures are used up: even the right password is refused from that address, unchecked.
        assert!(matches!(
            auth.change_password(&me, &change("first-password-1"), ip, 2, w).await,
            Err(CredentialError::Throttled(d)) if d > Duration::ZERO
        ));
        // They count as failed logins of the address too.
        assert!(matches!(
            auth.login("admin", "first-password-1", ip, 2, w).await,
            Ok(LoginOutcome::Throttled { .. })
        ));
        // Another address is not affected.
        auth.change_password(&me, &change("first-password-1"), other, 2, w)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn given_password_is_used() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let auth = Auth::new(&store).unwrap();
        assert_eq!(
            auth.bootstrap(Some("s3cret-pass".into())).await.unwrap(),
            None
        );
        let ip: IpAddr = "::1".parse().unwrap();
        assert!(matches!(
            auth.login("admin", "s3cret-pass", ip, 50, Duration::from_secs(60))
                .await
                .unwrap(),
            LoginOutcome::Ok { .. }
        ));
    }
}
