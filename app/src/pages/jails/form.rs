//! The add/edit form of the jails page, with the pattern test: paste log lines, see which ones the
//! preset and patterns match and the address each names, before saving. The form checks with the
//! shared `validate_settings` (every check but compiling the patterns, so the browser carries no
//! regular-expression engine); the server compiles them and its field errors show under the same
//! fields. Durations are typed as `600`, `10m`, `1h`, `7d`.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::JailsCtx;
use crate::components::live_form::use_form_live;
use crate::model::error::AppError;
use crate::model::jails::{
    Jail, JailInput, JailPatch, JailSource, JailTestRequest, JailTestResult, DEFAULT_BAN_SECS,
    DEFAULT_MAX_BAN_SECS, DEFAULT_MAX_FAILURES, DEFAULT_WINDOW_SECS,
};
use crate::model::FieldError;
use crate::rpc::{create_jail, test_jail_patterns, update_jail};

/// The form's fields as signals (copied into handlers).
#[derive(Clone, Copy)]
pub(crate) struct JailForm {
    /// `Some(id)` while editing that jail.
    pub editing: RwSignal<Option<String>>,
    name: RwSignal<String>,
    enabled: RwSignal<bool>,
    /// `service`, `file` or `journal`.
    source_kind: RwSignal<String>,
    source: RwSignal<String>,
    /// Empty: no preset.
    preset: RwSignal<String>,
    /// One pattern per line.
    patterns: RwSignal<String>,
    max_failures: RwSignal<String>,
    window: RwSignal<String>,
    ban: RwSignal<String>,
    increment: RwSignal<bool>,
    max_ban: RwSignal<String>,
    /// Addresses and networks, separated by commas, spaces or lines.
    ignore: RwSignal<String>,
    errors: RwSignal<Vec<FieldError>>,
    /// The pasted lines of the pattern test, and its outcome.
    test_lines: RwSignal<String>,
    test_result: RwSignal<Option<JailTestResult>>,
}

impl JailForm {
    pub fn new() -> JailForm {
        JailForm {
            editing: RwSignal::new(None),
            name: RwSignal::new(String::new()),
            enabled: RwSignal::new(true),
            source_kind: RwSignal::new("service".into()),
            source: RwSignal::new(String::new()),
            preset: RwSignal::new(String::new()),
            patterns: RwSignal::new(String::new()),
            max_failures: RwSignal::new(DEFAULT_MAX_FAILURES.to_string()),
            window: RwSignal::new(compact_duration(DEFAULT_WINDOW_SECS)),
            ban: RwSignal::new(compact_duration(DEFAULT_BAN_SECS)),
            increment: RwSignal::new(true),
            max_ban: RwSignal::new(compact_duration(DEFAULT_MAX_BAN_SECS)),
            ignore: RwSignal::new(String::new()),
            errors: RwSignal::new(Vec::new()),
            test_lines: RwSignal::new(String::new()),
            test_result: RwSignal::new(None),
        }
    }

    /// Back to an empty "add" form (the pasted test lines stay).
    pub fn clear(&self) {
        self.editing.set(None);
        self.fill(&JailInput::new("", JailSource::Service(String::new())));
        self.errors.set(Vec::new());
        self.test_result.set(None);
    }

    fn fill(&self, spec: &JailInput) {
        self.name.set(spec.name.clone());
        self.enabled.set(spec.enabled);
        let (kind, value) = match &spec.source {
            JailSource::Service(v) => ("service", v),
            JailSource::File(v) => ("file", v),
            JailSource::Journal(v) => ("journal", v),
        };
        self.source_kind.set(kind.into());
        self.source.set(value.clone());
        self.preset.set(spec.preset.clone().unwrap_or_default());
        self.patterns.set(spec.patterns.join("\n"));
        self.max_failures.set(spec.max_failures.to_string());
        self.window.set(compact_duration(spec.window_secs));
        self.ban.set(compact_duration(spec.ban_secs));
        self.increment.set(spec.increment);
        self.max_ban.set(compact_duration(spec.max_ban_secs));
        self.ignore.set(spec.ignore.join(", "));
    }

    /// Fills the form with `jail` for editing.
    pub fn load(&self, jail: &Jail) {
        self.clear();
        self.editing.set(Some(jail.id.clone()));
        self.fill(&jail.spec);
        scroll_to_form();
    }

    /// The jail the form describes, or the fields that are not numbers or durations.
    fn input(&self) -> Result<JailInput, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut duration = |field: &str, text: RwSignal<String>| {
            parse_duration(&text.get_untracked()).unwrap_or_else(|| {
                errors.push(FieldError::new(
                    field,
                    "a duration: seconds, or a number with s, m, h or d (e.g. 10m)",
                ));
                0
            })
        };
        let window_secs = duration("window_secs", self.window);
        let ban_secs = duration("ban_secs", self.ban);
        let max_ban_secs = duration("max_ban_secs", self.max_ban);
        let max_failures = self
            .max_failures
            .get_untracked()
            .trim()
            .parse()
            .unwrap_or_else(|_| {
                errors.push(FieldError::new("max_failures", "a whole number"));
                0
            });
        let source = self.source.get_untracked().trim().to_string();
        let preset = self.preset.get_untracked();
        let input = JailInput {
            name: self.name.get_untracked().trim().to_string(),
            enabled: self.enabled.get_untracked(),
            source: match self.source_kind.get_untracked().as_str() {
                "file" => JailSource::File(source),
                "journal" => JailSource::Journal(source),
                _ => JailSource::Service(source),
            },
            preset: (!preset.is_empty()).then_some(preset),
            patterns: lines_of(&self.patterns.get_untracked()),
            max_failures,
            window_secs,
            ban_secs,
            ignore: crate::model::firewall::split_list(&self.ignore.get_untracked()),
            increment: self.increment.get_untracked(),
            max_ban_secs,
        };
        if errors.is_empty() {
            Ok(input)
        } else {
            Err(errors)
        }
    }

    /// The input if the shared checks pass; the field errors shown otherwise.
    fn checked_input(&self) -> Option<JailInput> {
        let problems = match self.input() {
            Ok(input) => {
                let problems = input.validate_settings();
                if problems.is_empty() {
                    self.errors.set(Vec::new());
                    return Some(input);
                }
                problems
            }
            Err(problems) => problems,
        };
        self.errors.set(problems);
        None
    }
}

/// Brings the form into view (after "Edit" in a long table).
fn scroll_to_form() {
    #[cfg(feature = "hydrate")]
    if let Some(el) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id("jail-form-title"))
    {
        el.scroll_into_view();
    }
}

/// The non-blank lines of a text area, trimmed at the end.
fn lines_of(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .map(String::from)
        .collect()
}

/// `600`, `600s`, `10m`, `1h`, `7d` → seconds; `None` for anything else (or an overflow).
pub(crate) fn parse_duration(text: &str) -> Option<u64> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last()? {
        (i, c) if c.is_ascii_alphabetic() => (text[..i].trim(), c.to_ascii_lowercase()),
        _ => (text, 's'),
    };
    let factor = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return None,
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    number.parse::<u64>().ok()?.checked_mul(factor)
}

/// Seconds in the largest unit that divides them: `600` → `10m`, `90` → `90s`.
pub(crate) fn compact_duration(secs: u64) -> String {
    match secs {
        0 => "0s".to_string(),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// The messages of the errors of `field` and its parts (`patterns[1]` reads "line 2: …").
fn messages_for(errors: &[FieldError], field: &str) -> Vec<String> {
    errors
        .iter()
        .filter_map(|e| {
            let rest = e.field.strip_prefix(field)?;
            if rest.is_empty() || rest.starts_with('.') {
                return Some(e.message.clone());
            }
            let index: usize = rest.strip_prefix('[')?.strip_suffix(']')?.parse().ok()?;
            Some(format!("line {}: {}", index + 1, e.message))
        })
        .collect()
}

/// The errors of a field, under it.
#[component]
fn Errors(errors: RwSignal<Vec<FieldError>>, field: &'static str) -> impl IntoView {
    move || {
        errors.with(|all| {
            messages_for(all, field)
                .into_iter()
                .map(|m| view! { <p class="field-error" role="alert" data-testid=format!("error-{field}")>{m}</p> })
                .collect_view()
        })
    }
}

#[component]
pub(super) fn JailFormCard() -> AnyView {
    let ctx = expect_context::<JailsCtx>();
    let form = ctx.form;
    let live = use_form_live();
    let errors = form.errors;
    let saving = RwSignal::new(false);
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(input) = form.checked_input() else {
            return;
        };
        saving.set(true);
        spawn_local(async move {
            let result = match form.editing.get_untracked() {
                Some(id) => update_jail(id, patch_of(input)).await,
                None => create_jail(input).await,
            };
            saving.set(false);
            match result {
                Ok(jail) => {
                    ctx.toasts
                        .success(format!("Jail {} saved.", jail.spec.name));
                    form.clear();
                    ctx.reload();
                }
                Err(AppError::Invalid(fields)) | Err(AppError::Conflict(fields)) => {
                    form.errors.set(fields)
                }
                Err(e) => ctx.toasts.error(format!("The jail was not saved: {e}")),
            }
        });
    };
    let presets = ctx.presets.get_value();
    let preset_patterns = move || {
        let name = form.preset.get();
        ctx.presets
            .with_value(|all| all.iter().find(|p| p.name == name).cloned())
    };
    let source_hint = move || match form.source_kind.get().as_str() {
        "file" => {
            "An absolute path, e.g. /var/log/auth.log: followed from its end, across rotation."
        }
        "journal" => "A systemd unit or syslog identifier, e.g. ssh.service (journalctl -f -u …).",
        _ => "A supervised service's name: its own log is watched (it may be created later).",
    };
    view! {
        <section class="card" aria-labelledby="jail-form-title">
            <h2 id="jail-form-title">{move || if form.editing.get().is_some() { "Edit jail" } else { "Add a jail" }}</h2>
            <fieldset class="page-scope" disabled=ctx.read_only data-testid="jail-scope">
            <form class="notify-form" on:submit=on_submit data-testid="jail-form" inert=move || !live.get() novalidate=true>
                <div class="notify-fields">
                    <label for="jail_name">"Name"</label>
                    <input id="jail_name" data-testid="jail-name" bind:value=form.name placeholder="sshd" autocomplete="off"/>
                    <Errors errors field="name"/>
                    <label for="jail_source_kind">"Watches"</label>
                    <select id="jail_source_kind" data-testid="jail-source-kind" prop:value=move || form.source_kind.get()
                        on:change=move |ev| form.source_kind.set(event_target_value(&ev))>
                        <option value="service">"A service's log"</option>
                        <option value="file">"A log file"</option>
                        <option value="journal">"The systemd journal"</option>
                    </select>
                    <input id="jail_source" aria-label="Source" data-testid="jail-source" bind:value=form.source autocomplete="off"/>
                    <p class="muted small">{source_hint}</p>
                    <Errors errors field="source"/>
                    <label for="jail_preset">"Preset"</label>
                    <select id="jail_preset" data-testid="jail-preset" prop:value=move || form.preset.get()
                        on:change=move |ev| form.preset.set(event_target_value(&ev))>
                        <option value="">"None: my own patterns"</option>
                        {presets.into_iter().map(|p| view! {
                            <option value=p.name.clone()>{format!("{} — {}", p.name, p.description)}</option>
                        }).collect_view()}
                    </select>
                    <Errors errors field="preset"/>
                    {move || preset_patterns().filter(|p| !p.patterns.is_empty()).map(|p| view! {
                        <details class="muted small" data-testid="jail-preset-patterns">
                            <summary>{format!("{} pattern(s) of the preset; typical source: {}", p.patterns.len(), p.typical_source)}</summary>
                            <ul>{p.patterns.into_iter().map(|x| view! { <li><code>{x}</code></li> }).collect_view()}</ul>
                        </details>
                    })}
                    <label for="jail_patterns">"Patterns (one per line, " <code>"<HOST>"</code> " where the address is)"</label>
                    <textarea id="jail_patterns" data-testid="jail-patterns" rows="3" class="mono"
                        placeholder="login failed for .* from <HOST>$"
                        prop:value=move || form.patterns.get()
                        on:input=move |ev| form.patterns.set(event_target_value(&ev))></textarea>
                    <Errors errors field="patterns"/>
                    <label for="jail_max_failures">"Failures that ban"</label>
                    <input id="jail_max_failures" data-testid="jail-max-failures" inputmode="numeric" bind:value=form.max_failures/>
                    <Errors errors field="max_failures"/>
                    <label for="jail_window">"Within (e.g. 10m)"</label>
                    <input id="jail_window" data-testid="jail-window" bind:value=form.window/>
                    <Errors errors field="window_secs"/>
                    <label for="jail_ban">"Ban for"</label>
                    <input id="jail_ban" data-testid="jail-ban" bind:value=form.ban/>
                    <Errors errors field="ban_secs"/>
                    <label class="check">
                        <input type="checkbox" data-testid="jail-increment" bind:checked=form.increment/>
                        " Repeat offenders: each new ban twice as long, up to"
                    </label>
                    <input id="jail_max_ban" aria-label="Longest ban" data-testid="jail-max-ban" bind:value=form.max_ban/>
                    <Errors errors field="max_ban_secs"/>
                    <label for="jail_ignore">"Never ban (addresses or networks)"</label>
                    <input id="jail_ignore" data-testid="jail-ignore" bind:value=form.ignore placeholder="192.0.2.0/24, 2001:db8::/32"/>
                    <Errors errors field="ignore"/>
                </div>
                <label class="check">
                    <input type="checkbox" data-testid="jail-enabled" bind:checked=form.enabled/>
                    " Enabled"
                </label>
                <div class="form-actions">
                    <button type="submit" class="btn primary" data-testid="jail-save" disabled=move || saving.get()>
                        {move || if form.editing.get().is_some() { "Save" } else { "Add" }}
                    </button>
                    <Show when=move || form.editing.get().is_some()>
                        <button type="button" class="btn ghost" on:click=move |_| form.clear()>"Cancel"</button>
                    </Show>
                </div>
            </form>
            </fieldset>
            <PatternTest/>
        </section>
    }
    .into_any()
}

/// The form as a patch of every field (editing).
fn patch_of(input: JailInput) -> JailPatch {
    JailPatch {
        name: Some(input.name),
        enabled: Some(input.enabled),
        source: Some(input.source),
        preset: Some(input.preset),
        patterns: Some(input.patterns),
        max_failures: Some(input.max_failures),
        window_secs: Some(input.window_secs),
        ban_secs: Some(input.ban_secs),
        ignore: Some(input.ignore),
        increment: Some(input.increment),
        max_ban_secs: Some(input.max_ban_secs),
    }
}

/// Pasted lines tried against the form's preset and patterns (nothing is saved).
#[component]
fn PatternTest() -> AnyView {
    let ctx = expect_context::<JailsCtx>();
    let form = ctx.form;
    let testing = RwSignal::new(false);
    let run = move |_| {
        let preset = form.preset.get_untracked();
        let request = JailTestRequest {
            preset: (!preset.is_empty()).then_some(preset),
            patterns: lines_of(&form.patterns.get_untracked()),
            lines: vec![form.test_lines.get_untracked()],
        };
        testing.set(true);
        spawn_local(async move {
            let result = test_jail_patterns(request).await;
            testing.set(false);
            match result {
                Ok(outcome) => {
                    form.errors.set(Vec::new());
                    form.test_result.set(Some(outcome));
                }
                Err(AppError::Invalid(fields)) => {
                    form.test_result.set(None);
                    form.errors.set(fields);
                }
                Err(e) => ctx.toasts.error(format!("The test did not run: {e}")),
            }
        });
    };
    view! {
        <div class="jail-test" data-testid="jail-test">
            <h3>"Test the patterns"</h3>
            <label for="jail_test_lines" class="muted small">"Paste log lines (up to 1000): each shows whether it counts as a failure, and for which address."</label>
            <textarea id="jail_test_lines" data-testid="jail-test-lines" rows="5" class="mono"
                prop:value=move || form.test_lines.get()
                on:input=move |ev| form.test_lines.set(event_target_value(&ev))></textarea>
            <Errors errors=form.errors field="lines"/>
            <div class="form-actions">
                <button type="button" class="btn" data-testid="jail-test-run" disabled=move || testing.get() on:click=run>"Test"</button>
            </div>
            {move || form.test_result.get().map(|r| {
                let total = r.lines.len();
                view! {
                    <p role="status" data-testid="jail-test-summary" data-matched=r.matched.to_string()>
                        {format!("{} of {} line(s) match.", r.matched, total)}
                    </p>
                    <ul class="jail-lines">
                        {r.lines.into_iter().map(|l| {
                            let hit = l.address.is_some();
                            view! {
                                <li data-testid="jail-test-line" data-address=l.address.clone().unwrap_or_default() class:failed=hit>
                                    <span class="mono">{l.address.clone().map(|a| format!("✔ {a}")).unwrap_or_else(|| "✗ no match".into())}</span>
                                    " " <code class="log-line">{l.line}</code>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }
            })}
        </div>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_and_print_in_units() {
        assert_eq!(parse_duration("600"), Some(600));
        assert_eq!(parse_duration(" 10m "), Some(600));
        assert_eq!(parse_duration("1H"), Some(3600));
        assert_eq!(parse_duration("7d"), Some(604_800));
        assert_eq!(parse_duration("45s"), Some(45));
        for bad in [
            "",
            "m",
            "10 x",
            "-5",
            "1.5h",
            "10mm",
            "99999999999999999999d",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        for secs in [1, 59, 60, 90, 600, 3600, 5400, 86_400, 604_800] {
            assert_eq!(parse_duration(&compact_duration(secs)), Some(secs));
        }
        assert_eq!(compact_duration(600), "10m");
        assert_eq!(compact_duration(90), "90s");
    }

    #[test]
    fn errors_of_list_fields_name_the_line() {
        let errors = vec![
            FieldError::new("patterns[1]", "bad"),
            FieldError::new("patterns", "too many"),
            FieldError::new("source.file", "absolute"),
            FieldError::new("preset", "unknown"),
        ];
        assert_eq!(
            messages_for(&errors, "patterns"),
            vec!["line 2: bad".to_string(), "too many".to_string()]
        );
        assert_eq!(messages_for(&errors, "source"), vec!["absolute"]);
        assert!(messages_for(&errors, "name").is_empty());
    }
}
