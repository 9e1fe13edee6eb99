//! Users of [`Auth`]: list, create, change (role, enabled, password) and delete, each audited. The rules
//! that protect the appliance live here: the last enabled admin can be neither deleted, demoted nor
//! disabled (409 conflict); disabling or deleting a user ends its sessions and API tokens at once; a new
//! password ends its sessions. Every write is on disk before it is acknowledged.

use app::model::users::{
    validate_user_create, validate_user_patch, Role, UserCreate, UserPatch, UserView,
};
use app::model::FieldError;

use super::credentials::Auth;
use super::records::{StoredScope, UserRecord};
use super::secrets::hash_password;
use super::{AuthError, CredentialError};
use crate::clock::now_rfc3339;

impl Auth {
    /// Every user, by name.
    pub fn users(&self) -> Result<Vec<UserView>, AuthError> {
        let mut users: Vec<UserView> = self
            .users
            .list()?
            .into_iter()
            .map(|(_, r)| view(&r))
            .collect();
        users.sort_by(|a, b| a.username.cmp(&b.username));
        Ok(users)
    }

    /// One user, if it exists.
    pub fn user(&self, username: &str) -> Result<Option<UserView>, AuthError> {
        Ok(self.users.get(username)?.map(|r| view(&r)))
    }

    /// Creates a user (validated: name, password policy); 409 when the name is taken.
    pub async fn create_user(&self, create: &UserCreate) -> Result<UserView, CredentialError> {
        let result = self.create_user_unaudited(create).await;
        self.audit
            .record_result("user.create", &create.username, &result)
            .await;
        result
    }

    async fn create_user_unaudited(
        &self,
        create: &UserCreate,
    ) -> Result<UserView, CredentialError> {
        let errors = validate_user_create(create);
        if !errors.is_empty() {
            return Err(CredentialError::Invalid(errors));
        }
        let hash = hash_blocking(create.password.clone()).await?;
        let _writing = self.password_writes.write().await;
        if self.users.get(&create.username)?.is_some() {
            return Err(CredentialError::Conflict(vec![FieldError::new(
                "username",
                "a user with this name exists",
            )]));
        }
        let record = UserRecord {
            username: create.username.clone(),
            password_hash: hash,
            created_at: now_rfc3339(),
            role: create.role.into(),
            disabled: false,
            totp: None,
        };
        self.users.insert(&create.username, &record)?;
        if let Err(e) = self.flush().await {
            self.users.remove(&create.username)?;
            return Err(e.into());
        }
        Ok(view(&record))
    }

    /// Changes a user's role, enabled state or password. Disabling ends its sessions and API tokens at
    /// once, a new password ends its sessions; the last enabled admin keeps its role and stays enabled.
    pub async fn update_user(
        &self,
        username: &str,
        patch: &UserPatch,
    ) -> Result<UserView, CredentialError> {
        let result = self.update_user_unaudited(username, patch).await;
        self.audit
            .record_result("user.update", username, &result)
            .await;
        result
    }

    async fn update_user_unaudited(
        &self,
        username: &str,
        patch: &UserPatch,
    ) -> Result<UserView, CredentialError> {
        let errors = validate_user_patch(patch);
        if !errors.is_empty() {
            return Err(CredentialError::Invalid(errors));
        }
        let hash = match &patch.password {
            Some(password) => Some(hash_blocking(password.clone()).await?),
            None => None,
        };
        let _writing = self.password_writes.write().await;
        let before = self.existing(username)?;
        let mut after = before.clone();
        if let Some(role) = patch.role {
            after.role = role.into();
        }
        if let Some(enabled) = patch.enabled {
            after.disabled = !enabled;
        }
        if let Some(hash) = hash {
            after.password_hash = hash;
        }
        if is_active_admin(&before) && !is_active_admin(&after) && self.active_admins()? <= 1 {
            return Err(last_admin());
        }
        self.users.insert(username, &after)?;
        let ended = if after.disabled {
            self.end_credentials(username, true)?
        } else if patch.password.is_some() {
            self.end_credentials(username, false)?
        } else {
            Vec::new()
        };
        if let Err(e) = self.flush().await {
            self.users.insert(username, &before)?;
            for (key, record) in &ended {
                self.tokens.insert(key, record)?;
            }
            return Err(e.into());
        }
        Ok(view(&after))
    }

    /// Deletes a user with its sessions and API tokens; never the last enabled admin.
    pub async fn delete_user(&self, username: &str) -> Result<(), CredentialError> {
        let result = self.delete_user_unaudited(username).await;
        self.audit
            .record_result("user.delete", username, &result)
            .await;
        result
    }

    async fn delete_user_unaudited(&self, username: &str) -> Result<(), CredentialError> {
        let _writing = self.password_writes.write().await;
        let before = self.existing(username)?;
        if is_active_admin(&before) && self.active_admins()? <= 1 {
            return Err(last_admin());
        }
        self.users.remove(username)?;
        let ended = self.end_credentials(username, true)?;
        if let Err(e) = self.flush().await {
            self.users.insert(username, &before)?;
            for (key, record) in &ended {
                self.tokens.insert(key, record)?;
            }
            return Err(e.into());
        }
        Ok(())
    }

    /// The locked-out case (`warden admin reset-password`, run on the host while Warden is stopped):
    /// sets `username`'s password to `password` (the policy applies) and ends its sessions; with
    /// `clear_totp`, also removes its second factor. Audited.
    pub async fn reset_password(
        &self,
        username: &str,
        password: &str,
        clear_totp: bool,
    ) -> Result<(), CredentialError> {
        let result = self
            .reset_password_unaudited(username, password, clear_totp)
            .await;
        self.audit
            .record_result("auth.reset_password", username, &result)
            .await;
        if clear_totp && result.is_ok() {
            self.audit
                .record("auth.totp.remove", username, Ok(()))
                .await;
        }
        result
    }

    async fn reset_password_unaudited(
        &self,
        username: &str,
        password: &str,
        clear_totp: bool,
    ) -> Result<(), CredentialError> {
        let errors = app::model::users::validate_new_password("password", password);
        if !errors.is_empty() {
            return Err(CredentialError::Invalid(errors));
        }
        let hash = hash_blocking(password.to_string()).await?;
        let _writing = self.password_writes.write().await;
        let mut user = self.existing(username)?;
        user.password_hash = hash;
        if clear_totp {
            user.totp = None;
        }
        self.users.insert(username, &user)?;
        self.end_credentials(username, false)?;
        self.flush().await?;
        Ok(())
    }

    /// The user record `username`, or not found.
    pub(super) fn existing(&self, username: &str) -> Result<UserRecord, CredentialError> {
        self.users
            .get(username)?
            .ok_or_else(|| CredentialError::NotFound("There is no user with this name.".into()))
    }

    /// How many enabled admins there are.
    fn active_admins(&self) -> Result<usize, AuthError> {
        Ok(self
            .users
            .list()?
            .iter()
            .filter(|(_, r)| is_active_admin(r))
            .count())
    }

    /// Removes the user's sessions (and, with `tokens_too`, its API tokens) from the store, unflushed;
    /// returns what was removed, so a failed flush can put it back.
    fn end_credentials(
        &self,
        username: &str,
        tokens_too: bool,
    ) -> Result<Vec<(String, super::TokenRecord)>, AuthError> {
        let mut ended = Vec::new();
        for (key, record) in self.tokens.list()? {
            if record.username == username
                && (tokens_too || record.kind == super::TokenKind::Session)
            {
                self.tokens.remove(&key)?;
                ended.push((key, record));
            }
        }
        Ok(ended)
    }
}

fn is_active_admin(record: &UserRecord) -> bool {
    record.role == StoredScope::Admin && !record.disabled
}

fn last_admin() -> CredentialError {
    CredentialError::Conflict(vec![FieldError::new(
        "username",
        "the last enabled admin cannot be deleted, demoted or disabled",
    )])
}

/// The listing of a stored user.
pub(super) fn view(record: &UserRecord) -> UserView {
    UserView {
        username: record.username.clone(),
        role: Role::from(record.role),
        enabled: !record.disabled,
        totp: record.totp.as_ref().is_some_and(|t| t.confirmed),
        created_at: record.created_at.clone(),
    }
}

/// argon2id of `password` on the blocking pool.
pub(super) async fn hash_blocking(password: String) -> Result<String, AuthError> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| AuthError::Join(e.to_string()))?
}
