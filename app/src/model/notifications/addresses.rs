//! The address checks of notification destinations: a webhook URL and an e-mail address (pure,
//! shared by the UI and the server through `super`).

use super::{MAX_ADDRESS_CHARS, MAX_HOST_CHARS, MAX_URL_CHARS};

/// Checks a webhook URL: `http://` or `https://`, a host, no spaces or control characters.
pub fn validate_url(url: &str) -> Result<(), String> {
    if url.chars().count() > MAX_URL_CHARS {
        return Err(format!("at most {MAX_URL_CHARS} characters"));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters".into());
    }
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .ok_or("must start with http:// or https://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        host_port.split(':').next().unwrap_or_default()
    };
    if host.is_empty() {
        return Err("names no host".into());
    }
    let port = if host_port.starts_with('[') {
        host_port.split_once("]:").map(|(_, p)| p)
    } else {
        host_port.split_once(':').map(|(_, p)| p)
    };
    if port.is_some_and(|p| !matches!(p.parse::<u16>(), Ok(n) if n != 0)) {
        return Err("has an invalid port".into());
    }
    Ok(())
}

/// Checks an e-mail address (`local@domain`, no display name).
pub fn validate_address(address: &str) -> Result<(), String> {
    if address.is_empty() {
        return Err("an e-mail address is required".into());
    }
    if address.chars().count() > MAX_ADDRESS_CHARS {
        return Err(format!("at most {MAX_ADDRESS_CHARS} characters"));
    }
    let Some((local, domain)) = address.rsplit_once('@') else {
        return Err(format!(
            "{address:?} is not an e-mail address (user@domain)"
        ));
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && local
            .chars()
            .all(|c| c.is_ascii_graphic() && !"<>()[]\\,;:@\"".contains(c));
    let domain_ok = !domain.is_empty()
        && domain.len() <= MAX_HOST_CHARS
        && domain.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if !local_ok || !domain_ok {
        return Err(format!(
            "{address:?} is not an e-mail address (user@domain)"
        ));
    }
    Ok(())
}
