//! The warning an operator must not miss: Warden listens beyond this machine over plain HTTP, so
//! passwords and session cookies cross the network unencrypted. Shown on the dashboard while the
//! server says so (`ServerInfo::warning`); nothing otherwise.

use leptos::prelude::*;

use crate::rpc::get_server_info;

#[component]
pub fn PlainHttpWarning() -> impl IntoView {
    let info = Resource::new(|| (), |_| get_server_info());
    view! {
        <Suspense fallback=|| ()>
            {move || info.get().and_then(Result::ok).and_then(|i| i.warning).map(|warning| view! {
                <div class="notice warn" role="alert" data-testid="plain-http-warning">{warning}</div>
            })}
        </Suspense>
    }
}
