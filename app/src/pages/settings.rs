//! The settings page: lays out its cards and holds what they share (a field error under its input).
//! Each card is a module of its own: `general` (hostname, global environment, service user and port
//! range, crash-loop and ban thresholds), `password` (the password change), `security` (the second factor),
//! `notifications` (webhook and e-mail destinations, send test, delivery log), `tokens` (API tokens: the
//! secret shown once, with a copy button; revoke with a confirmation); this file also shows whether
//! Warden is served over TLS, and links the audit log.

mod general;
mod notification_form;
mod notifications;
mod password;
mod security;
mod tokens;

use leptos::prelude::*;
use leptos_meta::Title;

use crate::model::FieldError;
use crate::rpc::get_server_info;
use general::SettingsForm;
use notifications::NotificationsCard;
use password::PasswordForm;
use security::SecurityCard;
pub use tokens::short_time;
use tokens::TokensCard;

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
    let read_only = use_context::<crate::pages::shell::ReadOnly>()
        .map(|r| r.0)
        .unwrap_or_else(|| Signal::derive(|| false));
    view! {
        <Title text="Settings"/>
        <h1 data-testid="page-title">"Settings"</h1>
        <p class="muted">
            "Every change here is recorded in the " <a href="/audit" data-testid="audit-link">"audit log"</a> "."
        </p>
        <div class="settings-grid">
            <fieldset class="page-scope" disabled=read_only data-testid="settings-scope">
                <SettingsForm/>
            </fieldset>
            <div class="settings-side">
                // One's own account: a read user may change these too.
                <div data-own-account="true">
                    <PasswordForm/>
                    <SecurityCard/>
                </div>
                <fieldset class="page-scope" disabled=read_only data-testid="tokens-scope">
                    <TokensCard/>
                </fieldset>
                <ServerCard/>
            </div>
            <div class="settings-wide">
                <NotificationsCard read_only/>
            </div>
        </div>
    }
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
