//! The firewall page: status and the read-only notice, the anti-lockout note, the commit-confirm banner
//! (its countdown comes from the server's pending deadline, so it survives reloads), Apply with the diff
//! of what it will install, the ordered rules table with live counters (`rules`), the add/edit form
//! (`form`), presets and bans (`bans`). The page loads everything once on the server (first paint), then
//! the browser polls every 2 s while the tab is visible and updates counters, the banner and bans in
//! place.

mod bans;
mod commit;
mod form;
mod rules;

use commit::{PendingBanner, StatusBar};

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;

use crate::components::toast::{use_toasts, Toasts};
use crate::model::error::AppError;
use crate::model::firewall::{
    line_diff, BanView, DiffLine, FirewallStatus, PresetView, RuleView, SshPortsSource,
};
use crate::rpc::{
    firewall_bans, firewall_presets, firewall_rules, firewall_ruleset_texts, get_firewall_state,
};

/// Everything the page shows, loaded together for the first paint.
type Initial = (
    Result<FirewallStatus, AppError>,
    Result<Vec<RuleView>, AppError>,
    Result<Vec<PresetView>, AppError>,
    Result<Vec<BanView>, AppError>,
);

async fn load_initial() -> Initial {
    (
        get_firewall_state().await,
        firewall_rules().await,
        firewall_presets().await,
        firewall_bans().await,
    )
}

/// What happened to the last pending apply, for the notice under the banner.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Kept,
    RevertedByRequest,
    RevertedByTimeout,
}

/// The page's live state, shared by its parts (all `Copy`).
#[derive(Clone, Copy)]
pub(crate) struct FirewallCtx {
    pub state: RwSignal<FirewallStatus>,
    pub rules: RwSignal<Vec<RuleView>>,
    pub presets: RwSignal<Vec<PresetView>>,
    pub bans: RwSignal<Vec<BanView>>,
    /// Bumped after every change: the diff reloads.
    pub version: RwSignal<u64>,
    /// Seconds left of the pending window, counted down locally between polls.
    seconds_left: RwSignal<u64>,
    outcome: RwSignal<Option<Outcome>>,
    /// Set while this page itself confirms or reverts (so a vanished window is not taken for a timeout).
    acting: StoredValue<bool>,
    pub toasts: Toasts,
    /// The rule the form edits (`None`: the form adds a new rule).
    pub editing: RwSignal<Option<warden_firewall::Rule>>,
    /// The rule being dragged (HTML5 drag and drop in the rules table).
    pub dragging: StoredValue<Option<String>>,
}

impl FirewallCtx {
    fn set_state(&self, next: FirewallStatus) {
        let was_pending = self.state.with_untracked(|s| s.pending.is_some());
        if let Some(p) = &next.pending {
            self.seconds_left.set(p.seconds_left);
            self.outcome.set(None);
        } else if was_pending && !self.acting.get_value() {
            self.outcome.set(Some(Outcome::RevertedByTimeout));
            self.toasts.error(
                "The apply was not confirmed in time: Warden restored the previous firewall rules.",
            );
            self.version.update(|v| *v += 1);
        }
        if self.state.with_untracked(|s| *s != next) {
            self.state.set(next);
        }
    }

    /// Replaces the rules only where something changed (counters live in the rows' own signals).
    fn set_rules(&self, next: Vec<RuleView>) {
        if self.rules.with_untracked(|r| *r != next) {
            self.rules.set(next);
        }
    }

    /// Reloads state, rules, presets and bans after an action; errors become toasts.
    pub fn reload(&self) {
        let ctx = *self;
        ctx.version.update(|v| *v += 1);
        spawn_local(async move {
            let toasts = ctx.toasts;
            match get_firewall_state().await {
                Ok(s) => ctx.set_state(s),
                Err(e) => toasts.error(e.to_string()),
            }
            match firewall_rules().await {
                Ok(r) => ctx.set_rules(r),
                Err(e) => toasts.error(e.to_string()),
            }
            if let Ok(p) = firewall_presets().await {
                if ctx.presets.with_untracked(|old| *old != p) {
                    ctx.presets.set(p);
                }
            }
            if let Ok(b) = firewall_bans().await {
                if ctx.bans.with_untracked(|old| *old != b) {
                    ctx.bans.set(b);
                }
            }
        });
    }

    /// One poll: state (banner), rules (counters) and bans (time left). Browser only.
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    fn poll(&self) {
        let ctx = *self;
        spawn_local(async move {
            if let Ok(s) = get_firewall_state().await {
                ctx.set_state(s);
            }
            if let Ok(r) = firewall_rules().await {
                ctx.set_rules(r);
            }
            if let Ok(b) = firewall_bans().await {
                if ctx.bans.with_untracked(|old| *old != b) {
                    ctx.bans.set(b);
                }
            }
        });
    }
}

#[component]
pub fn FirewallPage() -> AnyView {
    let initial = Resource::new(|| (), |_| load_initial());
    view! {
        <Title text="Firewall"/>
        <h1 data-testid="page-title">"Firewall"</h1>
        <Suspense fallback=|| view! { <p class="muted">"Loading the firewall…"</p> }>
            {move || initial.get().map(|(state, rules, presets, bans)| match (state, rules) {
                (Ok(state), Ok(rules)) => view! {
                    <FirewallView
                        state rules
                        presets=presets.unwrap_or_default()
                        bans=bans.unwrap_or_default()
                    />
                }.into_any(),
                (Err(e), _) | (_, Err(e)) => view! {
                    <p class="error" role="alert">{e.to_string()}</p>
                }.into_any(),
            })}
        </Suspense>
    }
    .into_any()
}

#[component]
fn FirewallView(
    state: FirewallStatus,
    rules: Vec<RuleView>,
    presets: Vec<PresetView>,
    bans: Vec<BanView>,
) -> AnyView {
    let seconds = state.pending.as_ref().map(|p| p.seconds_left).unwrap_or(0);
    let ctx = FirewallCtx {
        state: RwSignal::new(state),
        rules: RwSignal::new(rules),
        presets: RwSignal::new(presets),
        bans: RwSignal::new(bans),
        version: RwSignal::new(0),
        seconds_left: RwSignal::new(seconds),
        outcome: RwSignal::new(None),
        acting: StoredValue::new(false),
        toasts: use_toasts(),
        editing: RwSignal::new(None),
        dragging: StoredValue::new(None),
    };
    provide_context(ctx);

    // In the browser: a 1 s countdown tick, and a poll every 2 s while the tab is visible.
    #[cfg(feature = "hydrate")]
    {
        let tick = move || {
            ctx.seconds_left.update(|s| *s = s.saturating_sub(1));
        };
        if let Ok(handle) = set_interval_with_handle(tick, std::time::Duration::from_secs(1)) {
            on_cleanup(move || handle.clear());
        }
        let poll = move || {
            let hidden = web_sys::window()
                .and_then(|w| w.document())
                .is_some_and(|d| d.hidden());
            if !hidden {
                ctx.poll();
            }
        };
        if let Ok(handle) = set_interval_with_handle(poll, std::time::Duration::from_secs(2)) {
            on_cleanup(move || handle.clear());
        }
    }

    let available = move || ctx.state.with(|s| s.capability.available);
    view! {
        <Show when=move || !available()>
            <div class="notice warn" role="status" data-testid="fw-capability">
                <strong>"Read-only. "</strong>
                {move || ctx.state.with(|s| s.capability.reason.clone())
                    .unwrap_or_else(|| "The firewall cannot be managed here.".into())}
                " You can still edit the saved rules; applying them needs nft and root (CAP_NET_ADMIN)."
            </div>
        </Show>
        <Show when=available>
            <p class="muted" data-testid="fw-capability">"Warden manages this host's nftables firewall (table inet warden)."</p>
        </Show>
        <PendingBanner/>
        <StatusBar/>
        <AntiLockoutNote/>
        <div class="fw-layout">
            <section class="card fw-rules" aria-labelledby="fw-rules-title">
                <div class="section-head">
                    <h2 id="fw-rules-title">"Rules"</h2>
                    <bans::PresetsMenu/>
                </div>
                <p class="muted small">"Evaluated top to bottom; the first matching rule wins. Edits are saved at once and reach the kernel when you apply."</p>
                <rules::RulesTable/>
                <form::RuleForm/>
            </section>
            <section class="card" aria-labelledby="fw-diff-title">
                <h2 id="fw-diff-title">"What Apply will change"</h2>
                <RulesetDiff/>
            </section>
            <section class="card" aria-labelledby="fw-bans-title">
                <div class="section-head">
                    <h2 id="fw-bans-title">"Bans"</h2>
                    <a class="btn" href="/firewall/jails" data-testid="fw-jails-link">"Jails"</a>
                </div>
                <bans::BansList/>
            </section>
        </div>
    }
    .into_any()
}

/// The anti-lockout promise, with this browser's address.
#[component]
fn AntiLockoutNote() -> AnyView {
    let ctx = expect_context::<FirewallCtx>();
    view! {
        <p class="notice small" role="note" data-testid="fw-anti-lockout">
            <strong>"Anti-lockout: "</strong>
            {move || ctx.state.with(|s| format!(
                "the admin port ({}) and SSH ({}) are always accepted from the address that applies the rules \
                 (this browser: {}) and from loopback, above all rules below, and that address is never banned.",
                s.admin_port,
                ssh_ports_text(&s.ssh_ports, s.ssh_ports_source),
                s.your_address.map(|a| a.to_string()).unwrap_or_default()
            ))}
            {move || ctx.state.with(|s| (!s.anti_lockout.is_empty()).then(|| format!(
                " Live now for: {}.",
                s.anti_lockout.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            )))}
        </p>
    }
    .into_any()
}

/// The SSH ports and where they come from, e.g. "2222, from the SSH ports setting".
fn ssh_ports_text(ports: &[u16], source: SshPortsSource) -> String {
    let list = ports
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let from = match source {
        SshPortsSource::Setting => "from the SSH ports setting",
        SshPortsSource::Sshd => "where sshd listens",
        SshPortsSource::Default => {
            "no sshd found: the default; set the SSH ports in Settings if yours differ"
        }
    };
    format!("port {list}, {from}")
}

/// How many unchanged lines to show around each change.
const CONTEXT_LINES: usize = 2;

/// The line diff between the applied ruleset and what Apply would install.
#[component]
fn RulesetDiff() -> AnyView {
    let ctx = expect_context::<FirewallCtx>();
    let texts = Resource::new(move || ctx.version.get(), |_| firewall_ruleset_texts());
    view! {
        <Transition fallback=|| view! { <p class="muted">"Rendering the ruleset…"</p> }>
            {move || texts.get().map(|r| match r {
                Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                Ok(t) => {
                    if let Some(err) = t.preview_error {
                        return view! {
                            <p class="error" data-testid="fw-diff-error">{format!("Apply would fail: {err}")}</p>
                        }.into_any();
                    }
                    let preview = t.preview.unwrap_or_default();
                    let applied = t.applied.clone().unwrap_or_default();
                    let diff = line_diff(&applied, &preview);
                    let changes = diff.iter().filter(|l| !matches!(l, DiffLine::Same(_))).count();
                    let headline = match (&t.applied, changes) {
                        (None, _) => "Nothing is applied yet: Apply installs this ruleset.".to_string(),
                        (Some(_), 0) => "No changes: the live ruleset is what Apply would install.".to_string(),
                        (Some(_), n) => format!("{n} line(s) change when you apply."),
                    };
                    view! {
                        <p class="muted small" data-testid="fw-diff-summary">{headline}</p>
                        <pre class="fw-diff" data-testid="fw-diff" tabindex="0" aria-label="Ruleset diff">
                            {diff_view(diff)}
                        </pre>
                    }.into_any()
                }
            })}
        </Transition>
    }
    .into_any()
}

fn diff_view(diff: Vec<DiffLine>) -> Vec<AnyView> {
    let keep: Vec<bool> = (0..diff.len())
        .map(|i| {
            let lo = i.saturating_sub(CONTEXT_LINES);
            let hi = (i + CONTEXT_LINES + 1).min(diff.len());
            diff[lo..hi].iter().any(|l| !matches!(l, DiffLine::Same(_)))
        })
        .collect();
    let any_change = keep.iter().any(|k| *k);
    let mut out = Vec::new();
    let mut skipped = 0usize;
    for (line, shown) in diff.into_iter().zip(keep) {
        if any_change && !shown {
            skipped += 1;
            continue;
        }
        if skipped > 0 {
            out.push(view! { <span class="diff-skip">{format!("  … {skipped} unchanged line(s)\n")}</span> }.into_any());
            skipped = 0;
        }
        out.push(match line {
            DiffLine::Same(l) => {
                view! { <span class="diff-same">{format!("  {l}\n")}</span> }.into_any()
            }
            DiffLine::Added(l) => {
                view! { <ins class="diff-add">{format!("+ {l}\n")}</ins> }.into_any()
            }
            DiffLine::Removed(l) => {
                view! { <del class="diff-del">{format!("- {l}\n")}</del> }.into_any()
            }
        });
    }
    if skipped > 0 {
        out.push(
            view! { <span class="diff-skip">{format!("  … {skipped} unchanged line(s)\n")}</span> }
                .into_any(),
        );
    }
    out
}
