//! The WebSocket sessions' metrics: client events, and connections refused or closed
//! by a limit.

use prometheus::{IntCounter, IntCounterVec};
use walker_core::metrics::{Collectors, counter, counters};

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

impl SessionMetrics {
    /// Its metrics, for a registry.
    pub fn collectors(&self) -> Collectors {
        vec![
            Box::new(self.events.clone()),
            Box::new(self.slow_consumer_closes.clone()),
            Box::new(self.rate_limited.clone()),
            Box::new(self.rate_limit_closes.clone()),
            Box::new(self.timeout_closes.clone()),
        ]
    }
}
