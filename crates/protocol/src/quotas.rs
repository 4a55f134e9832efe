//! A tenant's quotas on its WebSocket side: open connections, and the pace of client
//! events.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use walker_core::rate::TokenBucket;

/// Counts a tenant's open connections against its quota.
pub struct ConnectionQuota {
    open: Arc<AtomicUsize>,
    max: usize,
}

/// One open connection; dropping it frees its place.
pub struct ConnectionPlace(Arc<AtomicUsize>);

impl Drop for ConnectionPlace {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl ConnectionQuota {
    pub fn new(max: usize) -> Self {
        ConnectionQuota { open: Arc::default(), max }
    }

    /// A place for one more connection, or `None` at the quota.
    pub fn admit(&self) -> Option<ConnectionPlace> {
        let admitted =
            self.open.fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| (open < self.max).then_some(open + 1));
        admitted.ok().map(|_| ConnectionPlace(self.open.clone()))
    }
}

/// Paces a tenant's client events: each event read takes a token, and once they run out
/// the reader waits for the tokens it is owed before reading the next.
pub struct EventPace(std::sync::Mutex<TokenBucket>);

impl EventPace {
    pub fn new(per_second: u32) -> Self {
        EventPace(std::sync::Mutex::new(TokenBucket::new(per_second)))
    }

    /// Counts one event; how long to wait before reading another, if at all.
    pub fn after_event(&self) -> Option<Duration> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).charge(1.0)
    }
}
