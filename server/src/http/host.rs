//! The DNS-rebinding guard: a request is served only when its `Host` (HTTP/2: `:authority`) names
//! Warden itself. Warden's own names are `localhost`, the loopback addresses, the listen address, the
//! address the connection reached, the machine's host name, the TLS certificate's DNS names
//! ([`OwnNames`], fixed at start) and the `allowed_hosts` setting (read per request, so a change
//! applies at once). Anything else gets 421 Misdirected Request: JSON for the API and server functions,
//! a short page for browsers. A request with no `Host` at all (HTTP/1.0 tools) passes: a browser always
//! sends one, and rebinding needs a browser. `/healthz` is exempt (monitors may address it by any name).
//! Also here: HSTS under TLS.

use std::net::IpAddr;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};

use super::error::ApiError;
use crate::serving::LocalAddr;
use crate::state::AppState;

/// The names Warden answers to whatever the settings say (see the module documentation).
#[derive(Debug, Clone, Default)]
pub struct OwnNames {
    /// Lower-case host names without a trailing dot.
    names: Vec<String>,
    /// The listen address (unless it is a wildcard).
    listen: Option<IpAddr>,
}

impl OwnNames {
    /// `localhost`, `host_name` (and its first label when it is a fully qualified name), the
    /// certificate's names and the listen address.
    pub fn new(listen: IpAddr, host_name: Option<&str>, cert_names: &[String]) -> OwnNames {
        let mut names = vec!["localhost".to_string()];
        let mut add = |name: &str| {
            let name = normalise(name);
            if !name.is_empty() && !names.contains(&name) {
                names.push(name);
            }
        };
        if let Some(host) = host_name {
            add(host);
            if let Some((short, _)) = host.split_once('.') {
                add(short);
            }
        }
        for name in cert_names {
            add(name);
        }
        OwnNames {
            names,
            listen: (!listen.is_unspecified()).then_some(listen.to_canonical()),
        }
    }

    /// Whether `authority` (a `Host` value: name or address, with or without port) is one of Warden's
    /// names, for a connection that reached `local` and with the `allowed_hosts` setting `allowed`.
    pub fn allows(&self, authority: &str, local: Option<IpAddr>, allowed: &[String]) -> bool {
        let Some(host) = host_part(authority) else {
            return false;
        };
        if let Ok(ip) = host.parse::<IpAddr>() {
            let ip = ip.to_canonical();
            return ip.is_loopback()
                || Some(ip) == self.listen
                || Some(ip) == local.map(|l| l.to_canonical())
                || allowed
                    .iter()
                    .any(|a| a.parse::<IpAddr>().is_ok_and(|a| a.to_canonical() == ip));
        }
        let host = normalise(host);
        self.names.contains(&host) || allowed.iter().any(|a| normalise(a) == host)
    }
}

/// Lower case, without a trailing dot (`Box.Example.` names the same host as `box.example`).
fn normalise(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// The host of an authority, without port and IPv6 brackets; `None` when it is malformed.
pub fn host_part(authority: &str) -> Option<&str> {
    let authority = authority.trim();
    if let Some(rest) = authority.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        return (after.is_empty() || port_ok(after.strip_prefix(':')?)).then_some(inside);
    }
    match authority.split_once(':') {
        Some((host, port)) if port_ok(port) && !host.is_empty() => Some(host),
        Some(_) => None,
        None if authority.is_empty() => None,
        None => Some(authority),
    }
}

fn port_ok(port: &str) -> bool {
    !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit())
}

/// Refuses requests addressed to a name that is not Warden's (421), see the module documentation.
pub async fn host_guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if path == "/healthz" {
        return next.run(req).await;
    }
    let authority = req
        .headers()
        .get(header::HOST)
        .map(|v| v.to_str().unwrap_or("\u{0}"))
        .or_else(|| req.uri().authority().map(|a| a.as_str()));
    let Some(authority) = authority else {
        return next.run(req).await;
    };
    let local = req
        .extensions()
        .get::<LocalAddr>()
        .map(|LocalAddr(a)| a.ip());
    let allowed = state.settings.current().allowed_hosts;
    if state.own_names.allows(authority, local, &allowed) {
        return next.run(req).await;
    }
    tracing::info!(host = %authority.escape_debug(), path, "refused a request for a foreign host name");
    let machine = path == "/api" || path.starts_with("/api/") || path.starts_with("/rpc/");
    if machine {
        return ApiError::new(
            StatusCode::MISDIRECTED_REQUEST,
            "misdirected_request",
            "This host name is not one of Warden's names. Add it to the allowed_hosts setting to use it.",
        )
        .into_response();
    }
    (StatusCode::MISDIRECTED_REQUEST, Html(MISDIRECTED_PAGE)).into_response()
}

const MISDIRECTED_PAGE: &str = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>Warden: unknown host name</title></head><body><h1>Unknown host name</h1>\
<p>Warden does not answer to the name in this address. This protects it from DNS rebinding: a web \
page that makes your browser call Warden under a name the page controls.</p>\
<p>If you reach Warden under this name on purpose (a DNS name, a reverse proxy), open Warden by its \
IP address or <code>localhost</code> and add the name to <em>Allowed host names</em> in Settings.</p>\
</body></html>";

/// `Strict-Transport-Security` for responses served over TLS (one year; subdomains are not Warden's).
pub fn hsts_value() -> HeaderValue {
    HeaderValue::from_static("max-age=31536000")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> OwnNames {
        OwnNames::new(
            "192.0.2.10".parse().unwrap(),
            Some("Box.example.org"),
            &["warden.example.net".to_string()],
        )
    }

    #[test]
    fn host_part_strips_port_and_brackets() {
        assert_eq!(host_part("example.org"), Some("example.org"));
        assert_eq!(host_part("example.org:8080"), Some("example.org"));
        assert_eq!(host_part("[::1]:8080"), Some("::1"));
        assert_eq!(host_part("[::1]"), Some("::1"));
        assert_eq!(host_part("127.0.0.1:1"), Some("127.0.0.1"));
        for bad in ["", ":80", "a:b", "[::1", "[::1]x", "a:123456", "::1"] {
            assert_eq!(host_part(bad), None, "{bad}");
        }
    }

    #[test]
    fn own_names_pass() {
        let n = names();
        let local = Some("198.51.100.7".parse().unwrap());
        for ok in [
            "localhost",
            "LOCALHOST:8080",
            "127.0.0.1:8080",
            "127.1.2.3",
            "[::1]:8080",
            "192.0.2.10:8080",
            "198.51.100.7",
            "box.example.org",
            "box.example.org.:1",
            "box",
            "warden.example.net:443",
        ] {
            assert!(n.allows(ok, local, &[]), "{ok}");
        }
    }

    #[test]
    fn foreign_names_are_refused_unless_allowed() {
        let n = names();
        let local = Some("198.51.100.7".parse().unwrap());
        for bad in [
            "evil.example",
            "localhost.evil.example",
            "box.example.org.evil.example",
            "203.0.113.5",
            "[2001:db8::1]:80",
            "",
            "evil.example:80:80",
        ] {
            assert!(!n.allows(bad, local, &[]), "{bad}");
        }
        let allowed = vec!["Panel.Example.COM".to_string(), "203.0.113.5".to_string()];
        assert!(n.allows("panel.example.com:8443", local, &allowed));
        assert!(n.allows("203.0.113.5", local, &allowed));
        assert!(!n.allows("other.example.com", local, &allowed));
    }

    #[test]
    fn a_wildcard_listen_address_is_not_a_name() {
        let n = OwnNames::new("0.0.0.0".parse().unwrap(), None, &[]);
        assert!(!n.allows("0.0.0.0", None, &[]));
        assert!(n.allows("localhost", None, &[]));
    }

    #[test]
    fn ipv4_mapped_addresses_compare_as_ipv4() {
        let n = OwnNames::new("::".parse().unwrap(), None, &[]);
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert!(n.allows("192.0.2.1:80", Some(mapped), &[]));
    }
}
