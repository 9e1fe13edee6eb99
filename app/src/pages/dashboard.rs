//! The dashboard: the overview an operator lands on. Services by state with the ones that need attention
//! (disabled, restarting, failing health) first and their reasons; the firewall's state (active,
//! waiting for confirmation, drift, unapplied changes); exposure warnings (a service port the firewall
//! blocks, or one bound to 127.0.0.1 only); recent events (from the loaded state, then live from
//! `/api/v1/events`). Every empty state says what to do next.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::transport_warning::PlainHttpWarning;
use crate::model::error::AppError;
use crate::model::firewall::{human_duration, ExposureView, FirewallStatus};
use crate::model::service::{Health, Service, ServiceState, WarningKind};
use crate::model::service_ports::ServicePortRange;
use crate::rpc::{firewall_exposure, get_firewall_state, list_services, service_port_range};
use warden_firewall::{DecidedBy, PacketProtocol};

type Overview = (
    Result<Vec<Service>, AppError>,
    Result<FirewallStatus, AppError>,
    Result<Vec<ExposureView>, AppError>,
    Result<ServicePortRange, AppError>,
);

/// Attention order: disabled, restarting (backoff), failing health, in transition, stopped, running.
pub fn attention_rank(s: &Service) -> u8 {
    match (s.status.state, s.status.health) {
        (ServiceState::Disabled, _) => 0,
        (ServiceState::Backoff, _) => 1,
        (_, Health::Failing) => 2,
        (ServiceState::Starting | ServiceState::Stopping, _) => 3,
        (ServiceState::Stopped | ServiceState::Exited, _) => 4,
        (ServiceState::Running, _) => 5,
    }
}

/// Why a service needs attention, in words (`None` for a healthy running or a deliberately stopped one).
pub fn attention_reason(s: &Service) -> Option<String> {
    match s.status.state {
        ServiceState::Disabled => Some(
            s.status
                .disabled_reason
                .clone()
                .unwrap_or_else(|| "disabled".into()),
        ),
        ServiceState::Backoff => Some(match &s.status.last_exit {
            Some(exit) => match (exit.code, exit.signal) {
                (Some(code), _) => format!("exited with code {code}; restarting"),
                (_, Some(signal)) => format!("killed by signal {signal}; restarting"),
                _ => "exited; restarting".into(),
            },
            None => "restarting".into(),
        }),
        _ if s.status.health == Health::Failing => Some("its monitoring command fails".into()),
        _ => None,
    }
}

/// One exposure warning line per blocked or loopback-only port.
pub fn exposure_warnings(services: &[Service], exposure: &[ExposureView]) -> Vec<String> {
    let name_of = |id: &str| {
        services
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.spec.name.clone())
            .unwrap_or_else(|| id.to_string())
    };
    let mut out: Vec<String> = exposure
        .iter()
        .filter(|e| e.protocol == PacketProtocol::Tcp && !e.reachable_from_outside)
        .map(|e| {
            let by = match &e.decided_by {
                DecidedBy::Rule(id) => format!("rule {id}"),
                DecidedBy::ServiceRangeGuard => {
                    "the private-cloud guard (service ports are closed until a rule opens them)"
                        .into()
                }
                DecidedBy::DefaultPolicy => "the default inbound policy".into(),
                other => format!("{other:?}"),
            };
            let when = if e.firewall_active {
                ""
            } else {
                " once the firewall is applied"
            };
            format!(
                "Port {} of {} is blocked from outside{when} by {by}.",
                e.port,
                name_of(&e.service_id)
            )
        })
        .collect();
    for s in services {
        for w in &s.status.warnings {
            if w.kind == WarningKind::PortLoopbackOnly {
                out.push(format!("{}: {}", s.spec.name, w.message));
            }
        }
    }
    out
}

/// The firewall card's note while no Warden table is live, naming the configured service range (when
/// known).
pub fn unfiltered_ports_notice(service_ports: Option<ServicePortRange>) -> String {
    let ports = match service_ports {
        Some(range) => format!("Service ports {}", range.human_text()),
        None => "Service ports".to_string(),
    };
    format!("{ports} are not filtered until the firewall is applied. ")
}

/// A recent-events line from the loaded services: last exits and starts, newest first.
fn recent_from_services(services: &[Service]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for s in services {
        if let Some(exit) = &s.status.last_exit {
            let how = match (exit.code, exit.signal) {
                (Some(c), _) => format!("exited with code {c}"),
                (_, Some(sig)) => format!("was killed by signal {sig}"),
                _ => "exited".into(),
            };
            out.push((exit.at.clone(), format!("{} {how}", s.spec.name)));
        }
        if let Some(at) = &s.status.started_at {
            out.push((at.clone(), format!("{} started", s.spec.name)));
        }
        if s.status.state == ServiceState::Disabled {
            if let Some(exit) = &s.status.last_exit {
                out.push((exit.at.clone(), format!("{} was disabled", s.spec.name)));
            }
        }
    }
    out.sort_by(|a, b| b.0.cmp(&a.0));
    out.truncate(8);
    out
}

/// A live event (JSON from `/api/v1/events`) in words.
pub fn describe_event(json: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    match v.get("type")?.as_str()? {
        "service" => {
            let s = v.get("service")?;
            let name = s.get("name")?.as_str()?;
            let state = s.get("status")?.get("state")?.as_str()?;
            let reason = s
                .get("status")
                .and_then(|st| st.get("disabled_reason"))
                .and_then(|r| r.as_str())
                .map(|r| format!(" ({r})"))
                .unwrap_or_default();
            Some(format!("Service {name} is {state}{reason}"))
        }
        "service_deleted" => Some("A service was deleted".into()),
        "firewall" => {
            let active = v.get("active")?.as_bool()?;
            let pending = v.get("pending").is_some_and(|p| !p.is_null());
            Some(match (active, pending) {
                (true, true) => "Firewall applied; waiting for confirmation".into(),
                (true, false) => "Firewall active".into(),
                (false, _) => "Firewall not active".into(),
            })
        }
        "lagged" => Some("Some events were missed (the page fell behind)".into()),
        _ => None,
    }
}

#[component]
pub fn DashboardPage() -> AnyView {
    let data = Resource::new(
        || (),
        |_| async {
            (
                list_services().await,
                get_firewall_state().await,
                firewall_exposure().await,
                service_port_range().await,
            )
        },
    );
    view! {
        <Title text="Dashboard"/>
        <h1 data-testid="page-title">"Dashboard"</h1>
        <PlainHttpWarning/>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || data.get().map(|(services, firewall, exposure, service_ports): Overview| {
                let services_view = match &services {
                    Ok(list) => view! { <ServicesCard services=list.clone()/> }.into_any(),
                    Err(e) => view! { <section class="card"><h2>"Services"</h2><p class="error">{e.to_string()}</p></section> }.into_any(),
                };
                let firewall_view = match firewall {
                    Ok(state) => view! { <FirewallCard state service_ports=service_ports.ok()/> }.into_any(),
                    Err(e) => view! { <section class="card"><h2>"Firewall"</h2><p class="error">{e.to_string()}</p></section> }.into_any(),
                };
                let list = services.clone().unwrap_or_default();
                let warnings = exposure_warnings(&list, &exposure.unwrap_or_default());
                let recent = recent_from_services(&list);
                view! {
                    <div class="grid">
                        {services_view}
                        {firewall_view}
                        <ExposureCard warnings has_services=!list.is_empty()/>
                        <RecentEvents initial=recent/>
                    </div>
                }
            })}
        </Suspense>
    }
    .into_any()
}

fn state_class(state: ServiceState) -> &'static str {
    match state {
        ServiceState::Running => "badge ok",
        ServiceState::Disabled => "badge bad",
        ServiceState::Backoff => "badge warn",
        _ => "badge",
    }
}

#[component]
fn ServicesCard(services: Vec<Service>) -> AnyView {
    let mut sorted = services;
    sorted.sort_by(|a, b| {
        attention_rank(a)
            .cmp(&attention_rank(b))
            .then_with(|| a.spec.name.cmp(&b.spec.name))
    });
    let total = sorted.len();
    let count = |st: ServiceState| sorted.iter().filter(|s| s.status.state == st).count();
    let summary = [
        (ServiceState::Running, count(ServiceState::Running)),
        (ServiceState::Disabled, count(ServiceState::Disabled)),
        (ServiceState::Backoff, count(ServiceState::Backoff)),
        (ServiceState::Stopped, count(ServiceState::Stopped)),
    ];
    view! {
        <section class="card" aria-labelledby="dash-services" data-testid="dash-services">
            <h2 id="dash-services">"Services"</h2>
            {if total == 0 {
                view! {
                    <p class="muted" data-testid="dash-services-empty">
                        "No services yet. "
                        <a href="/services">"Create one on the Services page"</a>
                        ": a command that stays in the foreground, restarted whenever it stops."
                    </p>
                }.into_any()
            } else {
                view! {
                    <p class="chips">
                        {summary.into_iter().filter(|(_, n)| *n > 0).map(|(st, n)| view! {
                            <span class=state_class(st)>{format!("{n} {}", st.as_str())}</span>
                        }).collect_view()}
                    </p>
                    <ul class="dash-list">
                        {sorted.into_iter().take(12).map(|s| {
                            let reason = attention_reason(&s);
                            view! {
                                <li data-testid="dash-service" data-state=s.status.state.as_str()>
                                    <span class=state_class(s.status.state)>{s.status.state.as_str()}</span>
                                    " "
                                    <a href=format!("/services/{}", s.spec.name) class="strong" data-testid="dash-service-link">{s.spec.name.clone()}</a>
                                    {reason.map(|r| view! { <span class="reason" data-testid="dash-service-reason">" — "{r}</span> })}
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                    {(total > 12).then(|| view! {
                        <p class="muted small"><a href="/services">{format!("All {total} services")}</a></p>
                    })}
                }.into_any()
            }}
        </section>
    }
    .into_any()
}

#[component]
fn FirewallCard(state: FirewallStatus, service_ports: Option<ServicePortRange>) -> AnyView {
    let mut lines: Vec<(String, &'static str)> = Vec::new();
    if !state.capability.available {
        lines.push((
            format!(
                "Read-only here: {}",
                state.capability.reason.clone().unwrap_or_default()
            ),
            "warn",
        ));
    }
    if let Some(p) = &state.pending {
        lines.push((
            format!(
                "New rules are waiting for confirmation: they are reverted in about {} unless kept.",
                human_duration(p.seconds_left)
            ),
            "warn",
        ));
    }
    if let Some(reason) = &state.fallback {
        lines.push((format!("Fallback guard: {reason}."), "bad"));
    }
    if !state.stale_hosts.is_empty() {
        lines.push((
            format!(
                "Stale resolution: {} did not resolve at the last restore; their rules use the addresses of the last apply until Warden resolves them again.",
                state.stale_hosts.join(", ")
            ),
            "warn",
        ));
    }
    if state.default_guard {
        let ports = match service_ports {
            Some(range) => format!("the service ports {}", range.human_text()),
            None => "the service ports".to_string(),
        };
        lines.push((
            format!(
                "Default guard: Warden closed {ports} to new connections from outside on its own; add rules on the Firewall page to open what should be reachable."
            ),
            "ok",
        ));
    }
    if state.drift && state.fallback.is_none() {
        lines.push((
            "Drift: the live nftables table differs from what Warden applied. Apply again to fix it.".into(),
            "bad",
        ));
    }
    if state.has_unapplied_changes() {
        lines.push((
            "There are saved rule changes that are not applied yet.".into(),
            "warn",
        ));
    }
    let headline = if state.active {
        view! { <span class="badge ok" data-testid="dash-fw-state">"Active"</span> }.into_any()
    } else {
        view! { <span class="badge" data-testid="dash-fw-state">"Not active"</span> }.into_any()
    };
    view! {
        <section class="card" aria-labelledby="dash-firewall" data-testid="dash-firewall">
            <h2 id="dash-firewall">"Firewall"</h2>
            <p>{headline}" "
                {match state.applied_revision {
                    Some(_) if state.default_guard => "the default guard is live".to_string(),
                    Some(r) => format!("revision {r} is live"),
                    None => "nothing applied yet".into(),
                }}
            </p>
            <ul class="dash-list">
                {lines.into_iter().map(|(text, kind)| view! {
                    <li class=format!("line-{kind}")>{text}</li>
                }).collect_view()}
            </ul>
            {(!state.active).then(|| view! {
                <p class="muted small">
                    {unfiltered_ports_notice(service_ports)}
                    <a href="/firewall">"Add rules and apply them on the Firewall page."</a>
                </p>
            })}
            {state.active.then(|| view! {
                <p class="small"><a href="/firewall">"Rules, bans and presets"</a></p>
            })}
        </section>
    }
    .into_any()
}

#[component]
fn ExposureCard(warnings: Vec<String>, has_services: bool) -> AnyView {
    view! {
        <section class="card" aria-labelledby="dash-exposure" data-testid="dash-exposure">
            <h2 id="dash-exposure">"Exposure"</h2>
            {if warnings.is_empty() {
                let text = if has_services {
                    "No warnings: every service port is reachable as configured, and none listens on 127.0.0.1 only."
                } else {
                    "Nothing to check yet: exposure warnings appear here once services reserve ports."
                };
                view! { <p class="muted">{text}</p> }.into_any()
            } else {
                view! {
                    <ul class="dash-list">
                        {warnings.into_iter().map(|w| view! { <li class="line-warn" data-testid="dash-exposure-warning">{w}</li> }).collect_view()}
                    </ul>
                    <p class="muted small"><a href="/firewall">"Open ports on the Firewall page"</a>"; bind services to :: to be reachable."</p>
                }.into_any()
            }}
        </section>
    }
    .into_any()
}

/// Recent events: derived from the loaded state, then live events prepended as they arrive.
#[component]
fn RecentEvents(initial: Vec<(String, String)>) -> AnyView {
    // (sequence number, text), newest first.
    let live = RwSignal::new(Vec::<(u64, String)>::new());
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::closure::Closure;
        use wasm_bindgen::JsCast;
        if let Ok(source) = web_sys::EventSource::new("/api/v1/events") {
            let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(
                move |ev: web_sys::MessageEvent| {
                    if let Some(line) = ev.data().as_string().as_deref().and_then(describe_event) {
                        live.update(|v| {
                            let seq = v.first().map_or(0, |(n, _)| n + 1);
                            v.insert(0, (seq, line));
                            v.truncate(10);
                        });
                    }
                },
            );
            source.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
            on_message.forget();
            let source = StoredValue::new_local(source);
            on_cleanup(move || source.with_value(|s| s.close()));
        }
    }
    let empty = initial.is_empty();
    view! {
        <section class="card" aria-labelledby="dash-events" data-testid="dash-events">
            <h2 id="dash-events">"Recent events"</h2>
            <ul class="dash-list" aria-live="polite">
                <For each=move || live.get() key=|(seq, _)| *seq let:item>
                    <li><span class="badge">"live"</span>" "{item.1}</li>
                </For>
                {initial.into_iter().map(|(at, text)| view! {
                    <li><time class="muted small" datetime=at.clone()>{at.replace('T', " ").chars().take(19).collect::<String>()}</time>" "{text}</li>
                }).collect_view()}
            </ul>
            {move || (empty && live.with(Vec::is_empty)).then(|| view! {
                <p class="muted">"No events yet. Service starts, exits and firewall changes appear here as they happen."</p>
            })}
        </section>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::service::{ServiceInput, ServiceSpec, ServiceStatus};

    fn service(name: &str, state: ServiceState, reason: Option<&str>) -> Service {
        let input = ServiceInput::new(name, "true");
        let spec = ServiceSpec {
            name: input.name,
            command: input.command,
            working_directory: None,
            environment: Default::default(),
            monitoring_command: None,
            ports: vec![8300],
            user: None,
            enabled: true,
            allow_ports_outside_range: false,
            stop_signal: Default::default(),
            stop_grace_secs: None,
            reload_grace_secs: None,
            restart: Default::default(),
            monitoring: Default::default(),
            after: Vec::new(),
            limits: Default::default(),
        };
        let mut status = ServiceStatus::stopped();
        status.state = state;
        status.disabled_reason = reason.map(str::to_string);
        Service {
            id: format!("id-{name}"),
            spec,
            status,
        }
    }

    #[test]
    fn disabled_first_with_reason() {
        let mut list = [
            service("a", ServiceState::Running, None),
            service(
                "b",
                ServiceState::Disabled,
                Some("failed 5 times within 60 s"),
            ),
            service("c", ServiceState::Backoff, None),
        ];
        list.sort_by_key(attention_rank);
        let names: Vec<&str> = list.iter().map(|s| s.spec.name.as_str()).collect();
        assert_eq!(names, ["b", "c", "a"]);
        assert_eq!(
            attention_reason(&list[0]).as_deref(),
            Some("failed 5 times within 60 s")
        );
        assert_eq!(attention_reason(&list[2]), None);
    }

    #[test]
    fn blocked_ports_become_warnings() {
        let services = vec![service("web", ServiceState::Running, None)];
        let row = |protocol, reachable| ExposureView {
            service_id: "id-web".into(),
            port: 8300,
            protocol,
            reachable_from_outside: reachable,
            deciding_rule: None,
            reachable_from_everywhere: reachable,
            decided_by: DecidedBy::ServiceRangeGuard,
            firewall_active: true,
            live_reachable_from_outside: reachable,
            hostnames: Vec::new(),
            unresolved_hostnames: Vec::new(),
        };
        let warnings = exposure_warnings(
            &services,
            &[
                row(PacketProtocol::Tcp, false),
                row(PacketProtocol::Udp, false),
            ],
        );
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("Port 8300 of web is blocked"));
        assert!(exposure_warnings(&services, &[row(PacketProtocol::Tcp, true)]).is_empty());
    }

    #[test]
    fn the_unfiltered_notice_names_the_configured_range() {
        assert_eq!(
            unfiltered_ports_notice(ServicePortRange::new(9000, 9099)),
            "Service ports 9000–9099 are not filtered until the firewall is applied. "
        );
        assert_eq!(
            unfiltered_ports_notice(Some(ServicePortRange::DEFAULT)),
            "Service ports 8300–8499 are not filtered until the firewall is applied. "
        );
        assert_eq!(
            unfiltered_ports_notice(None),
            "Service ports are not filtered until the firewall is applied. "
        );
    }

    #[test]
    fn live_events_in_words() {
        let ev = r#"{"type":"service","service":{"name":"web","status":{"state":"disabled","disabled_reason":"failed 5 times within 60 s"}}}"#;
        assert_eq!(
            describe_event(ev).as_deref(),
            Some("Service web is disabled (failed 5 times within 60 s)")
        );
        let fw = r#"{"type":"firewall","active":true,"pending":{"revision":2}}"#;
        assert_eq!(
            describe_event(fw).as_deref(),
            Some("Firewall applied; waiting for confirmation")
        );
        assert_eq!(describe_event("not json"), None);
    }
}
