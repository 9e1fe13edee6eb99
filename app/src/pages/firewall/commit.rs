//! The commit-confirm controls of the firewall page: the pending banner (its countdown, "Keep these
//! rules" / "Revert now", and the notice of what happened to the last apply) and the status bar (state,
//! unapplied changes, Apply with its confirm window, Deactivate).

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::components::toast::use_toasts;
use crate::model::firewall::{human_duration, FirewallControl, RollbackCause};
use crate::rpc::{apply_firewall, control_firewall};

use super::{FirewallCtx, Outcome};

/// The commit-confirm banner: countdown, "Keep these rules", "Revert now"; and the outcome afterwards.
#[component]
pub(super) fn PendingBanner() -> AnyView {
    let ctx = expect_context::<FirewallCtx>();
    let toasts = use_toasts();
    let pending = move || ctx.state.with(|s| s.pending.is_some());
    let control = move |op: FirewallControl| {
        ctx.acting.set_value(true);
        spawn_local(async move {
            let result = control_firewall(op).await;
            match result {
                Ok(state) => {
                    let (outcome, message) = match op {
                        FirewallControl::Confirm => {
                            (Outcome::Kept, "Kept: the new firewall rules stay in place.")
                        }
                        _ => (
                            Outcome::RevertedByRequest,
                            "Reverted: the previous firewall rules are back.",
                        ),
                    };
                    ctx.set_state(state);
                    ctx.outcome.set(Some(outcome));
                    toasts.success(message);
                }
                Err(e) => toasts.error(e.to_string()),
            }
            ctx.acting.set_value(false);
            ctx.reload();
        });
    };
    view! {
        <Show when=pending>
            <div class="fw-banner" role="alert" data-testid="fw-pending-banner">
                <div class="fw-banner-text">
                    <strong>"New firewall rules are live. "</strong>
                    "They are reverted automatically in "
                    <span class="fw-countdown" data-testid="fw-countdown">
                        {move || human_duration(ctx.seconds_left.get())}
                    </span>
                    " unless you keep them. If you can still use this page, keep them."
                </div>
                <div class="fw-banner-actions">
                    <button type="button" class="btn primary" data-testid="fw-keep"
                        on:click=move |_| control(FirewallControl::Confirm)>
                        "Keep these rules"
                    </button>
                    <button type="button" class="btn" data-testid="fw-revert"
                        on:click=move |_| control(FirewallControl::Rollback)>
                        "Revert now"
                    </button>
                </div>
            </div>
        </Show>
        {move || match ctx.outcome.get() {
            Some(o) => {
                let (class, text) = match o {
                    Outcome::Kept => ("notice ok-notice", "The new rules were kept and stay in place."),
                    Outcome::RevertedByRequest => ("notice warn", "Reverted: you restored the previous firewall rules."),
                    Outcome::RevertedByTimeout => ("notice warn", "Reverted: the apply was not confirmed in time, so Warden restored the previous firewall rules."),
                };
                Some(view! { <div class=class role="status" data-testid="fw-outcome">{text}</div> }.into_any())
            }
            // Nothing happened on this page: say what the server remembers (e.g. after a reload).
            None => ctx.state.with(|s| {
                if s.pending.is_some() {
                    return None;
                }
                s.last_rollback.as_ref().map(|r| {
                    let why = match r.cause {
                        RollbackCause::Timer => "the apply was not confirmed in time",
                        RollbackCause::Restart => "Warden restarted before the apply was confirmed",
                        RollbackCause::Request => "it was reverted on request",
                    };
                    let text = format!(
                        "Reverted at {}: {why}, so Warden restored the previous firewall rules (revision {} is saved but not live).",
                        r.at, r.revision
                    );
                    view! { <div class="notice warn" role="status" data-testid="fw-outcome">{text}</div> }.into_any()
                })
            }),
        }}
    }
    .into_any()
}

/// Active / pending / drift, unapplied changes, and the Apply and Turn off controls.
#[component]
pub(super) fn StatusBar() -> AnyView {
    let ctx = expect_context::<FirewallCtx>();
    let toasts = use_toasts();
    let confirm_secs = RwSignal::new("60".to_string());
    let busy = RwSignal::new(false);
    let s = move || ctx.state.get();
    let apply = move |_| {
        let secs = match confirm_secs.get_untracked().trim().parse::<u64>() {
            Ok(n) if n <= 86_400 => n,
            _ => {
                toasts.error("The confirm window must be a whole number of seconds, 0 to 86400.");
                return;
            }
        };
        busy.set(true);
        spawn_local(async move {
            match apply_firewall(secs).await {
                Ok(state) => {
                    ctx.set_state(state);
                    toasts.success(if secs > 0 {
                        format!(
                            "Applied. Keep the rules within {} or they are reverted.",
                            human_duration(secs)
                        )
                    } else {
                        "Applied without a confirm window.".to_string()
                    });
                }
                Err(e) => toasts.error(format!("Apply failed: {e}")),
            }
            busy.set(false);
            ctx.reload();
        });
    };
    let deactivate = move |_| {
        let sure = window()
            .confirm_with_message("Turn the firewall off? Warden's table (rules and bans) is removed from the kernel.")
            .unwrap_or(false);
        if !sure {
            return;
        }
        spawn_local(async move {
            ctx.acting.set_value(true);
            match control_firewall(FirewallControl::Deactivate).await {
                Ok(state) => {
                    ctx.set_state(state);
                    toasts.success("The firewall is off: Warden's table was removed. It stays off, across restarts too, until the next apply.");
                }
                Err(e) => toasts.error(e.to_string()),
            }
            ctx.acting.set_value(false);
            ctx.reload();
        });
    };
    view! {
        <section class="card fw-status" aria-label="Firewall status">
            <div class="fw-status-badges" data-testid="fw-status">
                {move || if s().active {
                    view! { <span class="badge ok">"Active"</span> }.into_any()
                } else {
                    view! { <span class="badge">"Not active"</span> }.into_any()
                }}
                {move || s().pending.is_some().then(|| view! { <span class="badge warn">"Waiting for confirmation"</span> })}
                {move || s().default_guard.then(|| view! {
                    <span class="badge ok" data-testid="fw-default-guard"
                        title="Warden installed its guard by itself: the service port range is closed to new connections from outside until a rule opens it.">"Default guard"</span>
                })}
                {move || (!s().stale_hosts.is_empty()).then(|| view! {
                    <span class="badge warn" data-testid="fw-stale-hosts"
                        title=move || format!("Did not resolve at the last restore (the rules use the addresses of the last apply): {}", s().stale_hosts.join(", "))>"Stale resolution"</span>
                })}
                {move || s().fallback.map(|reason| view! {
                    <span class="badge bad" data-testid="fw-fallback" title=reason>"Fallback guard"</span>
                })}
                {move || s().drift.then(|| view! {
                    <span class="badge bad" title="The live nftables table differs from what Warden applied. Apply again to fix it.">"Drift"</span>
                })}
                {move || (s().has_unapplied_changes()).then(|| view! {
                    <span class="badge warn" data-testid="fw-unapplied">"Unapplied changes"</span>
                })}
                <span class="muted small">
                    {move || match s().applied_revision {
                        Some(r) => format!("Live revision {r}, saved revision {}", s().saved_revision),
                        None => format!("Nothing applied yet; saved revision {}", s().saved_revision),
                    }}
                </span>
            </div>
            <div class="fw-apply">
                <label for="fw-confirm-secs" class="inline">"Revert unless kept within"</label>
                <input id="fw-confirm-secs" type="number" min="0" max="86400" step="1" class="narrow-input"
                    data-testid="fw-confirm-secs"
                    prop:value=move || confirm_secs.get()
                    on:input=move |ev| confirm_secs.set(event_target_value(&ev))
                    aria-describedby="fw-confirm-help"/>
                <span id="fw-confirm-help" class="muted small">"seconds (0 = no window)"</span>
                <button type="button" class="btn primary" data-testid="fw-apply"
                    disabled=move || busy.get() || !s().capability.available
                    on:click=apply>
                    {move || if busy.get() { "Applying…" } else { "Apply" }}
                </button>
                <button type="button" class="btn ghost" data-testid="fw-deactivate"
                    disabled=move || !s().capability.available || !s().active
                    on:click=deactivate>
                    "Turn off"
                </button>
            </div>
        </section>
    }
    .into_any()
}
