//! The settings page: the global settings (hostname, global environment, service user and port range,
//! crash-loop and ban thresholds) with field errors from the shared validation and from the server, the
//! password change, API tokens (the secret shown once, with a copy button; revoke with a confirmation),
//! whether Warden is served over TLS, and a link to the audit log.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::env_editor::{EnvEditor, EnvRows};
use crate::components::live_form::use_form_live;
use crate::components::toast::use_toasts;
use crate::model::admin::{
    validate_password_change, validate_token_name, CreatedToken, PasswordChange,
};
use crate::model::error::AppError;
use crate::model::settings::{validate_settings, Settings};
use crate::model::FieldError;
use crate::rpc::{
    change_password, create_token, get_server_info, get_settings, list_tokens, revoke_token,
    update_settings,
};

/// The message of the first error about `name` (exact field, or a sub-field like `environment.X`).
fn error_for(errors: &[FieldError], name: &str) -> Option<String> {
    errors
        .iter()
        .find(|e| {
            e.field == name
                || e.field.starts_with(&format!("{name}."))
                || e.field.starts_with(&format!("{name}["))
        })
        .map(|e| {
            if e.field == name {
                e.message.clone()
            } else {
                // A sub-field (`environment.KEY`): name it.
                let sub = e.field[name.len()..].trim_start_matches('.');
                format!("{sub}: {}", e.message)
            }
        })
}

/// A field error shown under its input (nothing when there is none).
#[component]
fn FieldMessage(errors: RwSignal<Vec<FieldError>>, name: &'static str) -> impl IntoView {
    move || {
        {
        error_for(&errors.get(), name).map(|message| {
            view! { <p class="field-error" role="alert" data-testid=format!("error-{name}")>{message}</p> }
        })
    }
    .into_any()
    }
}

#[component]
pub fn SettingsPage() -> impl IntoView {
    view! {
        <Title text="Settings"/>
        <h1 data-testid="page-title">"Settings"</h1>
        <p class="muted">
            "Every change here is recorded in the " <a href="/audit" rel="external" data-testid="audit-link">"audit log"</a> "."
        </p>
        <div class="settings-grid">
            <SettingsForm/>
            <div class="settings-side">
                <PasswordForm/>
                <TokensCard/>
                <ServerCard/>
            </div>
        </div>
    }
}

fn parse_number<T: std::str::FromStr>(
    text: &str,
    field: &str,
    errors: &mut Vec<FieldError>,
) -> Option<T> {
    match text.trim().parse::<T>() {
        Ok(n) => Some(n),
        Err(_) => {
            errors.push(FieldError::new(field, "enter a whole number"));
            None
        }
    }
}

#[component]
fn SettingsForm() -> impl IntoView {
    let toasts = use_toasts();
    let loaded = Resource::new(|| (), |_| get_settings());
    view! {
        <section class="card settings-card" aria-labelledby="settings-general">
            <h2 id="settings-general">"General"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || loaded.get().map(|result| match result {
                    Ok(settings) => view! { <SettingsEditor initial=settings toasts/> }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                })}
            </Transition>
        </section>
    }
    .into_any()
}

#[component]
fn SettingsEditor(initial: Settings, toasts: crate::components::toast::Toasts) -> impl IntoView {
    let hostname = RwSignal::new(initial.hostname.clone());
    let service_user = RwSignal::new(initial.service_user.clone());
    let service_ports = RwSignal::new(initial.service_ports.clone());
    let crash_max = RwSignal::new(initial.crash_loop.max_failures.to_string());
    let crash_window = RwSignal::new(initial.crash_loop.window_secs.to_string());
    let ban_max = RwSignal::new(initial.ban.max_failures.to_string());
    let ban_window = RwSignal::new(initial.ban.window_secs.to_string());
    let ban_secs = RwSignal::new(initial.ban.ban_secs.to_string());
    let env_rows = EnvRows::new(&initial.environment);
    let errors = RwSignal::new(Vec::<FieldError>::new());
    let saving = RwSignal::new(false);
    let live = use_form_live();

    // Builds the document from the form; number and duplicate-key problems become field errors.
    let collect = move || -> Result<Settings, Vec<FieldError>> {
        let (environment, mut problems) = env_rows.collect();
        let crash_max = parse_number(
            &crash_max.get_untracked(),
            "crash_loop.max_failures",
            &mut problems,
        );
        let crash_window = parse_number(
            &crash_window.get_untracked(),
            "crash_loop.window_secs",
            &mut problems,
        );
        let ban_max = parse_number(&ban_max.get_untracked(), "ban.max_failures", &mut problems);
        let ban_window = parse_number(
            &ban_window.get_untracked(),
            "ban.window_secs",
            &mut problems,
        );
        let ban_secs = parse_number(&ban_secs.get_untracked(), "ban.ban_secs", &mut problems);
        let (Some(crash_max), Some(crash_window), Some(ban_max), Some(ban_window), Some(ban_secs)) =
            (crash_max, crash_window, ban_max, ban_window, ban_secs)
        else {
            return Err(problems);
        };
        let settings = Settings {
            hostname: hostname.get_untracked(),
            environment,
            service_user: service_user.get_untracked(),
            service_ports: service_ports.get_untracked(),
            crash_loop: crate::model::settings::CrashLoopSettings {
                max_failures: crash_max,
                window_secs: crash_window,
            },
            ban: crate::model::settings::BanSettings {
                max_failures: ban_max,
                window_secs: ban_window,
                ban_secs,
            },
        };
        problems.extend(validate_settings(&settings));
        if problems.is_empty() {
            Ok(settings)
        } else {
            Err(problems)
        }
    };

    let save = Action::new(move |settings: &Settings| {
        let settings = settings.clone();
        async move { update_settings(settings).await }
    });
    Effect::new(move |_| {
        if let Some(result) = save.value().get() {
            saving.set(false);
            match result {
                Ok(saved) => {
                    errors.set(Vec::new());
                    hostname.set(saved.hostname);
                    toasts.success("Settings saved.");
                }
                Err(AppError::Invalid(fields)) | Err(AppError::Conflict(fields)) => {
                    errors.set(fields);
                    toasts.error("The settings were not saved: check the marked fields.");
                }
                Err(e) => toasts.error(format!("The settings were not saved: {e}")),
            }
        }
    });
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match collect() {
            Ok(settings) => {
                errors.set(Vec::new());
                saving.set(true);
                save.dispatch(settings);
            }
            Err(problems) => errors.set(problems),
        }
    };

    view! {
        <form on:submit=on_submit data-testid="settings-form" inert=move || !live.get() novalidate=true>
            <label for="hostname">"Hostname"</label>
            <input id="hostname" data-testid="hostname-input" bind:value=hostname autocomplete="off"/>
            <FieldMessage errors name="hostname"/>

            <label for="service_user">"Service user"</label>
            <input id="service_user" data-testid="service-user-input" bind:value=service_user autocomplete="off"/>
            <p class="hint muted">"Services run as this Unix user unless their own definition names one."</p>
            <FieldMessage errors name="service_user"/>

            <label for="service_ports">"Service port range"</label>
            <input id="service_ports" data-testid="service-ports-input" bind:value=service_ports
                placeholder="8300:8499" autocomplete="off"/>
            <FieldMessage errors name="service_ports"/>

            <fieldset class="settings-fieldset">
                <legend>"Crash loop"</legend>
                <p class="hint muted">"A service that fails this often within the window is disabled."</p>
                <div class="inline-fields">
                    <div>
                        <label for="crash_max">"Failures"</label>
                        <input id="crash_max" inputmode="numeric" data-testid="crash-max-input" bind:value=crash_max/>
                    </div>
                    <div>
                        <label for="crash_window">"Window (s)"</label>
                        <input id="crash_window" inputmode="numeric" data-testid="crash-window-input" bind:value=crash_window/>
                    </div>
                </div>
                <FieldMessage errors name="crash_loop"/>
            </fieldset>

            <fieldset class="settings-fieldset">
                <legend>"Failed logins"</legend>
                <p class="hint muted">"An address that fails this often within the window is banned at the firewall."</p>
                <div class="inline-fields">
                    <div>
                        <label for="ban_max">"Failures"</label>
                        <input id="ban_max" inputmode="numeric" data-testid="ban-max-input" bind:value=ban_max/>
                    </div>
                    <div>
                        <label for="ban_window">"Window (s)"</label>
                        <input id="ban_window" inputmode="numeric" data-testid="ban-window-input" bind:value=ban_window/>
                    </div>
                    <div>
                        <label for="ban_secs">"Ban (s)"</label>
                        <input id="ban_secs" inputmode="numeric" data-testid="ban-secs-input" bind:value=ban_secs/>
                    </div>
                </div>
                <FieldMessage errors name="ban"/>
            </fieldset>

            <fieldset class="settings-fieldset">
                <legend>"Global environment"</legend>
                <p class="hint muted">"Every service gets these variables; its own variables override them."</p>
                <EnvEditor rows=env_rows id_prefix="settings-env"
                    key_invalid=Callback::new(move |key: String| errors.with(|e| {
                        e.iter().any(|f| f.field == format!("environment.{}", key.trim()))
                    }))/>
                <FieldMessage errors name="environment"/>
            </fieldset>

            <div class="form-actions">
                <button type="submit" class="btn primary" data-testid="settings-save" disabled=move || saving.get()>
                    {move || if saving.get() { "Saving…" } else { "Save settings" }}
                </button>
            </div>
        </form>
    }
    .into_any()
}

#[component]
fn PasswordForm() -> impl IntoView {
    let toasts = use_toasts();
    let live = use_form_live();
    let current = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let repeat = RwSignal::new(String::new());
    let errors = RwSignal::new(Vec::<FieldError>::new());
    let change = Action::new(move |c: &PasswordChange| {
        let c = c.clone();
        async move { change_password(c).await }
    });
    Effect::new(move |_| {
        if let Some(result) = change.value().get() {
            match result {
                Ok(()) => {
                    errors.set(Vec::new());
                    current.set(String::new());
                    new.set(String::new());
                    repeat.set(String::new());
                    toasts.success("Password changed. Your other sessions were logged out.");
                }
                Err(AppError::Invalid(fields)) => errors.set(fields),
                Err(e) => toasts.error(format!("The password was not changed: {e}")),
            }
        }
    });
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let request = PasswordChange {
            current_password: current.get_untracked(),
            new_password: new.get_untracked(),
        };
        let mut problems = validate_password_change(&request);
        if problems.iter().all(|e| e.field != "new_password")
            && repeat.get_untracked() != request.new_password
        {
            problems.push(FieldError::new(
                "repeat_password",
                "the two new passwords differ",
            ));
        }
        if problems.is_empty() {
            errors.set(Vec::new());
            change.dispatch(request);
        } else {
            errors.set(problems);
        }
    };
    view! {
        <section class="card settings-card" aria-labelledby="settings-password">
            <h2 id="settings-password">"Password"</h2>
            <form on:submit=on_submit data-testid="password-form" inert=move || !live.get() novalidate=true>
                <label for="current_password">"Current password"</label>
                <input id="current_password" type="password" autocomplete="current-password"
                    data-testid="current-password" bind:value=current/>
                <FieldMessage errors name="current_password"/>
                <label for="new_password">"New password"</label>
                <input id="new_password" type="password" autocomplete="new-password"
                    data-testid="new-password" bind:value=new/>
                <FieldMessage errors name="new_password"/>
                <label for="repeat_password">"New password again"</label>
                <input id="repeat_password" type="password" autocomplete="new-password"
                    data-testid="repeat-password" bind:value=repeat/>
                <FieldMessage errors name="repeat_password"/>
                <div class="form-actions">
                    <button type="submit" class="btn primary" data-testid="password-save">"Change password"</button>
                </div>
            </form>
        </section>
    }
    .into_any()
}

/// Copies `text` to the clipboard (browser only).
fn copy_to_clipboard(text: String) {
    #[cfg(feature = "hydrate")]
    if let Some(window) = web_sys::window() {
        let _ = window.navigator().clipboard().write_text(&text);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = text;
}

#[component]
fn TokensCard() -> impl IntoView {
    let toasts = use_toasts();
    let live = use_form_live();
    let refresh = RwSignal::new(0u32);
    let tokens = Resource::new(move || refresh.get(), |_| list_tokens());
    let name = RwSignal::new(String::new());
    let errors = RwSignal::new(Vec::<FieldError>::new());
    let fresh = RwSignal::new(None::<CreatedToken>);
    let confirming = RwSignal::new(None::<String>);

    let create = Action::new(move |name: &String| {
        let name = name.clone();
        async move { create_token(name).await }
    });
    Effect::new(move |_| {
        if let Some(result) = create.value().get() {
            match result {
                Ok(created) => {
                    errors.set(Vec::new());
                    name.set(String::new());
                    toasts.success(format!(
                        "Token {} created. Copy it now: it is shown only once.",
                        created.name
                    ));
                    fresh.set(Some(created));
                    refresh.update(|n| *n += 1);
                }
                Err(AppError::Invalid(fields)) | Err(AppError::Conflict(fields)) => {
                    errors.set(fields)
                }
                Err(e) => toasts.error(format!("The token was not created: {e}")),
            }
        }
    });
    let revoke = Action::new(move |(id, name): &(String, String)| {
        let (id, name) = (id.clone(), name.clone());
        async move { revoke_token(id).await.map(|()| name) }
    });
    Effect::new(move |_| {
        if let Some(result) = revoke.value().get() {
            confirming.set(None);
            match result {
                Ok(name) => toasts.success(format!("Token {name} revoked.")),
                Err(e) => toasts.error(format!("The token was not revoked: {e}")),
            }
            refresh.update(|n| *n += 1);
        }
    });
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let n = name.get_untracked();
        let problems = validate_token_name(&n);
        if problems.is_empty() {
            create.dispatch(n);
        } else {
            errors.set(problems);
        }
    };

    view! {
        <section class="card settings-card" aria-labelledby="settings-tokens">
            <h2 id="settings-tokens">"API tokens"</h2>
            <p class="hint muted">"For scripts: send " <code>"Authorization: Bearer <token>"</code> " to the REST API."</p>
            {move || fresh.get().map(|created| {
                let secret = created.token.clone();
                view! {
                    <div class="notice token-secret" role="status" data-testid="token-secret-box">
                        <p><strong>{format!("New token {}", created.name)}</strong>" — copy it now; it will not be shown again."</p>
                        <div class="secret-row">
                            <input readonly=true class="mono" data-testid="token-secret" value=created.token.clone()
                                aria-label="The new token" on:focus=|ev| {
                                    #[cfg(feature = "hydrate")]
                                    {
                                        use wasm_bindgen::JsCast;
                                        if let Some(input) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) {
                                            input.select();
                                        }
                                    }
                                    #[cfg(not(feature = "hydrate"))]
                                    let _ = ev;
                                }/>
                            <button type="button" class="btn" data-testid="token-copy"
                                on:click=move |_| {
                                    copy_to_clipboard(secret.clone());
                                    toasts.info("Copied to the clipboard.");
                                }>"Copy"</button>
                            <button type="button" class="btn ghost" data-testid="token-secret-dismiss"
                                on:click=move |_| fresh.set(None)>"Done"</button>
                        </div>
                    </div>
                }
            })}
            <form class="token-create" on:submit=on_submit data-testid="token-form" inert=move || !live.get()
                novalidate=true>
                <label for="token_name">"New token name"</label>
                <div class="secret-row">
                    <input id="token_name" data-testid="token-name" bind:value=name placeholder="ci" autocomplete="off"/>
                    <button type="submit" class="btn primary" data-testid="token-create">"Create"</button>
                </div>
                <FieldMessage errors name="name"/>
            </form>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || tokens.get().map(|result| match result {
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                    Ok(list) if list.is_empty() => view! { <p class="muted" data-testid="no-tokens">"No API tokens."</p> }.into_any(),
                    Ok(list) => view! {
                        <table class="table tokens" data-testid="token-table">
                            <thead><tr><th>"Name"</th><th>"Created"</th><th>"Last used"</th><th><span class="sr-only">"Actions"</span></th></tr></thead>
                            <tbody>
                                {list.into_iter().map(|t| {
                                    let id = t.id.clone();
                                    let confirm_id = t.id.clone();
                                    let name_for_revoke = t.name.clone();
                                    let asking = move || confirming.get().as_deref() == Some(confirm_id.as_str());
                                    view! {
                                        <tr data-testid="token-row" data-token-name=t.name.clone()>
                                            <td>{t.name.clone()}</td>
                                            <td><time>{short_time(&t.created_at)}</time></td>
                                            <td>{t.last_used_at.as_deref().map(short_time).unwrap_or_else(|| "never".into())}</td>
                                            <td class="actions">
                                                <Show when=asking.clone() fallback={
                                                    let id = id.clone();
                                                    move || {
                                                        let id = id.clone();
                                                        view! {
                                                            <button type="button" class="btn" data-testid="token-revoke"
                                                                on:click=move |_| confirming.set(Some(id.clone()))>"Revoke"</button>
                                                        }
                                                    }
                                                }>
                                                    {
                                                        let id = id.clone();
                                                        let name = name_for_revoke.clone();
                                                        view! {
                                                            <span class="confirm" role="group" aria-label="Confirm revoking">
                                                                <button type="button" class="btn danger" data-testid="token-revoke-confirm"
                                                                    on:click=move |_| { revoke.dispatch((id.clone(), name.clone())); }>"Revoke now"</button>
                                                                <button type="button" class="btn ghost"
                                                                    on:click=move |_| confirming.set(None)>"Cancel"</button>
                                                            </span>
                                                        }
                                                    }
                                                </Show>
                                            </td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                })}
            </Transition>
        </section>
    }
    .into_any()
}

/// `2026-11-24 09:01` from an RFC 3339 time (UTC).
pub fn short_time(rfc3339: &str) -> String {
    let t = rfc3339.replace('T', " ");
    let cut = t.char_indices().nth(16).map(|(i, _)| i).unwrap_or(t.len());
    format!("{} UTC", &t[..cut])
}

#[component]
fn ServerCard() -> impl IntoView {
    let info = Resource::new(|| (), |_| get_server_info());
    view! {
        <section class="card settings-card" aria-labelledby="settings-server">
            <h2 id="settings-server">"Connection"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || info.get().map(|result| match result {
                    Ok(i) => view! {
                        <p data-testid="tls-status">
                            {if i.tls {
                                view! { <span class="ok">"Served over TLS (HTTPS)."</span> }.into_any()
                            } else {
                                view! { <span class="warn-text">"Not served over TLS: passwords and tokens cross the network in clear text. Start Warden with --tls-cert and --tls-key, or --tls self-signed."</span> }.into_any()
                            }}
                        </p>
                        <p class="muted">"Listening on " <code>{i.listen}</code></p>
                    }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                })}
            </Transition>
        </section>
    }
    .into_any()
}
