//! The password change of [`Auth`]: the current password checked like a login guess (a slot in the
//! caller's throttle count, through the hashing gate), the new hash written together with the end of
//! the user's other sessions, and live only once it is on disk: if the flush fails, the change is
//! undone in memory too and refused.

use std::net::IpAddr;
use std::time::Duration;

use app::model::admin::{validate_password_change, PasswordChange, MAX_PASSWORD_CHARS};
use app::model::FieldError;

use super::credentials::Auth;
use super::login::{HashingGate, BUSY_RETRY_AFTER};
use super::records::TokenKind;
use super::secrets::{hash_password, verify_password};
use super::{CredentialError, Principal};

/// What a password change with a well-formed request did.
#[derive(Debug, PartialEq, Eq)]
enum PasswordChanged {
    Yes,
    /// The current password given was wrong: nothing changed.
    WrongCurrent,
}

impl Auth {
    /// Changes the password of the principal's user: the current password is required, the new one is
    /// validated (shared rules in `app::model::admin`). Every other login session of the user ends; the
    /// caller's session and the user's API tokens stay valid. Acknowledged only once on disk.
    ///
    /// A wrong current password counts as a failed login of `addr` (the same throttle as the login: a
    /// stolen session must not become a way to guess the password); once `max_failures` are used up
    /// within `window`, the answer is [`CredentialError::Throttled`] without checking.
    pub async fn change_password(
        &self,
        principal: &Principal,
        change: &PasswordChange,
        addr: IpAddr,
        max_failures: u32,
        window: Duration,
    ) -> Result<(), CredentialError> {
        let result = self
            .change_password_unaudited(principal, change, addr, max_failures, window)
            .await;
        self.audit
            .record_result("auth.password", &principal.username, &result)
            .await;
        result
    }

    async fn change_password_unaudited(
        &self,
        principal: &Principal,
        change: &PasswordChange,
        addr: IpAddr,
        max_failures: u32,
        window: Duration,
    ) -> Result<(), CredentialError> {
        let errors = validate_password_change(change);
        if !errors.is_empty() {
            // A malformed request is not a guess and costs nothing.
            return Err(CredentialError::Invalid(errors));
        }
        let slot = self
            .begin_guess(addr, max_failures, window)
            .map_err(CredentialError::Throttled)?;
        let Some(permit) = self.hashing.try_enter() else {
            self.throttle_lock().release(slot);
            return Err(CredentialError::Busy(BUSY_RETRY_AFTER));
        };
        match self.check_and_write(principal, change, permit).await {
            Ok(PasswordChanged::Yes) => {
                self.throttle_lock().succeeded(slot);
                Ok(())
            }
            Ok(PasswordChanged::WrongCurrent) => {
                Err(CredentialError::Invalid(vec![FieldError::new(
                    "current_password",
                    "the current password is wrong",
                )]))
            }
            Err(e) => {
                self.throttle_lock().release(slot);
                Err(e)
            }
        }
    }

    async fn check_and_write(
        &self,
        principal: &Principal,
        change: &PasswordChange,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) -> Result<PasswordChanged, CredentialError> {
        let Some(user) = self.read_user(&principal.username).await? else {
            return Err(CredentialError::NotFound("The user does not exist.".into()));
        };
        let current = change.current_password.clone();
        let new = change.new_password.clone();
        let phc = user.password_hash.clone();
        let new_hash = HashingGate::run(permit, move || {
            if current.chars().count() > MAX_PASSWORD_CHARS || !verify_password(&current, &phc) {
                return Ok(None);
            }
            hash_password(&new).map(Some)
        })
        .await??;
        let Some(new_hash) = new_hash else {
            return Ok(PasswordChanged::WrongCurrent);
        };

        // Nobody reads the user record until the new one is on disk, or undone.
        let _writing = self.password_writes.write().await;
        let before = self
            .users
            .get(&principal.username)?
            .unwrap_or_else(|| user.clone());
        let changed = super::records::UserRecord {
            password_hash: new_hash,
            ..before.clone()
        };
        self.users.insert(&principal.username, &changed)?;
        let mut ended = Vec::new();
        for (key, record) in self.tokens.list()? {
            if record.username == principal.username
                && record.kind == TokenKind::Session
                && key != principal.token_key
            {
                self.tokens.remove(&key)?;
                ended.push((key, record));
            }
        }
        if let Err(e) = self.flush().await {
            // Not on disk: the old password and the other sessions stay, in memory too.
            self.users.insert(&principal.username, &before)?;
            for (key, record) in &ended {
                self.tokens.insert(key, record)?;
            }
            return Err(e.into());
        }
        Ok(PasswordChanged::Yes)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::access::LoginOutcome;
    use crate::store::Store;

    #[tokio::test]
    async fn a_password_change_that_cannot_be_saved_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let auth = Auth::new(&store).unwrap();
        auth.bootstrap(Some("first-password-1".into()))
            .await
            .unwrap();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
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
        let change = PasswordChange {
            current_password: "first-password-1".into(),
            new_password: "second-password-2".into(),
        };

        auth.fail_flushes.store(true, Ordering::SeqCst);
        let refused = auth.change_password(&me, &change, ip, 50, w).await;
        assert!(
            matches!(refused, Err(CredentialError::Internal(_))),
            "{refused:?}"
        );
        auth.fail_flushes.store(false, Ordering::SeqCst);

        // The old password still works, the new one does not, and no session ended.
        assert!(matches!(
            auth.login("admin", "second-password-2", ip, 50, w)
                .await
                .unwrap(),
            LoginOutcome::Invalid
        ));
        assert!(matches!(
            auth.login("admin", "first-password-1", ip, 50, w)
                .await
                .unwrap(),
            LoginOutcome::Ok { .. }
        ));
        assert!(auth.authenticate(&other).unwrap().is_some());
        // Once it can be saved, the change goes through.
        let me = auth.authenticate(&mine).unwrap().unwrap();
        auth.change_password(&me, &change, ip, 50, w).await.unwrap();
        assert!(auth.authenticate(&other).unwrap().is_none());
        assert!(matches!(
            auth.login("admin", "second-password-2", ip, 50, w)
                .await
                .unwrap(),
            LoginOutcome::Ok { .. }
        ));
    }
}
