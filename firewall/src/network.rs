//! Addresses and networks: the address [`Family`], the normalised [`IpNetwork`], what a ban covers
//! ([`ban_network`]) and the parsing of one `hosts` entry ([`parse_host`] into a [`HostSpec`]).
//!
//! Accepted `hosts` spellings: an IPv4/IPv6 address (`192.0.2.7`, `2001:db8::7`), a CIDR
//! (`192.0.2.0/24`, `2001:db8::/32`) or a hostname (RFC 1123 labels, e.g. `backup.example.org`). A
//! CIDR with host bits set is accepted and normalised to its network (`192.0.2.7/24` →
//! `192.0.2.0/24`), like iptables does; a full-length prefix is written as the bare address.
//! Hostnames are lower-cased and lose a trailing dot; they are resolved by the server at apply time.
//! Anything made only of digits and dots, or containing `:` or `/`, is taken as an address attempt and
//! must parse as one. Nothing here panics on any input.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Longest hostname (without a trailing dot).
pub const MAX_HOSTNAME_LEN: usize = 253;

/// Address family of one packet or address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// IPv4.
    Ipv4,
    /// IPv6.
    Ipv6,
}

impl Family {
    /// The family of an address.
    pub fn of(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        }
    }
}

/// An IPv4 or IPv6 network: an address with a prefix length, always normalised (host bits zero).
/// Displayed and serialized as `"192.0.2.0/24"`, or as the bare address for a full-length prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpNetwork {
    addr: IpAddr,
    prefix_len: u8,
}

impl IpNetwork {
    /// The network of `addr`/`prefix_len` (host bits cleared); `None` if the length is too long.
    pub fn new(addr: IpAddr, prefix_len: u8) -> Option<IpNetwork> {
        match addr {
            IpAddr::V4(a) if prefix_len <= 32 => {
                let bits = u32::from(a) & mask_v4(prefix_len);
                Some(IpNetwork {
                    addr: IpAddr::V4(Ipv4Addr::from(bits)),
                    prefix_len,
                })
            }
            IpAddr::V6(a) if prefix_len <= 128 => {
                let bits = u128::from(a) & mask_v6(prefix_len);
                Some(IpNetwork {
                    addr: IpAddr::V6(Ipv6Addr::from(bits)),
                    prefix_len,
                })
            }
            _ => None,
        }
    }

    /// A single address as a full-length network.
    pub fn host(addr: IpAddr) -> IpNetwork {
        let prefix_len = match addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        IpNetwork { addr, prefix_len }
    }

    /// The network address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// The address family.
    pub fn family(&self) -> Family {
        Family::of(&self.addr)
    }

    /// Whether it is a single address (/32 or /128).
    pub fn is_host(&self) -> bool {
        self.prefix_len == max_prefix(self.family())
    }

    /// Whether `ip` is inside (always false across families).
    pub fn contains(&self, ip: &IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(a)) => {
                u32::from(*a) & mask_v4(self.prefix_len) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                u128::from(*a) & mask_v6(self.prefix_len) == u128::from(net)
            }
            _ => false,
        }
    }

    /// Whether `other` lies entirely inside this network.
    pub fn covers(&self, other: &IpNetwork) -> bool {
        self.prefix_len <= other.prefix_len && self.contains(&other.addr)
    }

    /// The last address of the network.
    pub fn last(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) | !mask_v4(self.prefix_len))),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) | !mask_v6(self.prefix_len))),
        }
    }
}

fn max_prefix(family: Family) -> u8 {
    match family {
        Family::Ipv4 => 32,
        Family::Ipv6 => 128,
    }
}

fn mask_v4(prefix_len: u8) -> u32 {
    match prefix_len {
        0 => 0,
        n if n >= 32 => u32::MAX,
        n => u32::MAX << (32 - u32::from(n)),
    }
}

fn mask_v6(prefix_len: u8) -> u128 {
    match prefix_len {
        0 => 0,
        n if n >= 128 => u128::MAX,
        n => u128::MAX << (128 - u32::from(n)),
    }
}

impl fmt::Display for IpNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_host() {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.prefix_len)
        }
    }
}

impl FromStr for IpNetwork {
    type Err = String;

    /// Parses an address or `address/len` (host bits are cleared).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match parse_host(s)? {
            HostSpec::Network(net) => Ok(net),
            HostSpec::Hostname(_) => Err(format!("{s:?} is not an IP address or CIDR")),
        }
    }
}

impl Serialize for IpNetwork {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for IpNetwork {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// What a ban of `addr` covers: the address itself for IPv4, its /64 for IPv6.
pub fn ban_network(addr: IpAddr) -> IpNetwork {
    match addr {
        IpAddr::V4(_) => IpNetwork::host(addr),
        IpAddr::V6(_) => IpNetwork::new(addr, 64).unwrap_or_else(|| IpNetwork::host(addr)),
    }
}

/// A parsed `hosts` entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HostSpec {
    /// An address or CIDR.
    Network(IpNetwork),
    /// A hostname, lower-cased, without trailing dot; resolved at apply time.
    Hostname(String),
}

impl fmt::Display for HostSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostSpec::Network(net) => write!(f, "{net}"),
            HostSpec::Hostname(name) => f.write_str(name),
        }
    }
}

/// Parses one `hosts` entry. The error is a human sentence.
pub fn parse_host(input: &str) -> Result<HostSpec, String> {
    let text = input.trim();
    if text.is_empty() {
        return Err("a host must not be empty".to_string());
    }
    if let Some((addr_text, len_text)) = text.split_once('/') {
        let addr = IpAddr::from_str(addr_text).map_err(|_| {
            format!("{text:?} is not a valid CIDR: {addr_text:?} is not an IP address")
        })?;
        let max = max_prefix(Family::of(&addr));
        let len = if !len_text.is_empty() && len_text.bytes().all(|b| b.is_ascii_digit()) {
            len_text.parse::<u8>().ok().filter(|l| *l <= max)
        } else {
            None
        };
        let len = len.ok_or_else(|| {
            format!(
                "{text:?} is not a valid CIDR: the prefix length must be a number from 0 to {max}"
            )
        })?;
        return IpNetwork::new(addr, len)
            .map(HostSpec::Network)
            .ok_or_else(|| format!("{text:?} is not a valid CIDR"));
    }
    if text.contains(':') {
        return IpAddr::from_str(text)
            .map(|a| HostSpec::Network(IpNetwork::host(a)))
            .map_err(|_| format!("{text:?} is not a valid IPv6 address"));
    }
    if text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Ipv4Addr::from_str(text)
            .map(|a| HostSpec::Network(IpNetwork::host(IpAddr::V4(a))))
            .map_err(|_| format!("{text:?} is not a valid IPv4 address"));
    }
    parse_hostname(text).map(HostSpec::Hostname)
}

fn parse_hostname(text: &str) -> Result<String, String> {
    let name = text.strip_suffix('.').unwrap_or(text);
    if name.is_empty() || name.len() > MAX_HOSTNAME_LEN {
        return Err(format!(
            "{text:?} is not a valid hostname: it must have 1 to {MAX_HOSTNAME_LEN} characters"
        ));
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(format!(
                "{text:?} is not a valid hostname: each dot-separated label must have 1 to 63 characters"
            ));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(format!(
                "{text:?} is not a valid IP address, CIDR or hostname: hostnames use only letters, digits, '-' and '.'"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!(
                "{text:?} is not a valid hostname: a label must not start or end with '-'"
            ));
        }
    }
    if name
        .rsplit('.')
        .next()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!(
            "{text:?} is not a valid hostname: the last label must not be all digits"
        ));
    }
    Ok(name.to_ascii_lowercase())
}

/// Sorts networks and drops those covered by another one (nft refuses overlapping elements in an
/// interval set).
pub fn merge_networks(mut networks: Vec<IpNetwork>) -> Vec<IpNetwork> {
    networks.sort_by_key(|n| (n.family(), n.addr(), n.prefix_len()));
    let mut merged: Vec<IpNetwork> = Vec::with_capacity(networks.len());
    for net in networks {
        match merged.last() {
            Some(last) if last.covers(&net) => {}
            _ => merged.push(net),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_normalise_contain_and_merge() {
        let net: IpNetwork = "192.0.2.77/24".parse().unwrap();
        assert_eq!(net.to_string(), "192.0.2.0/24");
        assert_eq!(net.last().to_string(), "192.0.2.255");
        assert!(net.contains(&"192.0.2.9".parse().unwrap()));
        assert!(!net.contains(&"2001:db8::1".parse().unwrap()));
        let merged = merge_networks(vec![
            "192.0.2.5".parse().unwrap(),
            net,
            "192.0.2.0/25".parse().unwrap(),
            "198.51.100.1".parse().unwrap(),
        ]);
        let shown: Vec<String> = merged.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["192.0.2.0/24", "198.51.100.1"]);
        assert_eq!(
            ban_network("2001:db8:1:2:3::9".parse().unwrap()).to_string(),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            ban_network("192.0.2.9".parse().unwrap()).to_string(),
            "192.0.2.9"
        );
    }
}
