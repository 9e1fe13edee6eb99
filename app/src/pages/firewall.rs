//! The firewall page. Says up front when the firewall is read-only here (no `nft`, or no CAP_NET_ADMIN).

use leptos::prelude::*;
use leptos_meta::Title;

use super::ComingSoon;
use crate::rpc::get_firewall_capability;

#[component]
pub fn FirewallPage() -> impl IntoView {
    let capability = Resource::new(|| (), |_| get_firewall_capability());
    view! {
        <Title text="Firewall"/>
        <h1 data-testid="page-title">"Firewall"</h1>
        <Transition fallback=|| view! { <p class="muted">"Checking the firewall…"</p> }>
            {move || capability.get().map(|r| match r {
                Ok(c) if c.available => view! {
                    <p class="ok" data-testid="fw-capability">"Warden can manage this host's nftables firewall."</p>
                }.into_any(),
                Ok(c) => view! {
                    <div class="notice warn" role="status" data-testid="fw-capability">
                        <strong>"Read-only. "</strong>
                        {c.reason.unwrap_or_else(|| "The firewall cannot be managed here.".into())}
                    </div>
                }.into_any(),
                Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
            })}
        </Transition>
        <ComingSoon what="Ordered rules, presets, commit-confirmed apply, bans and exposure."/>
    }
}
