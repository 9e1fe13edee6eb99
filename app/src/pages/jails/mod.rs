//! The jails page (Firewall → Jails): every jail with what it watches, its rule in words ("5 failures
//! in 10 min → banned for 10 min"), its live counters (lines read, failures, bans, addresses failing
//! now), a source it cannot read, and its recent failure lines; enable/disable, edit, delete (after a
//! confirmation). The add/edit form with the pattern test lives in `form`. The page loads once on the
//! server (first paint); the browser then polls every 2 s while the tab is visible. A read user sees it
//! all with every changing control disabled (the server refuses those calls anyway).

mod form;

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;

use crate::components::toast::{use_toasts, Toasts};
use crate::model::error::AppError;
use crate::model::firewall::human_duration;
use crate::model::jails::{JailPatch, JailPresetView, JailView};
use crate::rpc::{delete_jail, jail_presets, list_jails, update_jail};
use form::{JailForm, JailFormCard};

/// The page's live state, shared by its parts (all `Copy`).
#[derive(Clone, Copy)]
pub(crate) struct JailsCtx {
    pub jails: RwSignal<Vec<JailView>>,
    pub presets: StoredValue<Vec<JailPresetView>>,
    pub toasts: Toasts,
    pub form: JailForm,
    pub read_only: Signal<bool>,
    /// The jail whose delete button asks for a confirmation.
    confirming: RwSignal<Option<String>>,
    /// The jail whose recent failure lines are open.
    recent_of: RwSignal<Option<String>>,
}

impl JailsCtx {
    /// Loads the jails again (after a change, and on every poll); the table changes only if they did.
    pub fn reload(&self) {
        let ctx = *self;
        spawn_local(async move {
            if let Ok(list) = list_jails().await {
                if ctx.jails.with_untracked(|old| *old != list) {
                    ctx.jails.set(list);
                }
            }
        });
    }

    fn settle<T>(&self, what: &str, result: Result<T, AppError>) {
        self.confirming.set(None);
        match result {
            Ok(_) => self.toasts.success(what.to_string()),
            Err(e) => self.toasts.error(format!("Not changed: {e}")),
        }
        self.reload();
    }
}

#[component]
pub fn JailsPage() -> AnyView {
    let initial = Resource::new(
        || (),
        |_| async { (list_jails().await, jail_presets().await) },
    );
    view! {
        <Title text="Jails"/>
        <p class="breadcrumb muted small"><a href="/firewall">"Firewall"</a> " › Jails"</p>
        <h1 data-testid="page-title">"Jails"</h1>
        <p class="muted">
            "A jail watches a log (a service's own, a file, or the systemd journal), counts the lines its \
             patterns match per address, and bans an address after too many within a window: the ban \
             goes into the firewall's kernel sets (IPv6 by /64), listed on the Firewall page with the \
             lines that led to it. Your own address, loopback and the ignore list are never banned."
        </p>
        <Suspense fallback=|| view! { <p class="muted">"Loading the jails…"</p> }>
            {move || initial.get().map(|(jails, presets)| match jails {
                Ok(jails) => view! { <JailsView jails presets=presets.unwrap_or_default()/> }.into_any(),
                Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
            })}
        </Suspense>
    }
    .into_any()
}

#[component]
fn JailsView(jails: Vec<JailView>, presets: Vec<JailPresetView>) -> AnyView {
    let read_only = use_context::<crate::pages::shell::ReadOnly>()
        .map(|r| r.0)
        .unwrap_or_else(|| Signal::derive(|| false));
    let ctx = JailsCtx {
        jails: RwSignal::new(jails),
        presets: StoredValue::new(presets),
        toasts: use_toasts(),
        form: JailForm::new(),
        read_only,
        confirming: RwSignal::new(None),
        recent_of: RwSignal::new(None),
    };
    provide_context(ctx);

    // In the browser: a poll every 2 s while the tab is visible (counters, failing addresses).
    #[cfg(feature = "hydrate")]
    {
        let poll = move || {
            let hidden = web_sys::window()
                .and_then(|w| w.document())
                .is_some_and(|d| d.hidden());
            if !hidden {
                ctx.reload();
            }
        };
        if let Ok(handle) = set_interval_with_handle(poll, std::time::Duration::from_secs(2)) {
            on_cleanup(move || handle.clear());
        }
    }

    view! {
        <div class="fw-layout">
            <section class="card fw-rules" aria-labelledby="jails-title">
                <h2 id="jails-title">"Jails"</h2>
                <JailsTable/>
            </section>
            <JailFormCard/>
        </div>
    }
    .into_any()
}

/// "5 failures in 10 min → banned for 10 min (doubling for repeat offenders, up to 7 d)".
pub(crate) fn rule_text(j: &JailView) -> String {
    let s = &j.jail.spec;
    let mut text = format!(
        "{} failure{} in {} → banned for {}",
        s.max_failures,
        if s.max_failures == 1 { "" } else { "s" },
        human_duration(s.window_secs),
        human_duration(s.ban_secs)
    );
    if s.increment && s.max_ban_secs > s.ban_secs {
        text.push_str(&format!(
            " (doubling for repeat offenders, up to {})",
            human_duration(s.max_ban_secs)
        ));
    }
    text
}

#[component]
fn JailsTable() -> AnyView {
    let ctx = expect_context::<JailsCtx>();
    view! {
        <Show
            when=move || ctx.jails.with(|j| !j.is_empty())
            fallback=|| view! {
                <p class="muted" data-testid="jails-empty">
                    "No jails yet: only failed logins to Warden itself ban addresses. Add one below, e.g. \
                     the sshd preset on the journal of ssh.service or on /var/log/auth.log."
                </p>
            }
        >
            <div class="table-wrap">
                <table class="table" data-testid="jails-table">
                    <thead>
                        <tr>
                            <th scope="col">"Jail"</th>
                            <th scope="col">"Rule"</th>
                            <th scope="col">"Activity"</th>
                            <th scope="col"><span class="sr-only">"Actions"</span></th>
                        </tr>
                    </thead>
                    <tbody>
                        // Keyed by the settings: a row is rebuilt when its jail changes, while the
                        // counters of each poll update in place (a click is never lost to a rebuild).
                        <For each=move || ctx.jails.get() key=|j| format!("{:?}", j.jail) let:j>
                            {jail_rows(j)}
                        </For>
                    </tbody>
                </table>
            </div>
        </Show>
    }
    .into_any()
}

/// A jail's row, and below it its recent failure lines when they are open.
fn jail_rows(j: JailView) -> impl IntoView {
    let ctx = expect_context::<JailsCtx>();
    let id = j.jail.id.clone();
    let spec = j.jail.spec.clone();
    let enabled = spec.enabled;
    let (id_toggle, id_delete, id_confirm, id_recent, id_open) =
        (id.clone(), id.clone(), id.clone(), id.clone(), id.clone());
    let edit_copy = j.jail.clone();
    let asking = move || ctx.confirming.get().as_deref() == Some(id_confirm.as_str());
    let recent_open =
        Signal::derive(move || ctx.recent_of.get().as_deref() == Some(id_open.as_str()));
    let toggle = move |_| {
        let id = id_toggle.clone();
        spawn_local(async move {
            let patch = JailPatch {
                enabled: Some(!enabled),
                ..JailPatch::default()
            };
            let done = if enabled {
                "Jail disabled."
            } else {
                "Jail enabled."
            };
            ctx.settle(done, update_jail(id, patch).await);
        });
    };
    // The live parts, read from the latest poll by id.
    let current = {
        let id = id.clone();
        Memo::new(move |_| {
            ctx.jails
                .with(|all| all.iter().find(|x| x.jail.id == id).cloned())
        })
    };
    view! {
        <tr data-testid="jail-row" data-name=spec.name.clone() data-enabled=enabled.to_string()>
            <td>
                <strong>{spec.name.clone()}</strong>
                {(!enabled).then(|| view! { " " <span class="badge" data-testid="jail-disabled">"disabled"</span> })}
                <div class="muted small mono">{spec.source.describe()}</div>
                {spec.preset.clone().map(|p| view! { <div class="muted small">"preset " <code>{p}</code></div> })}
                {move || current.get().and_then(|j| j.source_problem).map(|p| view! {
                    <div class="badge warn" role="status" data-testid="jail-source-problem">{p}</div>
                })}
            </td>
            <td class="small">{rule_text(&j)}</td>
            <td class="small">
                <div data-testid="jail-counters"
                    data-lines=move || current.get().map(|j| j.lines.to_string())
                    data-matched=move || current.get().map(|j| j.matched.to_string())
                    data-bans=move || current.get().map(|j| j.bans.to_string())>
                    {move || current.get().map(|j| format!("{} lines read · {} failures · {} bans", j.lines, j.matched, j.bans))}
                </div>
                {move || current.get().and_then(|j| failing_text(&j)).map(|t| view! { <div class="mono" data-testid="jail-failing">{t}</div> })}
            </td>
            <td class="actions">
                <button type="button" class="btn ghost" data-testid="jail-recent-open"
                    aria-expanded=move || recent_open.get().to_string()
                    on:click=move |_| ctx.recent_of.update(|open| {
                        *open = if open.as_deref() == Some(id_recent.as_str()) { None } else { Some(id_recent.clone()) };
                    })>
                    "Recent"
                </button>
                <button type="button" class="btn ghost" data-testid="jail-edit" disabled=ctx.read_only
                    on:click=move |_| ctx.form.load(&edit_copy)>"Edit"</button>
                <button type="button" class="btn ghost" data-testid="jail-toggle" disabled=ctx.read_only
                    on:click=toggle>
                    {if enabled { "Disable" } else { "Enable" }}
                </button>
                <Show when=asking.clone() fallback=move || {
                    let id = id_delete.clone();
                    view! { <button type="button" class="btn" data-testid="jail-delete" disabled=ctx.read_only
                        on:click=move |_| ctx.confirming.set(Some(id.clone()))>"Delete"</button> }
                }>
                    {
                        let id = id.clone();
                        view! {
                            <span class="confirm" role="group" aria-label="Confirm deleting">
                                <button type="button" class="btn danger" data-testid="jail-delete-confirm"
                                    on:click=move |_| {
                                        let id = id.clone();
                                        spawn_local(async move { ctx.settle("Jail deleted; its bans run out as set.", delete_jail(id).await) });
                                    }>"Delete now"</button>
                                <button type="button" class="btn ghost" on:click=move |_| ctx.confirming.set(None)>"Cancel"</button>
                            </span>
                        }
                    }
                </Show>
            </td>
        </tr>
        <Show when=move || recent_open.get()>
            <tr class="jail-recent" data-testid="jail-recent">
                <td colspan="4">
                    {move || { let recent = current.get().map(|j| j.recent).unwrap_or_default(); if recent.is_empty() {
                        view! { <p class="muted small">"No failure lines since Warden started."</p> }.into_any()
                    } else {
                        view! {
                            <ul class="jail-lines">
                                {recent.iter().map(|m| view! {
                                    <li data-testid="jail-recent-line" data-address=m.address.clone()>
                                        <span class="muted small">{seconds_time(&m.at)}</span> " "
                                        <span class="mono">{m.address.clone()}</span> " "
                                        <code class="log-line">{m.line.clone()}</code>
                                    </li>
                                }).collect_view()}
                            </ul>
                        }.into_any()
                    }}}
                </td>
            </tr>
        </Show>
    }
}

/// "Failing now: 192.0.2.7 (3), 198.51.100.2 (1)" (the first three), if any address is.
fn failing_text(j: &JailView) -> Option<String> {
    let failing = j.failing.len();
    (failing > 0).then(|| {
        let top: Vec<String> = j
            .failing
            .iter()
            .take(3)
            .map(|f| format!("{} ({})", f.address, f.failures))
            .collect();
        format!(
            "Failing now: {}{}",
            top.join(", "),
            if failing > 3 { ", …" } else { "" }
        )
    })
}

/// `2026-12-03T07:31:05.120Z` → `2026-12-03 07:31:05 UTC`.
fn seconds_time(rfc3339: &str) -> String {
    let t = rfc3339.replace('T', " ");
    let cut = t.char_indices().nth(19).map(|(i, _)| i).unwrap_or(t.len());
    format!("{} UTC", &t[..cut])
}
