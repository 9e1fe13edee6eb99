//! The lifecycle part of the service form: stop signal and grace, reload grace, restart policy, the
//! monitoring schedule and the start order (`after`). [`LifecycleFields`] holds the inputs as text and
//! turns them into the definition's values ([`LifecycleFields::collect`]); [`LifecycleSection`] shows
//! them. Empty duration fields mean Warden's defaults.

use std::collections::BTreeMap;

use leptos::prelude::*;

use crate::model::service::{
    MonitoringTimings, RestartPolicy, ServiceInput, ServiceLimits, ServiceSpec, StopSignalName,
};
use crate::model::service_form::{parse_names, parse_optional_secs};
use crate::model::service_limits::LimitCapability;
use crate::model::FieldError;
use crate::rpc::service_capabilities;

/// The form's lifecycle inputs.
#[derive(Clone, Copy)]
pub struct LifecycleFields {
    stop_signal: RwSignal<String>,
    stop_grace: RwSignal<String>,
    reload_grace: RwSignal<String>,
    restart: RwSignal<String>,
    monitor_grace: RwSignal<String>,
    monitor_interval: RwSignal<String>,
    monitor_timeout: RwSignal<String>,
    after: RwSignal<String>,
    memory_max: RwSignal<String>,
    nofile: RwSignal<String>,
    tasks_max: RwSignal<String>,
    cpu_max_percent: RwSignal<String>,
}

fn secs_text(v: Option<u64>) -> RwSignal<String> {
    RwSignal::new(v.map(|v| v.to_string()).unwrap_or_default())
}

impl LifecycleFields {
    /// The inputs showing `spec` (a new service: the defaults).
    pub fn new(spec: Option<&ServiceSpec>) -> LifecycleFields {
        let m = spec.map(|s| s.monitoring).unwrap_or_default();
        LifecycleFields {
            stop_signal: RwSignal::new(
                spec.map(|s| s.stop_signal)
                    .unwrap_or_default()
                    .as_str()
                    .to_string(),
            ),
            stop_grace: secs_text(spec.and_then(|s| s.stop_grace_secs)),
            reload_grace: secs_text(spec.and_then(|s| s.reload_grace_secs)),
            restart: RwSignal::new(
                spec.map(|s| s.restart)
                    .unwrap_or_default()
                    .as_str()
                    .to_string(),
            ),
            monitor_grace: secs_text(m.grace_secs),
            monitor_interval: secs_text(m.interval_secs),
            monitor_timeout: secs_text(m.timeout_secs),
            after: RwSignal::new(spec.map(|s| s.after.join(", ")).unwrap_or_default()),
            memory_max: secs_text(spec.and_then(|s| s.limits.memory_max_bytes)),
            nofile: secs_text(spec.and_then(|s| s.limits.nofile)),
            tasks_max: secs_text(spec.and_then(|s| s.limits.tasks_max)),
            cpu_max_percent: secs_text(spec.and_then(|s| s.limits.cpu_max_percent.map(u64::from))),
        }
    }

    /// Sets the lifecycle fields of `input` from the form; unparsable fields become `problems`.
    pub fn collect(&self, input: &mut ServiceInput, problems: &mut Vec<FieldError>) {
        let mut secs = |field: &str, signal: RwSignal<String>| {
            parse_optional_secs(&signal.get_untracked()).unwrap_or_else(|m| {
                problems.push(FieldError::new(field, m));
                None
            })
        };
        input.stop_grace_secs = secs("stop_grace_secs", self.stop_grace);
        input.reload_grace_secs = secs("reload_grace_secs", self.reload_grace);
        input.monitoring = MonitoringTimings {
            grace_secs: secs("monitoring.grace_secs", self.monitor_grace),
            interval_secs: secs("monitoring.interval_secs", self.monitor_interval),
            timeout_secs: secs("monitoring.timeout_secs", self.monitor_timeout),
        };
        input.stop_signal =
            StopSignalName::parse(&self.stop_signal.get_untracked()).unwrap_or_default();
        input.restart = RestartPolicy::parse(&self.restart.get_untracked()).unwrap_or_default();
        input.after = parse_names(&self.after.get_untracked());
        input.limits = ServiceLimits {
            memory_max_bytes: secs("limits.memory_max_bytes", self.memory_max),
            nofile: secs("limits.nofile", self.nofile),
            tasks_max: secs("limits.tasks_max", self.tasks_max),
            cpu_max_percent: secs("limits.cpu_max_percent", self.cpu_max_percent)
                .map(|v| u32::try_from(v).unwrap_or(u32::MAX)),
        };
    }
}

/// The lifecycle inputs, with their errors (`errors`: field → message) under each.
#[component]
pub fn LifecycleSection(
    fields: LifecycleFields,
    errors: RwSignal<BTreeMap<String, String>>,
    prefix: &'static str,
) -> impl IntoView {
    let id = move |f: &str| format!("{prefix}-svc-{f}");
    let error = move |field: &'static str| {
        move || {
            errors.with(|e| e.get(field).cloned()).map(|m| {
                view! { <p class="field-error" role="alert" data-testid=format!("error-{field}")>{m}</p> }
            })
        }
    };
    // Errors are keyed by form field: the three monitoring fields share `monitoring`.
    let secs_input = move |field: &'static str,
                           error_key: &'static str,
                           label: &'static str,
                           hint: &'static str,
                           value: RwSignal<String>| {
        view! {
            <div class="field">
                <label for=id(field)>{label}</label>
                <input id=id(field) name=field type="text" inputmode="numeric" placeholder=hint
                    aria-invalid=move || errors.with(|e| e.contains_key(error_key)).to_string()
                    prop:value=value on:input=move |ev| value.set(event_target_value(&ev))/>
                <p class="hint muted">{format!("Seconds; empty = {hint}")}</p>
                {(error_key == field || field == "monitoring.timeout_secs").then(|| error(error_key))}
            </div>
        }
    };
    let capabilities = LocalResource::new(service_capabilities);
    // A limit this host cannot enforce is shown disabled with the reason (a value already set stays,
    // and the server refuses it with the same reason).
    let limit_input = move |field: &'static str,
                            label: &'static str,
                            value: RwSignal<String>,
                            capability: Signal<Option<LimitCapability>>| {
        view! {
            <div class="field">
                <label for=id(field)>{label}</label>
                <input id=id(field) name=field type="text" inputmode="numeric"
                    disabled=move || capability.get().is_some_and(|c| !c.enforceable)
                    prop:value=value on:input=move |ev| value.set(event_target_value(&ev))/>
                <p class="hint muted" data-testid=format!("hint-{field}")>{move || match capability.get() {
                    Some(c) if !c.enforceable => format!("Not available: {}", c.how),
                    Some(c) => format!("Empty = no limit ({})", c.how),
                    None => "Empty = no limit".to_string(),
                }}</p>
            </div>
        }
    };
    view! {
        <fieldset class="lifecycle" data-testid="lifecycle">
            <legend>"Lifecycle"</legend>
            <div class="form-grid">
                <div class="field">
                    <label for=id("stop_signal")>"Stop signal"</label>
                    <select id=id("stop_signal") name="stop_signal" prop:value=fields.stop_signal
                        on:change=move |ev| fields.stop_signal.set(event_target_value(&ev))>
                        {StopSignalName::ALL.into_iter().map(|s| view! {
                            <option value=s.as_str() selected=move || fields.stop_signal.get() == s.as_str()>{format!("SIG{}", s.as_str())}</option>
                        }).collect_view()}
                    </select>
                    <p class="hint muted">"Sent first on stop; everything left is killed after the stop grace"</p>
                </div>
                {secs_input("stop_grace_secs", "stop_grace_secs", "Stop grace", "10", fields.stop_grace)}
                {secs_input("reload_grace_secs", "reload_grace_secs", "Reload grace", "2", fields.reload_grace)}
                <div class="field">
                    <label for=id("restart")>"Restart"</label>
                    <select id=id("restart") name="restart" prop:value=fields.restart
                        on:change=move |ev| fields.restart.set(event_target_value(&ev))>
                        {[(RestartPolicy::Always, "always"), (RestartPolicy::OnFailure, "on failure (exit 0 ends it)"), (RestartPolicy::Never, "never")]
                            .into_iter().map(|(p, label)| view! {
                                <option value=p.as_str() selected=move || fields.restart.get() == p.as_str()>{label}</option>
                            }).collect_view()}
                    </select>
                    <p class="hint muted">"What an exit of the command leads to"</p>
                </div>
                {secs_input("monitoring.grace_secs", "monitoring", "Monitoring grace", "10", fields.monitor_grace)}
                {secs_input("monitoring.interval_secs", "monitoring", "Monitoring interval", "30", fields.monitor_interval)}
                {secs_input("monitoring.timeout_secs", "monitoring", "Monitoring timeout", "10", fields.monitor_timeout)}
                <div class="field">
                    <label for=id("after")>"Start after"</label>
                    <input id=id("after") name="after" type="text" spellcheck="false"
                        aria-invalid=move || errors.with(|e| e.contains_key("after")).to_string()
                        prop:value=fields.after on:input=move |ev| fields.after.set(event_target_value(&ev))/>
                    <p class="hint muted">"Service names, comma-separated: started once those run (and pass)"</p>
                    {error("after")}
                </div>
                <div class="field">
                    <label for=id("memory_max")>"Memory limit (bytes)"</label>
                    <input id=id("memory_max") name="memory_max_bytes" type="text" inputmode="numeric"
                        aria-invalid=move || errors.with(|e| e.contains_key("limits")).to_string()
                        prop:value=fields.memory_max on:input=move |ev| fields.memory_max.set(event_target_value(&ev))/>
                    <p class="hint muted">"Restarted when its memory exceeds this; empty = no limit"</p>
                    {error("limits")}
                </div>
                <div class="field">
                    <label for=id("nofile")>"Open files (nofile)"</label>
                    <input id=id("nofile") name="nofile" type="text" inputmode="numeric"
                        prop:value=fields.nofile on:input=move |ev| fields.nofile.set(event_target_value(&ev))/>
                    <p class="hint muted">"RLIMIT_NOFILE; empty = inherited"</p>
                </div>
                {limit_input("tasks_max", "Tasks limit", fields.tasks_max,
                    Signal::derive(move || capabilities.get().and_then(Result::ok).map(|c| c.tasks_max)))}
                {limit_input("cpu_max_percent", "CPU limit (% of one core)", fields.cpu_max_percent,
                    Signal::derive(move || capabilities.get().and_then(Result::ok).map(|c| c.cpu_max_percent)))}
            </div>
        </fieldset>
    }
    .into_any()
}
