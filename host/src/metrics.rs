//! Prometheus metrics at `GET /metrics` (text exposition by the `prometheus` crate).
//!
//! Each concern keeps its own counters (`WalkerMetrics` in the catalog, `FanoutMetrics`
//! in the hub, `SessionMetrics` for WebSockets), so tests and embedders that use one part
//! alone need no server; the server registers them all in one registry. Gauges that
//! mirror state (connections, instance slots in use) are read when scraped.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

use crate::server::Shared;

/// Run and load durations, in seconds: 100 µs to 10 s.
const SECONDS_BUCKETS: &[f64] =
    &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

fn counter(name: &str, help: &str) -> IntCounter {
    IntCounter::new(name, help).expect("a valid metric")
}

fn counters(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).expect("a valid metric")
}

fn seconds(name: &str, help: &str) -> HistogramOpts {
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
}

impl Default for FanoutMetrics {
    fn default() -> Self {
        FanoutMetrics {
            delivered: counter("walker_host_notifications_delivered_total", "Notifications queued for a connection"),
            dropped: counter("walker_host_notifications_dropped_total", "Notifications not queued: closing or full"),
        }
    }
}

/// WebSocket sessions.
#[derive(Clone)]
pub struct SessionMetrics {
    /// Client events by type (`invalid` for those that did not parse).
    pub events: IntCounterVec,
    pub slow_consumer_closes: IntCounter,
}

impl Default for SessionMetrics {
    fn default() -> Self {
        SessionMetrics {
            events: counters("walker_host_client_events_total", "WebSocket client events, by type", &["type"]),
            slow_consumer_closes: counter(
                "walker_host_slow_consumer_closes_total",
                "Connections closed because their outgoing queue filled up (4008)",
            ),
        }
    }
}

/// Everything `/metrics` shows.
pub struct Metrics {
    registry: Registry,
    pub sessions: SessionMetrics,
    connections: IntGauge,
    slots_in_use: IntGauge,
}

impl Metrics {
    pub fn new(walkers: &WalkerMetrics, fanout: &FanoutMetrics) -> Arc<Metrics> {
        let sessions = SessionMetrics::default();
        let connections = IntGauge::new("walker_host_connections", "Open WebSocket connections").expect("valid");
        let slots_in_use =
            IntGauge::new("walker_host_instance_slots_in_use", "Walker instance slots taken").expect("valid");
        let registry = Registry::new();
        let collectors: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(walkers.runs.clone()),
            Box::new(walkers.run_seconds.clone()),
            Box::new(walkers.loads.clone()),
            Box::new(walkers.load_seconds.clone()),
            Box::new(fanout.delivered.clone()),
            Box::new(fanout.dropped.clone()),
            Box::new(sessions.events.clone()),
            Box::new(sessions.slow_consumer_closes.clone()),
            Box::new(connections.clone()),
            Box::new(slots_in_use.clone()),
        ];
        for collector in collectors {
            registry.register(collector).expect("metric names are unique");
        }
        Arc::new(Metrics { registry, sessions, connections, slots_in_use })
    }
}

/// `GET /metrics`: behind a bearer token when `--metrics-token` is set.
pub async fn scrape(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Some(expected) = &shared.config.metrics_token {
        let given = headers.get(header::AUTHORIZATION).and_then(|value| value.to_str().ok());
        if given.and_then(|value| value.strip_prefix("Bearer ")) != Some(expected.as_str()) {
            return crate::rest::detail(StatusCode::UNAUTHORIZED, "Unauthorized");
        }
    }
    let metrics = &shared.metrics;
    metrics.connections.set(shared.hub.connections() as i64);
    metrics.slots_in_use.set(shared.catalog.runtime().slots_in_use() as i64);
    let mut text = Vec::new();
    if let Err(err) = TextEncoder::new().encode(&metrics.registry.gather(), &mut text) {
        tracing::error!("encoding metrics: {err}");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    ([(header::CONTENT_TYPE, TextEncoder::new().format_type().to_string())], text).into_response()
}
