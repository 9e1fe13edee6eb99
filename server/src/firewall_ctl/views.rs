//! The firewall's answers shaped for the UI's server functions (`app::model::firewall`): conversions
//! from the handle's views, and `FirewallError` → `AppError` with messages in words (the same sentences
//! the REST layer sends).

use std::net::IpAddr;

use app::model::error::AppError;
use app::model::firewall::{
    BanRow, ExposureRow, FirewallState, LastRollback, PendingApply, PresetRow, RuleRow,
};
use app::model::FieldError;
use warden_firewall::Protocol;

use super::{
    BanView, ExposureView, FirewallError, FirewallStatus, PresetView, RollbackCause, RuleView,
};

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

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

impl From<FirewallError> for AppError {
    fn from(e: FirewallError) -> Self {
        match e {
            FirewallError::NotFound(_) => AppError::NotFound(capitalised(&e.to_string())),
            FirewallError::Invalid(errors) => AppError::Invalid(
                errors
                    .into_iter()
                    .map(|e| FieldError::new(e.field, e.message))
                    .collect(),
            ),
            // A state conflict (nothing pending, preset already open, protected address): a sentence.
            FirewallError::Conflict(message) => AppError::Unavailable(capitalised(&message)),
            FirewallError::Unavailable(_) => AppError::Unavailable(capitalised(&e.to_string())),
            FirewallError::Nft(nft) => {
                tracing::error!(error = %nft, "nft failed (server function)");
                AppError::Internal(format!("{nft}. The previous firewall state is unchanged."))
            }
            FirewallError::Store(cause) => {
                tracing::error!(error = %cause, "store error in a firewall server function");
                AppError::Internal(
                    "Warden hit an internal error; the server log has the details.".into(),
                )
            }
            FirewallError::Internal(cause) => {
                tracing::error!(error = %cause, "internal error in a firewall server function");
                AppError::Internal(
                    "Warden hit an internal error; the server log has the details.".into(),
                )
            }
        }
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
            crate::auth::rfc3339(time::OffsetDateTime::now_utc() + time::Duration::seconds(30));
        let left = seconds_until(&soon);
        assert!((29..=30).contains(&left), "{left}");
        assert_eq!(seconds_until("2000-01-01T00:00:00Z"), 0);
        assert_eq!(seconds_until("not a time"), 0);
    }
}
