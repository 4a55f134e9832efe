//! Prometheus metrics at `GET /metrics` (text exposition by the `prometheus` crate).
//!
//! Each concern keeps its own counters (`WalkerMetrics` in the catalog, `FanoutMetrics`
//! in the hub, `SessionMetrics` for WebSockets), so tests and embedders that use one part
//! alone need no server; each tenant registers its own in a registry that labels them
//! with the tenant. Gauges that mirror state (connections, instance slots in use) are
//! read when scraped.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus::{
    Counter, Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

use prometheus::proto::MetricFamily;

use crate::tenancy::{DEFAULT_TENANT, Tenant, Tenants};

/// Run and load durations, in seconds: 100 µs to 10 s.
const SECONDS_BUCKETS: &[f64] =
    &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

pub(crate) fn counter(name: &str, help: &str) -> IntCounter {
    IntCounter::new(name, help).expect("a valid metric")
}

pub(crate) fn counters(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).expect("a valid metric")
}

pub(crate) fn seconds(name: &str, help: &str) -> HistogramOpts {
    HistogramOpts::new(name, help).buckets(SECONDS_BUCKETS.to_vec())
}

/// Walker runs and loads, kept by the catalog.
#[derive(Clone)]
pub struct WalkerMetrics {
    /// By walker and outcome (`ok`, `invalid` or the error type).
    pub runs: IntCounterVec,
    pub run_seconds: HistogramVec,
    /// By outcome: `loaded` or `failed`.
    pub loads: IntCounterVec,
    pub load_seconds: Histogram,
}

impl Default for WalkerMetrics {
    fn default() -> Self {
        WalkerMetrics {
            runs: counters(
                "walker_host_walker_runs_total",
                "Walker runs, by walker and outcome",
                &["walker", "outcome"],
            ),
            run_seconds: HistogramVec::new(
                seconds("walker_host_walker_run_seconds", "Walker run duration"),
                &["walker"],
            )
            .expect("a valid metric"),
            loads: counters(
                "walker_host_walker_loads_total",
                "Walker file loads and reloads, by outcome",
                &["outcome"],
            ),
            load_seconds: Histogram::with_opts(seconds(
                "walker_host_walker_load_seconds",
                "Time to load a walker file (compiling, or from the code cache)",
            ))
            .expect("a valid metric"),
        }
    }
}

/// Deliveries to other connections (fan-out), kept by the hub.
#[derive(Clone)]
pub struct FanoutMetrics {
    pub delivered: IntCounter,
    /// Not queued: the connection was closing, or its queue was full (which closes it).
    pub dropped: IntCounter,
    /// Not queued: the tenant's deliveries per second were used up.
    pub over_quota: IntCounter,
}

impl Default for FanoutMetrics {
    fn default() -> Self {
        FanoutMetrics {
            delivered: counter("walker_host_notifications_delivered_total", "Notifications queued for a connection"),
            dropped: counter("walker_host_notifications_dropped_total", "Notifications not queued: closing or full"),
            over_quota: counter(
                "walker_host_notifications_over_quota_total",
                "Notifications not queued: the tenant's deliveries per second were used up",
            ),
        }
    }
}

/// WebSocket sessions.
#[derive(Clone)]
pub struct SessionMetrics {
    /// Client events by type (`invalid` for those that did not parse).
    pub events: IntCounterVec,
    pub slow_consumer_closes: IntCounter,
    /// Connections and events refused, by the limit they were over.
    pub rate_limited: IntCounterVec,
    /// Connections closed for sending over their events per second (1008).
    pub rate_limit_closes: IntCounter,
    /// Connections closed with 4000, by cause: `write` (a write or ping took longer than
    /// the write timeout), `silence` (nothing heard within the ping timeout).
    pub timeout_closes: IntCounterVec,
}

impl Default for SessionMetrics {
    fn default() -> Self {
        SessionMetrics {
            events: counters("walker_host_client_events_total", "WebSocket client events, by type", &["type"]),
            slow_consumer_closes: counter(
                "walker_host_slow_consumer_closes_total",
                "Connections closed because their outgoing queue filled up (4008)",
            ),
            rate_limited: counters(
                "walker_host_rate_limited_total",
                "WebSocket connections and client events refused, by the limit they were over",
                &["limit"],
            ),
            rate_limit_closes: counter(
                "walker_host_rate_limit_closes_total",
                "Connections closed because they kept sending events over their rate (1008)",
            ),
            timeout_closes: counters(
                "walker_host_timeout_closes_total",
                "Connections closed because a write timed out or the client fell silent (4000), by cause",
                &["cause"],
            ),
        }
    }
}

/// One tenant's metrics, each labelled with the tenant.
pub struct Metrics {
    registry: Registry,
    pub sessions: SessionMetrics,
    connections: IntGauge,
    /// Mirror what its runs have used and hold (`runtime::Share`).
    cpu_seconds: Counter,
    memory_bytes: IntGauge,
}

impl Metrics {
    pub fn new(tenant: &str, walkers: &WalkerMetrics, fanout: &FanoutMetrics) -> Arc<Metrics> {
        let sessions = SessionMetrics::default();
        let connections = IntGauge::new("walker_host_connections", "Open WebSocket connections").expect("valid");
        let cpu_seconds =
            Counter::new("walker_host_walker_cpu_seconds_total", "CPU time walker runs used").expect("valid");
        let memory_bytes =
            IntGauge::new("walker_host_walker_memory_bytes", "Linear memory its live instances hold").expect("valid");
        let labels = HashMap::from([("tenant".to_string(), tenant.to_string())]);
        let registry = Registry::new_custom(None, Some(labels)).expect("a valid label");
        let collectors: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(walkers.runs.clone()),
            Box::new(walkers.run_seconds.clone()),
            Box::new(walkers.loads.clone()),
            Box::new(walkers.load_seconds.clone()),
            Box::new(fanout.delivered.clone()),
            Box::new(fanout.dropped.clone()),
            Box::new(fanout.over_quota.clone()),
            Box::new(sessions.events.clone()),
            Box::new(sessions.slow_consumer_closes.clone()),
            Box::new(sessions.rate_limited.clone()),
            Box::new(sessions.rate_limit_closes.clone()),
            Box::new(sessions.timeout_closes.clone()),
            Box::new(connections.clone()),
            Box::new(cpu_seconds.clone()),
            Box::new(memory_bytes.clone()),
        ];
        for collector in collectors {
            registry.register(collector).expect("metric names are unique");
        }
        Arc::new(Metrics { registry, sessions, connections, cpu_seconds, memory_bytes })
    }
}

/// A tenant's metrics now.
fn tenant_families(tenant: &Tenant) -> Vec<MetricFamily> {
    let shared = &tenant.shared;
    let metrics = &shared.metrics;
    metrics.connections.set(shared.hub.connections() as i64);
    metrics.cpu_seconds.reset();
    let share = &shared.catalog.env().share;
    metrics.cpu_seconds.inc_by(share.cpu_used().as_secs_f64());
    metrics.memory_bytes.set(share.memory_held() as i64);
    metrics.registry.gather()
}

/// Metrics of the whole server, not of a tenant.
fn server_families(tenants: &Tenants) -> Vec<MetricFamily> {
    let common = tenants.common();
    let runtime = &common.runtime;
    let slots = IntGauge::new("walker_host_instance_slots_in_use", "Walker instance slots taken").expect("valid");
    slots.set(runtime.slots_in_use() as i64);
    let cores = IntGauge::new("walker_host_walker_cores_in_use", "Long walker runs computing now, one core each")
        .expect("valid");
    cores.set(runtime.cores_in_use() as i64);
    let registry = Registry::new();
    registry.register(Box::new(slots)).expect("unique");
    registry.register(Box::new(cores)).expect("unique");
    registry.register(Box::new(runtime.reruns.clone())).expect("unique");
    registry.register(Box::new(tenants.rejected_edits.clone())).expect("unique");
    for collector in common.cluster.iter().flat_map(|cluster| cluster.metrics.collectors()) {
        registry.register(collector).expect("unique");
    }
    registry.gather()
}

/// `GET /metrics`: the default tenant's shows the server's and every tenant's metrics,
/// behind the operator's `--metrics-token` when set; another tenant's
/// (`/t/<name>/metrics`) only its own, behind its `metrics_token` from the tenants file
/// when set, else the operator's: one tenant's token never opens another's metrics.
pub fn scrape(tenants: &Tenants, tenant: &Tenant, headers: &HeaderMap) -> Response {
    let common = tenants.common();
    let operators = common.config.metrics_token.as_ref().map(crate::config::Secret::expose);
    let is_default = &*tenant.shared.tenant == DEFAULT_TENANT;
    let expected = if is_default { operators } else { tenant.metrics_token().or(operators) };
    if let Some(expected) = expected {
        let given = headers.get(header::AUTHORIZATION).and_then(|value| value.to_str().ok());
        let given = given.and_then(|value| value.strip_prefix("Bearer ")).unwrap_or_default();
        if !same_secret(given, expected) {
            return crate::rest::detail(StatusCode::UNAUTHORIZED, "Unauthorized");
        }
    }
    let families = if is_default {
        let mut families = server_families(tenants);
        families.extend(tenants.all().iter().flat_map(|tenant| tenant_families(tenant)));
        families
    } else {
        tenant_families(tenant)
    };
    let mut text = Vec::new();
    if let Err(err) = TextEncoder::new().encode(&merge(families), &mut text) {
        tracing::error!("encoding metrics: {err}");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    ([(header::CONTENT_TYPE, TextEncoder::new().format_type().to_string())], text).into_response()
}

/// Whether two secrets are equal, in time that tells nothing of where they differ: their
/// SHA-256 digests (of equal length whatever the inputs) are compared in full.
fn same_secret(given: &str, expected: &str) -> bool {
    use sha2::Digest as _;
    let (given, expected) = (sha2::Sha256::digest(given), sha2::Sha256::digest(expected));
    given.iter().zip(expected.iter()).fold(0u8, |differ, (a, b)| differ | (a ^ b)) == 0
}

/// One family per metric name, with the samples of every tenant: the exposition format
/// allows each name once.
fn merge(families: Vec<MetricFamily>) -> Vec<MetricFamily> {
    let mut merged: BTreeMap<String, MetricFamily> = BTreeMap::new();
    for mut family in families {
        match merged.entry(family.name().to_string()) {
            Entry::Vacant(entry) => {
                entry.insert(family);
            }
            Entry::Occupied(mut entry) => entry.get_mut().mut_metric().extend(family.take_metric()),
        }
    }
    merged.into_values().collect()
}
