//! Toasts: a short message for the result of every action, shown at the bottom of the screen and removed
//! after a few seconds (errors stay until dismissed). The shell provides [`Toasts`] as context; pages call
//! [`use_toasts`] and then `toasts.success(..)` / `toasts.error(..)` / `toasts.info(..)`.

use leptos::prelude::*;

/// How a toast looks and how long it stays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToastKind {
    Success,
    Info,
    Error,
}

impl ToastKind {
    fn class(self) -> &'static str {
        match self {
            ToastKind::Success => "toast success",
            ToastKind::Info => "toast info",
            ToastKind::Error => "toast error",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Toast {
    id: u64,
    kind: ToastKind,
    message: String,
}

/// The toast queue, provided as context by the app shell. `Copy`, so it can move into any closure.
#[derive(Debug, Clone, Copy)]
pub struct Toasts {
    items: RwSignal<Vec<Toast>>,
    next_id: StoredValue<u64>,
}

impl Toasts {
    fn new() -> Self {
        Self {
            items: RwSignal::new(Vec::new()),
            next_id: StoredValue::new(0),
        }
    }

    /// Shows a message; success and info toasts go away by themselves after 4 s.
    pub fn push(&self, kind: ToastKind, message: impl Into<String>) {
        let id = self.next_id.get_value();
        self.next_id.set_value(id + 1);
        let message = message.into();
        self.items.update(|items| {
            items.push(Toast { id, kind, message });
            // Never let a burst of results pile up beyond what fits on screen.
            if items.len() > 5 {
                items.remove(0);
            }
        });
        if kind != ToastKind::Error {
            let this = *self;
            set_timeout(move || this.dismiss(id), std::time::Duration::from_secs(4));
        }
    }

    pub fn success(&self, message: impl Into<String>) {
        self.push(ToastKind::Success, message);
    }

    pub fn info(&self, message: impl Into<String>) {
        self.push(ToastKind::Info, message);
    }

    pub fn error(&self, message: impl Into<String>) {
        self.push(ToastKind::Error, message);
    }

    /// Removes one toast (its close button, or its timer).
    pub fn dismiss(&self, id: u64) {
        self.items.update(|items| items.retain(|t| t.id != id));
    }
}

/// Creates the toast queue and provides it as context; call once, in the shell.
pub fn provide_toasts() -> Toasts {
    let toasts = Toasts::new();
    provide_context(toasts);
    toasts
}

/// The toast queue of the surrounding shell. Outside a shell (e.g. a test rendering one component) a fresh,
/// unattached queue is returned, so callers never need to handle its absence.
pub fn use_toasts() -> Toasts {
    use_context::<Toasts>().unwrap_or_else(Toasts::new)
}

/// Where toasts appear: a polite live region, so screen readers announce results too.
#[component]
pub fn ToastHost() -> impl IntoView {
    let toasts = use_toasts();
    view! {
        <div class="toasts" role="status" aria-live="polite" data-testid="toasts">
            <For each=move || toasts.items.get() key=|t| t.id let:toast>
                <div class=toast.kind.class() data-testid="toast">
                    <span class="toast-message">{toast.message.clone()}</span>
                    <button
                        type="button"
                        class="toast-close"
                        aria-label="Dismiss"
                        on:click=move |_| toasts.dismiss(toast.id)
                    >
                        "×"
                    </button>
                </div>
            </For>
        </div>
    }
}
