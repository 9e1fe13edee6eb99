//! The add/edit form of the notifications card: kind (webhook or e-mail), name, the webhook URL or the
//! SMTP server (host, port, security, sender, user name, password) and recipients, the events, enabled.
//! It checks with the shared `validate_destination` before sending, so its field errors are the API's.
//! Editing leaves the stored SMTP password alone unless a new one is typed.

use leptos::prelude::*;

use super::FieldMessage;
use crate::model::notifications::{
    validate_destination, Destination, DestinationInput, DestinationKind, SmtpInput, SmtpSecurity,
    EVENTS,
};
use crate::model::FieldError;

/// The form's fields as signals (copied into handlers).
#[derive(Clone, Copy)]
pub(super) struct DestinationForm {
    /// `Some(id)` while editing that destination.
    pub editing: RwSignal<Option<String>>,
    pub kind: RwSignal<String>,
    pub name: RwSignal<String>,
    pub url: RwSignal<String>,
    pub host: RwSignal<String>,
    pub port: RwSignal<String>,
    pub security: RwSignal<String>,
    pub from: RwSignal<String>,
    pub username: RwSignal<String>,
    pub password: RwSignal<String>,
    pub password_set: RwSignal<bool>,
    pub to: RwSignal<String>,
    pub events: RwSignal<Vec<String>>,
    pub enabled: RwSignal<bool>,
    pub errors: RwSignal<Vec<FieldError>>,
}

impl DestinationForm {
    pub fn new() -> DestinationForm {
        DestinationForm {
            editing: RwSignal::new(None),
            kind: RwSignal::new("webhook".into()),
            name: RwSignal::new(String::new()),
            url: RwSignal::new(String::new()),
            host: RwSignal::new(String::new()),
            port: RwSignal::new("587".into()),
            security: RwSignal::new("starttls".into()),
            from: RwSignal::new(String::new()),
            username: RwSignal::new(String::new()),
            password: RwSignal::new(String::new()),
            password_set: RwSignal::new(false),
            to: RwSignal::new(String::new()),
            events: RwSignal::new(vec![
                crate::model::notifications::SERVICE_DISABLED.to_string()
            ]),
            enabled: RwSignal::new(true),
            errors: RwSignal::new(Vec::new()),
        }
    }

    /// Back to an empty "add" form.
    pub fn clear(&self) {
        self.editing.set(None);
        self.kind.set("webhook".into());
        for (field, value) in [
            (self.name, ""),
            (self.url, ""),
            (self.host, ""),
            (self.from, ""),
            (self.username, ""),
            (self.password, ""),
            (self.to, ""),
        ] {
            field.set(value.to_string());
        }
        self.port.set("587".into());
        self.security.set("starttls".into());
        self.password_set.set(false);
        self.events.set(vec![
            crate::model::notifications::SERVICE_DISABLED.to_string()
        ]);
        self.enabled.set(true);
        self.errors.set(Vec::new());
    }

    /// Fills the form with `d` for editing.
    pub fn load(&self, d: &Destination) {
        self.clear();
        self.editing.set(Some(d.id.clone()));
        self.kind.set(kind_name(d.kind).into());
        self.name.set(d.name.clone());
        self.url.set(d.url.clone().unwrap_or_default());
        if let Some(smtp) = &d.smtp {
            self.host.set(smtp.host.clone());
            self.port.set(smtp.port.to_string());
            self.security.set(security_name(smtp.security).into());
            self.from.set(smtp.from.clone());
            self.username.set(smtp.username.clone().unwrap_or_default());
            self.password_set.set(smtp.password_set);
        }
        self.to.set(d.to.join(", "));
        self.events.set(d.events.clone());
        self.enabled.set(d.enabled);
    }

    /// The destination the form describes (a blank password while editing keeps the stored one).
    pub fn input(&self) -> DestinationInput {
        let email = self.kind.get_untracked() == "email";
        let password = self.password.get_untracked();
        let username = self.username.get_untracked();
        DestinationInput {
            name: self.name.get_untracked().trim().to_string(),
            kind: if email {
                DestinationKind::Email
            } else {
                DestinationKind::Webhook
            },
            url: (!email).then(|| self.url.get_untracked().trim().to_string()),
            smtp: email.then(|| SmtpInput {
                host: self.host.get_untracked().trim().to_string(),
                port: self.port.get_untracked().trim().parse().unwrap_or(0),
                security: match self.security.get_untracked().as_str() {
                    "tls" => SmtpSecurity::Tls,
                    "none" => SmtpSecurity::None,
                    _ => SmtpSecurity::Starttls,
                },
                from: self.from.get_untracked().trim().to_string(),
                username: (!username.trim().is_empty()).then(|| username.trim().to_string()),
                password: if password.is_empty() && self.editing.get_untracked().is_some() {
                    None
                } else {
                    Some(password)
                },
            }),
            to: if email {
                self.to
                    .get_untracked()
                    .split([',', ' ', '\n'])
                    .map(str::trim)
                    .filter(|a| !a.is_empty())
                    .map(String::from)
                    .collect()
            } else {
                Vec::new()
            },
            events: self.events.get_untracked(),
            enabled: self.enabled.get_untracked(),
        }
    }

    /// The input if the shared validation passes; the field errors shown otherwise.
    pub fn checked_input(&self) -> Option<DestinationInput> {
        let input = self.input();
        let problems = validate_destination(&input);
        if problems.is_empty() {
            self.errors.set(Vec::new());
            Some(input)
        } else {
            self.errors.set(problems);
            None
        }
    }
}

pub(super) fn kind_name(kind: DestinationKind) -> &'static str {
    match kind {
        DestinationKind::Webhook => "webhook",
        DestinationKind::Email => "email",
    }
}

fn security_name(security: SmtpSecurity) -> &'static str {
    match security {
        SmtpSecurity::Starttls => "starttls",
        SmtpSecurity::Tls => "tls",
        SmtpSecurity::None => "none",
    }
}

/// The form's fields (the caller wraps them in its `<form>` with the submit handler).
#[component]
pub(super) fn DestinationFields(form: DestinationForm) -> impl IntoView {
    let errors = form.errors;
    let email = move || form.kind.get() == "email";
    view! {
        <div class="notify-fields">
            <label for="notify_kind">"Kind"</label>
            <select id="notify_kind" data-testid="notify-kind" prop:value=move || form.kind.get()
                disabled=move || form.editing.get().is_some()
                on:change=move |ev| form.kind.set(event_target_value(&ev))>
                <option value="webhook">"Webhook (JSON POST; Slack, Matrix, ntfy…)"</option>
                <option value="email">"E-mail (SMTP)"</option>
            </select>
            <label for="notify_name">"Name"</label>
            <input id="notify_name" data-testid="notify-name" bind:value=form.name placeholder="on-call" autocomplete="off"/>
            <FieldMessage errors name="name"/>
        </div>
        <Show when=email fallback=move || view! {
            <div class="notify-fields">
                <label for="notify_url">"URL"</label>
                <input id="notify_url" data-testid="notify-url" bind:value=form.url
                    placeholder="https://hooks.slack.com/services/…" autocomplete="off"/>
                <FieldMessage errors name="url"/>
            </div>
        }>
            <div class="notify-fields">
                <label for="notify_host">"SMTP server"</label>
                <input id="notify_host" data-testid="notify-smtp-host" bind:value=form.host placeholder="smtp.example.org"/>
                <FieldMessage errors name="smtp.host"/>
                <label for="notify_port">"Port"</label>
                <input id="notify_port" data-testid="notify-smtp-port" inputmode="numeric" bind:value=form.port/>
                <FieldMessage errors name="smtp.port"/>
                <label for="notify_security">"Security"</label>
                <select id="notify_security" data-testid="notify-smtp-security" prop:value=move || form.security.get()
                    on:change=move |ev| form.security.set(event_target_value(&ev))>
                    <option value="starttls">"STARTTLS (port 587)"</option>
                    <option value="tls">"TLS (port 465)"</option>
                    <option value="none">"None (local relay only)"</option>
                </select>
                <label for="notify_from">"From"</label>
                <input id="notify_from" data-testid="notify-smtp-from" bind:value=form.from placeholder="warden@example.org"/>
                <FieldMessage errors name="smtp.from"/>
                <label for="notify_user">"User name (optional)"</label>
                <input id="notify_user" data-testid="notify-smtp-username" bind:value=form.username autocomplete="off"/>
                <FieldMessage errors name="smtp.username"/>
                <label for="notify_password">"Password (optional)"</label>
                <input id="notify_password" type="password" data-testid="notify-smtp-password" bind:value=form.password
                    autocomplete="new-password"
                    placeholder=move || if form.password_set.get() { "stored — leave empty to keep it" } else { "" }/>
                <FieldMessage errors name="smtp.password"/>
                <label for="notify_to">"To (comma-separated)"</label>
                <input id="notify_to" data-testid="notify-to" bind:value=form.to placeholder="ops@example.org"/>
                <FieldMessage errors name="to"/>
            </div>
        </Show>
        <fieldset class="events" data-testid="notify-events">
            <legend>"Events"</legend>
            {EVENTS.iter().map(|(event, description)| {
                let event = *event;
                view! {
                    <label class="check">
                        <input type="checkbox" data-testid=format!("notify-event-{event}")
                            prop:checked=move || form.events.with(|e| e.iter().any(|x| x == event))
                            on:change=move |ev| {
                                let on = event_target_checked(&ev);
                                form.events.update(|e| {
                                    e.retain(|x| x != event);
                                    if on { e.push(event.to_string()); }
                                });
                            }/>
                        " " <code>{event}</code> " — " {*description}
                    </label>
                }
            }).collect_view()}
            <FieldMessage errors name="events"/>
        </fieldset>
        <label class="check">
            <input type="checkbox" data-testid="notify-enabled" bind:checked=form.enabled/>
            " Enabled"
        </label>
    }
}
