//! The services page.

use leptos::prelude::*;
use leptos_meta::Title;

use super::ComingSoon;

#[component]
pub fn ServicesPage() -> impl IntoView {
    view! {
        <Title text="Services"/>
        <h1 data-testid="page-title">"Services"</h1>
        <ComingSoon what="The live services table, the create/edit form and each service's detail page."/>
    }
}
