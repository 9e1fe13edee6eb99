//! [`Auth`]: the credentials store. Users and their argon2id password hashes, first-run bootstrap,
//! login sessions, the password change, and the per-address throttle's state. Decides whether
//! credentials are good; who may do what with them, and the bans that follow repeated failures, are the
//! access domain's (`access::Access`).

use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use app::model::admin::{validate_password_change, ActorKind, PasswordChange, MAX_PASSWORD_CHARS};
use app::model::FieldError;

use super::records::{TokenKind, TokenRecord, UserRecord, LAST_USED_RESOLUTION_SECS};
use super::secrets::{
    dummy_hash, generate_password, hash_password, new_secret, token_key, verify_password,
};
use super::throttle::LoginThrottle;
use super::{AuthError, CredentialError, LoginOutcome, Principal, ADMIN_USER, SESSION_LIFETIME};
use crate::audit::{Actor, AuditLog};
use crate::clock::{now_rfc3339, now_unix};
use crate::store::{trees, Collection, Store};

/// What a password change with a well-formed request did.
#[derive(Debug, PartialEq, Eq)]
enum PasswordChanged {
    Yes,
    /// The current password given was wrong: nothing changed.
    WrongCurrent,
}

/// The authentication service. Cheap to share behind an `Arc`.
pub struct Auth {
    pub(super) store: Store,
    users: Collection<UserRecord>,
    pub(super) tokens: Collection<TokenRecord>,
    throttle: Mutex<LoginThrottle>,
    pub(super) audit: AuditLog,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::CredentialError;

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
