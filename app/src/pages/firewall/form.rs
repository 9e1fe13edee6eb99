//! The add/edit rule form. It checks input with the firewall crate's validation before sending (the
//! same code the server runs) and shows field errors next to their fields; errors the server returns
//! are mapped to the same fields. Rejected input is kept in the form, and nothing is saved.

use leptos::prelude::*;
use leptos::task::spawn_local;
use warden_firewall::{Action, Direction, IpVersion, Protocol, Rule, RuleInput, RulePatch};

use super::FirewallCtx;
use crate::components::live_form::use_form_live;
use crate::model::firewall::{check_rule_input, split_list};
use crate::model::FieldError;
use crate::rpc::{add_firewall_rule, update_firewall_rule};

/// The form's fields as typed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fields {
    action: String,
    direction: String,
    protocol: String,
    ip_version: String,
    ports: String,
    hosts: String,
    annotation: String,
    enabled: bool,
    /// For a new rule: "top" or "bottom".
    place: String,
}

impl Default for Fields {
    fn default() -> Self {
        Fields {
            action: "accept".into(),
            direction: "in".into(),
            protocol: "tcp".into(),
            ip_version: "any".into(),
            ports: String::new(),
            hosts: String::new(),
            annotation: String::new(),
            enabled: true,
            place: "bottom".into(),
        }
    }
}

impl Fields {
    fn of(rule: &Rule) -> Fields {
        let text = |v: &str| v.to_string();
        Fields {
            action: text(super::rules::action_label(rule.action)),
            direction: text(match rule.direction {
                Direction::In => "in",
                Direction::Out => "out",
            }),
            protocol: text(match rule.protocol {
                Protocol::Tcp => "tcp",
                Protocol::Udp => "udp",
                Protocol::Any => "any",
            }),
            ip_version: text(match rule.ip_version {
                IpVersion::V4 => "4",
                IpVersion::V6 => "6",
                IpVersion::Any => "any",
            }),
            ports: rule.ports.join(", "),
            hosts: rule.hosts.join(", "),
            annotation: rule.annotation.clone(),
            enabled: rule.enabled,
            place: "bottom".into(),
        }
    }

    fn input(&self) -> RuleInput {
        RuleInput {
            position: (self.place == "top").then_some(0),
            enabled: Some(self.enabled),
            protocol: Some(match self.protocol.as_str() {
                "udp" => Protocol::Udp,
                "any" => Protocol::Any,
                _ => Protocol::Tcp,
            }),
            action: Some(match self.action.as_str() {
                "drop" => Action::Drop,
                "reject" => Action::Reject,
                _ => Action::Accept,
            }),
            direction: Some(if self.direction == "out" {
                Direction::Out
            } else {
                Direction::In
            }),
            hosts: Some(split_list(&self.hosts)),
            ports: Some(split_list(&self.ports)),
            ip_version: Some(match self.ip_version.as_str() {
                "4" => IpVersion::V4,
                "6" => IpVersion::V6,
                _ => IpVersion::Any,
            }),
            annotation: Some(self.annotation.trim().to_string()),
        }
    }
}

fn patch_of(input: RuleInput) -> RulePatch {
    RulePatch {
        position: None,
        enabled: input.enabled,
        protocol: input.protocol,
        action: input.action,
        direction: input.direction,
        hosts: input.hosts,
        ports: input.ports,
        ip_version: input.ip_version,
        annotation: input.annotation,
    }
}

/// The messages for one form field (`ports` collects `ports[0]`, `ports[1]`, ...).
fn messages_for(errors: &[FieldError], name: &str) -> Option<String> {
    let found: Vec<String> = errors
        .iter()
        .filter(|e| e.field == name || e.field.starts_with(&format!("{name}[")))
        .map(|e| e.message.clone())
        .collect();
    (!found.is_empty()).then(|| found.join("; "))
}

#[component]
pub fn RuleForm() -> AnyView {
    let ctx = expect_context::<FirewallCtx>();
    let fields = RwSignal::new(Fields::default());
    let errors = RwSignal::new(Vec::<FieldError>::new());
    let form_error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let live = use_form_live();

    // Editing another rule (or going back to "add") resets the form.
    Effect::new(move |_| {
        let next = ctx
            .editing
            .with(|e| e.as_ref().map(Fields::of))
            .unwrap_or_default();
        fields.set(next);
        errors.set(Vec::new());
        form_error.set(None);
    });

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let input = fields.with_untracked(Fields::input);
        if let Err(found) = check_rule_input(&input) {
            errors.set(found);
            form_error.set(Some(
                "Fix the fields marked below; nothing was saved.".into(),
            ));
            return;
        }
        errors.set(Vec::new());
        form_error.set(None);
        busy.set(true);
        let editing = ctx.editing.get_untracked();
        spawn_local(async move {
            let result = match &editing {
                Some(rule) => update_firewall_rule(rule.id.clone(), patch_of(input)).await,
                None => add_firewall_rule(input).await,
            };
            busy.set(false);
            match result {
                Ok(rule) => {
                    ctx.toasts.success(match editing {
                        Some(_) => format!(
                            "Saved rule {}. Apply to make it live.",
                            super::rules::describe(&rule)
                        ),
                        None => format!(
                            "Added rule {}. Apply to make it live.",
                            super::rules::describe(&rule)
                        ),
                    });
                    ctx.editing.set(None);
                    fields.set(Fields::default());
                    ctx.reload();
                }
                Err(e) => {
                    let found = e.field_errors().to_vec();
                    if found.is_empty() {
                        form_error.set(Some(e.to_string()));
                    } else {
                        errors.set(found);
                        form_error.set(Some(
                            "The server refused some fields; nothing was saved.".into(),
                        ));
                    }
                    ctx.toasts.error(format!("The rule was not saved: {e}"));
                }
            }
        });
    };

    let err = move |name: &'static str| move || errors.with(|e| messages_for(e, name));
    let invalid = move |name: &'static str| {
        move || {
            errors
                .with(|e| messages_for(e, name).is_some())
                .then_some("true")
        }
    };
    let select = move |id: &'static str,
                       label: &'static str,
                       get: fn(&Fields) -> String,
                       set: fn(&mut Fields, String),
                       options: &'static [(&'static str, &'static str)]| {
        view! {
            <div class="field">
                <label for=id>{label}</label>
                <select id=id data-testid=id
                    prop:value=move || fields.with(get)
                    on:change=move |ev| { let v = event_target_value(&ev); fields.update(|f| set(f, v)); }>
                    {options.iter().map(|(value, text)| view! {
                        <option value=*value selected=move || fields.with(get) == *value>{*text}</option>
                    }).collect_view()}
                </select>
            </div>
        }
    };

    view! {
        <form id="fw-form" class="fw-form" data-testid="fw-form" on:submit=submit novalidate=true
            inert=move || !live.get()
            aria-labelledby="fw-form-title">
            <h3 id="fw-form-title">
                {move || match ctx.editing.get() {
                    Some(rule) => format!("Edit rule {}", super::rules::describe(&rule)),
                    None => "Add a rule".to_string(),
                }}
            </h3>
            {move || form_error.get().map(|m| view! { <p class="error" role="alert" data-testid="fw-form-error">{m}</p> })}
            <div class="form-grid">
                {select("fw-action", "Action", |f| f.action.clone(), |f, v| f.action = v,
                    &[("accept", "Accept"), ("drop", "Drop (silently)"), ("reject", "Reject (refuse)")])}
                {select("fw-direction", "Direction", |f| f.direction.clone(), |f, v| f.direction = v,
                    &[("in", "Inbound"), ("out", "Outbound")])}
                {select("fw-protocol", "Protocol", |f| f.protocol.clone(), |f, v| f.protocol = v,
                    &[("tcp", "TCP"), ("udp", "UDP"), ("any", "Any")])}
                {select("fw-ip-version", "IP version", |f| f.ip_version.clone(), |f, v| f.ip_version = v,
                    &[("any", "IPv4 and IPv6"), ("4", "IPv4 only"), ("6", "IPv6 only")])}
                <div class="field">
                    <label for="fw-ports">"Ports"</label>
                    <input id="fw-ports" data-testid="fw-ports" type="text" inputmode="numeric"
                        placeholder="e.g. 22, 8300:8310 (empty = all)" autocomplete="off"
                        aria-invalid=invalid("ports") aria-describedby="fw-ports-error"
                        prop:value=move || fields.with(|f| f.ports.clone())
                        on:input=move |ev| { let v = event_target_value(&ev); fields.update(|f| f.ports = v); }/>
                    <p id="fw-ports-error" class="field-error" data-testid="fw-ports-error">{err("ports")}</p>
                </div>
                <div class="field">
                    <label for="fw-hosts">"Hosts"</label>
                    <input id="fw-hosts" data-testid="fw-hosts" type="text" autocomplete="off"
                        placeholder="IPs, CIDRs or hostnames (empty = any)"
                        aria-invalid=invalid("hosts") aria-describedby="fw-hosts-error"
                        prop:value=move || fields.with(|f| f.hosts.clone())
                        on:input=move |ev| { let v = event_target_value(&ev); fields.update(|f| f.hosts = v); }/>
                    <p id="fw-hosts-error" class="field-error" data-testid="fw-hosts-error">{err("hosts")}</p>
                </div>
                <div class="field wide">
                    <label for="fw-annotation">"Note"</label>
                    <input id="fw-annotation" data-testid="fw-annotation" type="text" maxlength="256"
                        placeholder="What this rule is for" autocomplete="off"
                        aria-invalid=invalid("annotation") aria-describedby="fw-annotation-error"
                        prop:value=move || fields.with(|f| f.annotation.clone())
                        on:input=move |ev| { let v = event_target_value(&ev); fields.update(|f| f.annotation = v); }/>
                    <p id="fw-annotation-error" class="field-error" data-testid="fw-annotation-error">{err("annotation")}</p>
                </div>
                <div class="field checkbox">
                    <input id="fw-enabled" type="checkbox" data-testid="fw-enabled"
                        prop:checked=move || fields.with(|f| f.enabled)
                        on:change=move |ev| { let v = event_target_checked(&ev); fields.update(|f| f.enabled = v); }/>
                    <label for="fw-enabled">"Enabled"</label>
                </div>
                <Show when=move || ctx.editing.with(Option::is_none)>
                    {select("fw-place", "Insert", |f| f.place.clone(), |f, v| f.place = v,
                        &[("bottom", "At the bottom"), ("top", "At the top")])}
                </Show>
            </div>
            <div class="form-actions">
                <button type="submit" class="btn primary" data-testid="fw-form-submit" disabled=move || busy.get()>
                    {move || if ctx.editing.with(Option::is_some) { "Save rule" } else { "Add rule" }}
                </button>
                <Show when=move || ctx.editing.with(Option::is_some)>
                    <button type="button" class="btn ghost" on:click=move |_| ctx.editing.set(None)>"Cancel"</button>
                </Show>
            </div>
        </form>
    }
    .into_any()
}
