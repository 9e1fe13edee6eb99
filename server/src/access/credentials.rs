//! [`Auth`]: the credentials store. Users (their management is in `users.rs`) and their argon2id password hashes, first-run bootstrap,
//! authentication of session and API token secrets, logout, and the state the login check shares (the
//! throttle, the hashing gate; the check itself is in `login.rs`, the password change in
//! `password.rs`). Decides whether credentials are good; who may do what with them, and the bans that
//! follow repeated failures, are the access domain's (`access::Access`).

use std::sync::Mutex;

use super::login::HashingGate;
use super::records::{StoredScope, TokenKind, TokenRecord, UserRecord, LAST_USED_RESOLUTION_SECS};
use super::secrets::{generate_password, hash_password, token_key};
use super::throttle::LoginThrottle;
use super::{AuthError, Principal, ADMIN_USER};
use crate::audit::AuditLog;
use crate::clock::{now_rfc3339, now_unix};
use crate::store::{trees, Collection, Store, StoreError};

/// The authentication service. Cheap to share behind an `Arc`.
pub struct Auth {
    pub(super) store: Store,
    pub(super) users: Collection<UserRecord>,
    pub(super) tokens: Collection<TokenRecord>,
    throttle: Mutex<LoginThrottle>,
    /// Bounds the argon2 runs in flight (see `login.rs`).
    pub(super) hashing: HashingGate,
    /// Held for writing while a password change is written and flushed (and undone if the flush
    /// fails); logins read user records under it, so a new password is never seen before it is on disk.
    pub(super) password_writes: tokio::sync::RwLock<()>,
    pub(super) audit: AuditLog,
    /// Makes [`Auth::flush`] fail (tests of what a failed save leaves behind).
    #[cfg(test)]
    pub(super) fail_flushes: std::sync::atomic::AtomicBool,
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
            hashing: HashingGate::for_this_machine(),
            password_writes: tokio::sync::RwLock::new(()),
            audit: AuditLog::open(store)?,
            #[cfg(test)]
            fail_flushes: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The same service with `slots` concurrent password hashings (tests use a small gate).
    pub fn with_hashing_slots(mut self, slots: usize) -> Auth {
        self.hashing = HashingGate::new(slots);
        self
    }

    /// Creates the admin user on first start. Returns the generated password when none was given, so the
    /// caller can print it once; returns `None` when the user already existed or the password was given.
    /// Whether the first-run `admin` account is still to be created.
    pub fn needs_bootstrap(&self) -> Result<bool, AuthError> {
        Ok(self.users.get(ADMIN_USER)?.is_none())
    }

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
                role: Default::default(),
                disabled: false,
                totp: None,
            },
        )?;
        self.store.flush().await?;
        Ok(generated.then_some(password))
    }

    /// The user record `username`, read so that a password change in progress is never seen before
    /// it is on disk (see `password.rs`).
    pub(super) async fn read_user(&self, username: &str) -> Result<Option<UserRecord>, AuthError> {
        let _settled = self.password_writes.read().await;
        Ok(self.users.get(username)?)
    }

    pub(super) fn throttle_lock(&self) -> std::sync::MutexGuard<'_, LoginThrottle> {
        // A poisoned throttle only means a panic elsewhere mid-update; its data is still usable.
        self.throttle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes every write so far durable (tests can make it fail, see `fail_flushes`).
    pub(super) async fn flush(&self) -> Result<(), StoreError> {
        #[cfg(test)]
        if self.fail_flushes.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(StoreError::Io(sled::Error::Io(std::io::Error::other(
                "injected flush failure",
            ))));
        }
        self.store.flush().await
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
            // An expired session is gone; an expired API token stays listed (as expired) until revoked.
            if record.kind == TokenKind::Session {
                self.tokens.remove(&key)?;
            }
            return Ok(None);
        }
        // The user must still exist and be enabled; its role caps what the credential may do.
        let Some(user) = self.users.get(&record.username)? else {
            return Ok(None);
        };
        if user.disabled {
            return Ok(None);
        }
        let scope = if user.role.is_admin() {
            record.scope
        } else {
            StoredScope::Read
        };
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
            scope: scope.into(),
            token_key: key,
        }))
    }

    /// Revokes the token a principal used; it stops working at once.
    pub async fn logout(&self, principal: &Principal) -> Result<(), AuthError> {
        self.tokens.remove(&principal.token_key)?;
        self.flush().await?;
        self.audit.record("auth.logout", "", Ok(())).await;
        Ok(())
    }
}

#[cfg(test)]
#[path = "credentials_tests.rs"]
mod tests;
