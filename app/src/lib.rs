//! Warden's UI: the HTML shell, the router and its pages, the server functions they call, and the DTOs and
//! validation shared with the server (`model`). Server-only code sits behind the `ssr` feature.

// Production code never panics on a failed `expect` (tests may: `clippy.toml` allows it there).
#![cfg_attr(not(test), deny(clippy::expect_used))]

pub mod assets;
#[cfg(feature = "ssr")]
pub mod backend;
pub mod components;
pub mod model;
pub mod pages;
pub mod routes;
pub mod rpc;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Link, Meta, MetaTags, Title};
use leptos_router::components::{ParentRoute, Route, Router, Routes};
use leptos_router::{path, Lazy};

use pages::{shell::Shell, NotFound};
use routes::{
    AuditRoute, DashboardRoute, FirewallRoute, ImportRoute, JailsRoute, LoginRoute, LogsRoute,
    ServiceDetailRoute, ServicesRoute, SettingsRoute, UsersRoute,
};

/// The HTML document the server renders around the app. The asset tags (stylesheet, WASM bootstrap)
/// use the content-hashed names the server found at start (see [`assets`]).
pub fn shell(options: LeptosOptions) -> impl IntoView {
    let _ = options;
    #[cfg(feature = "ssr")]
    let names = assets::asset_names();
    #[cfg(not(feature = "ssr"))]
    let names = assets::AssetNames::default();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <assets::AssetTags names/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The root component: routes to the login page or to the authenticated shell and its pages. Every page
/// is a lazy route ([`routes`]): its code is fetched when it is first shown.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Effects run only in the browser: mark the document once the WASM has hydrated it (tests wait on it).
    Effect::new(|_| {
        #[cfg(feature = "hydrate")]
        if let Some(body) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.body())
        {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
    view! {
        <Link rel="icon" href="data:,"/>
        <Meta name="color-scheme" content="light dark"/>
        <Title formatter=|page: String| if page.is_empty() { "Warden".to_string() } else { format!("{page} · Warden") }/>
        <Router>
            <Routes fallback=|| view! { <NotFound/> }>
                <Route path=path!("/login") view={Lazy::<LoginRoute>::new()}/>
                <ParentRoute path=path!("") view=Shell>
                    <Route path=path!("") view={Lazy::<DashboardRoute>::new()}/>
                    <Route path=path!("services") view={Lazy::<ServicesRoute>::new()}/>
                    <Route path=path!("services/:name") view={Lazy::<ServiceDetailRoute>::new()}/>
                    <Route path=path!("firewall") view={Lazy::<FirewallRoute>::new()}/>
                    <Route path=path!("firewall/jails") view={Lazy::<JailsRoute>::new()}/>
                    <Route path=path!("logs") view={Lazy::<LogsRoute>::new()}/>
                    <Route path=path!("settings") view={Lazy::<SettingsRoute>::new()}/>
                    <Route path=path!("audit") view={Lazy::<AuditRoute>::new()}/>
                    <Route path=path!("users") view={Lazy::<UsersRoute>::new()}/>
                    <Route path=path!("import") view={Lazy::<ImportRoute>::new()}/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}
