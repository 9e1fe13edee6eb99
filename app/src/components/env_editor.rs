//! The environment-variable editor shared by the service form and the settings page (global
//! environment): key/value rows edited in place, added and removed, a "Paste .env" box that imports
//! `KEY=VALUE` lines (the shared `parse_dotenv`; keys already listed get the pasted value), and
//! [`EnvRows::collect`], which turns the rows into the map both forms send, with a field error for a
//! key listed twice. The caller owns the surrounding `<fieldset>`, its legend and the error message.

use std::collections::BTreeMap;

use leptos::prelude::*;

use crate::components::toast::use_toasts;
use crate::model::service_form::parse_dotenv;
use crate::model::FieldError;

/// One editable variable; the stable id keeps the inputs' focus while typing.
#[derive(Debug, Clone, Copy)]
struct EnvRow {
    id: u64,
    key: RwSignal<String>,
    value: RwSignal<String>,
}

/// The rows of one editor, owned by the form that shows it.
#[derive(Debug, Clone, Copy)]
pub struct EnvRows {
    rows: RwSignal<Vec<EnvRow>>,
    next_id: StoredValue<u64>,
}

impl EnvRows {
    /// Rows for `environment`, in key order.
    pub fn new(environment: &BTreeMap<String, String>) -> Self {
        let rows = EnvRows {
            rows: RwSignal::new(Vec::new()),
            next_id: StoredValue::new(0),
        };
        for (key, value) in environment {
            rows.push(key.clone(), value.clone());
        }
        rows
    }

    fn push(self, key: String, value: String) {
        let id = self.next_id.get_value();
        self.next_id.set_value(id + 1);
        self.rows.update(|rows| {
            rows.push(EnvRow {
                id,
                key: RwSignal::new(key),
                value: RwSignal::new(value),
            })
        });
    }

    fn remove(self, id: u64) {
        self.rows.update(|rows| rows.retain(|r| r.id != id));
    }

    /// Imported pairs: blank placeholder rows go, a key already listed gets the new value, the
    /// others are appended.
    fn import(self, pairs: Vec<(String, String)>) {
        self.rows.update(|rows| rows.retain(|r| !is_blank(r)));
        for (key, value) in pairs {
            let listed = self.rows.with_untracked(|rows| {
                rows.iter()
                    .find(|r| r.key.with_untracked(|k| k.trim() == key))
                    .copied()
            });
            match listed {
                Some(row) => row.value.set(value),
                None => self.push(key, value),
            }
        }
    }

    /// The variables as the API takes them: keys trimmed, blank rows skipped; a key listed twice is
    /// an error on `environment.KEY` (the first value is kept so the rest of the form still checks).
    pub fn collect(self) -> (BTreeMap<String, String>, Vec<FieldError>) {
        let mut environment = BTreeMap::new();
        let mut problems = Vec::new();
        for row in self.rows.get_untracked() {
            if is_blank(&row) {
                continue;
            }
            let key = row.key.get_untracked().trim().to_string();
            match environment.entry(key) {
                std::collections::btree_map::Entry::Occupied(listed) => {
                    problems.push(FieldError::new(
                        format!("environment.{}", listed.key()),
                        "this variable is listed twice",
                    ));
                }
                std::collections::btree_map::Entry::Vacant(slot) => {
                    slot.insert(row.value.get_untracked());
                }
            }
        }
        (environment, problems)
    }
}

fn is_blank(row: &EnvRow) -> bool {
    row.key.with_untracked(|k| k.trim().is_empty()) && row.value.with_untracked(String::is_empty)
}

/// The rows, "Add variable", and the "Paste .env" box. `id_prefix` makes the element ids unique on
/// the page; `key_invalid` says whether the current errors name a key (for `aria-invalid`).
#[component]
pub fn EnvEditor(
    rows: EnvRows,
    #[prop(into)] id_prefix: String,
    key_invalid: Callback<String, bool>,
) -> impl IntoView {
    let toasts = use_toasts();
    let paste_open = RwSignal::new(false);
    let paste_text = RwSignal::new(String::new());
    let paste_error = RwSignal::new(None::<String>);
    let id = move |what: &str| format!("{id_prefix}-{what}");
    let import = move |_| match parse_dotenv(&paste_text.get_untracked()) {
        Ok(pairs) => {
            let count = pairs.len();
            rows.import(pairs);
            paste_error.set(None);
            paste_text.set(String::new());
            toasts.info(format!("Imported {count} variable(s)."));
        }
        Err(errs) => paste_error.set(Some(
            errs.iter()
                .map(|e| format!("line {}: {}", e.line, e.message))
                .collect::<Vec<_>>()
                .join("; "),
        )),
    };
    let row_ids = id.clone();
    view! {
        <div class="env-rows" data-testid="env-rows">
            <For each=move || rows.rows.get() key=|r| r.id let:row>
                <div class="env-row" data-testid="env-row">
                    <label class="sr-only" for=row_ids(&format!("key-{}", row.id))>"Variable name"</label>
                    <input id=row_ids(&format!("key-{}", row.id)) type="text" class="env-key" placeholder="NAME"
                        spellcheck="false" autocomplete="off" data-testid="env-key" prop:value=row.key
                        aria-invalid=move || key_invalid.run(row.key.get()).to_string()
                        on:input=move |ev| row.key.set(event_target_value(&ev))/>
                    <label class="sr-only" for=row_ids(&format!("value-{}", row.id))>"Value"</label>
                    <input id=row_ids(&format!("value-{}", row.id)) type="text" class="env-value" placeholder="value"
                        spellcheck="false" autocomplete="off" data-testid="env-value" prop:value=row.value
                        on:input=move |ev| row.value.set(event_target_value(&ev))/>
                    <button type="button" class="btn small ghost"
                        aria-label=move || format!("Remove variable {}", row.key.get())
                        on:click=move |_| rows.remove(row.id)>"×"</button>
                </div>
            </For>
        </div>
        <div class="env-actions">
            <button type="button" class="btn small" data-testid="env-add"
                on:click=move |_| rows.push(String::new(), String::new())>"Add variable"</button>
            <button type="button" class="btn small ghost" data-testid="env-paste-toggle"
                aria-expanded=move || paste_open.get().to_string()
                on:click=move |_| paste_open.update(|o| *o = !*o)>"Paste .env"</button>
        </div>
        <Show when=move || paste_open.get()>
            <label for=id("dotenv")>"Paste KEY=VALUE lines"</label>
            <textarea id=id("dotenv") rows="4" spellcheck="false" data-testid="env-paste"
                placeholder="# comments are skipped\nDATABASE_URL=postgres://…\nexport DEBUG=1"
                prop:value=paste_text on:input=move |ev| paste_text.set(event_target_value(&ev))></textarea>
            {move || paste_error.get().map(|m| view! { <p class="field-error">{m}</p> })}
            <button type="button" class="btn small" data-testid="env-import" on:click=import>"Import"</button>
        </Show>
    }
}
