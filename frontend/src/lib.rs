//! The WASM entry point: hydrates the server-rendered Warden app in the browser. Nothing else lives here.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // `hydrate_lazy`, not `hydrate_body`: it first loads the WASM chunk of the lazy route the page was
    // rendered with, so hydration walks the same view tree the server rendered.
    leptos::mount::hydrate_lazy(app::App);
}
