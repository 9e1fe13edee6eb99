//! The settings page.

use leptos::prelude::*;
use leptos_meta::Title;

use super::ComingSoon;

#[component]
pub fn SettingsPage() -> impl IntoView {
    view! {
        <Title text="Settings"/>
        <h1 data-testid="page-title">"Settings"</h1>
        <ComingSoon what="Hostname, global environment, service user and port range, thresholds, password, API tokens."/>
    }
}
