//! The security card of the settings page: the caller's own second factor. Enrolling shows the secret
//! once, as text and as a QR code of its `otpauth://` URI (an SVG rendered by the server, no outside
//! service); a first code confirms it and shows the ten recovery codes, once. An active second factor
//! can be removed here (an admin can also reset it from the Users page).

use leptos::prelude::*;

use super::FieldMessage;
use crate::components::live_form::use_form_live;
use crate::components::toast::use_toasts;
use crate::model::error::AppError;
use crate::model::users::{validate_totp_code, TotpEnrollment};
use crate::model::FieldError;
use crate::rpc::{confirm_totp, enroll_totp, own_account, remove_totp};

#[component]
pub(super) fn SecurityCard() -> impl IntoView {
    let toasts = use_toasts();
    let live = use_form_live();
    let account = Resource::new(|| (), |_| own_account());
    let enrollment = RwSignal::new(None::<TotpEnrollment>);
    let recovery = RwSignal::new(None::<Vec<String>>);
    let code = RwSignal::new(String::new());
    let errors = RwSignal::new(Vec::<FieldError>::new());

    let enroll = Action::new(move |_: &()| enroll_totp());
    Effect::new(move |_| match enroll.value().get() {
        Some(Ok(e)) => {
            recovery.set(None);
            enrollment.set(Some(e));
        }
        Some(Err(e)) => toasts.error(format!("Could not start the set-up: {e}")),
        None => {}
    });
    let confirm = Action::new(move |code: &String| confirm_totp(code.clone()));
    Effect::new(move |_| match confirm.value().get() {
        Some(Ok(codes)) => {
            enrollment.set(None);
            code.set(String::new());
            errors.set(Vec::new());
            recovery.set(Some(codes.recovery_codes));
            account.refetch();
            toasts.success("Second factor on: every login now needs a code.");
        }
        Some(Err(AppError::Invalid(fields))) => errors.set(fields),
        Some(Err(e)) => toasts.error(format!("Not confirmed: {e}")),
        None => {}
    });
    let remove = Action::new(move |_: &()| remove_totp(None));
    Effect::new(move |_| match remove.value().get() {
        Some(Ok(())) => {
            recovery.set(None);
            account.refetch();
            toasts.success("Second factor removed.");
        }
        Some(Err(e)) => toasts.error(format!("Not removed: {e}")),
        None => {}
    });
    let on_confirm = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let c = code.get_untracked();
        let problems = validate_totp_code(&c);
        if problems.is_empty() {
            confirm.dispatch(c);
        } else {
            errors.set(problems);
        }
    };
    let active = move || {
        account
            .get()
            .and_then(Result::ok)
            .flatten()
            .is_some_and(|u| u.totp)
    };

    view! {
        <section class="card settings-card" aria-labelledby="settings-security">
            <h2 id="settings-security">"Security: second factor"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                <p data-testid="totp-status">
                    {move || if active() {
                        "On: logins need your password and a code from your authenticator app."
                    } else {
                        "Off: your password alone logs you in."
                    }}
                </p>
                <div class="form-actions" inert=move || !live.get()>
                    <Show when=move || !active() && enrollment.get().is_none()>
                        <button type="button" class="btn primary" data-testid="totp-enroll"
                            on:click=move |_| { enroll.dispatch(()); }>
                            "Set up a second factor"
                        </button>
                    </Show>
                    <Show when=active>
                        <button type="button" class="btn danger" data-testid="totp-remove"
                            on:click=move |_| { remove.dispatch(()); }>
                            "Remove the second factor"
                        </button>
                    </Show>
                </div>
            </Transition>
            {move || enrollment.get().map(|e| view! {
                <div class="totp-enroll" data-testid="totp-enrollment">
                    <p>"Scan this code with your authenticator app, or enter the secret by hand. It is shown only now."</p>
                    <div class="qr" data-testid="totp-qr" inner_html=e.qr_svg></div>
                    <p>"Secret: " <code data-testid="totp-secret">{e.secret}</code></p>
                    <form on:submit=on_confirm data-testid="totp-confirm-form" novalidate=true>
                        <label for="totp_code">"Code from the app"</label>
                        <input id="totp_code" type="text" inputmode="numeric" autocomplete="one-time-code"
                            data-testid="totp-code" bind:value=code/>
                        <FieldMessage errors name="code"/>
                        <div class="form-actions">
                            <button type="submit" class="btn primary" data-testid="totp-confirm">"Confirm"</button>
                        </div>
                    </form>
                </div>
            })}
            {move || recovery.get().map(|codes| view! {
                <div class="notice" role="note">
                    <p><strong>"Recovery codes"</strong>" — each logs you in once instead of a code. Keep them somewhere safe; they are shown only now."</p>
                    <ul class="recovery-codes" data-testid="recovery-codes">
                        {codes.into_iter().map(|c| view! { <li><code>{c}</code></li> }).collect_view()}
                    </ul>
                </div>
            })}
        </section>
    }
    .into_any()
}
