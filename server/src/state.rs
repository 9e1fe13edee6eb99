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
    /// The address the admin UI listens on (for the anti-lockout rule and printed URLs).
    pub listen: SocketAddr,
    /// Whether cookies must carry `Secure` (served over TLS).
    pub secure_cookies: bool,
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

/// Can this process drive the kernel firewall? Needs the `nft` program and CAP_NET_ADMIN.
pub fn probe_firewall_capability(nft: &str) -> FirewallCapability {
    let have_nft = if nft.contains('/') {
        std::path::Path::new(nft).is_file()
    } else {
        std::env::var_os("PATH")
            .map(|paths| std::env::split_paths(&paths).any(|d| d.join(nft).is_file()))
            .unwrap_or(false)
    };
    if !have_nft {
        return FirewallCapability {
            available: false,
            reason: Some(format!(
                "The `{nft}` program is not installed (Debian package `nftables`), so Warden shows the \
                 rules but cannot apply them."
            )),
        };
    }
    if !has_cap_net_admin() {
        return FirewallCapability {
            available: false,
            reason: Some(
                "Warden is not running as root (it lacks CAP_NET_ADMIN), so it shows the rules but cannot \
                 apply them. Run it as root or grant CAP_NET_ADMIN (see the README's systemd unit)."
                    .into(),
            ),
        };
    }
    FirewallCapability {
        available: true,
        reason: None,
    }
}

/// Reads the effective capability set from /proc/self/status (bit 12 is CAP_NET_ADMIN).
fn has_cap_net_admin() -> bool {
    const CAP_NET_ADMIN: u32 = 12;
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        })
        .is_some_and(|caps| caps & (1 << CAP_NET_ADMIN) != 0)
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

    #[test]
    fn missing_nft_is_explained() {
        let c = probe_firewall_capability("/nonexistent/nft");
        assert!(!c.available);
        assert!(c.reason.unwrap().contains("not installed"));
    }
}
