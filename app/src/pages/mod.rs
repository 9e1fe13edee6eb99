//! The pages of the UI, one module each, plus small shared pieces.

pub mod audit;
pub mod dashboard;
pub mod firewall;
pub mod import;
pub mod jails;
pub mod login;
pub mod logs;
pub mod service_detail;
pub mod service_form;
pub mod service_form_lifecycle;
pub mod services;
pub mod settings;
pub mod shell;
pub mod users;

use leptos::prelude::*;
use leptos_meta::Title;

/// Shown for unknown paths.
#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    {
        if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
            resp.set_status(http::StatusCode::NOT_FOUND);
        }
    }
    view! {
        <Title text="Not found"/>
        <main class="page narrow">
            <h1>"Not found"</h1>
            <p>"There is no page at this address. " <a href="/">"Go to the dashboard"</a></p>
        </main>
    }
}

/// A notice that a page's full feature set is still being built, naming what it will hold.
#[component]
pub fn ComingSoon(#[prop(into)] what: String) -> impl IntoView {
    view! {
        <div class="notice" role="note">
            <strong>"Not built yet. "</strong>
            {what}
        </div>
    }
}
