//! Ports: the inclusive [`PortRange`] (serialised `"first:last"`) and the parsing of one `ports`
//! entry ([`parse_port`]): `"22"`, `"8300:8499"` or `"8300-8499"` (normalised to `a:b`); ports
//! 1–65535, ranges not reversed; `"0:65535"` means every port. A list such as `"80,443"` is refused:
//! each port or range is its own entry. Nothing here panics on any input.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An inclusive port range, serialized as `"first:last"` (e.g. the service range `"8300:8499"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortRange {
    /// First port (inclusive).
    pub first: u16,
    /// Last port (inclusive), ≥ `first`.
    pub last: u16,
}

impl PortRange {
    /// A range; `None` if `first > last`.
    pub fn new(first: u16, last: u16) -> Option<PortRange> {
        (first <= last).then_some(PortRange { first, last })
    }

    /// A single port.
    pub fn single(port: u16) -> PortRange {
        PortRange {
            first: port,
            last: port,
        }
    }

    /// Whether `port` is in the range.
    pub fn contains(&self, port: u16) -> bool {
        (self.first..=self.last).contains(&port)
    }

    /// The range covers every port (`0:65535`).
    pub fn is_all(&self) -> bool {
        self.first == 0 && self.last == u16::MAX
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}:{}", self.first, self.last)
        }
    }
}

impl FromStr for PortRange {
    type Err = String;

    /// Parses `"p"`, `"a:b"` or `"a-b"` (ports 1–65535, `a ≤ b`; `"0:65535"` is also accepted).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match parse_port(s)? {
            PortSpec::All => Ok(PortRange {
                first: 0,
                last: u16::MAX,
            }),
            PortSpec::Range(range) => Ok(range),
        }
    }
}

impl Serialize for PortRange {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format!("{}:{}", self.first, self.last))
    }
}

impl<'de> Deserialize<'de> for PortRange {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A parsed `ports` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortSpec {
    /// Every port (`"0:65535"`).
    All,
    /// A port or range within 1–65535.
    Range(PortRange),
}

/// Parses one `ports` entry: `"22"`, `"a:b"` or `"a-b"`. The error is a human sentence.
pub fn parse_port(input: &str) -> Result<PortSpec, String> {
    let text = input.trim();
    if text.is_empty() {
        return Err("a port must not be empty".to_string());
    }
    if text.contains(',') {
        return Err(format!(
            "{text:?} lists several ports: give each port or range as its own entry"
        ));
    }
    let (first_text, last_text) = match text.split_once([':', '-']) {
        Some((a, b)) => (a.trim(), Some(b.trim())),
        None => (text, None),
    };
    let first = parse_port_number(first_text, text)?;
    let last = match last_text {
        Some(t) => parse_port_number(t, text)?,
        None => first,
    };
    if first == 0 && last == 65_535 {
        return Ok(PortSpec::All);
    }
    if first == 0 || last == 0 {
        return Err(format!(
            "{text:?}: port 0 is not a valid port (ports are 1 to 65535; \"0:65535\" means all)"
        ));
    }
    if first > last {
        return Err(format!(
            "{text:?} is a reversed range: the first port must not be greater than the last"
        ));
    }
    let first = u16::try_from(first).map_err(|_| format!("{text:?}: ports are 1 to 65535"))?;
    let last = u16::try_from(last).map_err(|_| format!("{text:?}: ports are 1 to 65535"))?;
    Ok(PortSpec::Range(PortRange { first, last }))
}

fn parse_port_number(part: &str, whole: &str) -> Result<u32, String> {
    if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{whole:?} is not a port: use a number (\"22\") or a range (\"8300:8499\")"
        ));
    }
    match part.parse::<u32>() {
        Ok(n) if n <= 65_535 => Ok(n),
        _ => Err(format!(
            "{whole:?}: {part} is greater than 65535, the highest port"
        )),
    }
}

/// Sorts port ranges and merges overlapping or adjacent ones.
pub fn merge_port_ranges(mut ranges: Vec<PortRange>) -> Vec<PortRange> {
    ranges.sort();
    let mut merged: Vec<PortRange> = Vec::with_capacity(ranges.len());
    for range in ranges {
        match merged.last_mut() {
            Some(last) if u32::from(range.first) <= u32::from(last.last) + 1 => {
                last.last = last.last.max(range.last);
            }
            _ => merged.push(range),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges_merge() {
        let r = |a, b| PortRange::new(a, b).unwrap();
        assert_eq!(
            merge_port_ranges(vec![
                r(90, 95),
                r(80, 85),
                r(86, 86),
                r(84, 88),
                r(100, 100)
            ]),
            [r(80, 88), r(90, 95), r(100, 100)]
        );
    }
}
