//! The detail page of one service (`/services/:name`): status (live), warnings, the spec with an edit
//! form, the processes of its group (refreshed every 2 s while the tab is visible), and its log panel.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::components::exposure::{ExposureMap, PortWithExposure};
use crate::components::live::{use_live_services, LiveServices, ServiceRow};
use crate::components::log_view::LogView;
use crate::model::service::{Containment, ProcessInfo, Service};
use crate::pages::service_form::LazyServiceForm;
use crate::pages::services::{HealthCell, LiveBadge, ServiceActions, StateBadge};
use crate::rpc::{list_services, service_processes};

#[component]
pub fn ServiceDetailPage() -> impl IntoView {
    let live = use_live_services();
    let params = use_params_map();
    let name = move || params.read().get("name").unwrap_or_default();
    let list = Resource::new(|| (), |_| list_services());
    view! {
        <Title text=name/>
        <p class="crumbs"><a href="/services">"Services"</a>" / "</p>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(services) => {
                        live.seed(services);
                        let n = name();
                        match live.by_name(&n) {
                            Some(row) => view! { <ServiceDetail row live/> }.into_any(),
                            None => view! {
                                <h1 data-testid="page-title">{n.clone()}</h1>
                                <p class="error" role="alert">{format!("There is no service named {n}.")} " "
                                    <a href="/services">"Back to the services"</a></p>
                            }.into_any(),
                        }
                    }
                    Err(e) => view! {
                        <p class="error" role="alert">{format!("The service could not be loaded: {e}")}</p>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
    .into_any()
}

#[component]
fn ServiceDetail(row: ServiceRow, live: LiveServices) -> impl IntoView {
    let s = row.service;
    let editing = RwSignal::new(false);
    let id = row.id.to_string();
    let exposure = ExposureMap::new();
    let exposure_id = id.clone();
    // A memo: the log panel reconnects only when the id or name changes, not on every status change.
    let log_target = Memo::new(move |_| s.with(|s| Some((s.id.clone(), s.spec.name.clone()))));
    view! {
        <div class="page-head">
            <h1 data-testid="page-title">{move || s.with(|s| s.spec.name.clone())}</h1>
            <StateBadge service=s/>
            <LiveBadge live/>
            <ServiceActions service=s live after_delete="/services"/>
            <button type="button" class="btn" data-testid="edit-service"
                aria-expanded=move || editing.get().to_string()
                on:click=move |_| editing.update(|e| *e = !*e)>"Edit"</button>
        </div>
        <Show when=move || editing.get()>
            <section class="card form-card" aria-label="Edit service">
                <h2>"Edit"</h2>
                <LazyServiceForm existing=Some(s.get_untracked()) on_done=Callback::new(move |saved: Option<Service>| {
                    editing.set(false);
                    // A rename changes the address of this page.
                    if let Some(saved) = saved {
                        if saved.spec.name != s.with_untracked(|s| s.spec.name.clone()) {
                            crate::pages::services::navigate_to(&format!("/services/{}", saved.spec.name));
                        }
                    }
                })/>
            </section>
        </Show>
        <div class="grid detail-grid">
            {view! { <section class="card" aria-label="Status" data-testid="status-card">
                <h2>"Status"</h2>
                <dl class="facts">
                    <dt>"PID"</dt><dd data-testid="pid">{move || s.with(|s| s.status.pid.map(|p| p.to_string()).unwrap_or_else(|| "—".into()))}</dd>
                    <dt>"Started"</dt><dd>{move || s.with(|s| s.status.started_at.clone().unwrap_or_else(|| "—".into()))}</dd>
                    <dt>"Restarts"</dt><dd data-testid="restarts">{move || s.with(|s| s.status.restarts)}</dd>
                    <dt>"Last exit"</dt><dd>{move || s.with(|s| s.status.last_exit.as_ref().map(|e| match (e.code, e.signal) {
                        (Some(c), _) => format!("code {c} at {}", e.at),
                        (None, Some(sig)) => format!("signal {sig} at {}", e.at),
                        _ => format!("at {}", e.at),
                    }).unwrap_or_else(|| "—".into()))}</dd>
                    <dt>"Health"</dt><dd><HealthCell service=s/></dd>
                    <dt>"Containment"</dt><dd data-testid="containment">{move || s.with(|s| match s.status.containment {
                        Containment::Cgroup => view! { <span>"own cgroup"</span> }.into_any(),
                        Containment::ProcessGroup => view! {
                            <span class="notice warn" role="note">
                                "process group only: no writable cgroup v2 on this host, so a child that calls setsid escapes stop and the process list"
                            </span>
                        }.into_any(),
                    })}</dd>
                </dl>
            </section> }.into_any()}
            {view! { <section class="card" aria-label="Definition">
                <h2>"Definition"</h2>
                <dl class="facts">
                    <dt>"Command"</dt><dd><code>{move || s.with(|s| s.spec.command.clone())}</code></dd>
                    <dt>"Working directory"</dt><dd>{move || s.with(|s| s.spec.working_directory.clone().unwrap_or_else(|| "—".into()))}</dd>
                    <dt>"Monitoring"</dt><dd>{move || s.with(|s| s.spec.monitoring_command.clone().unwrap_or_else(|| "—".into()))}</dd>
                    <dt>"Ports"</dt><dd class="ports">{move || {
                        let service_id = exposure_id.clone();
                        s.with(|s| s.spec.ports.iter().map(|p| view! {
                            <PortWithExposure exposure service_id=service_id.clone() port=*p offer_expose=true/>
                        }).collect_view())
                    }}</dd>
                    <dt>"User"</dt><dd>{move || s.with(|s| s.spec.user.clone().unwrap_or_else(|| "service user (settings)".into()))}</dd>
                    <dt>"Enabled"</dt><dd>{move || if s.with(|s| s.spec.enabled) { "yes" } else { "no" }}</dd>
                    <dt>"Environment"</dt><dd>{move || s.with(|s| if s.spec.environment.is_empty() {
                        "—".into_any()
                    } else {
                        view! { <ul class="env-list">{s.spec.environment.iter().map(|(k, v)| view! {
                            <li><code>{format!("{k}={v}")}</code></li>
                        }).collect_view()}</ul> }.into_any()
                    })}</dd>
                </dl>
            </section> }.into_any()}
        </div>
        <Processes id/>
        <h2 class="section-title">"Log"</h2>
        <LogView service=log_target/>
    }
    .into_any()
}

/// The processes of the service's group; refreshed every 2 s while the page is visible.
#[component]
fn Processes(id: String) -> impl IntoView {
    let tick = RwSignal::new(0u32);
    let procs = Resource::new(move || tick.get(), move |_| service_processes(id.clone()));
    #[cfg(feature = "hydrate")]
    {
        let handle = set_interval_with_handle(
            move || {
                let hidden = web_sys::window()
                    .and_then(|w| w.document())
                    .is_some_and(|d| d.hidden());
                if !hidden {
                    tick.update(|t| *t = t.wrapping_add(1));
                }
            },
            std::time::Duration::from_secs(2),
        );
        if let Ok(handle) = handle {
            on_cleanup(move || handle.clear());
        }
    }
    view! {
        <section class="card" aria-label="Processes">
            <h2>"Processes"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading processes…"</p> }>
                {move || procs.get().map(|r| match r {
                    Ok(list) if list.is_empty() => view! {
                        <p class="muted" data-testid="no-processes">"No process is running."</p>
                    }.into_any(),
                    Ok(list) => view! { <ProcessTable list/> }.into_any(),
                    Err(e) => view! { <p class="error">{format!("The processes could not be read: {e}")}</p> }.into_any(),
                })}
            </Transition>
        </section>
    }
    .into_any()
}

#[component]
fn ProcessTable(list: Vec<ProcessInfo>) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="processes" data-testid="processes">
                <thead><tr>
                    <th scope="col">"PID"</th><th scope="col">"CPU"</th>
                    <th scope="col">"Memory"</th><th scope="col">"Command"</th>
                </tr></thead>
                <tbody>
                    {list.into_iter().map(|p| view! {
                        <tr>
                            <td class="num">{p.pid}</td>
                            <td class="num">{format_percent(p.cpu_percent)}</td>
                            <td class="num">{format_bytes(p.rss_bytes)}</td>
                            <td><code>{p.command}</code></td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

/// A number with one decimal from its count of tenths: 15 → "1.5". Integer formatting on purpose: `f64`'s
/// `Display` with a precision pulls about 14 KB of float-printing code into the WASM.
fn tenths(t: u128) -> String {
    format!("{}.{}", t / 10, t % 10)
}

/// 12.34 → "12.3 %" (negative or not-a-number readings show as 0.0 %).
fn format_percent(percent: f64) -> String {
    // `as` saturates: NaN and negatives become 0, huge values the largest u64.
    let t = (percent * 10.0 + 0.5) as u64;
    format!("{} %", tenths(u128::from(t)))
}

/// 1536 → "1.5 KiB" (rounded to the nearest tenth, with integer arithmetic, see [`tenths`]).
fn format_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut unit = 0;
    let mut divisor: u128 = 1;
    while u128::from(n) >= divisor * 1024 && unit < UNITS.len() - 1 {
        divisor *= 1024;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        let t = (u128::from(n) * 10 + divisor / 2) / divisor;
        format!("{} {}", tenths(t), UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn bytes() {
        assert_eq!(super::format_bytes(512), "512 B");
        assert_eq!(super::format_bytes(1536), "1.5 KiB");
        assert_eq!(super::format_bytes(3 * 1024 * 1024), "3.0 MiB");
        assert_eq!(super::format_bytes(1023), "1023 B");
        assert_eq!(super::format_bytes(1024 * 1024 - 1), "1024.0 KiB");
        assert_eq!(
            super::format_bytes(5 * 1024 * 1024 * 1024 * 1024),
            "5120.0 GiB"
        );
    }

    #[test]
    fn percent() {
        assert_eq!(super::format_percent(12.34), "12.3 %");
        assert_eq!(super::format_percent(0.05), "0.1 %");
        assert_eq!(super::format_percent(0.0), "0.0 %");
        assert_eq!(super::format_percent(-3.0), "0.0 %");
        assert_eq!(super::format_percent(f64::NAN), "0.0 %");
    }
}
