//! The audit log page (`/audit`): who did what and when, newest first, with a refresh button.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::model::admin::{ActorKind, AuditOutcome};
use crate::pages::settings::short_time;
use crate::rpc::audit_log;

/// How many entries the page shows.
const PAGE_ENTRIES: usize = 200;

#[component]
pub fn AuditPage() -> impl IntoView {
    let refresh = RwSignal::new(0u32);
    let entries = Resource::new(move || refresh.get(), |_| audit_log(PAGE_ENTRIES));
    view! {
        <Title text="Audit log"/>
        <div class="page-head">
            <h1 data-testid="page-title">"Audit log"</h1>
            <button type="button" class="btn" data-testid="audit-refresh"
                on:click=move |_| refresh.update(|n| *n += 1)>"Refresh"</button>
        </div>
        <p class="muted">
            "Logins, changes to services, firewall and settings, bans and tokens — newest first (the last "
            {PAGE_ENTRIES} " of up to 10 000 kept). Also at " <code>"GET /api/v1/audit"</code> "."
        </p>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || entries.get().map(|result| match result {
                Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                Ok(list) if list.is_empty() => view! { <p class="muted">"Nothing recorded yet."</p> }.into_any(),
                Ok(list) => view! {
                    <div class="table-wrap">
                        <table class="table audit" data-testid="audit-table">
                            <thead>
                                <tr>
                                    <th scope="col">"When"</th>
                                    <th scope="col">"Who"</th>
                                    <th scope="col">"Address"</th>
                                    <th scope="col">"Action"</th>
                                    <th scope="col">"Target"</th>
                                    <th scope="col">"Outcome"</th>
                                </tr>
                            </thead>
                            <tbody>
                                {list.into_iter().map(|e| {
                                    let who_class = match e.actor_kind {
                                        ActorKind::System => "muted",
                                        ActorKind::Anonymous => "warn-text",
                                        ActorKind::User | ActorKind::Token => "",
                                    };
                                    let (outcome, outcome_class) = match e.outcome {
                                        AuditOutcome::Ok => ("ok".to_string(), "ok"),
                                        AuditOutcome::Failed => (
                                            format!("failed: {}", e.detail.clone().unwrap_or_default()),
                                            "failed",
                                        ),
                                    };
                                    view! {
                                        <tr data-testid="audit-row" data-action=e.action.clone()>
                                            <td><time datetime=e.at.clone()>{short_time(&e.at)}</time></td>
                                            <td class=who_class>{e.actor.clone()}</td>
                                            <td class="mono">{e.address.clone().unwrap_or_else(|| "—".into())}</td>
                                            <td class="mono">{e.action.clone()}</td>
                                            <td>{e.target.clone()}</td>
                                            <td class=outcome_class>{outcome}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any(),
            })}
        </Transition>
    }
}
