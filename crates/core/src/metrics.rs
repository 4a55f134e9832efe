//! Helpers to make Prometheus metrics. Each crate keeps its own counters and says which
//! they are; the server registers them per tenant and serves the exposition.

use prometheus::{HistogramOpts, IntCounter, IntCounterVec, Opts};

/// Run and load durations, in seconds: 100 µs to 10 s.
const SECONDS_BUCKETS: &[f64] =
    &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// What a crate's metrics hand the server to register.
pub type Collectors = Vec<Box<dyn prometheus::core::Collector>>;

pub fn counter(name: &str, help: &str) -> IntCounter {
    IntCounter::new(name, help).expect("a valid metric")
}

pub fn counters(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).expect("a valid metric")
}

pub fn seconds(name: &str, help: &str) -> HistogramOpts {
    HistogramOpts::new(name, help).buckets(SECONDS_BUCKETS.to_vec())
}
