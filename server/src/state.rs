//! The shared server state handed to every handler (`AppState`): the domain handles (access, settings,
//! supervisor, firewall, audit) and how Warden is served. The adapters (REST in `http`, the UI's server
//! functions in `ui_backend`) reach the domain layer only through it.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::FromRef;
use axum::http::{header, HeaderMap};
use leptos::prelude::LeptosOptions;

use app::model::FirewallCapability;

use crate::access::{Access, Principal, SESSION_COOKIE};
use crate::settings::SettingsHandle;
use crate::store::Store;
use crate::supervisor::SupervisorHandle;

#[derive(Clone)]
pub struct AppState {
    pub inner: Arc<Inner>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

pub struct Inner {
    pub store: Store,
    /// The access domain (login, sessions, tokens, password, bans from failed logins).
    pub access: Access,
    /// Who did what, when (every domain layer records into the same tree).
    pub audit: crate::audit::AuditLog,
    pub supervisor: SupervisorHandle,
    /// Status changes of services and firewall, for `GET /api/v1/events` and the UI.
    pub events: crate::events::EventBus,
    pub leptos_options: LeptosOptions,
    /// The settings domain (read, validated update, change notification).
    pub settings: SettingsHandle,
    pub firewall_capability: FirewallCapability,
    /// The firewall domain API (rules, apply/confirm/rollback, bans, exposure).
    pub firewall: crate::firewall_ctl::FirewallHandle,
    /// The jails (bans from sshd's and the services' logs).
    pub jails: crate::jails::Jails,
    /// The notifications domain (destinations, delivery, delivery logs).
    pub notifications: crate::notifications::Notifications,
    /// The address the admin UI listens on (for the anti-lockout rule and printed URLs).
    pub listen: SocketAddr,
    /// Whether cookies must carry `Secure` (served over TLS).
    pub secure_cookies: bool,
    /// The host names Warden answers to whatever the settings say (the DNS-rebinding guard).
    pub own_names: crate::http::host::OwnNames,
    /// Set when Warden listens on a non-loopback address over plain HTTP: the warning shown on the
    /// dashboard (passwords and session cookies cross the network unencrypted).
    pub plain_http_warning: Option<String>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.inner
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

/// Where a request's credentials came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialSource {
    Bearer,
    Cookie,
}

/// The secret a request presents: a bearer token takes precedence over the session cookie.
pub fn request_secret(headers: &HeaderMap) -> Option<(String, CredentialSource)> {
    if let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let (scheme, token) = value.split_once(' ')?;
        if scheme.eq_ignore_ascii_case("bearer") {
            return Some((token.trim().to_string(), CredentialSource::Bearer));
        }
        return None;
    }
    cookie_value(headers, SESSION_COOKIE).map(|v| (v, CredentialSource::Cookie))
}

/// The value of cookie `name`, if the request carries it.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

impl AppState {
    /// The principal these headers authenticate, if any.
    pub fn principal(&self, headers: &HeaderMap) -> Option<(Principal, CredentialSource)> {
        let (secret, source) = request_secret(headers)?;
        match self.access.authenticate(&secret) {
            Ok(p) => p.map(|p| (p, source)),
            Err(e) => {
                tracing::error!(error = %e, "token lookup failed");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn bearer_wins_over_cookie() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; warden_session=abc; b=2"),
        );
        assert_eq!(
            request_secret(&h),
            Some(("abc".into(), CredentialSource::Cookie))
        );
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer xyz"),
        );
        assert_eq!(
            request_secret(&h),
            Some(("xyz".into(), CredentialSource::Bearer))
        );
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic xyz"));
        assert_eq!(request_secret(&h), None);
    }
}
