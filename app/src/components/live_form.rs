//! Whether a form is live in the browser yet. Owns the rule that every form with its own submit
//! handler is `inert` until that handler is attached.
//!
//! A server-rendered form is on screen before the WASM reaches it (with lazy routes: until the page's
//! chunk has loaded). Text typed into it then stays in the DOM but never reaches the form's signals, so
//! a save after hydration would send the old values while the screen shows the new ones, and a submit
//! before it would be a plain page reload. An inert form takes no focus, clicks or typing, and the
//! stylesheet dims it for that moment.

use leptos::prelude::*;

/// `false` on the server and until the calling component's effects have run in the browser (it has
/// hydrated or mounted), `true` from then on. Use it as `inert=move || !live.get()` on the `<form>`.
pub fn use_form_live() -> ReadSignal<bool> {
    let (live, set_live) = signal(false);
    Effect::new(move |_| set_live.set(true));
    live
}
