//! Bans: list (with Warden's reason and time), ban by hand, lift, and the ban of an address that
//! failed to log in too often. Loopback, anti-lockout and administering addresses are never banned.
//! Bans work before any apply through a bans-only table, removed again with the last ban of an
//! inactive firewall.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Instant;

use warden_firewall::{ban_network, render_bans_only, Ban, FieldError, IpNetwork};

use super::admins::never_bannable;
use super::record::{self, FirewallRecord};
use app::model::firewall::BanView;

use super::{ms_to_rfc3339, now_ms, FirewallError, FirewallHandle, MAX_BAN_SECS};
use crate::clock::now_rfc3339;

/// What a ban records besides its address and length.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BanDetails {
    /// A sentence.
    pub reason: String,
    /// The jail that bans.
    pub jail: Option<String>,
    /// The failures that led to it.
    pub failures: u32,
    /// The last failure lines (the newest [`record::MAX_BAN_LINES`] are kept).
    pub lines: Vec<String>,
}

impl BanDetails {
    /// Only a reason.
    pub fn because(reason: &str) -> BanDetails {
        BanDetails {
            reason: reason.to_string(),
            ..BanDetails::default()
        }
    }
}

/// What [`FirewallHandle::ban_for_jail`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JailBanOutcome {
    /// Banned now.
    Banned(BanView),
    /// A live ban covers the address already.
    AlreadyBanned,
    /// Never banned: loopback, anti-lockout or administering (the sentence says which).
    Protected(String),
}

/// Parses a banned address as the API names it: an address, or the /64 network of an IPv6 ban.
pub fn parse_ban_address(text: &str) -> Result<IpAddr, FirewallError> {
    let invalid = || {
        FirewallError::Invalid(vec![FieldError::new(
            "address",
            format!("{text:?} is not an IP address"),
        )])
    };
    if let Ok(addr) = text.parse::<IpAddr>() {
        return Ok(addr.to_canonical());
    }
    let network: IpNetwork = text.parse().map_err(|_| invalid())?;
    match network.addr() {
        IpAddr::V6(_) if network.prefix_len() >= 64 => Ok(network.addr()),
        _ => Err(invalid()),
    }
}

impl FirewallHandle {
    /// `addr` authenticated (login, or an authenticated firewall request): it is not banned for a while.
    pub fn note_administering(&self, addr: IpAddr) {
        self.inner
            .admins
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .note(addr, Instant::now());
    }

    /// Why `addr` must not be banned, if it must not.
    fn ban_protection(&self, addr: IpAddr, record: &FirewallRecord) -> Option<String> {
        let addr = addr.to_canonical();
        if never_bannable(addr) {
            return Some(format!(
                "{addr} is a loopback or special address and is never banned"
            ));
        }
        // A ban covers the address's network (IPv6: its /64): none of it may hold an administrator.
        let network = warden_firewall::ban_network(addr);
        if let Some(protected) = record
            .anti_lockout()
            .into_iter()
            .find(|a| network.contains(&a.to_canonical()))
        {
            return Some(if protected == addr {
                format!("{addr} applied the live rule set (anti-lockout) and is never banned")
            } else {
                format!("a ban of {addr} would cover {network}, which holds {protected}, the address that applied the live rule set (anti-lockout)")
            });
        }
        let administering = self
            .inner
            .admins
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .administering_within(&network, Instant::now());
        administering.map(|admin| {
            if admin == addr {
                format!("{addr} is administering Warden and is never banned")
            } else {
                format!("a ban of {addr} would cover {network}, which holds {admin}, an address administering Warden")
            }
        })
    }

    /// The bans in the kernel, with Warden's reason and time for those it made.
    pub async fn bans(&self) -> Result<Vec<BanView>, FirewallError> {
        if !self.capability().available {
            return Ok(Vec::new());
        }
        // Under the change lock: a ban being made is listed with its details, not before them.
        let guard = self.inner.op.lock().await;
        let live = self.inner.kernel.run(|b| b.bans()).await?;
        let record = self.load()?;
        drop(guard);
        let now = now_ms();
        Ok(live
            .into_iter()
            .map(|ban| {
                let address = ban.network.to_string();
                let meta = record.bans.get(&address);
                BanView {
                    reason: meta.map(|m| m.reason.clone()),
                    banned_at: meta.map(|m| m.banned_at.clone()),
                    expires_at: ban.expires_in_secs.map(|secs| {
                        ms_to_rfc3339(now.saturating_add(
                            i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX),
                        ))
                    }),
                    seconds_left: ban.expires_in_secs,
                    jail: meta.and_then(|m| m.jail.clone()),
                    failures: meta.map_or(0, |m| m.failures),
                    lines: meta.map(|m| m.lines.clone()).unwrap_or_default(),
                    address,
                }
            })
            .collect())
    }

    /// Bans `addr` (IPv6: its /64) for `secs`; refuses loopback, anti-lockout and administering
    /// addresses. Works before any apply (creates the bans-only table).
    async fn ban_unaudited(
        &self,
        addr: IpAddr,
        details: BanDetails,
        secs: u64,
    ) -> Result<BanView, FirewallError> {
        let reason = details.reason.as_str();
        if secs == 0 || secs > MAX_BAN_SECS {
            return Err(FirewallError::Invalid(vec![FieldError::new(
                "ban_secs",
                format!("between 1 and {MAX_BAN_SECS} seconds"),
            )]));
        }
        if reason.chars().count() > 256 || reason.chars().any(char::is_control) {
            return Err(FirewallError::Invalid(vec![FieldError::new(
                "reason",
                "at most 256 characters, no control characters",
            )]));
        }
        self.require_capability()?;
        let addr = addr.to_canonical();
        let guard = self.inner.op.lock().await;
        let mut record = self.load()?;
        if let Some(why) = self.ban_protection(addr, &record) {
            return Err(FirewallError::Conflict(why));
        }
        let network = ban_network(addr);
        let has_table = self
            .inner
            .kernel
            .run(|b| b.live_table_text().map(|t| t.is_some()))
            .await?;
        if has_table {
            self.inner.kernel.run(move |b| b.ban(addr, secs)).await?;
        } else {
            let bans_only = render_bans_only(&[Ban {
                network,
                expires_in_secs: Some(secs),
            }]);
            self.inner.kernel.run(move |b| b.apply(&bans_only)).await?;
        }
        let live: BTreeSet<String> = self
            .inner
            .kernel
            .run(|b| b.bans())
            .await?
            .iter()
            .map(|b| b.network.to_string())
            .collect();
        record.bans.retain(|k, _| live.contains(k));
        let mut lines = details.lines;
        if lines.len() > record::MAX_BAN_LINES {
            lines.drain(..lines.len() - record::MAX_BAN_LINES);
        }
        let meta = record::BanMeta {
            reason: reason.to_string(),
            banned_at: now_rfc3339(),
            jail: details.jail,
            failures: details.failures,
            lines,
        };
        record.bans.insert(network.to_string(), meta.clone());
        self.save(&record).await?;
        drop(guard);
        tracing::warn!(address = %network, reason, secs, "address banned");
        Ok(BanView {
            address: network.to_string(),
            reason: Some(meta.reason),
            banned_at: Some(meta.banned_at),
            expires_at: Some(ms_to_rfc3339(now_ms().saturating_add(
                i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX),
            ))),
            seconds_left: Some(secs),
            jail: meta.jail,
            failures: meta.failures,
            lines: meta.lines,
        })
    }

    /// Lifts the ban covering `addr`. Idempotent: lifting a ban that is not (or no longer) in the kernel
    /// only forgets its stored details. When the firewall is not active and no ban is left, the
    /// bans-only table is removed.
    async fn unban_unaudited(&self, addr: IpAddr) -> Result<(), FirewallError> {
        self.require_capability()?;
        let addr = addr.to_canonical();
        let network = ban_network(addr);
        let guard = self.inner.op.lock().await;
        let mut record = self.load()?;
        let live = self.inner.kernel.run(|b| b.bans()).await?;
        if !live.iter().any(|b| b.network.covers(&network)) {
            if record.bans.remove(&network.to_string()).is_some() {
                self.save(&record).await?;
            }
            return Ok(());
        }
        self.inner.kernel.run(move |b| b.unban(addr)).await?;
        record.bans.remove(&network.to_string());
        let remaining = self.inner.kernel.run(|b| b.bans()).await?;
        if remaining.is_empty() && !record.active() && record.pending.is_none() {
            self.inner.kernel.run(|b| b.delete_table()).await?;
        }
        self.save(&record).await?;
        drop(guard);
        tracing::info!(address = %network, "ban lifted");
        Ok(())
    }

    /// Bans `addr` (see `ban_unaudited`).
    pub async fn ban(
        &self,
        addr: IpAddr,
        reason: &str,
        secs: u64,
    ) -> Result<BanView, FirewallError> {
        self.ban_with(addr, BanDetails::because(reason), secs).await
    }

    /// Bans `addr` with the details a ban keeps (see `ban_unaudited`), audited.
    async fn ban_with(
        &self,
        addr: IpAddr,
        details: BanDetails,
        secs: u64,
    ) -> Result<BanView, FirewallError> {
        let result = self.ban_unaudited(addr, details, secs).await;
        self.audit("firewall.ban", &addr.to_canonical().to_string(), &result)
            .await;
        result
    }

    /// A ban by an administrator: `reason` defaults to "banned by hand", the length to the ban settings'.
    pub async fn ban_by_hand(
        &self,
        addr: IpAddr,
        reason: Option<String>,
        secs: Option<u64>,
    ) -> Result<BanView, FirewallError> {
        let secs = secs.unwrap_or_else(|| self.settings().ban.ban_secs);
        let reason = reason.unwrap_or_else(|| "banned by hand".to_string());
        self.ban(addr, &reason, secs).await
    }

    /// Lifts the ban covering `addr` (idempotent).
    pub async fn unban(&self, addr: IpAddr) -> Result<(), FirewallError> {
        let result = self.unban_unaudited(addr).await;
        self.audit("firewall.unban", &addr.to_canonical().to_string(), &result)
            .await;
        result
    }

    /// Called when `addr` exceeded the failed-login threshold: bans it for the ban settings' `ban_secs`
    /// unless it is protected, already banned, or the firewall cannot be driven. Returns whether it banned.
    pub async fn ban_failed_logins(&self, addr: IpAddr) -> bool {
        let ban = &self.settings().ban;
        if !self.capability().available {
            return false;
        }
        let addr = addr.to_canonical();
        let Ok(record) = self.load() else {
            return false;
        };
        if let Some(why) = self.ban_protection(addr, &record) {
            tracing::warn!(client = %addr, "too many failed logins, but not banned: {why}");
            return false;
        }
        let network = ban_network(addr);
        match self.inner.kernel.run(|b| b.bans()).await {
            Ok(live) if live.iter().any(|b| b.network.covers(&network)) => return false,
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, "cannot read the bans");
                return false;
            }
        }
        let reason = format!(
            "{} failed logins within {} s",
            ban.max_failures, ban.window_secs
        );
        let throttle = crate::audit::Actor {
            address: Some(addr),
            ..crate::audit::Actor::system("login throttle")
        };
        let details = BanDetails {
            failures: ban.max_failures,
            ..BanDetails::because(&reason)
        };
        match crate::audit::acting_as(throttle, self.ban_with(addr, details, ban.ban_secs)).await {
            Ok(_) => true,
            Err(e) => {
                tracing::error!(client = %addr, error = %e, "banning a brute-forcing address failed");
                false
            }
        }
    }

    /// A jail's ban of `addr` (IPv6: its /64) for `secs`, audited as done by the jail. Protected
    /// addresses (loopback, anti-lockout, administering) and addresses a live ban covers already are
    /// left alone.
    pub async fn ban_for_jail(
        &self,
        addr: IpAddr,
        details: BanDetails,
        secs: u64,
    ) -> Result<JailBanOutcome, FirewallError> {
        self.require_capability()?;
        let addr = addr.to_canonical();
        let record = self.load()?;
        if let Some(why) = self.ban_protection(addr, &record) {
            return Ok(JailBanOutcome::Protected(why));
        }
        let network = ban_network(addr);
        let live = self.inner.kernel.run(|b| b.bans()).await?;
        if live.iter().any(|b| b.network.covers(&network)) {
            return Ok(JailBanOutcome::AlreadyBanned);
        }
        let actor = crate::audit::Actor {
            address: Some(addr),
            ..crate::audit::Actor::system(&format!(
                "jail {}",
                details.jail.as_deref().unwrap_or_default()
            ))
        };
        let secs = secs.min(MAX_BAN_SECS);
        crate::audit::acting_as(actor, self.ban_with(addr, details, secs))
            .await
            .map(JailBanOutcome::Banned)
    }
}
