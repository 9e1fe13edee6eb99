//! The password card of the settings page: current password, the new one twice; a change logs out the
//! user's other sessions.

use leptos::prelude::*;

use super::FieldMessage;
use crate::components::live_form::use_form_live;
use crate::components::toast::use_toasts;
use crate::model::admin::{validate_password_change, PasswordChange};
use crate::model::error::AppError;
use crate::model::FieldError;
use crate::rpc::change_password;

#[component]
pub(super) fn PasswordForm() -> impl IntoView {
    let toasts = use_toasts();
    let live = use_form_live();
    let current = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let repeat = RwSignal::new(String::new());
    let errors = RwSignal::new(Vec::<FieldError>::new());
    let change = Action::new(move |c: &PasswordChange| {
        let c = c.clone();
        async move { change_password(c).await }
    });
    Effect::new(move |_| {
        if let Some(result) = change.value().get() {
            match result {
                Ok(()) => {
                    errors.set(Vec::new());
                    current.set(String::new());
                    new.set(String::new());
                    repeat.set(String::new());
                    toasts.success("Password changed. Your other sessions were logged out.");
                }
                Err(AppError::Invalid(fields)) => errors.set(fields),
                Err(e) => toasts.error(format!("The password was not changed: {e}")),
            }
        }
    });
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let request = PasswordChange {
            current_password: current.get_untracked(),
            new_password: new.get_untracked(),
        };
        let mut problems = validate_password_change(&request);
        if problems.iter().all(|e| e.field != "new_password")
            && repeat.get_untracked() != request.new_password
        {
            problems.push(FieldError::new(
                "repeat_password",
                "the two new passwords differ",
            ));
        }
        if problems.is_empty() {
            errors.set(Vec::new());
            change.dispatch(request);
        } else {
            errors.set(problems);
        }
    };
    view! {
        <section class="card settings-card" aria-labelledby="settings-password">
            <h2 id="settings-password">"Password"</h2>
            <form on:submit=on_submit data-testid="password-form" inert=move || !live.get() novalidate=true>
                <label for="current_password">"Current password"</label>
                <input id="current_password" type="password" autocomplete="current-password"
                    data-testid="current-password" bind:value=current/>
                <FieldMessage errors name="current_password"/>
                <label for="new_password">"New password"</label>
                <input id="new_password" type="password" autocomplete="new-password"
                    data-testid="new-password" bind:value=new/>
                <FieldMessage errors name="new_password"/>
                <label for="repeat_password">"New password again"</label>
                <input id="repeat_password" type="password" autocomplete="new-password"
                    data-testid="repeat-password" bind:value=repeat/>
                <FieldMessage errors name="repeat_password"/>
                <div class="form-actions">
                    <button type="submit" class="btn primary" data-testid="password-save">"Change password"</button>
                </div>
            </form>
        </section>
    }
    .into_any()
}
