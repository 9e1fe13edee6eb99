//! The login check of [`Auth`]: the throttle slot taken before any password is checked, the small
//! gate in front of argon2 ([`HashingGate`]: a full gate answers "busy" at once instead of queueing,
//! so logins never take the blocking pool from store flushes, `nft` and the rollback timer), the
//! session created on success, and the failed attempts recorded in the audit log (aggregated per
//! source and minute).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use app::model::admin::ActorKind;

use super::credentials::Auth;
use super::records::{TokenKind, TokenRecord};
use super::secrets::{dummy_hash, new_secret, token_key, verify_password};
use super::throttle::Slot;
use super::totp::SecondFactor;
use super::{AuthError, CredentialError, LoginOutcome, SESSION_LIFETIME};
use crate::audit::Actor;
use crate::clock::{now_rfc3339, now_unix};

/// How long a client is told to wait when every hashing slot is busy.
pub const BUSY_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Bounds the argon2 runs (logins, password changes) in flight to about the number of cores; one
/// that finds no free slot is refused at once.
#[derive(Debug, Clone)]
pub struct HashingGate {
    slots: Arc<Semaphore>,
}

impl HashingGate {
    /// A gate with `slots` concurrent hashings (at least 1).
    pub fn new(slots: usize) -> HashingGate {
        HashingGate {
            slots: Arc::new(Semaphore::new(slots.max(1))),
        }
    }

    /// A gate sized by the machine: one slot per core, 2 to 8.
    pub fn for_this_machine() -> HashingGate {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        HashingGate::new(cores.clamp(2, 8))
    }

    /// A free slot, or `None` when all are busy (the caller answers "busy", never waits).
    pub fn try_enter(&self) -> Option<OwnedSemaphorePermit> {
        self.slots.clone().try_acquire_owned().ok()
    }

    /// Runs `work` (argon2) on the blocking pool holding `permit` until it is done, even if the
    /// request that asked for it goes away.
    pub async fn run<T: Send + 'static>(
        permit: OwnedSemaphorePermit,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AuthError> {
        tokio::task::spawn_blocking(move || {
            let result = work();
            drop(permit);
            result
        })
        .await
        .map_err(|e| AuthError::Join(e.to_string()))
    }
}

impl Auth {
    /// A login without a second factor (see [`Auth::login_with`]).
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        addr: IpAddr,
        max_failures: u32,
        window: Duration,
    ) -> Result<LoginOutcome, AuthError> {
        let factor = SecondFactor::default();
        self.login_with(username, password, &factor, addr, max_failures, window)
            .await
    }

    /// Checks credentials (throttled per source, see `throttle`) and creates a session token on success.
    /// A disabled user fails like a wrong password. For a user with a second factor, a right password
    /// without a code is [`LoginOutcome::TotpRequired`] (nothing counted), a wrong or reused code
    /// counts as a failed login.
    pub async fn login_with(
        &self,
        username: &str,
        password: &str,
        factor: &SecondFactor,
        addr: IpAddr,
        max_failures: u32,
        window: Duration,
    ) -> Result<LoginOutcome, AuthError> {
        let slot = match self
            .throttle_lock()
            .begin(addr, Instant::now(), max_failures, window)
        {
            Ok(slot) => slot,
            Err(refused) => {
                return Ok(LoginOutcome::Throttled {
                    retry_after: refused.retry_after,
                })
            }
        };
        let Some(permit) = self.hashing.try_enter() else {
            self.throttle_lock().release(slot);
            return Ok(LoginOutcome::Busy {
                retry_after: BUSY_RETRY_AFTER,
            });
        };
        let user = match self.read_user(username).await {
            Ok(user) => user,
            Err(e) => {
                self.throttle_lock().release(slot);
                return Err(e);
            }
        };
        // Verify against a dummy hash for unknown users, so timing does not tell which users exist.
        let phc = user
            .as_ref()
            .map(|u| u.password_hash.clone())
            .unwrap_or_else(|| dummy_hash().to_string());
        let pw = password.to_string();
        let ok = HashingGate::run(permit, move || verify_password(&pw, &phc)).await?;
        let mut actor = Actor {
            kind: ActorKind::Anonymous,
            name: username.chars().take(128).collect(),
            address: Some(addr),
        };
        let Some(user) = user.filter(|u| ok && !u.disabled) else {
            self.audit
                .record_failed_login(&actor, &slot.source().to_string())
                .await;
            return Ok(LoginOutcome::Invalid);
        };
        if user.totp.as_ref().is_some_and(|t| t.confirmed) {
            if factor.is_empty() {
                self.throttle_lock().release(slot);
                return Ok(LoginOutcome::TotpRequired);
            }
            match self.use_second_factor(username, factor).await {
                Ok(true) => {}
                Ok(false) => {
                    self.audit
                        .record_failed_login(&actor, &slot.source().to_string())
                        .await;
                    return Ok(LoginOutcome::Invalid);
                }
                Err(e) => {
                    self.throttle_lock().release(slot);
                    return Err(match e {
                        CredentialError::Internal(e) => e,
                        other => AuthError::Totp(other.to_string()),
                    });
                }
            }
        }
        self.throttle_lock().succeeded(slot);
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
                scope: Default::default(),
            },
        )?;
        self.flush().await?;
        self.audit.record_as(&actor, "auth.login", "", Ok(())).await;
        Ok(LoginOutcome::Ok { token, expires_at })
    }

    /// A wrong password checked for a request of `addr` outside the login (the password change): it
    /// takes a slot like a failed login. `Err(retry_after)` when the source has no slot left.
    pub(super) fn begin_guess(
        &self,
        addr: IpAddr,
        max_failures: u32,
        window: Duration,
    ) -> Result<Slot, Duration> {
        self.throttle_lock()
            .begin(addr, Instant::now(), max_failures, window)
            .map_err(|refused| refused.retry_after)
    }

    /// Blocks logins from the source of `addr` for `duration` (it used up its failures; the firewall
    /// bans it for as long). Returns how long the block still lasts, and whether this call started it
    /// (only then is the address banned).
    pub fn block_address(&self, addr: IpAddr, duration: Duration) -> (Duration, bool) {
        self.throttle_lock().block(addr, Instant::now(), duration)
    }

    /// Lets `addr` (its /64 for IPv6) try logging in again at once (its ban was removed by hand).
    pub fn lift_block(&self, addr: IpAddr) {
        self.throttle_lock().lift(addr);
    }
}
