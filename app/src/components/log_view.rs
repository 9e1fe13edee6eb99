//! The log panel of one service (detail page and Logs page): the last lines (server function
//! `service_logs`), then live follow over `/api/v1/services/{id}/logs/stream`; pause/resume, filters by text
//! and by stream (out / err / warden), a download link for the file. The DOM keeps at most
//! [`MAX_LINES`] lines; incoming lines are applied in small batches so a chatty service cannot flood it.

use std::collections::VecDeque;
use std::sync::Arc;

use leptos::prelude::*;

use crate::model::service_form::{parse_log_line, LogLine, LogStream};

/// Lines kept in the panel (older ones are dropped from the DOM; the file keeps everything).
pub const MAX_LINES: usize = 2_000;
/// Lines loaded when the panel opens.
pub const INITIAL_LINES: usize = 500;

#[derive(Debug, Clone)]
struct Entry {
    seq: u64,
    line: Arc<LogLine>,
}

/// Whether the panel is loading, following, or has lost its stream.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
enum FollowState {
    Loading,
    Live,
    Reconnecting,
    Failed(String),
}

/// The panel's lines and controls (all `Copy` signals).
#[derive(Debug, Clone, Copy)]
struct LogState {
    lines: RwSignal<VecDeque<Entry>>,
    next_seq: StoredValue<u64>,
    /// Lines that arrived while paused.
    held: RwSignal<Vec<String>>,
    paused: RwSignal<bool>,
    state: RwSignal<FollowState>,
}

impl LogState {
    fn push_lines(&self, raw: Vec<String>) {
        if raw.is_empty() {
            return;
        }
        if self.paused.get_untracked() {
            self.held.update(|h| {
                h.extend(raw);
                let excess = h.len().saturating_sub(MAX_LINES);
                h.drain(..excess);
            });
            return;
        }
        let mut seq = self.next_seq.get_value();
        self.lines.update(|lines| {
            for text in raw {
                lines.push_back(Entry {
                    seq,
                    line: Arc::new(parse_log_line(&text)),
                });
                seq += 1;
            }
            while lines.len() > MAX_LINES {
                lines.pop_front();
            }
        });
        self.next_seq.set_value(seq);
    }

    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    fn reset(&self) {
        self.lines.set(VecDeque::new());
        self.held.set(Vec::new());
    }
}

/// The log panel for the service `service` (`(id, name)`; `None` shows a hint to pick one).
#[component]
pub fn LogView(#[prop(into)] service: Signal<Option<(String, String)>>) -> impl IntoView {
    let st = LogState {
        lines: RwSignal::new(VecDeque::new()),
        next_seq: StoredValue::new(0),
        held: RwSignal::new(Vec::new()),
        paused: RwSignal::new(false),
        state: RwSignal::new(FollowState::Loading),
    };
    let filter = RwSignal::new(String::new());
    let show_out = RwSignal::new(true);
    let show_err = RwSignal::new(true);
    let show_warden = RwSignal::new(true);
    let scroller = NodeRef::<leptos::html::Div>::new();

    #[cfg(feature = "hydrate")]
    follow::start(service, st, scroller);

    let visible = move || {
        let needle = crate::model::lowercase(&filter.get());
        let (out, err, warden) = (show_out.get(), show_err.get(), show_warden.get());
        st.lines.with(|lines| {
            lines
                .iter()
                .filter(|e| match e.line.stream {
                    LogStream::Out => out,
                    LogStream::Err => err,
                    LogStream::Warden => warden,
                })
                .filter(|e| {
                    needle.is_empty() || crate::model::lowercase(&e.line.text).contains(&needle)
                })
                .cloned()
                .collect::<Vec<_>>()
        })
    };
    let toggle_pause = move |_| {
        if st.paused.get_untracked() {
            st.paused.set(false);
            let held = st.held.try_update(std::mem::take).unwrap_or_default();
            st.push_lines(held);
        } else {
            st.paused.set(true);
        }
    };
    let download = move || {
        service
            .get()
            .map(|(id, _)| format!("/api/v1/services/{id}/logs/file"))
    };
    let status_text = move || match st.state.get() {
        FollowState::Loading => "Loading…".to_string(),
        FollowState::Live if st.paused.get() => {
            format!("Paused · {} new lines held", st.held.with(Vec::len))
        }
        FollowState::Live => "Following live".to_string(),
        FollowState::Reconnecting => "Connection lost, reconnecting…".to_string(),
        FollowState::Failed(why) => why,
    };

    view! {
        <section class="card log-panel" data-testid="log-panel" aria-label="Service log">
            <div class="log-toolbar">
                <button type="button" class="btn" data-testid="log-pause" on:click=toggle_pause
                    aria-pressed=move || st.paused.get().to_string()>
                    {move || if st.paused.get() { "Resume" } else { "Pause" }}
                </button>
                <label class="inline">
                    <span class="sr-only">"Filter lines"</span>
                    <input type="search" placeholder="Filter lines…" data-testid="log-filter"
                        prop:value=filter on:input=move |ev| filter.set(event_target_value(&ev))/>
                </label>
                <fieldset class="log-streams">
                    <legend class="sr-only">"Streams"</legend>
                    <label class="inline"><input type="checkbox" data-testid="log-show-out" prop:checked=show_out
                        on:change=move |ev| show_out.set(event_target_checked(&ev))/>" out"</label>
                    <label class="inline"><input type="checkbox" data-testid="log-show-err" prop:checked=show_err
                        on:change=move |ev| show_err.set(event_target_checked(&ev))/>" err"</label>
                    <label class="inline"><input type="checkbox" data-testid="log-show-warden" prop:checked=show_warden
                        on:change=move |ev| show_warden.set(event_target_checked(&ev))/>" warden"</label>
                </fieldset>
                <a class="btn ghost" data-testid="log-download" download="" href=download
                    aria-disabled=move || download().is_none().then_some("true")>"Download"</a>
                <span class="muted log-status" role="status" data-testid="log-status">{status_text}</span>
            </div>
            <div class="log-lines" node_ref=scroller tabindex="0" aria-label="Log lines" data-testid="log-lines">
                <For each=visible key=|e| e.seq let:e>
                    <div class=format!("log-line {}", e.line.stream.as_str()) data-testid="log-line">
                        <span class="log-at">{e.line.at.get(11..23).unwrap_or_default().to_string()}</span>
                        <span class="log-stream">{e.line.stream.as_str()}</span>
                        <span class="log-text">{e.line.text.clone()}</span>
                    </div>
                </For>
                <Show when=move || st.lines.with(VecDeque::is_empty) && st.state.get() != FollowState::Loading>
                    <p class="muted log-empty">"No log lines yet."</p>
                </Show>
            </div>
        </section>
    }
    .into_any()
}

#[cfg(feature = "hydrate")]
mod follow {
    use std::cell::RefCell;
    use std::collections::HashSet;
    use std::rc::Rc;
    use std::time::Duration;

    use leptos::prelude::*;

    use super::{FollowState, LogState, INITIAL_LINES};
    use crate::components::live::EventStream;

    /// Lines received but not yet shown, and whether a flush is scheduled.
    #[derive(Default)]
    struct Pending {
        lines: Vec<String>,
        scheduled: bool,
        /// Until the initial tail has loaded, stream lines wait here (then deduplicated against it).
        before_tail: Option<Vec<String>>,
    }

    pub(super) fn start(
        service: Signal<Option<(String, String)>>,
        st: LogState,
        scroller: NodeRef<leptos::html::Div>,
    ) {
        let current: StoredValue<Option<EventStream>, LocalStorage> = StoredValue::new_local(None);
        let generation = StoredValue::new(0u64);
        on_cleanup(move || {
            current.set_value(None);
        });
        Effect::new(move |_| {
            let selected = service.get();
            current.set_value(None); // drops (closes) the previous stream
            st.reset();
            let my_gen = generation.get_value() + 1;
            generation.set_value(my_gen);
            let Some((id, _name)) = selected else {
                st.state.set(FollowState::Failed(
                    "Choose a service to see its log.".into(),
                ));
                return;
            };
            st.state.set(FollowState::Loading);
            let pending = Rc::new(RefCell::new(Pending {
                before_tail: Some(Vec::new()),
                ..Pending::default()
            }));
            // Every callback below may run after the page (and with it this panel's signals) is gone:
            // a stream event, the 40 ms flush timer, the tail request. They check first that their
            // generation is still the current one, with `try_`: a disposed value reads as "not current".
            let current_gen = move || generation.try_get_value() == Some(my_gen);
            let flush = {
                let pending = Rc::clone(&pending);
                move || {
                    if !current_gen() {
                        return;
                    }
                    let lines = {
                        let mut p = pending.borrow_mut();
                        p.scheduled = false;
                        std::mem::take(&mut p.lines)
                    };
                    let stick = near_bottom(scroller);
                    st.push_lines(lines);
                    if stick {
                        scroll_to_bottom(scroller);
                    }
                }
            };
            let on_line = {
                let pending = Rc::clone(&pending);
                move |line: String| {
                    let mut p = pending.borrow_mut();
                    if let Some(early) = p.before_tail.as_mut() {
                        early.push(line);
                        return;
                    }
                    p.lines.push(line);
                    if !p.scheduled {
                        p.scheduled = true;
                        let flush = flush.clone();
                        set_timeout(flush, Duration::from_millis(40));
                    }
                }
            };
            let stream = EventStream::open(
                format!("/api/v1/services/{id}/logs/stream"),
                on_line,
                move |open| {
                    if !current_gen() {
                        return;
                    }
                    if open {
                        st.state.set(FollowState::Live);
                    } else {
                        st.state.set(FollowState::Reconnecting);
                    }
                },
            );
            current.set_value(Some(stream));
            leptos::task::spawn_local(async move {
                let tail = crate::rpc::service_logs(id, INITIAL_LINES).await;
                if !current_gen() {
                    return;
                }
                let early = pending.borrow_mut().before_tail.take().unwrap_or_default();
                match tail {
                    Ok(tail) => {
                        let seen: HashSet<&String> = tail.iter().collect();
                        let fresh: Vec<String> = early
                            .iter()
                            .filter(|l| !seen.contains(l))
                            .cloned()
                            .collect();
                        st.push_lines(tail);
                        st.push_lines(fresh);
                        if st.state.get_untracked() == FollowState::Loading {
                            st.state.set(FollowState::Live);
                        }
                        scroll_to_bottom(scroller);
                    }
                    Err(e) => {
                        st.push_lines(early);
                        st.state.set(FollowState::Failed(format!(
                            "The last lines could not be loaded: {e}"
                        )));
                    }
                }
            });
        });
    }

    fn near_bottom(scroller: NodeRef<leptos::html::Div>) -> bool {
        scroller
            .try_get_untracked()
            .flatten()
            .is_none_or(|el| el.scroll_height() - el.scroll_top() - el.client_height() < 40)
    }

    fn scroll_to_bottom(scroller: NodeRef<leptos::html::Div>) {
        // The frame may come after the page was left and the node ref disposed: then do nothing.
        request_animation_frame(move || {
            if let Some(el) = scroller.try_get_untracked().flatten() {
                el.set_scroll_top(el.scroll_height());
            }
        });
    }
}
