//! The service port range: the ports reserved for services (default 8300–8499), which service specs must
//! stay inside and the firewall's private-cloud guard closes from outside. [`ServicePortRange`] is the one
//! typed value for it: its default, how it is parsed from and written to the settings' `service_ports`
//! string (`"8300:8499"`), membership and iteration, and the words the UI shows for it.
//!
//! The default's numbers come from the firewall crate's [`warden_firewall::DEFAULT_SERVICE_PORTS`] (the
//! firewall's guard must close the same range), so they are spelled once in the workspace.

use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An inclusive range of service ports, `1 <= first <= last`. Written as `"first:last"` (also on the
/// wire and on disk); read from `"first:last"` or `"first-last"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServicePortRange {
    first: u16,
    last: u16,
}

/// A text that is not a service port range; its message is the settings form's field error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "use a range like {} (1-65535, low end first)",
    ServicePortRange::DEFAULT
)]
pub struct InvalidServicePortRange;

impl ServicePortRange {
    /// The range of a fresh installation, and the one used when the settings hold an unreadable range.
    pub const DEFAULT: ServicePortRange = ServicePortRange {
        first: warden_firewall::DEFAULT_SERVICE_PORTS.first,
        last: warden_firewall::DEFAULT_SERVICE_PORTS.last,
    };

    /// A range; `None` unless `1 <= first <= last`.
    pub fn new(first: u16, last: u16) -> Option<ServicePortRange> {
        (first >= 1 && first <= last).then_some(ServicePortRange { first, last })
    }

    /// Parses `"a:b"` or `"a-b"` (blanks around either number allowed) into a range with
    /// `1 <= a <= b <= 65535`.
    pub fn parse(text: &str) -> Result<ServicePortRange, InvalidServicePortRange> {
        let (first, last) = text.split_once([':', '-']).ok_or(InvalidServicePortRange)?;
        let first: u16 = first.trim().parse().map_err(|_| InvalidServicePortRange)?;
        let last: u16 = last.trim().parse().map_err(|_| InvalidServicePortRange)?;
        ServicePortRange::new(first, last).ok_or(InvalidServicePortRange)
    }

    /// The first port (inclusive).
    pub fn first(self) -> u16 {
        self.first
    }

    /// The last port (inclusive).
    pub fn last(self) -> u16 {
        self.last
    }

    /// Whether `port` is one of the range's ports.
    pub fn contains(self, port: u16) -> bool {
        self.ports().contains(&port)
    }

    /// Every port of the range, lowest first.
    pub fn ports(self) -> RangeInclusive<u16> {
        self.first..=self.last
    }

    /// The lowest port of the range that `is_taken` does not claim.
    pub fn first_free_port(self, is_taken: impl Fn(u16) -> bool) -> Option<u16> {
        self.ports().find(|&port| !is_taken(port))
    }

    /// The range in UI text: `8300–8499` (en dash), or the port alone when the range has one port.
    pub fn human_text(self) -> String {
        if self.first == self.last {
            self.first.to_string()
        } else {
            format!("{}–{}", self.first, self.last)
        }
    }
}

impl Default for ServicePortRange {
    fn default() -> Self {
        ServicePortRange::DEFAULT
    }
}

/// The settings' format, `"8300:8499"` (always both ends).
impl fmt::Display for ServicePortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.first, self.last)
    }
}

impl FromStr for ServicePortRange {
    type Err = InvalidServicePortRange;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        ServicePortRange::parse(text)
    }
}

impl Serialize for ServicePortRange {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ServicePortRange {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        ServicePortRange::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// The firewall's guard closes exactly the service range.
impl From<ServicePortRange> for warden_firewall::PortRange {
    fn from(range: ServicePortRange) -> Self {
        warden_firewall::PortRange {
            first: range.first,
            last: range.last,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(first: u16, last: u16) -> ServicePortRange {
        ServicePortRange::new(first, last).unwrap()
    }

    #[test]
    fn the_default_is_8300_to_8499() {
        assert_eq!(ServicePortRange::DEFAULT, range(8300, 8499));
        assert_eq!(ServicePortRange::default(), ServicePortRange::DEFAULT);
        assert_eq!(ServicePortRange::DEFAULT.to_string(), "8300:8499");
        assert_eq!(
            warden_firewall::PortRange::from(ServicePortRange::DEFAULT),
            warden_firewall::DEFAULT_SERVICE_PORTS
        );
    }

    #[test]
    fn parses_the_settings_format() {
        assert_eq!(ServicePortRange::parse("8300:8499"), Ok(range(8300, 8499)));
        assert_eq!(ServicePortRange::parse("8300-8499"), Ok(range(8300, 8499)));
        assert_eq!(ServicePortRange::parse(" 10 : 20 "), Ok(range(10, 20)));
        assert_eq!(ServicePortRange::parse("1:65535"), Ok(range(1, 65535)));
        assert_eq!(ServicePortRange::parse("7:7"), Ok(range(7, 7)));
        for bad in [
            "8499:8300",
            "0:10",
            "1:70000",
            "80",
            "",
            "nope",
            "a:b",
            "8300:8499:1",
        ] {
            assert_eq!(
                ServicePortRange::parse(bad),
                Err(InvalidServicePortRange),
                "{bad}"
            );
        }
        assert_eq!("8300:8310".parse(), Ok(range(8300, 8310)));
    }

    #[test]
    fn the_error_message_names_the_format() {
        assert_eq!(
            InvalidServicePortRange.to_string(),
            "use a range like 8300:8499 (1-65535, low end first)"
        );
    }

    #[test]
    fn display_and_parse_round_trip() {
        for r in [range(1, 1), range(8300, 8499), range(1, 65535)] {
            assert_eq!(ServicePortRange::parse(&r.to_string()), Ok(r));
        }
    }

    #[test]
    fn serializes_as_the_settings_string() {
        let json = serde_json::to_value(range(8300, 8499)).unwrap();
        assert_eq!(json, serde_json::json!("8300:8499"));
        assert_eq!(
            serde_json::from_value::<ServicePortRange>(serde_json::json!("9000-9010")).unwrap(),
            range(9000, 9010)
        );
        assert!(
            serde_json::from_value::<ServicePortRange>(serde_json::json!("9010:9000")).is_err()
        );
        assert!(
            serde_json::from_value::<ServicePortRange>(serde_json::json!([8300, 8499])).is_err()
        );
    }

    #[test]
    fn membership_and_iteration() {
        let r = range(8300, 8302);
        assert!(r.contains(8300) && r.contains(8302));
        assert!(!r.contains(8299) && !r.contains(8303));
        assert_eq!(r.ports().collect::<Vec<_>>(), [8300, 8301, 8302]);
        assert_eq!(r.first_free_port(|p| p == 8300), Some(8301));
        assert_eq!(r.first_free_port(|_| true), None);
        assert_eq!((r.first(), r.last()), (8300, 8302));
    }

    #[test]
    fn human_text_uses_an_en_dash() {
        assert_eq!(ServicePortRange::DEFAULT.human_text(), "8300–8499");
        assert_eq!(range(9000, 9000).human_text(), "9000");
    }

    #[test]
    fn new_keeps_the_invariant() {
        assert_eq!(ServicePortRange::new(0, 10), None);
        assert_eq!(ServicePortRange::new(11, 10), None);
    }
}
