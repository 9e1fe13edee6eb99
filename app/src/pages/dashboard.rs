//! The dashboard: the overview an operator lands on.

use leptos::prelude::*;
use leptos_meta::Title;

use super::ComingSoon;

#[component]
pub fn DashboardPage() -> impl IntoView {
    view! {
        <Title text="Dashboard"/>
        <h1 data-testid="page-title">"Dashboard"</h1>
        <div class="grid">
            <section class="card">
                <h2>"Services"</h2>
                <ComingSoon what="Services by state, with failing and disabled ones first, arrive with the supervisor."/>
            </section>
            <section class="card">
                <h2>"Firewall"</h2>
                <ComingSoon what="Active / pending / drift status and exposure warnings arrive with the firewall."/>
            </section>
        </div>
    }
}
