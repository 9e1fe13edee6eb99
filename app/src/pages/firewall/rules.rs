//! The ordered rules table: drag a row onto another to move it there (HTML5 drag and drop), or use the
//! move up/down buttons (keyboard); enable toggles; per-rule packet/byte counters that update in place
//! (a row is re-rendered only when its rule changes, never for a counter); edit and delete.

use leptos::prelude::*;
use leptos::task::spawn_local;
use warden_firewall::{Action, Direction, IpVersion, Protocol, Rule, RulePatch};

use super::FirewallCtx;
use crate::model::firewall::short_count;
use crate::model::service_ports::ServicePortRange;
use crate::rpc::{
    delete_firewall_rule, move_firewall_rule, service_port_range, update_firewall_rule,
};

pub(crate) fn action_label(a: Action) -> &'static str {
    match a {
        Action::Accept => "accept",
        Action::Drop => "drop",
        Action::Reject => "reject",
    }
}

fn protocol_label(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Any => "any",
    }
}

fn version_label(v: IpVersion) -> &'static str {
    match v {
        IpVersion::V4 => "IPv4",
        IpVersion::V6 => "IPv6",
        IpVersion::Any => "v4+v6",
    }
}

/// A short description of a rule for messages: "#2 accept tcp 8300 (note)".
pub(crate) fn describe(rule: &Rule) -> String {
    let ports = if rule.ports.is_empty() {
        "all ports".to_string()
    } else {
        rule.ports.join(",")
    };
    let mut text = format!(
        "#{} {} {} {}",
        rule.position + 1,
        action_label(rule.action),
        protocol_label(rule.protocol),
        ports
    );
    if !rule.annotation.is_empty() {
        text.push_str(&format!(" ({})", rule.annotation));
    }
    text
}

/// Moves a rule and reports the result.
fn move_to(ctx: FirewallCtx, rule: Rule, position: u32) {
    if position == rule.position {
        return;
    }
    spawn_local(async move {
        match move_firewall_rule(rule.id.clone(), position).await {
            Ok(moved) => ctx.toasts.success(format!(
                "Moved rule \"{}\" to position {}.",
                label_or_id(&rule),
                moved.position + 1
            )),
            Err(e) => ctx.toasts.error(format!("Moving the rule failed: {e}")),
        }
        ctx.reload();
    });
}

fn label_or_id(rule: &Rule) -> String {
    if rule.annotation.is_empty() {
        describe(rule)
    } else {
        rule.annotation.clone()
    }
}

/// What an empty rule list means, naming the configured service range (when known).
fn no_rules_text(service_ports: Option<ServicePortRange>) -> String {
    let ports = match service_ports {
        Some(range) => format!("the service ports {}", range.human_text()),
        None => "the service ports".to_string(),
    };
    format!(
        "Without rules, {ports} are closed to other hosts and everything else follows the default policy. "
    )
}

#[component]
pub fn RulesTable() -> AnyView {
    let ctx = expect_context::<FirewallCtx>();
    // Loaded in the browser once the page is live: until it arrives (and on the server) the text names no
    // numbers. Not a resource: a `LocalResource` read here, inside the page's `<Suspense>`, never resolves
    // on the server and kept the whole server-rendered page at its "Loading" fallback.
    let service_ports = RwSignal::new(None::<ServicePortRange>);
    Effect::new(move |_| {
        spawn_local(async move {
            if let Ok(range) = service_port_range().await {
                service_ports.set(Some(range));
            }
        });
    });
    let no_rules = move || no_rules_text(service_ports.get());
    let count = move || ctx.rules.with(Vec::len);
    let rules = move || {
        ctx.rules
            .get()
            .into_iter()
            .map(|r| r.rule)
            .collect::<Vec<_>>()
    };
    view! {
        <Show when=move || count() == 0>
            <div class="empty" data-testid="fw-rules-empty">
                <p><strong>"No rules yet."</strong></p>
                <p class="muted">
                    {no_rules}
                    "Add a rule below, or open a preset (SSH, HTTP, databases…) from the Presets menu, then Apply."
                </p>
            </div>
        </Show>
        <Show when=move || { count() > 0 }>
            <div class="table-scroll">
                <table class="fw-table" data-testid="fw-rules">
                    <thead>
                        <tr>
                            <th scope="col"><span class="sr-only">"Drag"</span></th>
                            <th scope="col">"#"</th>
                            <th scope="col">"On"</th>
                            <th scope="col">"Action"</th>
                            <th scope="col">"Dir"</th>
                            <th scope="col">"Proto"</th>
                            <th scope="col">"Ports"</th>
                            <th scope="col">"Hosts"</th>
                            <th scope="col">"IP"</th>
                            <th scope="col">"Note"</th>
                            <th scope="col" class="num">"Packets"</th>
                            <th scope="col" class="num">"Bytes"</th>
                            <th scope="col"><span class="sr-only">"Actions"</span></th>
                        </tr>
                    </thead>
                    <tbody>
                        <For
                            each=rules
                            key=|rule| format!("{rule:?}")
                            let:rule
                        >
                            <RuleRowView rule/>
                        </For>
                    </tbody>
                </table>
            </div>
        </Show>
    }
    .into_any()
}

#[component]
fn RuleRowView(rule: Rule) -> AnyView {
    let ctx = expect_context::<FirewallCtx>();
    let id = rule.id.clone();
    let position = rule.position;
    let at_bottom = move || {
        let count = ctx.rules.with(Vec::len);
        usize::try_from(position).map_or(true, |p| p + 1 >= count)
    };
    let counters = {
        let id = id.clone();
        move || {
            ctx.rules.with(|rows| {
                rows.iter()
                    .find(|r| r.rule.id == id)
                    .map(|r| (r.packets, r.bytes))
                    .unwrap_or((None, None))
            })
        }
    };
    let counters2 = counters.clone();
    let drop_target = RwSignal::new(false);
    let title = describe(&rule);

    let toggle = {
        let rule = rule.clone();
        move |_| {
            let rule = rule.clone();
            let enabled = !rule.enabled;
            spawn_local(async move {
                let patch = RulePatch {
                    enabled: Some(enabled),
                    ..RulePatch::default()
                };
                match update_firewall_rule(rule.id.clone(), patch).await {
                    Ok(_) => ctx.toasts.success(format!(
                        "Rule \"{}\" {}.",
                        label_or_id(&rule),
                        if enabled { "enabled" } else { "disabled" }
                    )),
                    Err(e) => ctx.toasts.error(format!("Changing the rule failed: {e}")),
                }
                ctx.reload();
            });
        }
    };
    let delete = {
        let rule = rule.clone();
        move |_| {
            let sure = window()
                .confirm_with_message(&format!("Delete rule {}?", describe(&rule)))
                .unwrap_or(false);
            if !sure {
                return;
            }
            let rule = rule.clone();
            spawn_local(async move {
                match delete_firewall_rule(rule.id.clone()).await {
                    Ok(()) => ctx
                        .toasts
                        .success(format!("Deleted rule \"{}\".", label_or_id(&rule))),
                    Err(e) => ctx.toasts.error(format!("Deleting the rule failed: {e}")),
                }
                ctx.reload();
            });
        }
    };
    let edit = {
        let rule = rule.clone();
        move |_| {
            ctx.editing.set(Some(rule.clone()));
            if let Some(el) = document().get_element_by_id("fw-form") {
                el.scroll_into_view();
            }
        }
    };
    let up = {
        let rule = rule.clone();
        move |_: leptos::ev::MouseEvent| move_to(ctx, rule.clone(), rule.position.saturating_sub(1))
    };
    let down = {
        let rule = rule.clone();
        move |_: leptos::ev::MouseEvent| move_to(ctx, rule.clone(), rule.position + 1)
    };
    let dragstart = {
        let id = id.clone();
        move |_ev: leptos::ev::DragEvent| {
            #[cfg(feature = "hydrate")]
            let ev = _ev;
            ctx.dragging.set_value(Some(id.clone()));
            // Firefox starts a drag only when data is set; the id itself travels in `ctx.dragging`.
            #[cfg(feature = "hydrate")]
            if let Some(dt) = ev.data_transfer() {
                let _ = dt.set_data("text/plain", &id);
                dt.set_effect_allowed("move");
            }
        }
    };
    let on_drop = move |ev: leptos::ev::DragEvent| {
        ev.prevent_default();
        drop_target.set(false);
        let Some(source) = ctx.dragging.get_value() else {
            return;
        };
        ctx.dragging.set_value(None);
        let dragged = ctx.rules.with_untracked(|rows| {
            rows.iter()
                .find(|r| r.rule.id == source)
                .map(|r| r.rule.clone())
        });
        if let Some(dragged) = dragged {
            move_to(ctx, dragged, position);
        }
    };

    let enabled = rule.enabled;
    let hosts = if rule.hosts.is_empty() {
        "any".to_string()
    } else {
        rule.hosts.join(", ")
    };
    let ports = if rule.ports.is_empty() {
        "all".to_string()
    } else {
        rule.ports.join(", ")
    };
    let action_class = format!("badge action-{}", action_label(rule.action));
    view! {
        <tr
            draggable="true"
            class:disabled=!enabled
            class:drop-target=move || drop_target.get()
            data-rule-id=id.clone()
            data-testid="fw-rule"
            on:dragstart=dragstart
            on:dragend=move |_| { ctx.dragging.set_value(None); drop_target.set(false); }
            on:dragover=move |ev: leptos::ev::DragEvent| { ev.prevent_default(); drop_target.set(true); }
            on:dragleave=move |_| drop_target.set(false)
            on:drop=on_drop
        >
            <td class="drag-handle" title="Drag to reorder" aria-hidden="true">"⋮⋮"</td>
            <td class="num" data-testid="fw-rule-position">{position + 1}</td>
            <td>
                <input type="checkbox" role="switch" checked=enabled
                    aria-label=format!("Enabled: rule {}", title)
                    data-testid="fw-rule-toggle"
                    on:change=toggle/>
            </td>
            <td><span class=action_class>{action_label(rule.action)}</span></td>
            <td>{match rule.direction { Direction::In => "in", Direction::Out => "out" }}</td>
            <td>{protocol_label(rule.protocol)}</td>
            <td class="mono" data-testid="fw-rule-ports">{ports}</td>
            <td class="mono wrap">{hosts}</td>
            <td>{version_label(rule.ip_version)}</td>
            <td class="wrap" data-testid="fw-rule-note">{rule.annotation.clone()}</td>
            <td class="num" data-testid="fw-rule-packets">
                {move || counters().0.map(short_count).unwrap_or_else(|| "–".into())}
            </td>
            <td class="num" data-testid="fw-rule-bytes">
                {move || counters2().1.map(short_count).unwrap_or_else(|| "–".into())}
            </td>
            <td class="row-actions">
                <button type="button" class="btn small" aria-label=format!("Move up: rule {}", title)
                    data-testid="fw-rule-up" disabled=position == 0 on:click=up>"↑"</button>
                <button type="button" class="btn small" aria-label=format!("Move down: rule {}", title)
                    data-testid="fw-rule-down" disabled=at_bottom on:click=down>"↓"</button>
                <button type="button" class="btn small" data-testid="fw-rule-edit"
                    aria-label=format!("Edit rule {}", title) on:click=edit>"Edit"</button>
                <button type="button" class="btn small danger" data-testid="fw-rule-delete"
                    aria-label=format!("Delete rule {}", title) on:click=delete>"Delete"</button>
            </td>
        </tr>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_empty_state_names_the_configured_range() {
        assert_eq!(
            no_rules_text(ServicePortRange::new(9000, 9099)),
            "Without rules, the service ports 9000–9099 are closed to other hosts and everything else follows the default policy. "
        );
        assert!(no_rules_text(Some(ServicePortRange::DEFAULT)).contains(" 8300–8499 are closed"));
        assert!(no_rules_text(None).starts_with("Without rules, the service ports are closed"));
    }
}
