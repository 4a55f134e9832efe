//! One tenant's share of the runtime: its turn among the waiters for instance slots and
//! lanes (see `fair`), its CPU-time budget and the CPU time it has used, and its memory
//! budget: the linear memory of all its live instances, running and warm, together.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use walker_core::fair::{Party, new_party};
use walker_core::rate::TokenBucket;

pub struct Share {
    party: Party,
    /// CPU time per second, in microseconds.
    cpu_budget: Option<Mutex<TokenBucket>>,
    cpu_used_micros: AtomicU64,
    /// Linear memory its instances may hold at once, in bytes.
    memory_budget: Option<usize>,
    memory_held: AtomicUsize,
}

impl Share {
    /// A share of its own, without budgets.
    pub fn new() -> Self {
        Share {
            party: new_party(),
            cpu_budget: None,
            cpu_used_micros: AtomicU64::new(0),
            memory_budget: None,
            memory_held: AtomicUsize::new(0),
        }
    }

    /// Limited to `millis_per_second` of CPU time, with a burst of twice that.
    pub fn with_cpu_budget(mut self, millis_per_second: u32) -> Self {
        self.cpu_budget = Some(Mutex::new(TokenBucket::new(millis_per_second.saturating_mul(1000))));
        self
    }

    /// Limited to `bytes` of linear memory over all its live instances.
    pub fn with_memory_budget(mut self, bytes: usize) -> Self {
        self.memory_budget = Some(bytes);
        self
    }

    pub(super) fn party(&self) -> Party {
        self.party
    }

    /// How long until its CPU budget is repaid, if it has spent it.
    pub fn debt(&self) -> Option<Duration> {
        self.cpu_budget.as_ref()?.lock().unwrap_or_else(|p| p.into_inner()).debt()
    }

    /// CPU time its runs have used.
    pub fn cpu_used(&self) -> Duration {
        Duration::from_micros(self.cpu_used_micros.load(Ordering::Relaxed))
    }

    pub(super) fn charge_cpu(&self, used: Duration) {
        let micros = used.as_micros() as u64;
        self.cpu_used_micros.fetch_add(micros, Ordering::Relaxed);
        if let Some(budget) = &self.cpu_budget {
            budget.lock().unwrap_or_else(|p| p.into_inner()).charge(micros as f64);
        }
    }

    /// Linear memory its live instances hold.
    pub fn memory_held(&self) -> usize {
        self.memory_held.load(Ordering::Relaxed)
    }

    /// Takes `bytes` more memory for one of its instances; `Err(budget)` past its budget.
    pub(super) fn hold_memory(&self, bytes: usize) -> Result<(), usize> {
        let Some(budget) = self.memory_budget else {
            self.memory_held.fetch_add(bytes, Ordering::Relaxed);
            return Ok(());
        };
        let within = |held: usize| held.checked_add(bytes).filter(|&after| after <= budget);
        self.memory_held.fetch_update(Ordering::AcqRel, Ordering::Acquire, within).map(drop).map_err(|_| budget)
    }

    /// Gives back what a dropped instance held.
    pub(super) fn release_memory(&self, bytes: usize) {
        self.memory_held.fetch_sub(bytes, Ordering::Relaxed);
    }
}

impl Default for Share {
    fn default() -> Self {
        Share::new()
    }
}
