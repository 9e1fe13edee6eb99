//! Presets (one click opens or closes the ports of a well-known function) and the bans list (why,
//! which jail and the lines that led to it, time left, unban).

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::FirewallCtx;
use crate::model::firewall::human_duration;
use crate::rpc::{set_firewall_preset, unban_address};

/// A disclosure menu of presets; each entry is a toggle button (`aria-pressed` = open).
#[component]
pub fn PresetsMenu() -> AnyView {
    let ctx = expect_context::<FirewallCtx>();
    let toggle = move |name: String, title: String, open: bool| {
        spawn_local(async move {
            match set_firewall_preset(name, !open).await {
                Ok(rules) => ctx.toasts.success(if open {
                    format!(
                        "Closed {title}: removed {} rule(s). Apply to make it live.",
                        rules.len()
                    )
                } else {
                    format!(
                        "Opened {title}: added {} rule(s). Apply to make it live.",
                        rules.len()
                    )
                }),
                Err(e) => ctx.toasts.error(format!("{title}: {e}")),
            }
            ctx.reload();
        });
    };
    view! {
        <details class="menu" data-testid="fw-presets">
            <summary class="btn">"Presets"</summary>
            <div class="menu-body" role="group" aria-label="Presets">
                <p class="muted small">"One click opens or closes a service's ports (added as rules you can edit)."</p>
                <ul class="preset-list">
                    <For each=move || ctx.presets.get() key=|p| (p.name.clone(), p.open) let:preset>
                        {
                            let (name, title, open) = (preset.name.clone(), preset.title.clone(), preset.open);
                            let label = format!("{}: {}", preset.title, if open { "open — click to close" } else { "closed — click to open" });
                            view! {
                                <li>
                                    <button type="button" class="preset" class:open=open
                                        aria-pressed=if open { "true" } else { "false" }
                                        aria-label=label
                                        data-testid=format!("fw-preset-{}", preset.name)
                                        on:click=move |_| toggle(name.clone(), title.clone(), open)>
                                        <span class="preset-title">{preset.title.clone()}</span>
                                        <span class="preset-ports mono">{preset.port_summary().join(" · ")}</span>
                                        <span class="preset-state">{if open { "Open" } else { "Closed" }}</span>
                                    </button>
                                </li>
                            }
                        }
                    </For>
                </ul>
            </div>
        </details>
    }
    .into_any()
}

#[component]
pub fn BansList() -> AnyView {
    let ctx = expect_context::<FirewallCtx>();
    let unban = move |address: String| {
        spawn_local(async move {
            match unban_address(address.clone()).await {
                Ok(()) => ctx.toasts.success(format!("Unbanned {address}.")),
                Err(e) => ctx.toasts.error(format!("Unbanning {address} failed: {e}")),
            }
            ctx.reload();
        });
    };
    view! {
        <Show
            when=move || ctx.bans.with(|b| !b.is_empty())
            fallback=|| view! {
                <p class="muted" data-testid="fw-bans-empty">
                    "No address is banned. Addresses with too many failed logins to Warden (thresholds in \
                     Settings) or to your services (jails) are banned automatically for a while; they \
                     show up here with the time left."
                </p>
            }
        >
            <div class="table-scroll">
                <table class="fw-table" data-testid="fw-bans">
                    <thead>
                        <tr>
                            <th scope="col">"Address"</th>
                            <th scope="col">"Reason"</th>
                            <th scope="col">"Time left"</th>
                            <th scope="col"><span class="sr-only">"Actions"</span></th>
                        </tr>
                    </thead>
                    <tbody>
                        <For each=move || ctx.bans.get() key=|b| b.address.clone() let:ban>
                            {
                                let address = ban.address.clone();
                                let left = {
                                    let address = ban.address.clone();
                                    move || ctx.bans.with(|bans| {
                                        bans.iter()
                                            .find(|b| b.address == address)
                                            .map(|b| match b.seconds_left {
                                                Some(s) => human_duration(s),
                                                None => "until unbanned".to_string(),
                                            })
                                            .unwrap_or_default()
                                    })
                                };
                                view! {
                                    <tr data-testid="fw-ban" data-address=ban.address.clone()>
                                        <td class="mono">{ban.address.clone()}</td>
                                        <td>
                                            {ban.reason.clone().unwrap_or_else(|| "—".into())}
                                            {ban.jail.clone().map(|jail| view! {
                                                <div class="muted small" data-testid="fw-ban-jail">
                                                    <a href="/firewall/jails">{format!("jail {jail}")}</a>
                                                    {format!(" · {} failure(s)", ban.failures)}
                                                </div>
                                            })}
                                            {(!ban.lines.is_empty()).then(|| view! {
                                                <details class="small" data-testid="fw-ban-lines">
                                                    <summary>{format!("The last {} line(s)", ban.lines.len())}</summary>
                                                    <ul class="jail-lines">
                                                        {ban.lines.iter().map(|l| view! { <li><code class="log-line">{l.clone()}</code></li> }).collect_view()}
                                                    </ul>
                                                </details>
                                            })}
                                        </td>
                                        <td data-testid="fw-ban-left">{left}</td>
                                        <td>
                                            <button type="button" class="btn small" data-testid="fw-unban"
                                                aria-label=format!("Unban {}", ban.address)
                                                on:click=move |_| unban(address.clone())>
                                                "Unban"
                                            </button>
                                        </td>
                                    </tr>
                                }
                            }
                        </For>
                    </tbody>
                </table>
            </div>
        </Show>
    }
    .into_any()
}
