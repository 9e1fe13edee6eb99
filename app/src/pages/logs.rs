//! The logs page.

use leptos::prelude::*;
use leptos_meta::Title;

use super::ComingSoon;

#[component]
pub fn LogsPage() -> impl IntoView {
    view! {
        <Title text="Logs"/>
        <h1 data-testid="page-title">"Logs"</h1>
        <p>
            "Who changed what, and when: see the "
            <a href="/audit" rel="external" data-testid="audit-link">"audit log"</a> "."
        </p>
        <ComingSoon what="Per-service logs with live follow, filters and download."/>
    }
}
