//! Tables for the failed-login throttle (`throttle.rs`).

use super::*;

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

const W: Duration = Duration::from_secs(600);

#[test]
fn throttle_window() {
    let mut t = LoginThrottle::default();
    let (a, b) = (ip("192.0.2.7"), ip("192.0.2.8"));
    let t0 = Instant::now();
    for i in 0..3 {
        assert!(t.begin(a, t0, 3, W).is_ok(), "attempt {i}");
    }
    let refused = t.begin(a, t0, 3, W).unwrap_err();
    assert!(!refused.blocked);
    assert!(refused.retry_after <= W && refused.retry_after >= Duration::from_secs(1));
    assert!(
        t.begin(b, t0, 3, W).is_ok(),
        "other addresses are unaffected"
    );
    // After the window the failures age out.
    assert!(t.begin(a, t0 + W + Duration::from_secs(1), 3, W).is_ok());
}

#[test]
fn attempts_take_their_slot_before_the_check_so_parallel_ones_cannot_exceed_the_limit() {
    let mut t = LoginThrottle::default();
    let a = ip("192.0.2.7");
    let t0 = Instant::now();
    // 200 attempts arrive before any of them is checked: only 50 get a slot.
    let slots: Vec<_> = (0..200)
        .filter_map(|_| t.begin(a, t0, 50, W).ok())
        .collect();
    assert_eq!(slots.len(), 50);
    // One attempt refused for another reason (no hashing capacity) gives its slot back: one more fits.
    t.release(slots[0]);
    assert!(t.begin(a, t0, 50, W).is_ok());
    assert!(t.begin(a, t0, 50, W).is_err());
    // A success forgets the source's failures.
    t.succeeded(slots[1]);
    assert!(t.begin(a, t0, 50, W).is_ok());
}

#[test]
fn ipv6_addresses_count_per_64_and_mapped_ipv4_as_ipv4() {
    let mut t = LoginThrottle::default();
    let t0 = Instant::now();
    // Rotating through one /64 gets the allowance of one address.
    for i in 1..=3 {
        assert!(t
            .begin(ip(&format!("2001:db8:1:2::{i:x}")), t0, 3, W)
            .is_ok());
    }
    assert!(t.begin(ip("2001:db8:1:2:ffff::9"), t0, 3, W).is_err());
    assert!(
        t.begin(ip("2001:db8:1:3::1"), t0, 3, W).is_ok(),
        "another /64"
    );
    // ::ffff:192.0.2.7 is 192.0.2.7.
    for _ in 0..2 {
        t.begin(ip("::ffff:192.0.2.7"), t0, 3, W).unwrap();
    }
    t.begin(ip("192.0.2.7"), t0, 3, W).unwrap();
    assert!(t.begin(ip("::ffff:192.0.2.7"), t0, 3, W).is_err());
    assert_eq!(source_of(ip("::ffff:192.0.2.7")).to_string(), "192.0.2.7");
    assert_eq!(
        source_of(ip("2001:db8:1:2:aaaa::1")).to_string(),
        "2001:db8:1:2::/64"
    );
}

#[test]
fn a_block_lasts_its_duration_then_the_source_starts_afresh() {
    let mut t = LoginThrottle::default();
    let a = ip("192.0.2.7");
    let ban = Duration::from_secs(4);
    let t0 = Instant::now();
    for _ in 0..3 {
        t.begin(a, t0, 3, W).unwrap();
    }
    assert!(t.begin(a, t0, 3, W).is_err());
    assert_eq!(t.block(a, t0, ban), (ban, true));
    // A second throttled attempt does not extend the block, nor start another.
    assert_eq!(
        t.block(a, t0 + Duration::from_secs(2), ban),
        (Duration::from_secs(2), false)
    );
    let refused = t.begin(a, t0 + Duration::from_secs(3), 3, W).unwrap_err();
    assert_eq!(refused.retry_after, Duration::from_secs(1));
    assert!(refused.blocked);
    // The block ends before the window: the old failures are forgotten with it.
    let later = t0 + ban + Duration::from_millis(1);
    assert!(t.begin(a, later, 3, W).is_ok());
    assert!(t.begin(a, later, 3, W).is_ok(), "two failures, not five");
}

#[test]
fn lifting_a_block_clears_the_address_or_its_v6_64() {
    let mut t = LoginThrottle::default();
    let t0 = Instant::now();
    let v4 = ip("192.0.2.7");
    let v6 = ip("2001:db8:1:2::5");
    let v6_same_64 = ip("2001:db8:1:2::99");
    let v6_other_64 = ip("2001:db8:1:3::5");
    for a in [v4, v6, v6_other_64] {
        t.begin(a, t0, 1, W).unwrap();
        t.block(a, t0, W);
    }
    t.lift(ip("2001:db8:1:2::"));
    assert!(t.begin(v6_same_64, t0, 1, W).is_ok());
    assert!(t.begin(v6_other_64, t0, 1, W).is_err());
    assert!(t.begin(v4, t0, 1, W).is_err());
    t.lift(ip("::ffff:192.0.2.7"));
    assert!(t.begin(v4, t0, 1, W).is_ok());
}

#[test]
fn the_state_stays_bounded() {
    let mut t = LoginThrottle::default();
    let t0 = Instant::now();
    // Expired entries are swept.
    for i in 0..1000u32 {
        t.begin(
            IpAddr::from(std::net::Ipv4Addr::from(0xc000_0000u32 + i)),
            t0,
            5,
            W,
        )
        .unwrap();
    }
    assert_eq!(t.len(), 1000);
    t.sweep(t0 + W + Duration::from_secs(1), W);
    assert!(t.is_empty());
    // Many live sources: never more than the cap; the newest ones are tracked, and blocked ones kept.
    let blocked = ip("198.51.100.1");
    t.begin(blocked, t0, 5, W).unwrap();
    t.block(blocked, t0, W);
    for i in 0..(MAX_SOURCES as u32 + 5000) {
        let now = t0 + Duration::from_millis(u64::from(i));
        t.begin(
            IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000u32 + i)),
            now,
            5,
            W,
        )
        .unwrap();
        assert!(t.len() <= MAX_SOURCES);
    }
    let late = t0 + Duration::from_secs(20);
    assert!(t.begin(blocked, late, 5, W).unwrap_err().blocked);
    let newest = IpAddr::from(std::net::Ipv4Addr::from(
        0x0a00_0000u32 + MAX_SOURCES as u32 + 4999,
    ));
    for _ in 0..4 {
        t.begin(newest, late, 5, W).unwrap();
    }
    assert!(t.begin(newest, late, 5, W).is_err(), "still counted");
}
