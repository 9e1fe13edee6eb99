//! Addresses that are administering Warden right now (logged in, or made an authenticated firewall
//! call recently). Bans never cover them, nor loopback, nor the anti-lockout addresses of the live
//! rule set: locking out the administrator is worse than letting an attacker keep guessing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use warden_firewall::IpNetwork;

/// How long an address counts as administering after its last successful login or authenticated
/// firewall request.
pub const ADMINISTERING_FOR: Duration = Duration::from_secs(3600);

/// Last-seen times of administering addresses.
#[derive(Debug, Default)]
pub struct AdminAddresses {
    seen: HashMap<IpAddr, Instant>,
}

impl AdminAddresses {
    /// `addr` authenticated at `now`.
    pub fn note(&mut self, addr: IpAddr, now: Instant) {
        self.seen
            .retain(|_, at| now.duration_since(*at) <= ADMINISTERING_FOR);
        self.seen.insert(addr.to_canonical(), now);
    }

    /// Whether `addr` authenticated within [`ADMINISTERING_FOR`] before `now`.
    pub fn is_administering(&self, addr: IpAddr, now: Instant) -> bool {
        self.seen
            .get(&addr.to_canonical())
            .is_some_and(|at| now.duration_since(*at) <= ADMINISTERING_FOR)
    }

    /// An address inside `network` that authenticated within [`ADMINISTERING_FOR`] before `now`
    /// (a ban of an IPv6 /64 must not lock out an administrator elsewhere in it).
    pub fn administering_within(&self, network: &IpNetwork, now: Instant) -> Option<IpAddr> {
        let mut inside: Vec<IpAddr> = self
            .seen
            .iter()
            .filter(|(addr, at)| {
                now.duration_since(**at) <= ADMINISTERING_FOR && network.contains(addr)
            })
            .map(|(addr, _)| *addr)
            .collect();
        inside.sort();
        inside.into_iter().next()
    }
}

/// Addresses a ban must never cover whatever happened: loopback, unspecified, multicast.
pub fn never_bannable(addr: IpAddr) -> bool {
    let addr = addr.to_canonical();
    addr.is_loopback() || addr.is_unspecified() || addr.is_multicast()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn administering_expires_and_mapped_addresses_match() {
        let mut admins = AdminAddresses::default();
        let t0 = Instant::now();
        let v4: IpAddr = "192.0.2.2".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.2".parse().unwrap();
        admins.note(mapped, t0);
        assert!(admins.is_administering(v4, t0 + Duration::from_secs(10)));
        assert!(!admins.is_administering(v4, t0 + ADMINISTERING_FOR + Duration::from_secs(1)));
        assert!(!admins.is_administering("192.0.2.3".parse().unwrap(), t0));
    }

    #[test]
    fn an_administrator_anywhere_in_a_v6_slash_64_is_found() {
        let mut admins = AdminAddresses::default();
        let t0 = Instant::now();
        admins.note("2001:db8:a::2".parse().unwrap(), t0);
        let attacker_net = warden_firewall::ban_network("2001:db8:a::99".parse().unwrap());
        assert_eq!(
            admins.administering_within(&attacker_net, t0),
            Some("2001:db8:a::2".parse().unwrap())
        );
        let elsewhere = warden_firewall::ban_network("2001:db8:b::99".parse().unwrap());
        assert_eq!(admins.administering_within(&elsewhere, t0), None);
        let later = t0 + ADMINISTERING_FOR + Duration::from_secs(1);
        assert_eq!(admins.administering_within(&attacker_net, later), None);
    }

    #[test]
    fn loopback_is_never_bannable() {
        assert!(never_bannable("127.0.0.1".parse().unwrap()));
        assert!(never_bannable("::1".parse().unwrap()));
        assert!(never_bannable("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!never_bannable("192.0.2.2".parse().unwrap()));
    }
}
