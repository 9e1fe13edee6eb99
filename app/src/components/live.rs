//! Live updates: ONE `EventSource` on `/api/v1/events` (session cookie) per app, dispatching service status
//! changes into one signal per service, so a change re-renders only what shows that service. The shell
//! provides [`LiveServices`]; pages seed it with the list they loaded and read rows from it.
//!
//! The store owns its rows' signals (they belong to its own reactive owner, not to the page that happened
//! to load a service first: that page's owner is disposed when the user navigates away), and it keeps the
//! newest snapshot of each service: one that arrives late (the answer to an action, a page's list) never
//! replaces a newer one from the event stream (`status.revision` orders them).
//!
//! The stream itself is `components::event_stream`'s reconnecting `EventSource`: each (re)open resynchronises
//! the whole list.

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
#[derive(Debug, Clone, PartialEq)]
pub enum BusEvent {
    Service {
        service: Box<Service>,
    },
    ServiceDeleted {
        id: String,
    },
    /// The subscriber fell behind and lost events: resynchronise.
    Lagged {
        missed: u64,
    },
    Other,
}

/// Parses one `data:` payload of `/api/v1/events` (an object whose `type` says which event it is, the
/// event's fields beside it); `None` for anything unreadable.
///
/// Read in two passes over the text (its `type`, then the fields of that event) rather than with
/// serde's internally tagged enums: those buffer the object into serde's `Content` tree and deserialize
/// the event from that, a second instantiation of the deserializers of `Service` and everything in it,
/// in the main WASM module; both passes here use `serde_json::from_str`, as the server functions do.
pub fn parse_bus_event(data: &str) -> Option<BusEvent> {
    #[derive(Deserialize)]
    struct Tag {
        #[serde(rename = "type")]
        kind: String,
    }
    #[derive(Deserialize)]
    struct ServiceChanged {
        service: Box<Service>,
    }
    #[derive(Deserialize)]
    struct ServiceDeleted {
        id: String,
    }
    #[derive(Deserialize)]
    struct Lagged {
        #[serde(default)]
        missed: u64,
    }
    let tag: Tag = serde_json::from_str(data).ok()?;
    Some(match tag.kind.as_str() {
        "service" => {
            let ServiceChanged { service } = serde_json::from_str(data).ok()?;
            BusEvent::Service { service }
        }
        "service_deleted" => {
            let ServiceDeleted { id } = serde_json::from_str(data).ok()?;
            BusEvent::ServiceDeleted { id }
        }
        "lagged" => {
            let Lagged { missed } = serde_json::from_str(data).ok()?;
            BusEvent::Lagged { missed }
        }
        _ => BusEvent::Other,
    })
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
    /// The reactive owner of the rows' signals: the store's own, a child of the shell's. Created under
    /// whatever owner is current (a page's `Suspense`), a row's signal would be disposed with that page
    /// while the store still hands it out to the next page (a WASM panic: "reactive value that has
    /// already been disposed").
    owner: StoredValue<Owner>,
}

/// How a list of services is merged into the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Merge {
    /// A page's list: a known service takes it only if it is not older than what the store has.
    NewerOnly,
    /// A resynchronisation after the stream (re)opened: the list wins (Warden may have restarted),
    /// except for the services events changed meanwhile.
    Replace,
}

/// Whether `incoming` is an older snapshot of the same service than `current`.
fn is_older(incoming: &Service, current: &Service) -> bool {
    incoming.status.revision < current.status.revision
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
            owner: StoredValue::new(Owner::new()),
        }
    }

    /// A new row signal, owned by the store (see [`LiveServices::owner`]).
    fn new_signal(&self, service: Service) -> RwSignal<Service> {
        let owner = self.owner.get_value();
        owner.with(|| RwSignal::new(service))
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
    /// A known service keeps its state if the list's snapshot of it is older.
    pub fn seed(&self, list: Vec<Service>) {
        self.merge(list, &HashSet::new(), Merge::NewerOnly);
    }

    fn merge(&self, list: Vec<Service>, keep: &HashSet<String>, how: Merge) {
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
                    let stale = how == Merge::NewerOnly
                        && signal.with_untracked(|old| is_older(&service, old));
                    if !keep.contains(&*service.id) && !stale {
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
                        service: self.new_signal(service),
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

    /// Adds or updates one service (an event, or the answer to an action); an older snapshot than the
    /// store's is ignored (an action's answer can arrive after the event of what happened next).
    pub fn upsert(&self, service: Service) {
        self.touch(&service.id);
        let existing = self.rows.with_untracked(|rows| {
            rows.iter()
                .find(|r| *r.id == *service.id)
                .map(|r| r.service)
        });
        match existing {
            Some(signal) => {
                if signal.with_untracked(|old| is_older(&service, old)) {
                    return;
                }
                let renamed = signal.with_untracked(|old| old.spec.name != service.spec.name);
                if signal.with_untracked(|old| *old != service) {
                    signal.set(service);
                }
                if renamed {
                    self.rows.update(|rows| sort_rows(rows));
                }
            }
            None => {
                let row = ServiceRow {
                    id: service.id.as_str().into(),
                    service: self.new_signal(service),
                };
                self.rows.update(|rows| {
                    rows.push(row);
                    sort_rows(rows);
                });
            }
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
                this.merge(list, &keep, Merge::Replace);
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
pub use super::event_stream::EventStream;

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
        assert_eq!(parse_bus_event(r#"{"id":"ab"}"#), None);
        assert_eq!(parse_bus_event(r#"{"type":"service_deleted"}"#), None);
        assert_eq!(
            parse_bus_event(r#"{"type":"service","service":{"id":"x"}}"#),
            None
        );
        assert_eq!(
            parse_bus_event(r#"{"type":"lagged"}"#),
            Some(BusEvent::Lagged { missed: 0 })
        );
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

    fn service(id: &str, name: &str, restarts: u32, revision: u64) -> Service {
        let mut status = crate::model::service::ServiceStatus::stopped();
        status.restarts = restarts;
        status.revision = revision;
        Service {
            id: id.into(),
            spec: crate::model::service::ServiceSpec {
                name: name.into(),
                command: "sleep 600".into(),
                working_directory: None,
                environment: Default::default(),
                monitoring_command: None,
                ports: Vec::new(),
                user: None,
                enabled: true,
                allow_ports_outside_range: false,
                stop_signal: Default::default(),
                stop_grace_secs: None,
                reload_grace_secs: None,
                restart: Default::default(),
                monitoring: Default::default(),
                after: Vec::new(),
                limits: Default::default(),
            },
            status,
        }
    }

    /// A page seeds the store inside its own `Suspense`; when the user navigates away that owner is
    /// disposed, and the next page must still read the row (issue 21: a WASM panic on list -> detail).
    #[test]
    fn rows_outlive_the_page_that_loaded_them() {
        let shell = Owner::new();
        shell.with(|| {
            let live = LiveServices::new();
            let page = Owner::new();
            page.with(|| live.seed(vec![service("a", "web", 0, 1)]));
            let event_page = Owner::new();
            event_page.with(|| live.upsert(service("b", "db", 0, 1)));
            page.cleanup();
            event_page.cleanup();
            drop((page, event_page));
            // The next page seeds the same list and reads the rows.
            let next = Owner::new();
            next.with(|| {
                live.seed(vec![service("a", "web", 1, 2), service("b", "db", 0, 1)]);
                let row = live.by_name("web").expect("the row of web");
                assert_eq!(row.service.with_untracked(|s| s.status.restarts), 1);
                let row = live.by_name("db").expect("the row of db");
                assert_eq!(row.service.with_untracked(|s| s.spec.name.clone()), "db");
            });
        });
    }

    /// The answer to an action (or a page's list) can arrive after the event of what happened next:
    /// it must not put the older status back (issue 21: restarts stayed 0 after a restart).
    #[test]
    fn an_older_snapshot_never_replaces_a_newer_one() {
        let shell = Owner::new();
        shell.with(|| {
            let live = LiveServices::new();
            live.seed(vec![service("a", "web", 0, 10)]);
            let restarts = || {
                live.by_name("web")
                    .map(|r| r.service.with_untracked(|s| s.status.restarts))
            };
            // The event: restarted (revision 12); then the action's late answer (revision 11).
            live.apply(BusEvent::Service {
                service: Box::new(service("a", "web", 1, 12)),
            });
            live.upsert(service("a", "web", 0, 11));
            assert_eq!(restarts(), Some(1));
            // A page's list loaded before the event changes nothing either.
            live.seed(vec![service("a", "web", 0, 11)]);
            assert_eq!(restarts(), Some(1));
            // Newer ones do.
            live.upsert(service("a", "web", 2, 13));
            assert_eq!(restarts(), Some(2));
            live.seed(vec![service("a", "web", 3, 14)]);
            assert_eq!(restarts(), Some(3));
        });
    }
}
