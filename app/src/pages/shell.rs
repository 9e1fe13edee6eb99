//! The authenticated app shell: header with the hostname, navigation, logout, and the page outlet. For a
//! read-only caller (a `read` user, or a read token) the outlet sits in a disabled `<fieldset>`: every
//! button, input and select of every page is disabled (links still navigate), and the server refuses
//! mutations whatever the client does. The one exception is the Settings page, where a `read` user looks
//! after their own account (password, second factor): that page disables its other sections itself,
//! from the [`ReadOnly`] context.

use leptos::prelude::*;
use leptos_router::components::Outlet;
use leptos_router::hooks::use_location;

use crate::components::live::provide_live_services;
use crate::components::toast::{provide_toasts, ToastHost};
use crate::rpc::get_shell_info;

/// Whether the caller may change nothing (a `read` user or a read token), for pages that disable their
/// own controls.
#[derive(Clone, Copy)]
pub struct ReadOnly(pub Signal<bool>);

/// The page where a read-only caller keeps controls: its own account's.
const OWN_ACCOUNT_PAGE: &str = "/settings";

#[component]
pub fn Shell() -> impl IntoView {
    provide_toasts();
    provide_live_services();
    let info = Resource::new(|| (), |_| get_shell_info());
    let hostname = move || {
        info.get()
            .map(|r| match r {
                Ok(i) => i.hostname,
                Err(_) => "—".to_string(),
            })
            .unwrap_or_default()
    };
    let username = move || {
        info.get()
            .and_then(|r| r.ok())
            .map(|i| i.username)
            .unwrap_or_default()
    };
    let read_only = Signal::derive(move || {
        info.get()
            .and_then(|r| r.ok())
            .is_some_and(|i| !i.role.may_mutate())
    });
    provide_context(ReadOnly(read_only));
    let location = use_location();
    let page_disabled = move || read_only.get() && location.pathname.get() != OWN_ACCOUNT_PAGE;
    view! {
        <div class="app">
            <header class="topbar">
                <a class="brand" href="/" aria-label="Warden home">
                    <span class="logo" aria-hidden="true">"◆"</span>
                    " Warden"
                </a>
                <Transition fallback=|| view! { <span class="host muted">"…"</span> }>
                    <span class="host" data-testid="hostname" title="Host">{hostname}</span>
                </Transition>
                <nav class="nav" aria-label="Main">
                    <NavLink href="/" label="Dashboard"/>
                    <NavLink href="/services" label="Services"/>
                    <NavLink href="/firewall" label="Firewall"/>
                    <NavLink href="/logs" label="Logs"/>
                    <NavLink href="/users" label="Users"/>
                    <NavLink href="/settings" label="Settings"/>
                </nav>
                <form class="logout" method="post" action="/logout">
                    <Transition fallback=|| ()>
                        <span class="user muted">{username}</span>
                    </Transition>
                    <button type="submit" class="btn ghost" data-testid="logout">"Log out"</button>
                </form>
            </header>
            <main class="page">
                <fieldset class="page-scope" disabled=page_disabled data-testid="page-scope">
                    <Outlet/>
                </fieldset>
            </main>
            <ToastHost/>
        </div>
    }
}

/// A main-navigation link, routed client-side (the router intercepts same-origin `<a>` clicks; the page
/// swaps without a reload and the shell, its live event stream and toasts stay). `aria-current` marks
/// the page you are on, also on nested pages such as `/services/web`.
///
/// Session 1 used `rel="external"` because clicks were "swallowed". The mechanism, seen again here: when
/// hydration panics (server HTML and WASM built from different code), `panic = "abort"` kills the WASM's
/// async executor; the router's synchronous click listener still calls `preventDefault()` but the
/// navigation task it spawns never runs, and nothing more is logged. With server and WASM from one
/// `cargo leptos build`, `main_navigation_is_client_side` (tests/tests/browser_services.rs) walks every
/// page twice without a reload.
#[component]
fn NavLink(href: &'static str, label: &'static str) -> impl IntoView {
    let location = use_location();
    let current = move || {
        let path = location.pathname.get();
        let here = if href == "/" {
            path == "/"
        } else {
            path == href || path.starts_with(&format!("{href}/"))
        };
        here.then_some("page")
    };
    view! { <a href=href aria-current=current>{label}</a> }
}
