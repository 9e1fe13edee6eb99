//! The per-address failed-login throttle: a pure sliding window of failures per address, and blocks of
//! addresses that used up their failures. Fed by the access domain; no I/O.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Per-address failed-login counting: a pure sliding window, fed by the HTTP layer. An address that used
/// up its failures is blocked for the ban duration (see [`LoginThrottle::block`]); when the block ends it
/// starts afresh, like the kernel ban that accompanies it.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: HashMap<IpAddr, VecDeque<Instant>>,
    blocked: HashMap<IpAddr, Instant>,
}

impl LoginThrottle {
    fn prune(&mut self, addr: IpAddr, now: Instant, window: Duration) -> usize {
        let Some(q) = self.failures.get_mut(&addr) else {
            return 0;
        };
        while q.front().is_some_and(|t| now.duration_since(*t) > window) {
            q.pop_front();
        }
        let n = q.len();
        if n == 0 {
            self.failures.remove(&addr);
        }
        n
    }

    /// `Err(retry_after)` when `addr` has used up its failures in the window.
    pub fn check(
        &mut self,
        addr: IpAddr,
        now: Instant,
        max: u32,
        window: Duration,
    ) -> Result<(), Duration> {
        if let Some(until) = self.blocked.get(&addr).copied() {
            if now < until {
                return Err((until - now).max(Duration::from_secs(1)));
            }
            // The block is over: the address starts afresh.
            self.blocked.remove(&addr);
            self.failures.remove(&addr);
        }
        let n = self.prune(addr, now, window);
        if n >= max as usize {
            let oldest = self
                .failures
                .get(&addr)
                .and_then(|q| q.front().copied())
                .unwrap_or(now);
            let retry = window.saturating_sub(now.duration_since(oldest));
            return Err(retry.max(Duration::from_secs(1)));
        }
        Ok(())
    }

    /// Records a failure; returns the number of failures now in the window.
    pub fn record_failure(&mut self, addr: IpAddr, now: Instant, window: Duration) -> usize {
        self.prune(addr, now, window);
        let q = self.failures.entry(addr).or_default();
        q.push_back(now);
        q.len()
    }

    pub fn record_success(&mut self, addr: IpAddr) {
        self.failures.remove(&addr);
    }

    /// Lifts the block and forgets the failures of `addr` (for an IPv6 address: of its whole /64, the
    /// unit the firewall bans), when an administrator removes its ban.
    pub fn lift(&mut self, addr: IpAddr) {
        let covers = |other: &IpAddr| match (addr, other) {
            (IpAddr::V6(a), IpAddr::V6(b)) => a.segments()[..4] == b.segments()[..4],
            _ => addr == *other,
        };
        self.blocked.retain(|other, _| !covers(other));
        self.failures.retain(|other, _| !covers(other));
    }

    /// Blocks `addr` for `duration` from `now` unless it is blocked already; returns how long the block
    /// still lasts.
    pub fn block(&mut self, addr: IpAddr, now: Instant, duration: Duration) -> Duration {
        let until = self.blocked.entry(addr).or_insert(now + duration);
        if *until <= now {
            *until = now + duration;
        }
        (*until - now).max(Duration::from_secs(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_window() {
        let mut t = LoginThrottle::default();
        let a: IpAddr = "192.0.2.7".parse().unwrap();
        let b: IpAddr = "192.0.2.8".parse().unwrap();
        let w = Duration::from_secs(600);
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(t.check(a, t0, 3, w).is_ok(), "attempt {i}");
            t.record_failure(a, t0, w);
        }
        let retry = t.check(a, t0, 3, w).unwrap_err();
        assert!(retry <= w && retry >= Duration::from_secs(1));
        assert!(
            t.check(b, t0, 3, w).is_ok(),
            "other addresses are unaffected"
        );
        // After the window the failures age out.
        assert!(t.check(a, t0 + w + Duration::from_secs(1), 3, w).is_ok());
    }

    #[test]
    fn a_block_lasts_its_duration_then_the_address_starts_afresh() {
        let mut t = LoginThrottle::default();
        let a: IpAddr = "192.0.2.7".parse().unwrap();
        let w = Duration::from_secs(600);
        let ban = Duration::from_secs(4);
        let t0 = Instant::now();
        for _ in 0..3 {
            t.record_failure(a, t0, w);
        }
        assert!(t.check(a, t0, 3, w).is_err());
        assert_eq!(t.block(a, t0, ban), ban);
        // A second throttled attempt does not extend the block.
        assert_eq!(
            t.block(a, t0 + Duration::from_secs(2), ban),
            Duration::from_secs(2)
        );
        assert_eq!(
            t.check(a, t0 + Duration::from_secs(3), 3, w).unwrap_err(),
            Duration::from_secs(1)
        );
        // The block ends before the window: the old failures are forgotten with it.
        let later = t0 + ban + Duration::from_millis(1);
        assert!(t.check(a, later, 3, w).is_ok());
        t.record_failure(a, later, w);
        assert!(t.check(a, later, 3, w).is_ok(), "one failure, not four");
    }

    #[test]
    fn lifting_a_block_clears_the_address_or_its_v6_64() {
        let mut t = LoginThrottle::default();
        let w = Duration::from_secs(600);
        let t0 = Instant::now();
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        let v6: IpAddr = "2001:db8:1:2::5".parse().unwrap();
        let v6_same_64: IpAddr = "2001:db8:1:2::99".parse().unwrap();
        let v6_other_64: IpAddr = "2001:db8:1:3::5".parse().unwrap();
        for a in [v4, v6, v6_other_64] {
            t.record_failure(a, t0, w);
            t.block(a, t0, w);
        }
        t.lift("2001:db8:1:2::".parse().unwrap());
        assert!(t.check(v6, t0, 1, w).is_ok());
        assert!(t.check(v6_same_64, t0, 1, w).is_ok());
        assert!(t.check(v6_other_64, t0, 1, w).is_err());
        assert!(t.check(v4, t0, 1, w).is_err());
        t.lift(v4);
        assert!(t.check(v4, t0, 1, w).is_ok());
    }
}
