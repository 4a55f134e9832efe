//! The catalog's metrics: walker runs and loads, by walker and outcome.

use prometheus::{Histogram, HistogramVec, IntCounterVec};
use walker_core::metrics::{Collectors, counters, seconds};

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

impl WalkerMetrics {
    /// Its metrics, for a registry.
    pub fn collectors(&self) -> Collectors {
        vec![
            Box::new(self.runs.clone()),
            Box::new(self.run_seconds.clone()),
            Box::new(self.loads.clone()),
            Box::new(self.load_seconds.clone()),
        ]
    }
}
