//! `GET /metrics`: Prometheus metrics (the `prometheus-client` crate's text encoding), for a bearer token
//! (a read-only one suffices). Built at each scrape from the live state: per service `warden_service_up`,
//! `_state` (one-hot), `_restarts_total`, `_cpu_seconds_total`, `_memory_bytes`, `_health` (one-hot);
//! the firewall's `warden_firewall_active`, `_pending`, `_drift`, per-rule packet and byte counters and
//! `warden_firewall_bans`; `warden_login_failures_total`; plus the HTTP request duration histogram
//! ([`HttpMetrics`], recorded by [`record_duration`] for every request, labelled by route pattern so the
//! label set stays bounded) and the process's own figures (`process_*`, from `/proc/self`).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use super::error::ApiError;
use crate::state::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
    status: String,
}

/// The request duration histogram, shared by the recording layer and the scrape.
#[derive(Clone)]
pub struct HttpMetrics {
    durations: Family<RouteLabels, Histogram>,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        HttpMetrics {
            durations: Family::new_with_constructor(|| {
                // 1 ms … ~16 s.
                Histogram::new(exponential_buckets(0.001, 2.0, 15))
            }),
        }
    }
}

/// Records the duration of every request (up to its response head) under its route pattern.
pub async fn record_duration(
    Extension(metrics): Extension<Arc<HttpMetrics>>,
    req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = req.method().as_str().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| {
            // Pages and assets: a few fixed buckets, never the raw path.
            let path = req.uri().path();
            if path.starts_with("/pkg/") {
                "/pkg/*".to_string()
            } else {
                "page".to_string()
            }
        });
    let response = next.run(req).await;
    metrics
        .durations
        .get_or_create(&RouteLabels {
            method,
            route,
            status: response.status().as_u16().to_string(),
        })
        .observe(started.elapsed().as_secs_f64());
    response
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServiceLabels {
    service: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServiceValueLabels {
    service: String,
    value: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuleLabels {
    id: String,
    annotation: String,
}

type FloatCounter = Counter<f64, std::sync::atomic::AtomicU64>;
type FloatGauge = Gauge<f64, std::sync::atomic::AtomicU64>;

/// Every service state, for the one-hot `warden_service_state`.
const STATES: [&str; 7] = [
    "starting", "running", "backoff", "stopping", "stopped", "disabled", "exited",
];
const HEALTHS: [&str; 3] = ["unknown", "passing", "failing"];

#[utoipa::path(get, path = "/metrics", tag = super::openapi::TAG_OPERATIONS, operation_id = "metrics",
    responses((status = 200, description = "Prometheus metrics (text exposition format)", body = String, content_type = "text/plain")))]
pub async fn metrics(
    State(state): State<AppState>,
    Extension(http): Extension<Arc<HttpMetrics>>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    let mut registry = Registry::default();
    services(&state, &mut registry).await;
    firewall(&state, &mut registry).await?;
    let login_failures = Counter::<u64>::default();
    login_failures.inc_by(state.access.failed_logins());
    registry.register(
        "warden_login_failures",
        "Failed logins (wrong password or second factor) since Warden started",
        login_failures,
    );
    registry.register(
        "warden_http_request_duration_seconds",
        "Time to answer HTTP requests, up to the response head, by method, route pattern and status",
        http.durations.clone(),
    );
    process(&mut registry);
    let mut text = String::new();
    encode(&mut text, &registry).map_err(|e| ApiError::internal(e.to_string()))?;
    let wants_openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/openmetrics-text"));
    if wants_openmetrics {
        return Ok((
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response());
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        prometheus_text(&text),
    )
        .into_response())
}

/// The crate's OpenMetrics text as Prometheus' classic text format (0.0.4), for scrapers that do not ask
/// for OpenMetrics: a counter family `x` has samples `x_total`, which the classic format wants named on
/// its `# HELP`/`# TYPE` lines too; and there is no `# EOF` line.
fn prometheus_text(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        out.push_str(renamed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

async fn services(state: &AppState, registry: &mut Registry) {
    let up = Family::<ServiceLabels, Gauge>::default();
    let states = Family::<ServiceValueLabels, Gauge>::default();
    let restarts = Family::<ServiceLabels, Counter>::default();
    let cpu = Family::<ServiceLabels, FloatCounter>::default();
    let memory = Family::<ServiceLabels, Gauge>::default();
    let health = Family::<ServiceValueLabels, Gauge>::default();
    for service in state.supervisor.list() {
        let name = ServiceLabels {
            service: service.spec.name.clone(),
        };
        let current = serde_plain(&service.status.state);
        up.get_or_create(&name).set(i64::from(current == "running"));
        for s in STATES {
            states
                .get_or_create(&ServiceValueLabels {
                    service: service.spec.name.clone(),
                    value: s.to_string(),
                })
                .set(i64::from(current == s));
        }
        restarts
            .get_or_create(&name)
            .inc_by(u64::from(service.status.restarts));
        let current_health = serde_plain(&service.status.health);
        for h in HEALTHS {
            health
                .get_or_create(&ServiceValueLabels {
                    service: service.spec.name.clone(),
                    value: h.to_string(),
                })
                .set(i64::from(current_health == h));
        }
        if let Ok(usage) = state.supervisor.usage(&service.id).await {
            cpu.get_or_create(&name)
                .inc_by(usage.cpu_usage_usec as f64 / 1_000_000.0);
            memory
                .get_or_create(&name)
                .set(i64::try_from(usage.memory_bytes).unwrap_or(i64::MAX));
        }
    }
    registry.register("warden_service_up", "1 when the service is running", up);
    registry.register(
        "warden_service_state",
        "The service's state, one-hot by the value label",
        states,
    );
    registry.register(
        "warden_service_restarts",
        "Restarts of the service (its status.restarts)",
        restarts,
    );
    registry.register(
        "warden_service_cpu_seconds",
        "CPU time used by the service's processes (the cgroup's cpu.stat, else its live processes)",
        cpu,
    );
    registry.register(
        "warden_service_memory_bytes",
        "Memory of the service (the cgroup's memory.current, else the sum of RSS)",
        memory,
    );
    registry.register(
        "warden_service_health",
        "The monitoring command's verdict, one-hot by the value label",
        health,
    );
}

async fn firewall(state: &AppState, registry: &mut Registry) -> Result<(), ApiError> {
    let status = state.firewall.status().await?;
    let gauge = |on: bool| {
        let g = Gauge::<i64>::default();
        g.set(i64::from(on));
        g
    };
    registry.register(
        "warden_firewall_active",
        "1 when Warden's rule set (or its guard) is live",
        gauge(status.active),
    );
    registry.register(
        "warden_firewall_pending",
        "1 while an apply waits for confirmation",
        gauge(status.pending.is_some()),
    );
    registry.register(
        "warden_firewall_drift",
        "1 when the live table differs from what Warden applied",
        gauge(status.drift),
    );
    let packets = Family::<RuleLabels, Counter>::default();
    let bytes = Family::<RuleLabels, Counter>::default();
    for view in state.firewall.rules().await? {
        let labels = RuleLabels {
            id: view.rule.id.clone(),
            annotation: view.rule.annotation.clone(),
        };
        if let (Some(p), Some(b)) = (view.packets, view.bytes) {
            packets.get_or_create(&labels).inc_by(p);
            bytes.get_or_create(&labels).inc_by(b);
        }
    }
    registry.register(
        "warden_firewall_rule_packets",
        "Packets matched by each live rule",
        packets,
    );
    registry.register(
        "warden_firewall_rule_bytes",
        "Bytes matched by each live rule",
        bytes,
    );
    let bans = Gauge::<i64>::default();
    bans.set(i64::try_from(state.firewall.bans().await?.len()).unwrap_or(i64::MAX));
    registry.register("warden_firewall_bans", "Addresses banned now", bans);
    Ok(())
}

/// Warden's own process: CPU seconds, resident memory, open files, threads, start time.
fn process(registry: &mut Registry) {
    let Ok(me) = procfs::process::Process::myself() else {
        return;
    };
    let ticks = procfs::ticks_per_second() as f64;
    if let Ok(stat) = me.stat() {
        let cpu = FloatCounter::default();
        cpu.inc_by((stat.utime + stat.stime) as f64 / ticks);
        registry.register("process_cpu_seconds", "CPU time of Warden itself", cpu);
        let rss = Gauge::<i64>::default();
        rss.set(i64::try_from(stat.rss.saturating_mul(procfs::page_size())).unwrap_or(i64::MAX));
        registry.register(
            "process_resident_memory_bytes",
            "Resident memory of Warden",
            rss,
        );
        let threads = Gauge::<i64>::default();
        threads.set(stat.num_threads);
        registry.register("process_threads", "Threads of Warden", threads);
        if let Ok(boot) = procfs::boot_time_secs() {
            let start = FloatGauge::default();
            start.set(boot as f64 + stat.starttime as f64 / ticks);
            registry.register(
                "process_start_time_seconds",
                "When Warden started, in seconds since the epoch",
                start,
            );
        }
    }
    if let Ok(fds) = me.fd_count() {
        let open = Gauge::<i64>::default();
        open.set(i64::try_from(fds).unwrap_or(i64::MAX));
        registry.register("process_open_fds", "Open file descriptors of Warden", open);
    }
}

/// A unit enum's serde name (`running`, `passing`).
fn serde_plain<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::prometheus_text;

    #[test]
    fn counters_are_named_with_total_in_the_classic_format() {
        let openmetrics =
            "# HELP a_restarts Restarts.\n# TYPE a_restarts counter\na_restarts_total{s=\"x\"} 2\n\
                           # HELP b_up Up.\n# TYPE b_up gauge\nb_up 1\n# EOF\n";
        assert_eq!(
            prometheus_text(openmetrics),
            "# HELP a_restarts_total Restarts.\n# TYPE a_restarts_total counter\na_restarts_total{s=\"x\"} 2\n\
             # HELP b_up Up.\n# TYPE b_up gauge\nb_up 1\n"
        );
    }
}
