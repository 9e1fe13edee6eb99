//! The reconnecting `EventSource` (browser only) behind the live services store and the log panel: when
//! the server closes the stream (restart, expired session) it reconnects with backoff (1 s doubling to
//! 15 s), and each (re)open calls back so the caller can resynchronise what it may have missed.

use std::cell::RefCell;
use std::rc::{Rc, Weak};
use std::time::Duration;

use leptos::prelude::set_timeout;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{EventSource, MessageEvent};

const FIRST_RETRY_MS: u64 = 1_000;
const MAX_RETRY_MS: u64 = 15_000;

struct Conn {
    url: String,
    source: Option<EventSource>,
    closed: bool,
    retry_ms: u64,
    on_message: Closure<dyn FnMut(MessageEvent)>,
    on_open: Closure<dyn FnMut(web_sys::Event)>,
    on_error: Closure<dyn FnMut(web_sys::Event)>,
    on_state: Rc<dyn Fn(bool)>,
}

/// A reconnecting `EventSource`. Closing it (or dropping it) stops it for good.
pub struct EventStream {
    conn: Rc<RefCell<Conn>>,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventStream")
    }
}

fn connect(conn: &Rc<RefCell<Conn>>) {
    let mut c = conn.borrow_mut();
    if c.closed {
        return;
    }
    match EventSource::new(&c.url) {
        Ok(source) => {
            source.set_onmessage(Some(c.on_message.as_ref().unchecked_ref()));
            source.set_onopen(Some(c.on_open.as_ref().unchecked_ref()));
            source.set_onerror(Some(c.on_error.as_ref().unchecked_ref()));
            c.source = Some(source);
        }
        Err(_) => schedule_retry(conn, &mut c),
    }
}

fn schedule_retry(conn: &Rc<RefCell<Conn>>, c: &mut Conn) {
    let delay = c.retry_ms;
    c.retry_ms = (c.retry_ms * 2).min(MAX_RETRY_MS);
    let conn = Rc::clone(conn);
    set_timeout(move || connect(&conn), Duration::from_millis(delay));
}

fn on_error(weak: &Weak<RefCell<Conn>>) {
    let Some(conn) = weak.upgrade() else { return };
    let on_state = Rc::clone(&conn.borrow().on_state);
    on_state(false);
    let mut c = conn.borrow_mut();
    if c.closed {
        return;
    }
    // CONNECTING: the browser retries by itself. CLOSED: the server refused; we retry.
    let gave_up = c
        .source
        .as_ref()
        .is_none_or(|s| s.ready_state() == EventSource::CLOSED);
    if gave_up {
        if let Some(s) = c.source.take() {
            s.close();
        }
        schedule_retry(&conn, &mut c);
    }
}

impl EventStream {
    /// Opens `url`; `on_message` gets each `data:` payload, `on_state` each open (true) and
    /// error (false).
    pub fn open(
        url: String,
        on_message: impl Fn(String) + 'static,
        on_state: impl Fn(bool) + 'static,
    ) -> EventStream {
        let on_state: Rc<dyn Fn(bool)> = Rc::new(on_state);
        let conn = Rc::new_cyclic(|weak: &Weak<RefCell<Conn>>| {
            let w_open = weak.clone();
            let w_err = weak.clone();
            let state_open = Rc::clone(&on_state);
            RefCell::new(Conn {
                url,
                source: None,
                closed: false,
                retry_ms: FIRST_RETRY_MS,
                on_message: Closure::new(move |ev: MessageEvent| {
                    if let Some(data) = ev.data().as_string() {
                        on_message(data);
                    }
                }),
                on_open: Closure::new(move |_ev: web_sys::Event| {
                    if let Some(conn) = w_open.upgrade() {
                        conn.borrow_mut().retry_ms = FIRST_RETRY_MS;
                    }
                    state_open(true);
                }),
                on_error: Closure::new(move |_ev: web_sys::Event| on_error(&w_err)),
                on_state,
            })
        });
        connect(&conn);
        EventStream { conn }
    }

    /// Closes the stream; no reconnect follows.
    pub fn close(&self) {
        let mut c = self.conn.borrow_mut();
        c.closed = true;
        if let Some(s) = c.source.take() {
            s.set_onmessage(None);
            s.set_onopen(None);
            s.set_onerror(None);
            s.close();
        }
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.close();
    }
}
