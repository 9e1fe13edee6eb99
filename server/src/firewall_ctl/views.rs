//! The firewall's answers shaped for the UI's server functions (`app::model::firewall`): conversions
//! from the handle's views.

use std::net::IpAddr;

use app::model::firewall::{
    BanRow, ExposureRow, FirewallState, LastRollback, PendingApply, PresetRow, RuleRow,
};
use warden_firewall::Protocol;

use super::{BanView, ExposureView, FirewallStatus, PresetView, RollbackCause, RuleView};

/// Seconds from now until an RFC 3339 time (0 if past or unparsable).
pub fn seconds_until(rfc3339: &str) -> u64 {
    let format = &time::format_description::well_known::Rfc3339;
    match time::OffsetDateTime::parse(rfc3339, format) {
        Ok(at) => {
            let left = (at - time::OffsetDateTime::now_utc()).whole_milliseconds();
            // Round up: "1 s left" until the moment itself.
            u64::try_from((left + 999) / 1000).unwrap_or(0)
        }
        Err(_) => 0,
    }
}

/// The status as the UI shows it; `client` is the caller's address.
pub fn state(status: FirewallStatus, client: IpAddr) -> FirewallState {
    FirewallState {
        active: status.active,
        applied_revision: status.applied_revision,
        saved_revision: status.saved_revision,
        pending: status.pending.map(|p| PendingApply {
            revision: p.revision,
            seconds_left: seconds_until(&p.rollback_at),
            rollback_at: p.rollback_at,
        }),
        drift: status.drift,
        available: status.capability.available,
        unavailable_reason: status.capability.reason,
        default_inbound_policy: status.default_inbound_policy,
        anti_lockout: status.anti_lockout.iter().map(IpAddr::to_string).collect(),
        admin_port: status.admin_port,
        your_address: client.to_string(),
        last_rollback: status.last_rollback.map(|r| LastRollback {
            at: r.at,
            revision: r.revision,
            cause: match r.cause {
                RollbackCause::Timer => "timer",
                RollbackCause::Request => "request",
                RollbackCause::Restart => "restart",
            }
            .to_string(),
        }),
    }
}

pub fn rule_row(view: RuleView) -> RuleRow {
    RuleRow {
        rule: view.rule,
        packets: view.packets,
        bytes: view.bytes,
    }
}

pub fn preset_row(view: PresetView) -> PresetRow {
    let ports = view
        .rules
        .iter()
        .map(|r| {
            let protocol = match r.protocol.unwrap_or_default() {
                Protocol::Tcp => "tcp",
                Protocol::Udp => "udp",
                Protocol::Any => "tcp/udp",
            };
            let ports = r.ports.clone().unwrap_or_default();
            if ports.is_empty() {
                format!("{protocol} all ports")
            } else {
                format!("{protocol} {}", ports.join(", "))
            }
        })
        .collect();
    PresetRow {
        name: view.name,
        title: view.title,
        description: view.description,
        ports,
        open: view.open,
    }
}

pub fn ban_row(view: BanView) -> BanRow {
    BanRow {
        seconds_left: view.expires_at.as_deref().map(seconds_until),
        address: view.address,
        reason: view.reason,
        banned_at: view.banned_at,
        expires_at: view.expires_at,
    }
}

pub fn exposure_row(view: ExposureView) -> ExposureRow {
    ExposureRow {
        service_id: view.service_id,
        port: view.port,
        protocol: view.protocol,
        reachable_from_outside: view.reachable_from_outside,
        deciding_rule: view.deciding_rule,
        reachable_from_everywhere: view.reachable_from_everywhere,
        decided_by: view.decided_by,
        firewall_active: view.firewall_active,
        live_reachable_from_outside: view.live_reachable_from_outside,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_until_counts_up_to_the_moment() {
        let soon =
            crate::clock::rfc3339(time::OffsetDateTime::now_utc() + time::Duration::seconds(30));
        let left = seconds_until(&soon);
        assert!((29..=30).contains(&left), "{left}");
        assert_eq!(seconds_until("2000-01-01T00:00:00Z"), 0);
        assert_eq!(seconds_until("not a time"), 0);
    }
}
