//! Exposure badges: whether a service port is reachable from outside under the firewall, and what decides,
//! shown next to the port on the services table and the detail page; the detail page also offers a
//! one-click "Expose" that adds an accept rule for a blocked port at the top of the saved rules.
//!
//! The exposure list is loaded in the browser only (`LocalResource`): it depends on the rule set, not on the
//! page, and a badge that appears a moment after the table is better than a server round trip per render.

use leptos::prelude::*;
use warden_firewall::DecidedBy;

use crate::components::toast::use_toasts;
use crate::model::firewall::ExposureView;
use crate::model::service_ports::ServicePortRange;
use crate::rpc::{expose_service_port, firewall_exposure, service_port_range};

/// The exposure of every service port, loaded once per page; `refetch` after a change.
#[derive(Clone, Copy)]
pub struct ExposureMap {
    rows: LocalResource<Option<Vec<ExposureView>>>,
    /// The configured service range, for the guard's words.
    service_ports: LocalResource<Option<ServicePortRange>>,
}

impl ExposureMap {
    pub fn new() -> Self {
        // Without the firewall capability (or on any error) there is simply no badge.
        Self {
            rows: LocalResource::new(|| async { firewall_exposure().await.ok() }),
            service_ports: LocalResource::new(|| async { service_port_range().await.ok() }),
        }
    }

    pub fn refetch(&self) {
        self.rows.refetch();
    }

    /// The service range, once loaded.
    fn service_ports(&self) -> Option<ServicePortRange> {
        self.service_ports.get().flatten()
    }

    fn lookup(&self, service_id: &str, port: u16) -> Option<ExposureView> {
        // Borrow, don't clone the whole list: every port of every row looks itself up.
        self.rows.with(|loaded| {
            loaded
                .as_ref()
                .and_then(|rows| rows.as_ref())
                .and_then(|rows| {
                    rows.iter()
                        .find(|r| r.service_id == service_id && r.port == port)
                        .cloned()
                })
        })
    }
}

impl Default for ExposureMap {
    fn default() -> Self {
        Self::new()
    }
}

/// Why a port is (not) reachable, in words; the guard's names the service range when it is known.
pub fn decided_by_text(decided_by: &DecidedBy, service_ports: Option<ServicePortRange>) -> String {
    match decided_by {
        DecidedBy::Established => "an established connection".into(),
        DecidedBy::Loopback => "the loopback rule".into(),
        DecidedBy::AntiLockout => "the anti-lockout rule".into(),
        DecidedBy::Ban => "a ban".into(),
        DecidedBy::Rule(id) => format!("rule {id}"),
        DecidedBy::ServiceRangeGuard => match service_ports {
            Some(range) => format!(
                "the service-range guard ({} closed from outside)",
                range.human_text()
            ),
            None => "the service-range guard (service ports closed from outside)".into(),
        },
        DecidedBy::DefaultPolicy => "the default inbound policy".into(),
    }
}

/// The badge's words and class for one exposure entry: what is live now, and what Apply would change.
pub fn badge_for(
    row: &ExposureView,
    service_ports: Option<ServicePortRange>,
) -> (&'static str, &'static str, String) {
    let live = if row.firewall_active {
        row.live_reachable_from_outside
    } else {
        // No Warden table: nothing of Warden's filters the port.
        true
    };
    let why = decided_by_text(&row.decided_by, service_ports);
    let mut title = if !row.firewall_active {
        "The firewall is not active: the port is reachable from outside.".to_string()
    } else if live {
        "Reachable from outside now.".to_string()
    } else {
        "Blocked from outside now.".to_string()
    };
    if row.reachable_from_outside != live {
        title.push_str(if row.reachable_from_outside {
            " After Apply: reachable"
        } else {
            " After Apply: blocked"
        });
        title.push_str(&format!(" (decided by {why})."));
    } else {
        title.push_str(&format!(" Saved rules: decided by {why}."));
    }
    if live {
        ("public", "badge exposure open", title)
    } else {
        ("blocked", "badge exposure blocked", title)
    }
}

/// A service port with its exposure badge; with `offer_expose`, a blocked port gets an "Expose" button.
#[component]
pub fn PortWithExposure(
    exposure: ExposureMap,
    #[prop(into)] service_id: Signal<String>,
    port: u16,
    #[prop(optional)] offer_expose: bool,
) -> impl IntoView {
    let toasts = use_toasts();
    let row = Memo::new(move |_| exposure.lookup(&service_id.get(), port));
    let expose = Action::new(move |_: &()| {
        let id = service_id.get_untracked();
        async move { expose_service_port(id, port).await }
    });
    Effect::new(move |_| {
        if let Some(result) = expose.value().get() {
            match result {
                Ok(_) => {
                    toasts.success(format!(
                        "Port {port}: an accept rule was added at the top. Apply the firewall to make it live."
                    ));
                    exposure.refetch();
                }
                Err(e) => toasts.error(format!("Port {port} could not be exposed: {e}")),
            }
        }
    });
    view! {
        <span class="port" data-port=port.to_string()>
            {port}
            {move || row.get().map(|r| {
                let (text, class, title) = badge_for(&r, exposure.service_ports());
                let blocked_when_saved = !r.reachable_from_outside;
                view! {
                    " "
                    <span class=class title=title.clone() aria-label=format!("{text}: {title}")
                        data-testid="exposure">{text}</span>
                    {(offer_expose && blocked_when_saved).then(|| view! {
                        " "
                        <button type="button" class="btn small" data-testid="expose"
                            disabled=move || expose.pending().get()
                            on:click=move |_| { expose.dispatch(()); }>
                            "Expose"
                        </button>
                    })}
                }
            })}
        </span>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guarded_row() -> ExposureView {
        ExposureView {
            service_id: "s1".into(),
            port: 9005,
            protocol: warden_firewall::PacketProtocol::Tcp,
            reachable_from_outside: false,
            deciding_rule: None,
            reachable_from_everywhere: false,
            decided_by: DecidedBy::ServiceRangeGuard,
            firewall_active: true,
            live_reachable_from_outside: false,
            hostnames: Vec::new(),
            unresolved_hostnames: Vec::new(),
        }
    }

    #[test]
    fn the_guard_names_the_configured_range() {
        let range = ServicePortRange::new(9000, 9099);
        assert_eq!(
            decided_by_text(&DecidedBy::ServiceRangeGuard, range),
            "the service-range guard (9000–9099 closed from outside)"
        );
        assert_eq!(
            decided_by_text(&DecidedBy::ServiceRangeGuard, None),
            "the service-range guard (service ports closed from outside)"
        );
        assert_eq!(
            decided_by_text(&DecidedBy::Rule("r1".into()), range),
            "rule r1"
        );
        let (text, _, title) = badge_for(&guarded_row(), range);
        assert_eq!(text, "blocked");
        assert!(title.contains("(9000–9099 closed from outside)"), "{title}");
    }
}
