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
    retry_asset_fetches_once();
    // `hydrate_lazy`, not `hydrate_body`: it first loads the WASM chunk of the lazy route the page was
    // rendered with, so hydration walks the same view tree the server rendered.
    leptos::mount::hydrate_lazy(app::App);
}

/// A lazy page's WASM chunk is fetched when the page is first shown; one network blip there would stop
/// the page (see [`show_stopped_banner`]). So every fetch of a file under `/pkg/` that fails at the
/// network level is tried once more before the failure counts: `window.fetch` is wrapped (the chunk
/// loader calls the global `fetch` each time), everything else passes through untouched.
fn retry_asset_fetches_once() {
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::{JsCast, JsValue};

    let Some(window) = web_sys::window() else {
        return;
    };
    let Some(original) = js_sys::Reflect::get(&window, &JsValue::from_str("fetch"))
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
    else {
        return;
    };
    let this: JsValue = window.clone().into();
    let wrapper = Closure::<dyn Fn(JsValue, JsValue) -> JsValue>::new(
        move |input: JsValue, init: JsValue| {
            let first = match original.call2(&this, &input, &init) {
                Ok(promise) => promise,
                Err(e) => return js_sys::Promise::reject(&e).into(),
            };
            let url = requested_url(&input);
            if !url.contains("/pkg/") {
                return first;
            }
            let (again, this_again) = (original.clone(), this.clone());
            let retry = Closure::once_into_js(move |error: JsValue| -> JsValue {
                let _ = error;
                leptos::logging::warn!("fetch of {url} failed, trying once more");
                again
                    .call2(&this_again, &input, &init)
                    .unwrap_or_else(|e| js_sys::Promise::reject(&e).into())
            });
            let catch = js_sys::Reflect::get(&first, &JsValue::from_str("catch"))
                .ok()
                .and_then(|c| c.dyn_into::<js_sys::Function>().ok());
            match catch {
                Some(catch) => catch.call1(&first, &retry).unwrap_or(first),
                None => first,
            }
        },
    );
    if js_sys::Reflect::set(&window, &JsValue::from_str("fetch"), wrapper.as_ref()).is_ok() {
        // Lives as long as the page.
        wrapper.forget();
    }
}

/// The URL a `fetch` call asks for: a string, a `URL` (`href`) or a `Request` (`url`).
fn requested_url(input: &wasm_bindgen::JsValue) -> String {
    input
        .as_string()
        .or_else(|| {
            ["href", "url"].iter().find_map(|key| {
                js_sys::Reflect::get(input, &wasm_bindgen::JsValue::from_str(key))
                    .ok()
                    .and_then(|v| v.as_string())
            })
        })
        .unwrap_or_default()
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
