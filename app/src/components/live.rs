//! Live updates: ONE `EventSource` on `/api/v1/events` (session cookie) per app, dispatching service status
//! changes into one signal per service, so a change re-renders only what shows that service. The shell
//! provides [`LiveServices`]; pages seed it with the list they loaded and read rows from it.
//!
//! Also owns [`EventStream`], the reconnecting `EventSource` wrapper the log panel reuses: when the server
//! closes the stream (restart, expired session) it reconnects with backoff (1 s doubling to 15 s), and each
//! (re)open calls back so the caller can resynchronise what it may have missed.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use leptos::prelude::*;
use serde::Deserialize;

use crate::model::service::Service;

/// One service of the live table: its id and the signal holding its latest state.
#[derive(Debug, Clone)]
pub struct ServiceRow {
    pub id: Arc<str>,
    pub service: RwSignal<Service>,
}

/// What the event bus sends that the services UI cares about (other event types are ignored).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BusEvent {
    Service {
        service: Box<Service>,
    },
    ServiceDeleted {
        id: String,
    },
    /// The subscriber fell behind and lost events: resynchronise.
    Lagged {
        #[serde(default)]
        missed: u64,
    },
    #[serde(other)]
    Other,
}

/// Parses one `data:` payload of `/api/v1/events`; `None` for anything unreadable.
pub fn parse_bus_event(data: &str) -> Option<BusEvent> {
    serde_json::from_str(data).ok()
}

/// The live services store (context, `Copy`). Membership (`rows`) changes only when services are added,
/// removed or renamed; a status change only sets that service's signal.
#[derive(Debug, Clone, Copy)]
pub struct LiveServices {
    rows: RwSignal<Vec<ServiceRow>>,
    /// Whether the event stream is open (shown as "live" / "reconnecting").
    pub connected: RwSignal<bool>,
    /// Milliseconds since the epoch, refreshed every 30 s in the browser (for uptimes).
    pub now_ms: RwSignal<i64>,
    /// Ids changed by events while a resynchronisation was in flight (its older answer must not win).
    touched: StoredValue<Option<HashSet<String>>>,
}

/// The current time in milliseconds since the Unix epoch.
pub fn now_millis() -> i64 {
    #[cfg(feature = "hydrate")]
    {
        js_sys::Date::now() as i64
    }
    #[cfg(not(feature = "hydrate"))]
    {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default()
    }
}

fn sort_rows(rows: &mut [ServiceRow]) {
    rows.sort_by_cached_key(|r| r.service.with_untracked(|s| s.spec.name.clone()));
}

impl LiveServices {
    fn new() -> Self {
        LiveServices {
            rows: RwSignal::new(Vec::new()),
            connected: RwSignal::new(false),
            now_ms: RwSignal::new(now_millis()),
            touched: StoredValue::new(None),
        }
    }

    /// The rows, sorted by name (tracked: changes when services are added, removed or renamed).
    pub fn rows(&self) -> Vec<ServiceRow> {
        self.rows.get()
    }

    /// Whether no service is known (tracked).
    pub fn is_empty(&self) -> bool {
        self.rows.with(Vec::is_empty)
    }

    /// The row of the service named `name` (tracked on membership only).
    pub fn by_name(&self, name: &str) -> Option<ServiceRow> {
        self.rows.with(|rows| {
            rows.iter()
                .find(|r| r.service.with_untracked(|s| s.spec.name == name))
                .cloned()
        })
    }

    /// Every known service (untracked), for validation and port suggestions.
    pub fn snapshot(&self) -> Vec<Service> {
        self.rows
            .with_untracked(|rows| rows.iter().map(|r| r.service.get_untracked()).collect())
    }

    /// Replaces the membership with `list`, keeping (and updating) the signals of known services.
    pub fn seed(&self, list: Vec<Service>) {
        self.merge(list, &HashSet::new());
    }

    fn merge(&self, list: Vec<Service>, keep: &HashSet<String>) {
        let mut membership_changed = false;
        let mut next = Vec::with_capacity(list.len());
        let current: BTreeMap<Arc<str>, RwSignal<Service>> = self
            .rows
            .with_untracked(|rows| rows.iter().map(|r| (r.id.clone(), r.service)).collect());
        let listed: BTreeSet<&str> = list.iter().map(|s| s.id.as_str()).collect();
        // Services changed by an event during a resync stay as the event left them.
        for (id, signal) in &current {
            if !listed.contains(&**id) && keep.contains(&**id) {
                next.push(ServiceRow {
                    id: id.clone(),
                    service: *signal,
                });
            }
        }
        for service in list {
            match current.get_key_value(service.id.as_str()) {
                Some((id, signal)) => {
                    if !keep.contains(&*service.id) {
                        let renamed =
                            signal.with_untracked(|old| old.spec.name != service.spec.name);
                        membership_changed |= renamed;
                        if signal.with_untracked(|old| *old != service) {
                            signal.set(service);
                        }
                    }
                    next.push(ServiceRow {
                        id: id.clone(),
                        service: *signal,
                    });
                }
                None => {
                    membership_changed = true;
                    next.push(ServiceRow {
                        id: service.id.as_str().into(),
                        service: RwSignal::new(service),
                    });
                }
            }
        }
        membership_changed |= next.len() != current.len();
        if membership_changed {
            sort_rows(&mut next);
            self.rows.set(next);
        }
    }

    /// Adds or updates one service (an event, or the answer to an action).
    pub fn upsert(&self, service: Service) {
        self.touch(&service.id);
        let existing = self.rows.with_untracked(|rows| {
            rows.iter()
                .find(|r| *r.id == *service.id)
                .map(|r| r.service)
        });
        match existing {
            Some(signal) => {
                let renamed = signal.with_untracked(|old| old.spec.name != service.spec.name);
                if signal.with_untracked(|old| *old != service) {
                    signal.set(service);
                }
                if renamed {
                    self.rows.update(|rows| sort_rows(rows));
                }
            }
            None => self.rows.update(|rows| {
                rows.push(ServiceRow {
                    id: service.id.as_str().into(),
                    service: RwSignal::new(service),
                });
                sort_rows(rows);
            }),
        }
    }

    /// Forgets a deleted service.
    pub fn remove(&self, id: &str) {
        self.touch(id);
        if self
            .rows
            .with_untracked(|rows| rows.iter().any(|r| &*r.id == id))
        {
            self.rows.update(|rows| rows.retain(|r| &*r.id != id));
        }
    }

    fn touch(&self, id: &str) {
        self.touched.update_value(|t| {
            if let Some(t) = t {
                t.insert(id.to_string());
            }
        });
    }

    /// Applies one event of the bus.
    pub fn apply(&self, event: BusEvent) {
        match event {
            BusEvent::Service { service } => self.upsert(*service),
            BusEvent::ServiceDeleted { id } => self.remove(&id),
            BusEvent::Lagged { .. } => self.resync(),
            BusEvent::Other => {}
        }
    }

    /// Reloads the whole list (after the stream (re)opened or lagged); events that arrive meanwhile win.
    pub fn resync(&self) {
        let this = *self;
        this.touched.set_value(Some(HashSet::new()));
        leptos::task::spawn_local(async move {
            if let Ok(list) = crate::rpc::list_services().await {
                let keep = this.touched.get_value().unwrap_or_default();
                this.merge(list, &keep);
            }
            this.touched.set_value(None);
        });
    }
}

/// Creates the store, provides it as context and (in the browser) opens the event stream. Call once, in
/// the shell.
pub fn provide_live_services() -> LiveServices {
    let live = LiveServices::new();
    provide_context(live);
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        let stream = EventStream::open(
            "/api/v1/events".to_string(),
            move |data| {
                if let Some(event) = parse_bus_event(&data) {
                    live.apply(event);
                }
            },
            move |open| {
                live.connected.set(open);
                if open {
                    live.resync();
                }
            },
        );
        // The shell lives as long as the page: keep the stream (and its handlers) for good.
        std::mem::forget(stream);
        set_interval(
            move || live.now_ms.set(now_millis()),
            std::time::Duration::from_secs(30),
        );
    });
    live
}

/// The live services store of the surrounding shell (a fresh, unconnected one outside a shell).
pub fn use_live_services() -> LiveServices {
    use_context::<LiveServices>().unwrap_or_else(LiveServices::new)
}

#[cfg(feature = "hydrate")]
pub use stream::EventStream;

#[cfg(feature = "hydrate")]
mod stream {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bus_events_parse() {
        assert_eq!(
            parse_bus_event(r#"{"type":"service_deleted","id":"ab"}"#),
            Some(BusEvent::ServiceDeleted { id: "ab".into() })
        );
        assert_eq!(
            parse_bus_event(r#"{"type":"firewall","active":true}"#),
            Some(BusEvent::Other)
        );
        assert_eq!(
            parse_bus_event(r#"{"type":"lagged","missed":3}"#),
            Some(BusEvent::Lagged { missed: 3 })
        );
        assert_eq!(parse_bus_event("not json"), None);
        let service = r#"{"type":"service","service":{"id":"x","name":"web","command":"true",
            "working_directory":null,"environment":{},"monitoring_command":null,"ports":[8300],
            "user":null,"enabled":true,"status":{"state":"running","pid":7,"started_at":null,
            "restarts":2,"last_exit":null,"disabled_reason":null,"health":"unknown"}}}"#;
        match parse_bus_event(service) {
            Some(BusEvent::Service { service }) => {
                assert_eq!(service.spec.name, "web");
                assert_eq!(service.status.restarts, 2);
            }
            other => panic!("{other:?}"),
        }
    }
}
