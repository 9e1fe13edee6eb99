//! The services page (`/services`): a live table of every service — one row per service, keyed by id,
//! each row reading only its own signal from [`LiveServices`] so a status change updates that row alone —
//! with start/stop/restart/delete, the create form, and an empty state. Also the pieces the detail page
//! reuses: the state badge, the health/warnings cell and the action buttons.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::exposure::{ExposureMap, PortWithExposure};
use crate::components::live::{use_live_services, LiveServices, ServiceRow};
use crate::components::toast::use_toasts;
use crate::model::service::{Health, Service, ServiceState, ServiceWarning};
use crate::model::service_form::{coarse_duration, rfc3339_utc_millis};
use crate::model::ServiceAction;
use crate::pages::service_form::LazyServiceForm;
use crate::rpc::{act_on_service, delete_service, list_services};

#[component]
pub fn ServicesPage() -> impl IntoView {
    let live = use_live_services();
    let list = Resource::new(|| (), |_| list_services());
    let creating = RwSignal::new(false);
    view! {
        <Title text="Services"/>
        <div class="page-head">
            <h1 data-testid="page-title">"Services"</h1>
            <LiveBadge live/>
            <button type="button" class="btn primary" data-testid="new-service"
                aria-expanded=move || creating.get().to_string()
                on:click=move |_| creating.update(|c| *c = !*c)>
                "New service"
            </button>
            <a class="btn" href="/import" data-testid="services-import">"Import…"</a>
        </div>
        <Show when=move || creating.get()>
            <section class="card form-card" aria-label="New service">
                <h2>"New service"</h2>
                <LazyServiceForm existing=None on_done=Callback::new(move |_| creating.set(false))/>
            </section>
        </Show>
        <Suspense fallback=|| view! { <p class="muted">"Loading services…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(services) => {
                        live.seed(services);
                        view! { <ServicesTable live creating/> }.into_any()
                    }
                    Err(e) => view! {
                        <p class="error" role="alert">{format!("The services could not be loaded: {e}")}</p>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
    .into_any()
}

/// "Live" while the event stream is open, "Reconnecting…" otherwise.
#[component]
pub fn LiveBadge(live: LiveServices) -> impl IntoView {
    view! {
        <span class=move || if live.connected.get() { "live-badge on" } else { "live-badge" }
            data-testid="live-badge" role="status">
            {move || if live.connected.get() { "● Live" } else { "○ Connecting…" }}
        </span>
    }
    .into_any()
}

#[component]
fn ServicesTable(live: LiveServices, creating: RwSignal<bool>) -> impl IntoView {
    let exposure = ExposureMap::new();
    view! {
        <Show when=move || !live.is_empty() fallback=move || view! {
            <div class="card empty-state" data-testid="services-empty">
                <h2>"No services yet"</h2>
                <p>"A service is a command Warden keeps running in the foreground: it restarts it when it \
                    exits, keeps its log, and reserves its ports."</p>
                <p>"Choose " <strong>"New service"</strong> " and give it a name and a command, e.g. "
                    <code>"redis-server --bind :: --port $PORT"</code> "."</p>
                <button type="button" class="btn primary" on:click=move |_| creating.set(true)>
                    "Create the first service"
                </button>
            </div>
        }>
            <div class="table-wrap">
                <table class="services" data-testid="services-table">
                    <thead>
                        <tr>
                            <th scope="col">"Name"</th>
                            <th scope="col">"State"</th>
                            <th scope="col">"PID"</th>
                            <th scope="col">"Uptime"</th>
                            <th scope="col">"Restarts"</th>
                            <th scope="col">"Ports"</th>
                            <th scope="col">"Health"</th>
                            <th scope="col"><span class="sr-only">"Actions"</span></th>
                        </tr>
                    </thead>
                    <tbody>
                        <For each=move || live.rows() key=|row| row.id.clone() let:row>
                            <ServiceTableRow row live exposure/>
                        </For>
                    </tbody>
                </table>
            </div>
        </Show>
    }
    .into_any()
}

/// One row. Each cell reads a memo of its own field, so an update re-renders only the cells whose
/// value changed.
#[component]
fn ServiceTableRow(row: ServiceRow, live: LiveServices, exposure: ExposureMap) -> impl IntoView {
    let s = row.service;
    let service_id = row.id.to_string();
    let name = Memo::new(move |_| s.with(|s| s.spec.name.clone()));
    let state = Memo::new(move |_| s.with(|s| s.status.state));
    let pid = Memo::new(move |_| s.with(|s| s.status.pid));
    let restarts = Memo::new(move |_| s.with(|s| s.status.restarts));
    let ports = Memo::new(move |_| s.with(|s| s.spec.ports.clone()));
    let started =
        Memo::new(move |_| s.with(|s| s.status.started_at.as_deref().and_then(rfc3339_utc_millis)));
    let uptime = move || match (state.get(), started.get()) {
        (ServiceState::Running, Some(at)) => coarse_duration((live.now_ms.get() - at) / 1000),
        _ => "—".to_string(),
    };
    view! {
        <tr data-testid="service-row" data-service=move || name.get()>
            <th scope="row" class="name">
                <a href=move || format!("/services/{}", name.get())>{move || name.get()}</a>
            </th>
            <td data-label="State"><StateBadge service=s/></td>
            <td class="num" data-label="PID" data-testid="pid">{move || pid.get().map(|p| p.to_string()).unwrap_or_else(|| "—".into())}</td>
            <td data-label="Uptime" data-testid="uptime">{uptime}</td>
            <td class="num" data-label="Restarts" data-testid="restarts">{move || restarts.get()}</td>
            <td class="ports" data-label="Ports">
                <For each=move || ports.get() key=|p| *p let:port>
                    <PortWithExposure exposure service_id=service_id.clone() port/>
                </For>
            </td>
            <td data-label="Health"><HealthCell service=s/></td>
            <td class="actions"><ServiceActions service=s live/></td>
        </tr>
    }
    .into_any()
}

/// The state as a coloured badge (`data-state`), with the reason under a disabled one.
#[component]
pub fn StateBadge(service: RwSignal<Service>) -> impl IntoView {
    let state = Memo::new(move |_| service.with(|s| s.status.state));
    let reason = Memo::new(move |_| service.with(|s| s.status.disabled_reason.clone()));
    view! {
        <span class=move || format!("badge state-{}", state.get().as_str())
            data-testid="state" data-state=move || state.get().as_str()>
            {move || state.get().as_str()}
        </span>
        {move || reason.get().map(|r| view! {
            <span class="reason" data-testid="disabled-reason">{r}</span>
        })}
    }
    .into_any()
}

/// Health of the monitoring command, and warnings (daemonized, port not listening, loopback only).
#[component]
pub fn HealthCell(service: RwSignal<Service>) -> impl IntoView {
    let health = Memo::new(move |_| service.with(|s| s.status.health));
    let warnings: Memo<Vec<ServiceWarning>> =
        Memo::new(move |_| service.with(|s| s.status.warnings.clone()));
    view! {
        <span class=move || format!("health health-{}", health_text(health.get()))>
            {move || health_text(health.get())}
        </span>
        {move || {
            let w = warnings.get();
            (!w.is_empty()).then(|| view! {
                <ul class="warnings" data-testid="warnings">
                    {w.into_iter().map(|w| view! { <li>"⚠ " {w.message}</li> }).collect_view()}
                </ul>
            })
        }}
    }
    .into_any()
}

fn health_text(h: Health) -> &'static str {
    match h {
        Health::Unknown => "—",
        Health::Passing => "passing",
        Health::Failing => "failing",
    }
}

fn action_words(action: ServiceAction) -> (&'static str, &'static str) {
    match action {
        ServiceAction::Start => ("Start", "started"),
        ServiceAction::Stop => ("Stop", "stopped"),
        ServiceAction::Restart => ("Restart", "restarted"),
        ServiceAction::HardRestart => ("Hard restart", "hard-restarted"),
    }
}

/// What a button does, as its tooltip.
fn action_hint(action: ServiceAction) -> &'static str {
    match action {
        ServiceAction::Start => "Start (re-enables a disabled service)",
        ServiceAction::Stop => {
            "Stop: the stop signal, then everything left is killed after the grace"
        }
        ServiceAction::Restart => {
            "SIGHUP: started again if it exits on it, else reloaded in place (nginx, gunicorn...)"
        }
        ServiceAction::HardRestart => {
            "Stop (stop signal, grace, kill of everything left) and start"
        }
    }
}

/// Start/stop/restart and delete (with an inline confirmation), each ending in a toast.
#[component]
pub fn ServiceActions(
    service: RwSignal<Service>,
    live: LiveServices,
    /// Where to go after a delete (the detail page leaves; the table just drops the row).
    #[prop(optional)]
    after_delete: Option<&'static str>,
) -> impl IntoView {
    let toasts = use_toasts();
    let busy = RwSignal::new(false);
    let confirming = RwSignal::new(false);
    let state = Memo::new(move |_| service.with(|s| s.status.state));
    let name = move || service.with_untracked(|s| s.spec.name.clone());
    let id = move || service.with_untracked(|s| s.id.clone());
    let act = move |action: ServiceAction| {
        busy.set(true);
        let (id, name) = (id(), name());
        leptos::task::spawn_local(async move {
            let (_, done) = action_words(action);
            match act_on_service(id, action).await {
                Ok(s) => {
                    live.upsert(s);
                    toasts.success(format!("{name} {done}."));
                }
                Err(e) => toasts.error(format!("{name} could not be {done}: {e}")),
            }
            busy.set(false);
        });
    };
    let delete = move |_| {
        busy.set(true);
        let (id, name) = (id(), name());
        leptos::task::spawn_local(async move {
            match delete_service(id.clone()).await {
                Ok(()) => {
                    live.remove(&id);
                    toasts.success(format!("{name} deleted."));
                    if let Some(to) = after_delete {
                        navigate_to(to);
                    }
                }
                Err(e) => toasts.error(format!("{name} could not be deleted: {e}")),
            }
            confirming.set(false);
            busy.set(false);
        });
    };
    let button = move |action: ServiceAction| {
        let (label, _) = action_words(action);
        view! {
            <button type="button" class="btn small" disabled=move || busy.get()
                data-action=label.to_ascii_lowercase().replace(' ', "-")
                title=action_hint(action)
                aria-label=move || format!("{label} {}", service.with(|s| s.spec.name.clone()))
                on:click=move |_| act(action)>
                {label}
            </button>
        }
    };
    view! {
        <div class="action-buttons">
            {move || {
                let running = !matches!(
                    state.get(),
                    ServiceState::Stopped | ServiceState::Disabled | ServiceState::Exited
                );
                if running {
                    view! {
                        {button(ServiceAction::Stop)}
                        {button(ServiceAction::Restart)}
                        {button(ServiceAction::HardRestart)}
                    }.into_any()
                } else {
                    button(ServiceAction::Start).into_any()
                }
            }}
            <Show when=move || confirming.get() fallback=move || view! {
                <button type="button" class="btn small danger-ghost" data-action="delete"
                    disabled=move || busy.get()
                    aria-label=move || format!("Delete {}", service.with(|s| s.spec.name.clone()))
                    on:click=move |_| confirming.set(true)>"Delete"</button>
            }>
                <span class="confirm" role="group" aria-label="Confirm delete">
                    <span>"Delete " {name} "?"</span>
                    <button type="button" class="btn small danger" data-action="confirm-delete"
                        disabled=move || busy.get() on:click=delete>"Delete"</button>
                    <button type="button" class="btn small" data-action="cancel-delete"
                        on:click=move |_| confirming.set(false)>"Cancel"</button>
                </span>
            </Show>
        </div>
    }
    .into_any()
}

/// Loads `path` in the browser (a full navigation; see the shell's note on links).
pub fn navigate_to(path: &str) {
    #[cfg(feature = "hydrate")]
    if let Some(w) = web_sys::window() {
        let _ = w.location().set_href(path);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = path;
}
