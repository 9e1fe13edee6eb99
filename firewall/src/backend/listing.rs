//! Pure helpers over nft's listings and ban sets: the set a ban belongs to, ban elements to add or
//! delete, bans read back from a listed set, and the structural fingerprint of a listed table (for
//! drift checks). No process is run here.

use std::net::IpAddr;

use nftables::expr::{Expression, NamedExpression};
use serde_json::{json, Value};

use crate::model::{Ban, Family};
use crate::network::{ban_network, IpNetwork};
use crate::render::{ban_key, BAN_SET_V4, BAN_SET_V6, TABLE_FAMILY, TABLE_NAME};

pub(super) fn ban_set_name(network: &IpNetwork) -> &'static str {
    match network.family() {
        Family::Ipv4 => BAN_SET_V4,
        Family::Ipv6 => BAN_SET_V6,
    }
}

/// The text of `set NAME { ... }` in an nft listing, up to its closing brace.
pub(super) fn set_declaration<'a>(listing: &'a str, set: &str) -> Option<&'a str> {
    let start = listing.find(&format!("set {set} {{"))?;
    let rest = &listing[start..];
    Some(rest.find('}').map_or(rest, |end| &rest[..end]))
}

pub(super) fn ban_set_element(network: &IpNetwork, timeout: Option<u32>) -> Value {
    let value = json!(ban_key(network).to_string());
    match timeout {
        Some(secs) => json!({"elem": {"val": value, "timeout": secs}}),
        None => value,
    }
}

pub(super) fn element_object(set: &str, element: Value) -> Value {
    json!({"family": TABLE_FAMILY, "table": TABLE_NAME, "name": set, "elem": [element]})
}

/// A ban set element as the network it bans: an address is a ban key (IPv4 host, IPv6 /64); a prefix
/// (an interval set of an older Warden) is taken as it is.
pub(super) fn network_from_expression(expr: &Expression<'_>) -> Option<IpNetwork> {
    match expr {
        Expression::String(text) => text.parse::<IpAddr>().ok().map(ban_network),
        Expression::Named(NamedExpression::Prefix(prefix)) => match prefix.addr.as_ref() {
            Expression::String(addr) => {
                let addr: IpAddr = addr.parse().ok()?;
                IpNetwork::new(addr, u8::try_from(prefix.len).ok()?)
            }
            _ => None,
        },
        _ => None,
    }
}

pub(super) fn ban_from_element(element: &Expression<'_>) -> Option<Ban> {
    match element {
        Expression::Named(NamedExpression::Elem(elem)) => Some(Ban {
            network: network_from_expression(&elem.val)?,
            expires_in_secs: elem.expires.or(elem.timeout).map(u64::from),
        }),
        other => Some(Ban {
            network: network_from_expression(other)?,
            expires_in_secs: None,
        }),
    }
}

/// The structural fingerprint of a `nft -j list table` document: handles, counter values, set
/// elements and metainfo removed, serialized canonically.
pub fn fingerprint_listing(listing: &Value) -> String {
    fn scrub(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut out = serde_json::Map::new();
                for (key, inner) in map {
                    match key.as_str() {
                        "handle" | "elem" | "metainfo" => {}
                        "counter" => {
                            out.insert(key.clone(), json!({}));
                        }
                        _ => {
                            out.insert(key.clone(), scrub(inner));
                        }
                    }
                }
                Value::Object(out)
            }
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(scrub)
                    .filter(|v| v.as_object().is_none_or(|m| !m.is_empty()))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
    scrub(listing).to_string()
}
