//! The failed-login throttle: a pure sliding window of failures per *source* — an IPv4 address, or the
//! /64 of an IPv6 address (the network a ban covers, [`warden_firewall::ban_network`]; IPv4-mapped
//! IPv6 addresses count as their IPv4 address) — and blocks of sources that used up their failures.
//! Fed by the access domain; no I/O.
//!
//! An attempt takes its slot in the count *before* its password is checked ([`LoginThrottle::begin`]),
//! so N parallel attempts cannot get more than the allowance checked; a success forgets the source's
//! failures, an attempt refused before any check gives its slot back. The state is bounded: expired
//! entries are swept, and at most [`MAX_SOURCES`] sources are tracked (past that, the sources quiet for
//! the longest are forgotten first; blocked sources are kept, the kernel bans them anyway).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use warden_firewall::{ban_network, IpNetwork};

/// The most sources tracked at once (each holds at most `max_failures` instants).
pub const MAX_SOURCES: usize = 10_000;
/// How often (in attempts) expired entries are swept when the map is not full.
const SWEEP_EVERY: u32 = 256;

/// What the throttle counts failures of: an IPv4 address or an IPv6 /64 (IPv4-mapped addresses as
/// IPv4).
pub fn source_of(addr: IpAddr) -> IpNetwork {
    ban_network(addr.to_canonical())
}

/// One attempt's slot in its source's count, from [`LoginThrottle::begin`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    source: IpNetwork,
    at: Instant,
}

impl Slot {
    /// The source (address or /64) the attempt counts for.
    pub fn source(&self) -> IpNetwork {
        self.source
    }
}

/// Why [`LoginThrottle::begin`] refused an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// How long until the source may try again (at least 1 s).
    pub retry_after: Duration,
    /// Whether the source is blocked already (else it has just used up its failures and the caller
    /// should block it, see [`LoginThrottle::block`]).
    pub blocked: bool,
}

#[derive(Debug, Default)]
struct Entry {
    /// Failures in the window, oldest first; includes the slots of attempts still being checked.
    failures: VecDeque<Instant>,
    blocked_until: Option<Instant>,
    last_seen: Option<Instant>,
}

impl Entry {
    fn prune(&mut self, now: Instant, window: Duration) {
        while self
            .failures
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) > window)
        {
            self.failures.pop_front();
        }
        if self.blocked_until.is_some_and(|until| until <= now) {
            // The block is over: the source starts afresh, like the kernel ban that went with it.
            self.blocked_until = None;
            self.failures.clear();
        }
    }

    fn is_idle(&self) -> bool {
        self.failures.is_empty() && self.blocked_until.is_none()
    }
}

/// Per-source failed-login counting (see the module docs).
#[derive(Debug, Default)]
pub struct LoginThrottle {
    entries: HashMap<IpNetwork, Entry>,
    since_sweep: u32,
}

impl LoginThrottle {
    /// How many sources are tracked.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no source is tracked.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// An attempt from `addr` at `now`: takes a slot in its source's count and returns it, or refuses
    /// when the source is blocked or has `max` failures (counting attempts still being checked) in the
    /// `window`.
    pub fn begin(
        &mut self,
        addr: IpAddr,
        now: Instant,
        max: u32,
        window: Duration,
    ) -> Result<Slot, Refused> {
        let source = source_of(addr);
        self.make_room(source, now, window);
        let entry = self.entries.entry(source).or_default();
        entry.prune(now, window);
        entry.last_seen = Some(now);
        if let Some(until) = entry.blocked_until {
            return Err(Refused {
                retry_after: (until - now).max(Duration::from_secs(1)),
                blocked: true,
            });
        }
        if entry.failures.len() >= max as usize {
            let oldest = entry.failures.front().copied().unwrap_or(now);
            let retry = window.saturating_sub(now.saturating_duration_since(oldest));
            return Err(Refused {
                retry_after: retry.max(Duration::from_secs(1)),
                blocked: false,
            });
        }
        entry.failures.push_back(now);
        Ok(Slot { source, at: now })
    }

    /// The attempt of `slot` was never checked (refused for another reason): its slot is given back.
    pub fn release(&mut self, slot: Slot) {
        if let Some(entry) = self.entries.get_mut(&slot.source) {
            if let Some(i) = entry.failures.iter().rposition(|t| *t == slot.at) {
                entry.failures.remove(i);
            }
            if entry.is_idle() {
                self.entries.remove(&slot.source);
            }
        }
    }

    /// The attempt of `slot` succeeded: the source's failures are forgotten (its slot with them).
    pub fn succeeded(&mut self, slot: Slot) {
        if let Some(entry) = self.entries.get_mut(&slot.source) {
            entry.failures.clear();
            if entry.is_idle() {
                self.entries.remove(&slot.source);
            }
        }
    }

    /// Lifts the block and forgets the failures of the source of `addr` (for an IPv6 address its /64,
    /// the unit the firewall bans), when an administrator removes its ban.
    pub fn lift(&mut self, addr: IpAddr) {
        self.entries.remove(&source_of(addr));
    }

    /// Blocks the source of `addr` for `duration` from `now` unless it is blocked already. Returns how
    /// long the block still lasts, and whether this call started it.
    pub fn block(&mut self, addr: IpAddr, now: Instant, duration: Duration) -> (Duration, bool) {
        let entry = self.entries.entry(source_of(addr)).or_default();
        entry.last_seen = Some(now);
        let started = match entry.blocked_until {
            Some(until) if until > now => false,
            _ => {
                entry.blocked_until = Some(now + duration);
                true
            }
        };
        let until = entry.blocked_until.unwrap_or(now);
        ((until - now).max(Duration::from_secs(1)), started)
    }

    /// Drops every entry that holds nothing any more (failures aged out, block over).
    pub fn sweep(&mut self, now: Instant, window: Duration) {
        self.entries.retain(|_, entry| {
            entry.prune(now, window);
            !entry.is_idle()
        });
        self.since_sweep = 0;
    }

    /// Keeps the map bounded before `source` is looked up: a periodic sweep, and when the map is full
    /// and `source` is new, the quietest unblocked eighth of the sources is forgotten.
    fn make_room(&mut self, source: IpNetwork, now: Instant, window: Duration) {
        self.since_sweep += 1;
        if self.since_sweep >= SWEEP_EVERY {
            self.sweep(now, window);
        }
        if self.entries.len() < MAX_SOURCES || self.entries.contains_key(&source) {
            return;
        }
        self.sweep(now, window);
        if self.entries.len() < MAX_SOURCES {
            return;
        }
        let mut quiet: Vec<(Option<Instant>, IpNetwork)> = self
            .entries
            .iter()
            .filter(|(_, e)| e.blocked_until.is_none())
            .map(|(k, e)| (e.last_seen, *k))
            .collect();
        quiet.sort_unstable_by_key(|(seen, _)| *seen);
        let evict = (MAX_SOURCES / 8).max(1);
        for (_, key) in quiet.into_iter().take(evict) {
            self.entries.remove(&key);
        }
        if self.entries.len() >= MAX_SOURCES {
            // Every source is blocked: forget the blocks that end first (the kernel still bans them).
            let mut blocked: Vec<(Option<Instant>, IpNetwork)> = self
                .entries
                .iter()
                .map(|(k, e)| (e.blocked_until, *k))
                .collect();
            blocked.sort_unstable_by_key(|(until, _)| *until);
            for (_, key) in blocked.into_iter().take(evict) {
                self.entries.remove(&key);
            }
        }
    }
}

#[cfg(test)]
#[path = "throttle_tests.rs"]
mod tests;
