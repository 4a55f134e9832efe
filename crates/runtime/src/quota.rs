//! A tenant's quota of runs: how many a second, and how many at once.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use walker_core::rate::TokenBucket;

use crate::RunErrorKind;

/// Admits a tenant's walker runs: its rate, then its concurrency.
pub struct RunQuota {
    bucket: std::sync::Mutex<TokenBucket>,
    running: Arc<Semaphore>,
    /// How long a run waits for one of the tenant's places before it is `busy`.
    wait: Duration,
}

impl RunQuota {
    /// `per_second` runs a second (a burst of twice that), `at_once` at a time, each
    /// waiting up to `wait` for its place.
    pub fn new(per_second: u32, at_once: usize, wait: Duration) -> Self {
        RunQuota {
            bucket: std::sync::Mutex::new(TokenBucket::new(per_second)),
            running: Arc::new(Semaphore::new(at_once)),
            wait,
        }
    }

    /// Waits for a place to run in; the permit is held for the run.
    pub async fn admit(&self) -> Result<OwnedSemaphorePermit, RunErrorKind> {
        if !self.bucket.lock().unwrap_or_else(|p| p.into_inner()).take() {
            return Err(RunErrorKind::RateLimited);
        }
        match tokio::time::timeout(self.wait, self.running.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(RunErrorKind::Busy(self.wait)),
        }
    }
}
