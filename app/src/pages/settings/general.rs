//! The "General" card of the settings page: the global settings (hostname, global environment, service
//! user, service port range, crash-loop and ban thresholds, allowed host names, trusted proxies), checked
//! by the shared validation before they are sent, with the server's field errors shown under the same
//! inputs.

use leptos::prelude::*;

use super::FieldMessage;
use crate::components::env_editor::{EnvEditor, EnvRows};
use crate::components::live_form::use_form_live;
use crate::components::toast::use_toasts;
use crate::model::error::AppError;
use crate::model::service_ports::ServicePortRange;
use crate::model::settings::{parse_ssh_ports, validate_settings, Settings};
use crate::model::FieldError;
use crate::rpc::{get_settings, update_settings};

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

/// A list typed as text: entries separated by commas, spaces or new lines.
/// Ports as the SSH ports field shows them.
fn ports_text(ports: &[u16]) -> String {
    ports
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn parse_list(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|e| !e.is_empty())
        .map(str::to_string)
        .collect()
}

#[component]
pub(super) fn SettingsForm() -> impl IntoView {
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
    // The example shown in an emptied field: the saved range (the default if that is unreadable).
    let port_range_example = initial
        .service_port_range()
        .unwrap_or(ServicePortRange::DEFAULT)
        .to_string();
    let crash_max = RwSignal::new(initial.crash_loop.max_failures.to_string());
    let crash_window = RwSignal::new(initial.crash_loop.window_secs.to_string());
    let ban_max = RwSignal::new(initial.ban.max_failures.to_string());
    let ban_window = RwSignal::new(initial.ban.window_secs.to_string());
    let ban_secs = RwSignal::new(initial.ban.ban_secs.to_string());
    let allowed_hosts = RwSignal::new(initial.allowed_hosts.join(", "));
    let trusted_proxies = RwSignal::new(initial.trusted_proxies.join(", "));
    let ssh_ports = RwSignal::new(ports_text(&initial.ssh_ports));
    let metrics_open = RwSignal::new(initial.metrics_loopback_without_token);
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
        let ssh_ports = parse_ssh_ports(&ssh_ports.get_untracked())
            .map_err(|e| problems.push(e))
            .ok();
        let (
            Some(crash_max),
            Some(crash_window),
            Some(ban_max),
            Some(ban_window),
            Some(ban_secs),
            Some(ssh_ports),
        ) = (
            crash_max,
            crash_window,
            ban_max,
            ban_window,
            ban_secs,
            ssh_ports,
        )
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
            allowed_hosts: parse_list(&allowed_hosts.get_untracked()),
            trusted_proxies: parse_list(&trusted_proxies.get_untracked()),
            ssh_ports,
            metrics_loopback_without_token: metrics_open.get_untracked(),
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
                    allowed_hosts.set(saved.allowed_hosts.join(", "));
                    trusted_proxies.set(saved.trusted_proxies.join(", "));
                    ssh_ports.set(ports_text(&saved.ssh_ports));
                    metrics_open.set(saved.metrics_loopback_without_token);
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
                placeholder=port_range_example autocomplete="off"/>
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
                <legend>"Access"</legend>
                <label for="allowed_hosts">"Allowed host names"</label>
                <input id="allowed_hosts" data-testid="allowed-hosts-input" bind:value=allowed_hosts
                    placeholder="panel.example.com" autocomplete="off"/>
                <p class="hint muted">"Names Warden answers to besides localhost, its addresses, the machine's host name and the TLS certificate's names (comma-separated). Other names are refused, against DNS rebinding."</p>
                <FieldMessage errors name="allowed_hosts"/>
                <label for="trusted_proxies">"Trusted reverse proxies"</label>
                <input id="trusted_proxies" data-testid="trusted-proxies-input" bind:value=trusted_proxies
                    placeholder="127.0.0.1, 10.0.0.0/8" autocomplete="off"/>
                <p class="hint muted">"Addresses or networks whose X-Forwarded-For header names the client (for login limits, bans and the audit log). Leave empty without a reverse proxy."</p>
                <FieldMessage errors name="trusted_proxies"/>
                <label for="ssh_ports">"SSH ports"</label>
                <input id="ssh_ports" inputmode="numeric" data-testid="ssh-ports-input" bind:value=ssh_ports
                    placeholder="the ports sshd listens on, else 22" autocomplete="off"/>
                <p class="hint muted">"Anti-lockout keeps these TCP ports (with Warden's own port) open to the address that applies the firewall rules. Leave empty to use the ports sshd listens on (found at each apply), else 22. Takes effect at the next apply."</p>
                <FieldMessage errors name="ssh_ports"/>
                <label class="check">
                    <input type="checkbox" data-testid="metrics-loopback-input" bind:checked=metrics_open/>
                    " Prometheus may scrape /metrics from this machine without a token"
                </label>
                <p class="hint muted">"Only a direct connection from a loopback address without proxy headers; everyone else still needs a token (a read token suffices). A reverse proxy on this machine must send X-Forwarded-For, or it would open /metrics to whoever it serves."</p>
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
