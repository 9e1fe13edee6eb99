//! The pure state of one jail: failures per offender in a sliding window, repeat-offender history and
//! the recent failure lines, with the decision to ban. Offenders are counted by ban network (an IPv4
//! address, an IPv6 /64), as the kernel bans them. Times are wall-clock milliseconds so the state
//! means the same after a restart (it is stored as it is, see `store.rs`).

use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use app::model::jails::JailInput;

/// Recent failure lines kept per jail (shown on the jails page).
pub const RECENT_LINES: usize = 20;
/// Failure lines kept per offender (the ban keeps the last 5 of them).
pub const LINES_PER_OFFENDER: usize = 5;
/// Most offenders a jail tracks at once: beyond it the one with the oldest failure is forgotten (a
/// flood of distinct addresses costs bounded memory).
pub const MAX_OFFENDERS: usize = 10_000;
/// Longest line kept (bytes).
pub const MAX_KEPT_LINE_BYTES: usize = 512;

/// Failures of one offender within the window.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offender {
    /// Times of the failures in the window, oldest first.
    pub times: VecDeque<i64>,
    /// Its last failure lines, oldest first.
    pub lines: VecDeque<String>,
}

/// A recent failure line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recent {
    pub at_ms: i64,
    pub address: String,
    pub line: String,
}

/// One jail's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JailState {
    /// By ban network (`192.0.2.7/32`, `2001:db8::/64`).
    pub offenders: BTreeMap<String, Offender>,
    /// Bans this jail made per network (repeat offenders).
    pub offences: BTreeMap<String, u32>,
    /// The last failure lines of the jail.
    pub recent: VecDeque<Recent>,
}

/// What a failure line leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The address is in the jail's `ignore` list.
    Ignored,
    /// Counted; not (yet) enough.
    Counted { failures: u32 },
    /// Enough failures: ban for `secs`.
    Ban {
        failures: u32,
        secs: u64,
        lines: Vec<String>,
    },
}

/// `line` cut to [`MAX_KEPT_LINE_BYTES`] on a character boundary.
fn keep(line: &str) -> String {
    let mut end = line.len().min(MAX_KEPT_LINE_BYTES);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    line[..end].to_string()
}

/// The ban length for an offender banned `previous` times before.
pub fn ban_secs(jail: &JailInput, previous: u32) -> u64 {
    if !jail.increment {
        return jail.ban_secs;
    }
    let factor = 1u64.checked_shl(previous.min(40)).unwrap_or(u64::MAX);
    jail.ban_secs
        .saturating_mul(factor)
        .min(jail.max_ban_secs.max(jail.ban_secs))
}

impl JailState {
    /// A failure of `addr` at `now_ms`, reported by `line`.
    pub fn failure(
        &mut self,
        jail: &JailInput,
        ignore: &[IpNet],
        addr: IpAddr,
        line: &str,
        now_ms: i64,
    ) -> Verdict {
        let addr = addr.to_canonical();
        if ignore.iter().any(|net| net.contains(&addr)) {
            return Verdict::Ignored;
        }
        let key = warden_firewall::ban_network(addr).to_string();
        let line = keep(line);
        self.recent.push_back(Recent {
            at_ms: now_ms,
            address: addr.to_string(),
            line: line.clone(),
        });
        while self.recent.len() > RECENT_LINES {
            self.recent.pop_front();
        }
        if !self.offenders.contains_key(&key) && self.offenders.len() >= MAX_OFFENDERS {
            self.make_room(jail, now_ms);
        }
        let window_ms = i64::try_from(jail.window_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        let offender = self.offenders.entry(key.clone()).or_default();
        offender.times.push_back(now_ms);
        while offender
            .times
            .front()
            .is_some_and(|t| now_ms.saturating_sub(*t) >= window_ms)
        {
            offender.times.pop_front();
        }
        offender.lines.push_back(line);
        while offender.lines.len() > LINES_PER_OFFENDER {
            offender.lines.pop_front();
        }
        let failures = u32::try_from(offender.times.len()).unwrap_or(u32::MAX);
        if failures < jail.max_failures {
            return Verdict::Counted { failures };
        }
        let lines: Vec<String> = offender.lines.iter().cloned().collect();
        self.offenders.remove(&key);
        let previous = self.offences.get(&key).copied().unwrap_or(0);
        self.offences.insert(key, previous.saturating_add(1));
        Verdict::Ban {
            failures,
            secs: ban_secs(jail, previous),
            lines,
        }
    }

    /// Room for new offenders: failures out of the window go, then (if still full) the tenth of the
    /// offenders whose last failure is oldest (in bulk, so a flood of new addresses costs amortised
    /// O(log n) per line, not a scan per line).
    fn make_room(&mut self, jail: &JailInput, now_ms: i64) {
        self.expire(jail, now_ms);
        if self.offenders.len() < MAX_OFFENDERS {
            return;
        }
        let mut by_age: Vec<(i64, String)> = self
            .offenders
            .iter()
            .map(|(k, o)| (o.times.back().copied().unwrap_or(i64::MIN), k.clone()))
            .collect();
        by_age.sort_unstable();
        for (_, key) in by_age.into_iter().take(MAX_OFFENDERS / 10) {
            self.offenders.remove(&key);
        }
    }

    /// Drops failures older than the window (and offenders left without any).
    pub fn expire(&mut self, jail: &JailInput, now_ms: i64) {
        let window_ms = i64::try_from(jail.window_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        self.offenders.retain(|_, o| {
            while o
                .times
                .front()
                .is_some_and(|t| now_ms.saturating_sub(*t) >= window_ms)
            {
                o.times.pop_front();
            }
            !o.times.is_empty()
        });
    }

    /// A ban the jail asked for did not happen (protected, already banned, failed): the offence is
    /// not counted as a repeat.
    pub fn ban_not_made(&mut self, addr: IpAddr) {
        let key = warden_firewall::ban_network(addr.to_canonical()).to_string();
        if let Some(n) = self.offences.get_mut(&key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.offences.remove(&key);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use app::model::jails::JailSource;

    fn jail() -> JailInput {
        JailInput {
            max_failures: 3,
            window_secs: 60,
            ban_secs: 100,
            max_ban_secs: 350,
            ..JailInput::new("t", JailSource::Service("x".into()))
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn bans_after_max_failures_within_the_window_only() {
        let (j, mut s) = (jail(), JailState::default());
        let a = ip("192.0.2.7");
        assert_eq!(
            s.failure(&j, &[], a, "l1", 0),
            Verdict::Counted { failures: 1 }
        );
        assert_eq!(
            s.failure(&j, &[], a, "l2", 30_000),
            Verdict::Counted { failures: 2 }
        );
        // The first failure left the window: still 2.
        assert_eq!(
            s.failure(&j, &[], a, "l3", 60_000),
            Verdict::Counted { failures: 2 }
        );
        match s.failure(&j, &[], a, "l4", 61_000) {
            Verdict::Ban {
                failures,
                secs,
                lines,
            } => {
                assert_eq!((failures, secs), (3, 100));
                assert_eq!(lines, vec!["l1", "l2", "l3", "l4"]);
            }
            other => panic!("{other:?}"),
        }
        // Counting starts over after a ban.
        assert!(s.offenders.is_empty());
        assert_eq!(
            s.failure(&j, &[], a, "l5", 62_000),
            Verdict::Counted { failures: 1 }
        );
    }

    #[test]
    fn repeat_offenders_get_double_each_time_up_to_the_cap() {
        let j = jail();
        assert_eq!(
            (0..5).map(|n| ban_secs(&j, n)).collect::<Vec<_>>(),
            vec![100, 200, 350, 350, 350]
        );
        assert_eq!(
            ban_secs(
                &JailInput {
                    increment: false,
                    ..j.clone()
                },
                3
            ),
            100
        );
        assert_eq!(ban_secs(&j, u32::MAX), 350);
        let mut s = JailState::default();
        let a = ip("192.0.2.8");
        let mut secs = Vec::new();
        for round in 0..3 {
            for k in 0..3 {
                if let Verdict::Ban { secs: b, .. } = s.failure(&j, &[], a, "x", round * 1000 + k) {
                    secs.push(b);
                }
            }
        }
        assert_eq!(secs, vec![100, 200, 350]);
        s.ban_not_made(a);
        assert_eq!(s.offences.values().copied().collect::<Vec<_>>(), vec![2]);
    }

    #[test]
    fn ipv6_counts_by_slash_64_and_ignore_wins() {
        let (j, mut s) = (jail(), JailState::default());
        s.failure(&j, &[], ip("2001:db8:1::1"), "x", 0);
        s.failure(&j, &[], ip("2001:db8:1::2"), "x", 1);
        assert!(matches!(
            s.failure(&j, &[], ip("2001:db8:1::3"), "x", 2),
            Verdict::Ban { failures: 3, .. }
        ));
        let ignore = vec!["198.51.100.0/24".parse().unwrap()];
        assert_eq!(
            s.failure(&j, &ignore, ip("198.51.100.9"), "x", 3),
            Verdict::Ignored
        );
        assert_eq!(
            s.failure(&j, &ignore, ip("::ffff:198.51.100.9"), "x", 3),
            Verdict::Ignored
        );
    }

    #[test]
    fn memory_stays_bounded_under_a_flood_of_addresses() {
        let (j, mut s) = (jail(), JailState::default());
        let long = "y".repeat(10_000);
        for n in 0..(MAX_OFFENDERS as u32 + 50) {
            let addr = IpAddr::from(std::net::Ipv4Addr::from(0xC000_0000 + n));
            s.failure(&j, &[], addr, &long, i64::from(n));
        }
        assert!(s.offenders.len() <= MAX_OFFENDERS);
        assert!(s.offenders.len() > MAX_OFFENDERS / 2);
        assert_eq!(s.recent.len(), RECENT_LINES);
        assert!(s.recent.iter().all(|r| r.line.len() == MAX_KEPT_LINE_BYTES));
        s.expire(&j, 10_000_000);
        assert!(s.offenders.is_empty());
    }
}
