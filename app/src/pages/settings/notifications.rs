//! The notifications card of the settings page: the destinations (webhook or e-mail) with their events,
//! whether they are enabled, the newest delivery and the newest error; per destination "Send test" (a
//! real delivery attempt, its outcome shown in the row), the delivery log, edit, enable/disable and
//! delete (after a confirmation). Adding and editing use `notification_form`. A read user sees it all
//! but every changing control is disabled (the server refuses those calls anyway).

use leptos::prelude::*;

use super::notification_form::{kind_name, DestinationFields, DestinationForm};
use super::short_time;
use crate::components::live_form::use_form_live;
use crate::components::toast::use_toasts;
use crate::model::error::AppError;
use crate::model::notifications::{
    DeliveryRecord, Destination, DestinationInput, DestinationKind, DestinationPatch,
};
use crate::rpc::{
    create_destination, delete_destination, destination_log, list_destinations, test_destination,
    update_destination,
};

/// "Delivered (HTTP 200)" or "Failed: why".
fn outcome_text(r: &DeliveryRecord) -> String {
    match (r.ok, r.status, &r.error) {
        (true, Some(status), _) => format!("Delivered (HTTP {status})"),
        (true, None, _) => "Delivered".to_string(),
        (false, _, Some(error)) => format!("Failed: {error}"),
        (false, Some(status), None) => format!("Failed: HTTP {status}"),
        (false, None, None) => "Failed".to_string(),
    }
}

fn target_text(d: &Destination) -> String {
    match d.kind {
        DestinationKind::Webhook => d.url.clone().unwrap_or_default(),
        DestinationKind::Email => format!(
            "{} via {}",
            d.to.join(", "),
            d.smtp
                .as_ref()
                .map(|s| format!("{}:{}", s.host, s.port))
                .unwrap_or_default()
        ),
    }
}

fn patch_of(input: DestinationInput) -> DestinationPatch {
    DestinationPatch {
        name: Some(input.name),
        url: input.url,
        smtp: input.smtp,
        to: Some(input.to),
        events: Some(input.events),
        enabled: Some(input.enabled),
    }
}

#[component]
pub(super) fn NotificationsCard(read_only: Signal<bool>) -> impl IntoView {
    let toasts = use_toasts();
    let live = use_form_live();
    let refresh = RwSignal::new(0u32);
    // Loaded in the browser (after hydration) and after every change.
    let destinations = RwSignal::new(None::<Result<Vec<Destination>, AppError>>);
    let load = Action::new(move |_: &()| list_destinations());
    Effect::new(move |_| {
        refresh.track();
        load.dispatch(());
    });
    Effect::new(move |_| {
        if let Some(result) = load.value().get() {
            destinations.set(Some(result));
        }
    });
    let form = DestinationForm::new();
    let confirming = RwSignal::new(None::<String>);
    let tested = RwSignal::new(None::<(String, DeliveryRecord)>);
    // The open delivery log: whose, and its entries once loaded (fetched on demand, not at render).
    let log_of = RwSignal::new(None::<String>);
    let log = RwSignal::new(None::<Result<Vec<DeliveryRecord>, AppError>>);
    let load_log = Action::new(move |id: &String| destination_log(id.clone()));
    Effect::new(move |_| {
        if let Some(result) = load_log.value().get() {
            log.set(Some(result));
        }
    });
    Effect::new(move |_| {
        refresh.track();
        match log_of.get() {
            Some(id) => {
                load_log.dispatch(id);
            }
            None => log.set(None),
        }
    });

    let save = Action::new(move |(id, input): &(Option<String>, DestinationInput)| {
        let (id, input) = (id.clone(), input.clone());
        async move {
            match id {
                Some(id) => update_destination(id, patch_of(input)).await,
                None => create_destination(input).await,
            }
        }
    });
    Effect::new(move |_| {
        if let Some(result) = save.value().get() {
            match result {
                Ok(d) => {
                    toasts.success(format!("Destination {} saved.", shown_name(&d)));
                    form.clear();
                    refresh.update(|n| *n += 1);
                }
                Err(AppError::Invalid(fields)) | Err(AppError::Conflict(fields)) => {
                    form.errors.set(fields)
                }
                Err(e) => toasts.error(format!("The destination was not saved: {e}")),
            }
        }
    });
    let toggle = Action::new(move |(id, enabled): &(String, bool)| {
        let patch = DestinationPatch {
            enabled: Some(*enabled),
            ..DestinationPatch::default()
        };
        update_destination(id.clone(), patch)
    });
    let remove = Action::new(move |id: &String| delete_destination(id.clone()));
    let test = Action::new(move |id: &String| {
        let id = id.clone();
        async move { (id.clone(), test_destination(id).await) }
    });
    let settle = move |result: Result<(), AppError>| {
        confirming.set(None);
        if let Err(e) = result {
            toasts.error(format!("Not changed: {e}"));
        }
        refresh.update(|n| *n += 1);
    };
    Effect::new(move |_| {
        if let Some(result) = toggle.value().get() {
            settle(result.map(|_| ()));
        }
    });
    Effect::new(move |_| {
        if let Some(result) = remove.value().get() {
            settle(result);
        }
    });
    Effect::new(move |_| {
        if let Some((id, result)) = test.value().get() {
            match result {
                Ok(record) => tested.set(Some((id, record))),
                Err(e) => toasts.error(format!("The test was not sent: {e}")),
            }
            refresh.update(|n| *n += 1);
        }
    });
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if let Some(input) = form.checked_input() {
            save.dispatch((form.editing.get_untracked(), input));
        }
    };

    view! {
        <section class="card settings-card" aria-labelledby="settings-notifications" data-testid="notifications-card">
            <h2 id="settings-notifications">"Notifications"</h2>
            <p class="hint muted">"Webhooks (a JSON POST with a Slack-compatible " <code>"text"</code>
                ") and e-mails for the events you choose. Failed deliveries are retried 5 times with growing pauses."</p>
            {move || match destinations.get() {
                    None => view! { <p class="muted">"Loading…"</p> }.into_any(),
                    Some(result) => match result {
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                    Ok(list) if list.is_empty() => view! { <p class="muted" data-testid="no-destinations">"No destinations: nobody is told when something fails."</p> }.into_any(),
                    Ok(list) => view! {
                        <div class="table-wrap">
                        <table class="table destinations" data-testid="notify-table">
                            <thead><tr><th>"Destination"</th><th>"Events"</th><th>"Last delivery"</th><th><span class="sr-only">"Actions"</span></th></tr></thead>
                            <tbody>
                                {list.into_iter().map(|d| destination_row(d, DestinationRow { read_only, form, confirming, tested, log_of, toggle, remove, test })).collect_view()}
                            </tbody>
                        </table>
                        </div>
                    }.into_any(),
                    },
                }}
            {move || log_of.get().and(log.get()).map(|result| match result {
                    Ok(entries) => view! {
                        <div class="delivery-log" data-testid="notify-log">
                            <h3>"Delivery log"</h3>
                            {if entries.is_empty() { view! { <p class="muted">"No deliveries yet."</p> }.into_any() } else { view! {
                                <table class="table">
                                    <thead><tr><th>"Time"</th><th>"Event"</th><th>"Attempt"</th><th>"Outcome"</th></tr></thead>
                                    <tbody>{entries.into_iter().map(|r| view! {
                                        <tr data-testid="notify-log-row" class:failed=!r.ok>
                                            <td>{short_time(&r.at)}</td><td><code>{r.event.clone()}</code></td>
                                            <td>{r.attempt}</td><td class:failed=!r.ok>{outcome_text(&r)}</td>
                                        </tr>
                                    }).collect_view()}</tbody>
                                </table>
                            }.into_any() }}
                            <button type="button" class="btn ghost" on:click=move |_| log_of.set(None)>"Close"</button>
                        </div>
                    }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                })}
            <fieldset class="page-scope" disabled=read_only data-testid="notify-scope">
                <form class="notify-form" on:submit=on_submit data-testid="notify-form" inert=move || !live.get() novalidate=true>
                    <h3>{move || if form.editing.get().is_some() { "Edit destination" } else { "Add a destination" }}</h3>
                    <DestinationFields form/>
                    <div class="form-actions">
                        <button type="submit" class="btn primary" data-testid="notify-save">
                            {move || if form.editing.get().is_some() { "Save" } else { "Add" }}
                        </button>
                        <Show when=move || form.editing.get().is_some()>
                            <button type="button" class="btn ghost" on:click=move |_| form.clear()>"Cancel"</button>
                        </Show>
                    </div>
                </form>
            </fieldset>
        </section>
    }
    .into_any()
}

fn shown_name(d: &Destination) -> String {
    if d.name.is_empty() {
        target_text(d)
    } else {
        d.name.clone()
    }
}

/// What a row's buttons act on.
#[derive(Clone, Copy)]
struct DestinationRow {
    read_only: Signal<bool>,
    form: DestinationForm,
    confirming: RwSignal<Option<String>>,
    tested: RwSignal<Option<(String, DeliveryRecord)>>,
    log_of: RwSignal<Option<String>>,
    toggle: Action<(String, bool), Result<Destination, AppError>>,
    remove: Action<String, Result<(), AppError>>,
    test: Action<String, (String, Result<DeliveryRecord, AppError>)>,
}

fn destination_row(d: Destination, r: DestinationRow) -> impl IntoView {
    let id = d.id.clone();
    let (id_test, id_log, id_toggle, id_delete, id_confirm, id_result) = (
        id.clone(),
        id.clone(),
        id.clone(),
        id.clone(),
        id.clone(),
        id.clone(),
    );
    let enabled = d.enabled;
    let edit_copy = d.clone();
    let asking = move || r.confirming.get().as_deref() == Some(id_confirm.as_str());
    let testing = r.test.pending();
    view! {
        <tr data-testid="notify-row" data-name=d.name.clone() data-kind=kind_name(d.kind)>
            <td>
                <strong>{shown_name(&d)}</strong> " " <span class="muted">{kind_name(d.kind)}</span>
                {(!enabled).then(|| view! { " " <span class="badge">"disabled"</span> })}
                <div class="muted small mono">{target_text(&d)}</div>
                {d.smtp.as_ref().filter(|s| s.password_set).map(|_| view! { <div class="muted small">"SMTP password stored"</div> })}
            </td>
            <td>{d.events.iter().map(|e| view! { <code>{e.clone()}</code> " " }).collect_view()}</td>
            <td>
                {d.last_delivery.as_ref().map(|l| view! {
                    <div data-testid="notify-last-delivery" class:failed=!l.ok>{format!("{} — {}", short_time(&l.at), outcome_text(l))}</div>
                })}
                {d.last_error.as_ref().map(|l| view! {
                    <div class="failed small" data-testid="notify-last-error">{format!("Last error {}: {}", short_time(&l.at), outcome_text(l))}</div>
                })}
                {move || r.tested.get().filter(|(tid, _)| *tid == id_result).map(|(_, rec)| view! {
                    <div role="status" data-testid="notify-test-result" data-ok=rec.ok.to_string() class:failed=!rec.ok>{format!("Test: {}", outcome_text(&rec))}</div>
                })}
            </td>
            <td class="actions">
                <button type="button" class="btn" data-testid="notify-test" disabled=move || r.read_only.get() || testing.get()
                    on:click=move |_| { r.test.dispatch(id_test.clone()); }>"Send test"</button>
                <button type="button" class="btn ghost" data-testid="notify-log-open"
                    on:click=move |_| r.log_of.set(Some(id_log.clone()))>"Log"</button>
                <button type="button" class="btn ghost" data-testid="notify-edit" disabled=r.read_only
                    on:click=move |_| r.form.load(&edit_copy)>"Edit"</button>
                <button type="button" class="btn ghost" data-testid="notify-toggle" disabled=r.read_only
                    on:click=move |_| { r.toggle.dispatch((id_toggle.clone(), !enabled)); }>
                    {if enabled { "Disable" } else { "Enable" }}
                </button>
                <Show when=asking.clone() fallback=move || {
                    let id = id_delete.clone();
                    view! { <button type="button" class="btn" data-testid="notify-delete" disabled=r.read_only
                        on:click=move |_| r.confirming.set(Some(id.clone()))>"Delete"</button> }
                }>
                    {
                        let id = id.clone();
                        view! {
                            <span class="confirm" role="group" aria-label="Confirm deleting">
                                <button type="button" class="btn danger" data-testid="notify-delete-confirm"
                                    on:click=move |_| { r.remove.dispatch(id.clone()); }>"Delete now"</button>
                                <button type="button" class="btn ghost" on:click=move |_| r.confirming.set(None)>"Cancel"</button>
                            </span>
                        }
                    }
                </Show>
            </td>
        </tr>
    }
}
