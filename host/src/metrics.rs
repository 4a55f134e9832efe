//! Prometheus metrics at `GET /metrics` (text exposition by the `prometheus` crate).
//!
//! Each crate keeps its own counters (`WalkerMetrics` in the runtime's catalog,
//! `FanoutMetrics` in the hub, `SessionMetrics` in the protocol, `ClusterMetrics` in the
//! cluster), so tests and embedders that use one part alone need no server; here each
//! tenant registers them in a registry that labels them with the tenant. Gauges that
//! mirror state (connections, instance slots in use) are read when scraped.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus::{Counter, Encoder, IntGauge, Registry, TextEncoder};
use walker_hub::FanoutMetrics;
use walker_protocol::SessionMetrics;
use walker_runtime::WalkerMetrics;

use prometheus::proto::MetricFamily;

use walker_cluster::Cluster;
use walker_core::metrics::Collectors;
use walker_runtime::{Runtime, Share};

/// One tenant's metrics, each labelled with the tenant.
pub struct Metrics {
    registry: Registry,
    connections: IntGauge,
    /// Mirror what its runs have used and hold (`runtime::Share`).
    cpu_seconds: Counter,
    memory_bytes: IntGauge,
}

impl Metrics {
    pub fn new(
        tenant: &str,
        walkers: &WalkerMetrics,
        fanout: &FanoutMetrics,
        sessions: &SessionMetrics,
    ) -> Arc<Metrics> {
        let connections = IntGauge::new("walker_host_connections", "Open WebSocket connections").expect("valid");
        let cpu_seconds =
            Counter::new("walker_host_walker_cpu_seconds_total", "CPU time walker runs used").expect("valid");
        let memory_bytes =
            IntGauge::new("walker_host_walker_memory_bytes", "Linear memory its live instances hold").expect("valid");
        let labels = HashMap::from([("tenant".to_string(), tenant.to_string())]);
        let registry = Registry::new_custom(None, Some(labels)).expect("a valid label");
        let mirrored: walker_core::metrics::Collectors =
            vec![Box::new(connections.clone()), Box::new(cpu_seconds.clone()), Box::new(memory_bytes.clone())];
        let collectors = [walkers.collectors(), fanout.collectors(), sessions.collectors(), mirrored];
        for collector in collectors.into_iter().flatten() {
            registry.register(collector).expect("metric names are unique");
        }
        Arc::new(Metrics { registry, connections, cpu_seconds, memory_bytes })
    }
}

impl Metrics {
    /// Its metrics now, the gauges set from its hub's `connections` and its runs' `share`.
    pub fn gather(&self, connections: usize, share: &Share) -> Vec<MetricFamily> {
        self.connections.set(connections as i64);
        self.cpu_seconds.reset();
        self.cpu_seconds.inc_by(share.cpu_used().as_secs_f64());
        self.memory_bytes.set(share.memory_held() as i64);
        self.registry.gather()
    }
}

/// Metrics of the whole server, not of a tenant: the runtime's, the cluster's, and
/// `more` (the tenants file's).
pub fn server_families(runtime: &Runtime, cluster: Option<&Cluster>, more: Collectors) -> Vec<MetricFamily> {
    let slots = IntGauge::new("walker_host_instance_slots_in_use", "Walker instance slots taken").expect("valid");
    slots.set(runtime.slots_in_use() as i64);
    let cores = IntGauge::new("walker_host_walker_cores_in_use", "Long walker runs computing now, one core each")
        .expect("valid");
    cores.set(runtime.cores_in_use() as i64);
    let registry = Registry::new();
    let gauges: Collectors = vec![Box::new(slots), Box::new(cores), Box::new(runtime.reruns.clone())];
    let cluster = cluster.map(|cluster| cluster.metrics.collectors()).unwrap_or_default();
    for collector in gauges.into_iter().chain(cluster).chain(more) {
        registry.register(collector).expect("unique");
    }
    registry.gather()
}

/// The answer to `GET /metrics`: 401 unless `headers` bear the `expected` token (when
/// one is set), else `families` in the text exposition format.
pub fn respond(headers: &HeaderMap, expected: Option<&str>, families: impl FnOnce() -> Vec<MetricFamily>) -> Response {
    if let Some(expected) = expected {
        let given = headers.get(header::AUTHORIZATION).and_then(|value| value.to_str().ok());
        let given = given.and_then(|value| value.strip_prefix("Bearer ")).unwrap_or_default();
        if !same_secret(given, expected) {
            return walker_protocol::rest::detail(StatusCode::UNAUTHORIZED, "Unauthorized");
        }
    }
    let mut text = Vec::new();
    if let Err(err) = TextEncoder::new().encode(&merge(families()), &mut text) {
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
