//! The hub's metrics: notifications delivered, dropped, or over the tenant's quota.

use prometheus::IntCounter;
use walker_core::metrics::{Collectors, counter};

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

impl FanoutMetrics {
    /// Its metrics, for a registry.
    pub fn collectors(&self) -> Collectors {
        vec![Box::new(self.delivered.clone()), Box::new(self.dropped.clone()), Box::new(self.over_quota.clone())]
    }
}
