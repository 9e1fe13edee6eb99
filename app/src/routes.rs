//! The pages as lazy routes: in a `--split` build each page's code (its components, its server-function
//! calls, the formatting only it needs) is moved out of the main WASM into a chunk of its own, fetched
//! when the page is first shown (for the page the browser lands on: before hydration, see
//! `leptos::mount::hydrate_lazy`). The app shell (header, navigation, toasts, live updates) stays in the
//! main module because every page needs it. On the server (`ssr`) the lazy views are plain functions.
//!
//! The route types carry no data: each page creates its own resources, as before.

use leptos::prelude::*;
use leptos_router::{lazy_route, LazyRoute};

use crate::pages::{
    audit::AuditPage, dashboard::DashboardPage, firewall::FirewallPage, import::ImportPage,
    jails::JailsPage, login::LoginPage, logs::LogsPage, service_detail::ServiceDetailPage,
    services::ServicesPage, settings::SettingsPage, users::UsersPage,
};

/// `/login`.
#[derive(Debug, Clone, Copy)]
pub struct LoginRoute;

#[lazy_route]
impl LazyRoute for LoginRoute {
    fn data() -> Self {
        LoginRoute
    }

    fn view(_this: Self) -> AnyView {
        view! { <LoginPage/> }.into_any()
    }
}

/// `/`: the dashboard.
#[derive(Debug, Clone, Copy)]
pub struct DashboardRoute;

#[lazy_route]
impl LazyRoute for DashboardRoute {
    fn data() -> Self {
        DashboardRoute
    }

    fn view(_this: Self) -> AnyView {
        view! { <DashboardPage/> }.into_any()
    }
}

/// `/services`.
#[derive(Debug, Clone, Copy)]
pub struct ServicesRoute;

#[lazy_route]
impl LazyRoute for ServicesRoute {
    fn data() -> Self {
        ServicesRoute
    }

    fn view(_this: Self) -> AnyView {
        view! { <ServicesPage/> }.into_any()
    }
}

/// `/services/:name`.
#[derive(Debug, Clone, Copy)]
pub struct ServiceDetailRoute;

#[lazy_route]
impl LazyRoute for ServiceDetailRoute {
    fn data() -> Self {
        ServiceDetailRoute
    }

    fn view(_this: Self) -> AnyView {
        view! { <ServiceDetailPage/> }.into_any()
    }
}

/// `/firewall`.
#[derive(Debug, Clone, Copy)]
pub struct FirewallRoute;

#[lazy_route]
impl LazyRoute for FirewallRoute {
    fn data() -> Self {
        FirewallRoute
    }

    fn view(_this: Self) -> AnyView {
        view! { <FirewallPage/> }.into_any()
    }
}

/// `/firewall/jails`.
#[derive(Debug, Clone, Copy)]
pub struct JailsRoute;

#[lazy_route]
impl LazyRoute for JailsRoute {
    fn data() -> Self {
        JailsRoute
    }

    fn view(_this: Self) -> AnyView {
        view! { <JailsPage/> }.into_any()
    }
}

/// `/logs`.
#[derive(Debug, Clone, Copy)]
pub struct LogsRoute;

#[lazy_route]
impl LazyRoute for LogsRoute {
    fn data() -> Self {
        LogsRoute
    }

    fn view(_this: Self) -> AnyView {
        view! { <LogsPage/> }.into_any()
    }
}

/// `/settings`.
#[derive(Debug, Clone, Copy)]
pub struct SettingsRoute;

#[lazy_route]
impl LazyRoute for SettingsRoute {
    fn data() -> Self {
        SettingsRoute
    }

    fn view(_this: Self) -> AnyView {
        view! { <SettingsPage/> }.into_any()
    }
}

/// `/audit`.
#[derive(Debug, Clone, Copy)]
pub struct AuditRoute;

#[lazy_route]
impl LazyRoute for AuditRoute {
    fn data() -> Self {
        AuditRoute
    }

    fn view(_this: Self) -> AnyView {
        view! { <AuditPage/> }.into_any()
    }
}

/// `/users`.
#[derive(Debug, Clone, Copy)]
pub struct UsersRoute;

#[lazy_route]
impl LazyRoute for UsersRoute {
    fn data() -> Self {
        UsersRoute
    }

    fn view(_this: Self) -> AnyView {
        view! { <UsersPage/> }.into_any()
    }
}

/// `/import`: services from supervisord, systemd or PM2 definitions.
#[derive(Debug, Clone, Copy)]
pub struct ImportRoute;

#[lazy_route]
impl LazyRoute for ImportRoute {
    fn data() -> Self {
        ImportRoute
    }

    fn view(_this: Self) -> AnyView {
        view! { <ImportPage/> }.into_any()
    }
}
