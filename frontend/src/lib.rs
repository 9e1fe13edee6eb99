//! The WASM entry point: hydrates the server-rendered Warden app in the browser, and owns what the page
//! shows when that code stops (a panic, or a page chunk that failed to load).

// Production code never panics on a failed `expect` (tests may: `clippy.toml` allows it there).
#![cfg_attr(not(test), deny(clippy::expect_used))]

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        show_stopped_banner();
    }));
    // `hydrate_lazy`, not `hydrate_body`: it first loads the WASM chunk of the lazy route the page was
    // rendered with, so hydration walks the same view tree the server rendered.
    leptos::mount::hydrate_lazy(app::App);
}

/// The WASM is built with `panic = "abort"`: after a panic nothing on the page reacts any more (a
/// lazy page whose chunk failed to download ends the same way). Rather than leave a page that looks
/// fine and ignores every click, say so at the top and offer a full reload. Plain DOM calls only, as
/// this runs inside the panic; the link is `rel=external` so it is a real page load.
fn show_stopped_banner() {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    let Some(body) = document.body() else {
        return;
    };
    if body.get_attribute("data-stopped").is_some() {
        return;
    }
    let _ = body.set_attribute("data-stopped", "true");
    let href = document
        .location()
        .and_then(|l| l.href().ok())
        .unwrap_or_else(|| "/".to_string());
    let (Ok(banner), Ok(text), Ok(link)) = (
        document.create_element("div"),
        document.create_element("span"),
        document.create_element("a"),
    ) else {
        return;
    };
    let _ = banner.set_attribute("class", "stopped-banner");
    let _ = banner.set_attribute("role", "alert");
    let _ = banner.set_attribute("data-testid", "page-stopped");
    text.set_text_content(Some(
        "This page stopped working: part of its code failed to load or hit an error, so what it \
         shows may be out of date and its controls may do nothing. ",
    ));
    let _ = link.set_attribute("href", &href);
    let _ = link.set_attribute("rel", "external");
    let _ = link.set_attribute("class", "btn primary");
    let _ = link.set_attribute("data-testid", "page-stopped-reload");
    link.set_text_content(Some("Reload the page"));
    let _ = banner.append_child(&text);
    let _ = banner.append_child(&link);
    let _ = body.prepend_with_node_1(&banner);
}
