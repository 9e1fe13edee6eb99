//! The create/edit form of a service (one component for both). Field errors come from the shared
//! validation (`model::service::validate_service`, the same code the server runs) before anything is
//! sent, and the server's `Invalid`/`Conflict` field errors (e.g. a working directory that does not exist)
//! land next to the same fields. Environment: key/value rows plus a "paste .env" box.
//!
//! Pages show it through [`LazyServiceForm`]: the form only appears after a click on "New service" or
//! "Edit", so in a `--split` build its code is a WASM chunk of its own, fetched on that first click,
//! instead of weighing on every load of the services and service-detail pages.

use std::collections::{BTreeMap, BTreeSet};

use leptos::prelude::*;

use crate::components::env_editor::{EnvEditor, EnvRows};
use crate::components::live::use_live_services;
use crate::components::toast::use_toasts;
use crate::model::service::{
    validate_service, Service, ServiceInput, ServicePatch, ValidationContext,
};
use crate::model::service_form::{errors_by_field, next_free_port, parse_ports};
use crate::model::service_ports::ServicePortRange;
use crate::model::FieldError;
use crate::pages::service_form_lifecycle::{LifecycleFields, LifecycleSection};
use crate::rpc::{create_service, service_port_range, update_service};

/// [`ServiceForm`] behind a lazily loaded function (see the module header).
#[leptos::lazy]
fn lazy_service_form(existing: Option<Service>, on_done: Callback<Option<Service>>) -> AnyView {
    view! { <ServiceForm existing on_done/> }.into_any()
}

/// The service form, its code loaded on first use (a short "Loading…" meanwhile). Same props as
/// [`ServiceForm`]. Never server-rendered: it sits behind a toggle that starts closed.
#[component]
pub fn LazyServiceForm(
    existing: Option<Service>,
    on_done: Callback<Option<Service>>,
) -> impl IntoView {
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading the form…"</p> }>
            {Suspend::new(lazy_service_form(existing, on_done))}
        </Suspense>
    }
}

/// The form. `existing` = edit that service (a PATCH of every field); `None` = create. `on_done` gets
/// the saved service, or `None` when cancelled.
#[component]
pub fn ServiceForm(existing: Option<Service>, on_done: Callback<Option<Service>>) -> impl IntoView {
    let live = use_live_services();
    let toasts = use_toasts();
    let editing_id = existing.as_ref().map(|s| s.id.clone());
    let spec = existing.map(|s| s.spec);
    let text = |v: Option<&String>| RwSignal::new(v.cloned().unwrap_or_default());

    let name = text(spec.as_ref().map(|s| &s.name));
    let command = text(spec.as_ref().map(|s| &s.command));
    let workdir = text(spec.as_ref().and_then(|s| s.working_directory.as_ref()));
    let monitor = text(spec.as_ref().and_then(|s| s.monitoring_command.as_ref()));
    let user = text(spec.as_ref().and_then(|s| s.user.as_ref()));
    let ports = RwSignal::new(
        spec.as_ref()
            .map(|s| {
                s.ports
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default(),
    );
    let enabled = RwSignal::new(spec.as_ref().is_none_or(|s| s.enabled));
    let outside = RwSignal::new(spec.as_ref().is_some_and(|s| s.allow_ports_outside_range));
    let lifecycle = LifecycleFields::new(spec.as_ref());
    let env_rows = EnvRows::new(
        &spec
            .as_ref()
            .map(|s| s.environment.clone())
            .unwrap_or_default(),
    );
    let errors = RwSignal::new(BTreeMap::<String, String>::new());
    let form_error = RwSignal::new(None::<String>);
    let saving = RwSignal::new(false);
    let range = LocalResource::new(service_port_range);

    let port_range = move || {
        range
            .get()
            .and_then(Result::ok)
            .unwrap_or(ServicePortRange::DEFAULT)
    };
    let others = {
        let editing_id = editing_id.clone();
        move || {
            live.snapshot()
                .into_iter()
                .filter(|s| Some(&s.id) != editing_id.as_ref())
                .collect::<Vec<_>>()
        }
    };
    let suggestion = {
        let others = others.clone();
        move || {
            let mut taken: BTreeSet<u16> =
                others().iter().flat_map(|s| s.spec.ports.clone()).collect();
            taken.extend(parse_ports(&ports.get()).unwrap_or_default());
            next_free_port(port_range(), &taken)
        }
    };
    let use_suggestion = {
        let suggestion = suggestion.clone();
        move |_| {
            if let Some(p) = suggestion() {
                ports.update(|t| {
                    if t.trim().is_empty() {
                        *t = p.to_string();
                    } else {
                        t.push_str(&format!(", {p}"));
                    }
                });
            }
        }
    };
    let submit = {
        let editing_id = editing_id.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            form_error.set(None);
            let mut problems: Vec<FieldError> = Vec::new();
            let port_list = parse_ports(&ports.get_untracked()).unwrap_or_else(|m| {
                problems.push(FieldError::new("ports", m));
                Vec::new()
            });
            let (environment, env_problems) = env_rows.collect();
            problems.extend(env_problems);
            let optional = |s: RwSignal<String>| {
                let v = s.get_untracked();
                (!v.trim().is_empty()).then(|| v.trim().to_string())
            };
            let mut input = ServiceInput {
                name: name.get_untracked().trim().to_string(),
                command: command.get_untracked(),
                working_directory: optional(workdir),
                environment,
                monitoring_command: optional(monitor),
                ports: port_list,
                user: optional(user),
                enabled: enabled.get_untracked(),
                allow_ports_outside_range: outside.get_untracked(),
                ..ServiceInput::new("", "")
            };
            lifecycle.collect(&mut input, &mut problems);
            let others = others();
            let ctx = ValidationContext {
                port_range: port_range(),
                taken_names: others.iter().map(|s| s.spec.name.clone()).collect(),
                taken_ports: others
                    .iter()
                    .flat_map(|s| s.spec.ports.iter().map(|p| (*p, s.spec.name.clone())))
                    .collect(),
                after: others
                    .iter()
                    .map(|s| (s.spec.name.clone(), s.spec.after.clone()))
                    .collect(),
            };
            if let Err(e) = validate_service(&input, &ctx) {
                problems.extend(e.invalid);
                problems.extend(e.conflicts);
            }
            if !problems.is_empty() {
                errors.set(errors_by_field(&problems));
                form_error.set(Some(
                    "Fix the fields marked below; nothing was saved.".into(),
                ));
                return;
            }
            errors.set(BTreeMap::new());
            saving.set(true);
            let editing_id = editing_id.clone();
            leptos::task::spawn_local(async move {
                let service_name = input.name.clone();
                let result = match editing_id {
                    None => create_service(input).await,
                    Some(id) => update_service(id, patch_of(input)).await,
                };
                saving.set(false);
                match result {
                    Ok(service) => {
                        live.upsert(service.clone());
                        toasts.success(format!("{service_name} saved."));
                        on_done.run(Some(service));
                    }
                    Err(e) if !e.field_errors().is_empty() => {
                        errors.set(errors_by_field(e.field_errors()));
                        form_error.set(Some(
                            "The server refused some fields; nothing was saved.".into(),
                        ));
                        toasts.error(format!(
                            "{service_name} was not saved: fix the marked fields."
                        ));
                    }
                    Err(e) => {
                        form_error.set(Some(format!("Not saved: {e}")));
                        toasts.error(format!("{service_name} was not saved: {e}"));
                    }
                }
            });
        }
    };

    let err = move |field: &'static str| move || errors.with(|e| e.get(field).cloned());
    let invalid =
        move |field: &'static str| move || errors.with(|e| e.contains_key(field)).to_string();
    let prefix = if editing_id.is_some() { "edit" } else { "new" };
    let fid = move |f: &str| format!("{prefix}-svc-{f}");

    view! {
        <form class="service-form" data-testid="service-form" novalidate=true on:submit=submit>
            {move || form_error.get().map(|m| view! { <p class="error" role="alert" data-testid="form-error">{m}</p> })}
            <div class="form-grid">
                <Field id=fid("name") label="Name" hint="1-64 characters: a-z, 0-9, - and _" error=Signal::derive(err("name"))>
                    <input id=fid("name") name="name" type="text" autocomplete="off" spellcheck="false"
                        aria-invalid=invalid("name") aria-describedby=fid("name-error")
                        prop:value=name on:input=move |ev| name.set(event_target_value(&ev))/>
                </Field>
                <Field id=fid("user") label="User" hint="Empty: the configured service user" error=Signal::derive(err("user"))>
                    <input id=fid("user") name="user" type="text" autocomplete="off" spellcheck="false"
                        aria-invalid=invalid("user") aria-describedby=fid("user-error")
                        prop:value=user on:input=move |ev| user.set(event_target_value(&ev))/>
                </Field>
                <Field id=fid("command") label="Command" hint="Runs in the foreground with /bin/sh -c; $PORT is the first port" error=Signal::derive(err("command")) wide=true>
                    <textarea id=fid("command") name="command" rows="2" spellcheck="false"
                        aria-invalid=invalid("command") aria-describedby=fid("command-error")
                        prop:value=command on:input=move |ev| command.set(event_target_value(&ev))></textarea>
                </Field>
                <Field id=fid("working_directory") label="Working directory" hint="An absolute path, e.g. /srv/app" error=Signal::derive(err("working_directory"))>
                    <input id=fid("working_directory") name="working_directory" type="text" spellcheck="false"
                        aria-invalid=invalid("working_directory") aria-describedby=fid("working_directory-error")
                        prop:value=workdir on:input=move |ev| workdir.set(event_target_value(&ev))/>
                </Field>
                <Field id=fid("monitoring_command") label="Monitoring command" hint="Exit code ≠ 0 restarts the service" error=Signal::derive(err("monitoring_command"))>
                    <input id=fid("monitoring_command") name="monitoring_command" type="text" spellcheck="false"
                        aria-invalid=invalid("monitoring_command") aria-describedby=fid("monitoring_command-error")
                        prop:value=monitor on:input=move |ev| monitor.set(event_target_value(&ev))/>
                </Field>
                <Field id=fid("ports") label="Ports" hint="Comma-separated; reserved for this service" error=Signal::derive(err("ports"))>
                    <div class="with-button">
                        <input id=fid("ports") name="ports" type="text" inputmode="numeric" spellcheck="false"
                            aria-invalid=invalid("ports") aria-describedby=fid("ports-error")
                            prop:value=ports on:input=move |ev| ports.set(event_target_value(&ev))/>
                        {move || suggestion().map(|p| view! {
                            <button type="button" class="btn small" data-testid="suggest-port"
                                on:click=use_suggestion.clone()>{format!("Add {p}")}</button>
                        })}
                    </div>
                    <label class="inline check">
                        <input type="checkbox" prop:checked=outside
                            on:change=move |ev| outside.set(event_target_checked(&ev))/>
                        " Allow ports outside the service range"
                    </label>
                </Field>
            </div>

            <fieldset class="env-editor" aria-describedby=fid("environment-error")>
                <legend>"Environment"</legend>
                <p class="hint muted">"Merged over the global environment from the settings."</p>
                <EnvEditor rows=env_rows id_prefix=fid("env")
                    key_invalid=Callback::new(move |key: String| errors.with(|e| e.get("environment").is_some_and(|m| {
                        !key.is_empty() && m.contains(&format!("{key}:"))
                    })))/>
                {move || err("environment")().map(|m| view! {
                    <p class="field-error" id=fid("environment-error") data-testid="error-environment">{m}</p>
                })}
            </fieldset>

            <LifecycleSection fields=lifecycle errors prefix/>

            <label class="inline check">
                <input type="checkbox" name="enabled" data-testid="enabled" prop:checked=enabled
                    on:change=move |ev| enabled.set(event_target_checked(&ev))/>
                " Enabled (start now and keep running)"
            </label>
            <div class="form-actions">
                <button type="submit" class="btn primary" data-testid="service-save" disabled=move || saving.get()>
                    {move || if saving.get() { "Saving…" } else { "Save" }}
                </button>
                <button type="button" class="btn ghost" on:click=move |_| on_done.run(None)>"Cancel"</button>
            </div>
        </form>
    }
    .into_any()
}

/// A labelled form field with its hint and its error (announced, and linked by `aria-describedby`).
#[component]
fn Field(
    id: String,
    label: &'static str,
    hint: &'static str,
    error: Signal<Option<String>>,
    #[prop(optional)] wide: bool,
    children: Children,
) -> impl IntoView {
    let field = id.split("-svc-").nth(1).unwrap_or_default().to_string();
    view! {
        <div class=if wide { "field wide" } else { "field" }>
            <label for=id.clone()>{label}</label>
            {children()}
            <p class="hint muted">{hint}</p>
            {move || error.get().map(|m| view! {
                <p class="field-error" id=format!("{id}-error") role="alert" data-testid=format!("error-{field}")>{m}</p>
            })}
        </div>
    }
    .into_any()
}

/// A PATCH that sets every field of the form.
fn patch_of(input: ServiceInput) -> ServicePatch {
    ServicePatch {
        name: Some(input.name),
        command: Some(input.command),
        working_directory: Some(input.working_directory),
        environment: Some(input.environment),
        monitoring_command: Some(input.monitoring_command),
        ports: Some(input.ports),
        user: Some(input.user),
        enabled: Some(input.enabled),
        allow_ports_outside_range: Some(input.allow_ports_outside_range),
        stop_signal: Some(input.stop_signal),
        stop_grace_secs: Some(input.stop_grace_secs),
        reload_grace_secs: Some(input.reload_grace_secs),
        restart: Some(input.restart),
        monitoring: Some(input.monitoring),
        after: Some(input.after),
        limits: Some(input.limits),
    }
}
