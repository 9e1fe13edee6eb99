//! The authenticated app shell: header with the hostname, navigation, logout, and the page outlet.

use leptos::prelude::*;
use leptos_router::components::{Outlet, A};

use crate::rpc::get_shell_info;

#[component]
pub fn Shell() -> impl IntoView {
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
                    <A href="/" exact=true>"Dashboard"</A>
                    <A href="/services">"Services"</A>
                    <A href="/firewall">"Firewall"</A>
                    <A href="/logs">"Logs"</A>
                    <A href="/settings">"Settings"</A>
                </nav>
                <form class="logout" method="post" action="/logout">
                    <Transition fallback=|| ()>
                        <span class="user muted">{username}</span>
                    </Transition>
                    <button type="submit" class="btn ghost" data-testid="logout">"Log out"</button>
                </form>
            </header>
            <main class="page">
                <Outlet/>
            </main>
        </div>
    }
}
