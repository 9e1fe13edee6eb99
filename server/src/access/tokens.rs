//! API tokens: named bearer tokens of a user, each with a scope (admin, or read-only) and an optional
//! expiry, listed without their secrets, created (the secret shown once) and revoked. An `impl` block
//! of [`Auth`], over the same tokens tree as sessions. The scope is enforced by the HTTP auth gate
//! (`http::middleware`); an expired token no longer authenticates (`Auth::authenticate`).

use app::model::admin::{
    parse_token_expiry, validate_token_request, ApiToken, CreatedToken, TokenRequest,
};
use app::model::FieldError;

use super::credentials::Auth;
use super::records::{TokenKind, TokenRecord};
use super::secrets::{new_secret, token_key};
use super::{AuthError, CredentialError};
use crate::clock::{now_rfc3339, now_unix, unix_to_rfc3339};

/// Serialises API token creation, so two concurrent requests cannot create the same name twice.
static TOKEN_WRITES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

impl Auth {
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
                    scope: r.scope.into(),
                    expires_at: r.expires_at.map(unix_to_rfc3339),
                }),
                TokenKind::Session => None,
            })
            .collect();
        tokens.sort_by(|a, b| (&a.created_at, &a.id).cmp(&(&b.created_at, &b.id)));
        Ok(tokens)
    }

    /// Creates a named API token for `username` with the request's scope and expiry; the secret is in
    /// the answer only.
    pub async fn create_api_token(
        &self,
        username: &str,
        request: &TokenRequest,
    ) -> Result<CreatedToken, CredentialError> {
        let result = self.create_api_token_unaudited(username, request).await;
        self.audit
            .record_result("token.create", &request.name, &result)
            .await;
        result
    }

    async fn create_api_token_unaudited(
        &self,
        username: &str,
        request: &TokenRequest,
    ) -> Result<CreatedToken, CredentialError> {
        let errors = validate_token_request(request, now_unix());
        if !errors.is_empty() {
            return Err(CredentialError::Invalid(errors));
        }
        let name = request.name.as_str();
        let expires_at = match &request.expires_at {
            Some(text) => Some(parse_token_expiry(text).map_err(|why| {
                CredentialError::Invalid(vec![FieldError::new("expires_at", why)])
            })?),
            None => None,
        };
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
                expires_at,
                last_used_at: None,
                scope: request.scope.into(),
            },
        )?;
        self.flush().await?;
        Ok(CreatedToken {
            id,
            name: name.to_string(),
            token: secret,
            created_at,
            scope: request.scope,
            expires_at: expires_at.map(unix_to_rfc3339),
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
        self.flush().await?;
        self.audit.record("token.revoke", &name, Ok(())).await;
        Ok(())
    }
}
