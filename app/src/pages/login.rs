//! The login page: a plain HTML form posted to `/login` (works before and without WASM); the server sets
//! the session cookie and redirects, or comes back here with `?error=`. The code field of a second factor
//! is shown only when the server said the account needs one (`?error=totp`).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// The sentence shown for an `?error=` code.
pub fn login_error_message(code: &str) -> &'static str {
    match code {
        "invalid" => "Wrong user name or password.",
        "throttled" => {
            "Too many failed attempts from your address. Wait a few minutes and try again."
        }
        "missing" => "Enter the user name and the password.",
        "totp" => {
            "This account has a second factor: enter your password again with the 6-digit code from your authenticator app (or a recovery code)."
        }
        _ => "Logging in failed. Try again.",
    }
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let error = move || query.read().get("error").map(|c| login_error_message(&c));
    let needs_code = move || query.read().get("error").as_deref() == Some("totp");
    view! {
        <Title text="Log in"/>
        <main class="login">
            <form class="card login-card" method="post" action="/login">
                <h1><span class="logo" aria-hidden="true">"◆"</span>" Warden"</h1>
                <p class="muted">"Log in to manage this server's services and firewall."</p>
                <Show when=move || error().is_some()>
                    <p class="error" role="alert" data-testid="login-error">{error}</p>
                </Show>
                <label for="username">"User name"</label>
                <input id="username" name="username" type="text" value="admin"
                    autocomplete="username" required=true autocapitalize="none" spellcheck="false"/>
                <label for="password">"Password"</label>
                <input id="password" name="password" type="password" autocomplete="current-password"
                    required=true autofocus=true/>
                <Show when=needs_code>
                    <label for="totp">"Code"</label>
                    <input id="totp" name="totp" type="text" inputmode="numeric"
                        autocomplete="one-time-code" required=true spellcheck="false"
                        data-testid="login-totp"/>
                </Show>
                <button type="submit" class="btn primary" data-testid="login-submit">"Log in"</button>
            </form>
        </main>
    }
}
