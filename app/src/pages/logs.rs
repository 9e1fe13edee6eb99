//! The logs page (`/logs`, `/logs?service=name`): a service picker and that service's log panel (last
//! lines, live follow, filters, download). Warden's audit log gets its own section (see the marked spot).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::components::live::use_live_services;
use crate::components::log_view::LogView;
use crate::rpc::list_services;

#[component]
pub fn LogsPage() -> impl IntoView {
    let live = use_live_services();
    let query = use_query_map();
    let selected = RwSignal::new(query.read_untracked().get("service").unwrap_or_default());
    let list = Resource::new(|| (), |_| list_services());
    // A memo: the log panel reconnects only when the chosen service changes.
    let target = Memo::new(move |_| {
        let name = selected.get();
        live.by_name(&name)
            .map(|row| (row.id.to_string(), name.clone()))
    });
    let pick = move |ev: leptos::ev::Event| {
        let name = event_target_value(&ev);
        selected.set(name.clone());
        // Keep the address shareable without reloading the page.
        #[cfg(feature = "hydrate")]
        if let Some(history) = web_sys::window().and_then(|w| w.history().ok()) {
            let url = if name.is_empty() {
                "/logs".to_string()
            } else {
                format!("/logs?service={name}")
            };
            let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
        }
    };
    view! {
        <Title text="Logs"/>
        <h1 data-testid="page-title">"Logs"</h1>
        <section aria-label="Service logs">
            <Suspense fallback=|| view! { <p class="muted">"Loading services…"</p> }>
                {move || Suspend::new(async move {
                    match list.await {
                        Ok(services) if services.is_empty() => view! {
                            <div class="card empty-state">
                                <h2>"No services yet"</h2>
                                <p>"Each service's output is logged here. " <a href="/services">"Create a service"</a> " first."</p>
                            </div>
                        }.into_any(),
                        Ok(services) => {
                            live.seed(services);
                            view! {
                                <div class="log-picker">
                                    <label for="log-service">"Service"</label>
                                    <select id="log-service" data-testid="log-service" on:change=pick
                                        prop:value=move || selected.get()>
                                        <option value="">"Choose a service…"</option>
                                        <For each=move || live.rows() key=|r| r.id.clone() let:row>
                                            {move || {
                                                let name = row.service.with(|s| s.spec.name.clone());
                                                view! { <option value=name.clone() selected=selected.get_untracked() == name>{name.clone()}</option> }
                                            }}
                                        </For>
                                    </select>
                                </div>
                                <LogView service=target/>
                            }.into_any()
                        }
                        Err(e) => view! {
                            <p class="error" role="alert">{format!("The services could not be loaded: {e}")}</p>
                        }.into_any(),
                    }
                })}
            </Suspense>
        </section>
        <section aria-label="Audit log" class="audit-slot" data-testid="audit-slot">
            <h2 class="section-title">"Audit log"</h2>
            <p>
                "Who changed what, and when (logins, services, firewall, settings): see the "
                <a href="/audit" data-testid="audit-link">"audit log"</a> "."
            </p>
        </section>
    }
    .into_any()
}
