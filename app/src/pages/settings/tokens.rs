//! The API tokens card of the settings page: create a token with a scope (admin or read-only) and an
//! optional expiry date (its secret shown once, with a copy button), list them with scope, expiry,
//! creation and last-use times, revoke one after a confirmation.

use leptos::prelude::*;

use super::FieldMessage;
use crate::components::live_form::use_form_live;
use crate::components::toast::use_toasts;
use crate::model::admin::{validate_token_request, CreatedToken, TokenRequest, TokenScope};
use crate::model::error::AppError;
use crate::model::FieldError;
use crate::rpc::{create_token, list_tokens, revoke_token};

/// Copies `text` to the clipboard (browser only).
fn copy_to_clipboard(text: String) {
    #[cfg(feature = "hydrate")]
    if let Some(window) = web_sys::window() {
        let _ = window.navigator().clipboard().write_text(&text);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = text;
}

#[component]
pub(super) fn TokensCard() -> impl IntoView {
    let toasts = use_toasts();
    let live = use_form_live();
    let refresh = RwSignal::new(0u32);
    let tokens = Resource::new(move || refresh.get(), |_| list_tokens());
    let name = RwSignal::new(String::new());
    let scope = RwSignal::new(String::from("admin"));
    let expires_on = RwSignal::new(String::new());
    let errors = RwSignal::new(Vec::<FieldError>::new());
    let fresh = RwSignal::new(None::<CreatedToken>);
    let confirming = RwSignal::new(None::<String>);

    let create = Action::new(move |request: &TokenRequest| {
        let request = request.clone();
        async move { create_token(request.name, Some(request.scope), request.expires_at).await }
    });
    Effect::new(move |_| {
        if let Some(result) = create.value().get() {
            match result {
                Ok(created) => {
                    errors.set(Vec::new());
                    name.set(String::new());
                    expires_on.set(String::new());
                    toasts.success(format!(
                        "Token {} created. Copy it now: it is shown only once.",
                        created.name
                    ));
                    fresh.set(Some(created));
                    refresh.update(|n| *n += 1);
                }
                Err(AppError::Invalid(fields)) | Err(AppError::Conflict(fields)) => {
                    errors.set(fields)
                }
                Err(e) => toasts.error(format!("The token was not created: {e}")),
            }
        }
    });
    let revoke = Action::new(move |(id, name): &(String, String)| {
        let (id, name) = (id.clone(), name.clone());
        async move { revoke_token(id).await.map(|()| name) }
    });
    Effect::new(move |_| {
        if let Some(result) = revoke.value().get() {
            confirming.set(None);
            match result {
                Ok(name) => toasts.success(format!("Token {name} revoked.")),
                Err(e) => toasts.error(format!("The token was not revoked: {e}")),
            }
            refresh.update(|n| *n += 1);
        }
    });
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let request = token_request(
            name.get_untracked(),
            &scope.get_untracked(),
            &expires_on.get_untracked(),
        );
        let problems = validate_token_request(&request, now_unix());
        if problems.is_empty() {
            create.dispatch(request);
        } else {
            errors.set(problems);
        }
    };

    view! {
        <section class="card settings-card" aria-labelledby="settings-tokens">
            <h2 id="settings-tokens">"API tokens"</h2>
            <p class="hint muted">"For scripts: send " <code>"Authorization: Bearer <token>"</code> " to the REST API."</p>
            {move || fresh.get().map(|created| {
                let secret = created.token.clone();
                view! {
                    <div class="notice token-secret" role="status" data-testid="token-secret-box">
                        <p><strong>{format!("New token {}", created.name)}</strong>" — copy it now; it will not be shown again."</p>
                        <div class="secret-row">
                            <input readonly=true class="mono" data-testid="token-secret" value=created.token.clone()
                                aria-label="The new token" on:focus=|ev| {
                                    #[cfg(feature = "hydrate")]
                                    {
                                        use wasm_bindgen::JsCast;
                                        if let Some(input) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) {
                                            input.select();
                                        }
                                    }
                                    #[cfg(not(feature = "hydrate"))]
                                    let _ = ev;
                                }/>
                            <button type="button" class="btn" data-testid="token-copy"
                                on:click=move |_| {
                                    copy_to_clipboard(secret.clone());
                                    toasts.info("Copied to the clipboard.");
                                }>"Copy"</button>
                            <button type="button" class="btn ghost" data-testid="token-secret-dismiss"
                                on:click=move |_| fresh.set(None)>"Done"</button>
                        </div>
                    </div>
                }
            })}
            <form class="token-create" on:submit=on_submit data-testid="token-form" inert=move || !live.get()
                novalidate=true>
                <label for="token_name">"New token name"</label>
                <div class="secret-row">
                    <input id="token_name" data-testid="token-name" bind:value=name placeholder="ci" autocomplete="off"/>
                    <button type="submit" class="btn primary" data-testid="token-create">"Create"</button>
                </div>
                <FieldMessage errors name="name"/>
                <div class="token-options">
                    <label for="token_scope">"Scope"</label>
                    <select id="token_scope" data-testid="token-scope" prop:value=move || scope.get()
                        on:change=move |ev| scope.set(event_target_value(&ev))
                        on:input=move |ev| scope.set(event_target_value(&ev))>
                        <option value="admin">"admin: may change everything"</option>
                        <option value="read">"read: may only read"</option>
                    </select>
                    <label for="token_expires">"Expires on (UTC, empty: never)"</label>
                    <input id="token_expires" type="date" data-testid="token-expires" bind:value=expires_on/>
                </div>
                <FieldMessage errors name="expires_at"/>
            </form>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || tokens.get().map(|result| match result {
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                    Ok(list) if list.is_empty() => view! { <p class="muted" data-testid="no-tokens">"No API tokens."</p> }.into_any(),
                    Ok(list) => view! {
                        <table class="table tokens" data-testid="token-table">
                            <thead><tr><th>"Name"</th><th>"Scope"</th><th>"Expires"</th><th>"Created"</th><th>"Last used"</th><th><span class="sr-only">"Actions"</span></th></tr></thead>
                            <tbody>
                                {list.into_iter().map(|t| {
                                    let id = t.id.clone();
                                    let confirm_id = t.id.clone();
                                    let name_for_revoke = t.name.clone();
                                    let asking = move || confirming.get().as_deref() == Some(confirm_id.as_str());
                                    view! {
                                        <tr data-testid="token-row" data-token-name=t.name.clone()>
                                            <td>{t.name.clone()}</td>
                                            <td data-testid="token-scope-cell">{t.scope.as_str()}</td>
                                            <td data-testid="token-expires-cell">{t.expires_at.as_deref().map(short_time).unwrap_or_else(|| "never".into())}</td>
                                            <td><time>{short_time(&t.created_at)}</time></td>
                                            <td>{t.last_used_at.as_deref().map(short_time).unwrap_or_else(|| "never".into())}</td>
                                            <td class="actions">
                                                <Show when=asking.clone() fallback={
                                                    let id = id.clone();
                                                    move || {
                                                        let id = id.clone();
                                                        view! {
                                                            <button type="button" class="btn" data-testid="token-revoke"
                                                                on:click=move |_| confirming.set(Some(id.clone()))>"Revoke"</button>
                                                        }
                                                    }
                                                }>
                                                    {
                                                        let id = id.clone();
                                                        let name = name_for_revoke.clone();
                                                        view! {
                                                            <span class="confirm" role="group" aria-label="Confirm revoking">
                                                                <button type="button" class="btn danger" data-testid="token-revoke-confirm"
                                                                    on:click=move |_| { revoke.dispatch((id.clone(), name.clone())); }>"Revoke now"</button>
                                                                <button type="button" class="btn ghost"
                                                                    on:click=move |_| confirming.set(None)>"Cancel"</button>
                                                            </span>
                                                        }
                                                    }
                                                </Show>
                                            </td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                })}
            </Transition>
        </section>
    }
    .into_any()
}

/// The request the form describes: `expires_on` is a date (`2027-01-31`, the end of that day UTC) or
/// empty for never; anything else is passed on as typed, for the shared validation to name.
fn token_request(name: String, scope: &str, expires_on: &str) -> TokenRequest {
    let expires_on = expires_on.trim();
    let expires_at = match expires_on {
        "" => None,
        day if day.len() == 10 => Some(format!("{day}T23:59:59Z")),
        other => Some(other.to_string()),
    };
    TokenRequest {
        name,
        scope: if scope == "read" {
            TokenScope::Read
        } else {
            TokenScope::Admin
        },
        expires_at,
    }
}

/// Now, in Unix seconds (the browser's clock; the server checks again with its own).
fn now_unix() -> i64 {
    #[cfg(feature = "hydrate")]
    {
        (js_sys::Date::now() / 1000.0) as i64
    }
    #[cfg(not(feature = "hydrate"))]
    {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    }
}

/// `2026-11-24 09:01` from an RFC 3339 time (UTC).
pub fn short_time(rfc3339: &str) -> String {
    let t = rfc3339.replace('T', " ");
    let cut = t.char_indices().nth(16).map(|(i, _)| i).unwrap_or(t.len());
    format!("{} UTC", &t[..cut])
}
