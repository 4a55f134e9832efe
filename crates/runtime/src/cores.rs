//! Sharing the cores between walker runs, so that computing walkers, however many and
//! however long, never starve socket I/O, client events and short walkers.
//!
//! A run starts at once on whichever thread picks it up, and yields to the async runtime
//! on every epoch tick, so nothing waits behind it for long. Nearly every walker finishes
//! within its first `FIRST_SLICE` of CPU time; one still computing past it is long, and
//! from then on runs a tick at a time, each tick on one of `lanes`: cores minus one by
//! default, so a core always stays for everything else. Lanes are shared in turn between
//! tenants with long runs waiting (see `fair`), first come first served within a tenant.
//! A walker whose last run was long starts its next one on a lane, so a walker that always
//! computes never takes the free core at all.
//!
//! A run's slice ends whenever it calls the host, and its lane is free meanwhile: a host
//! call mostly waits (for the root's lock, the store, a WASI clock). What the host does
//! compute for the run inside a call (reading rows, JSON, fan-out) is still charged to
//! the run and its tenant (`charge_host`), but on the calling thread, outside any lane.
//! A long run takes a lane again when the call returns, or at its next epoch check.
//!
//! Every slice is charged to the run's tenant; a tenant with a CPU-time budget that has
//! spent it waits for its budget before a long run's next tick, and its new runs are
//! refused (`quota_exceeded`) until it is repaid.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wasmtime::UpdateDeadline;

use super::share::Share;
use walker_core::fair::{FairSemaphore, Permit};

/// A future's output and the time spent inside its polls: the CPU it took (on the
/// thread polling it), not its waits.
pub async fn timed<F: Future>(future: F) -> (F::Output, Duration) {
    let mut future = std::pin::pin!(future);
    let mut spent = Duration::ZERO;
    let output = std::future::poll_fn(|cx| {
        let started = Instant::now();
        let poll = future.as_mut().poll(cx);
        spent += started.elapsed();
        poll
    })
    .await;
    (output, spent)
}

/// CPU time a run may take before it must share a lane with other long runs.
pub const FIRST_SLICE: Duration = Duration::from_millis(2);

/// The lanes long runs take turns on.
pub struct Cores {
    lanes: Arc<FairSemaphore>,
}

impl Cores {
    pub fn new(lanes: usize) -> Self {
        Cores { lanes: FairSemaphore::new(lanes.max(1)) }
    }

    pub fn in_use(&self) -> usize {
        self.lanes.in_use()
    }
}

/// The slice a run is computing in: since when, and on which lane if it is long.
struct Slice {
    since: Instant,
    lane: Option<Permit>,
}

/// One run's use of the cores, kept in its store and driven by its epoch ticks.
pub struct Slices {
    lanes: Arc<FairSemaphore>,
    share: Arc<Share>,
    /// CPU time used so far: slices, not the waits between them.
    used: Duration,
    /// When the run must end: waiting for a lane stops then.
    deadline: Instant,
    /// Set by the future that ends a yield, read by the tick after it.
    current: Arc<Mutex<Slice>>,
    /// Whether it computes on lanes: past its first slice, or from the start.
    long: bool,
    /// Host calls the run is inside. They nest: a host call that hands the walker a
    /// result calls back into it (to allocate room), and that code may call the host in
    /// turn (`memory.grow`). The callback computes in slices of its own, so that the host
    /// call's time is never counted as the walker's too; a lane is taken again only on
    /// return from the outermost call.
    host_depth: u32,
}

type Resume = Pin<Box<dyn Future<Output = ()> + Send>>;

impl Slices {
    pub fn new(cores: &Cores, share: Arc<Share>, deadline: Instant) -> Self {
        let now = Instant::now();
        Slices {
            lanes: cores.lanes.clone(),
            share,
            used: Duration::ZERO,
            deadline,
            current: Arc::new(Mutex::new(Slice { since: now, lane: None })),
            long: false,
            host_depth: 0,
        }
    }

    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The share the run is charged to.
    pub fn share(&self) -> &Arc<Share> {
        &self.share
    }

    /// Makes the run long from its start: its walker's last run was long. It takes a
    /// lane at its first epoch check (its deadline is set to one that has passed).
    pub fn start_long(&mut self) {
        self.long = true;
    }

    /// The run calls the host: its slice ends, since waiting (for a WASI clock, the
    /// root's lock, the store) is not computing, and its lane is free meanwhile.
    pub fn enter_host(&mut self) {
        self.host_depth += 1;
        self.end_slice(Instant::now());
    }

    /// A host call calls back into the walker: it computes, until it returns.
    pub fn enter_callback(&mut self) {
        if self.host_depth > 0 {
            self.slice().since = Instant::now();
        }
    }

    /// The callback returns to the host call.
    pub fn leave_callback(&mut self) {
        if self.host_depth > 0 {
            self.end_slice(Instant::now());
        }
    }

    /// Charges CPU time the host spent for the run inside a call (reading the store,
    /// parsing JSON, fanning out), which the slices, ended while it calls the host, miss.
    pub fn charge_host(&mut self, spent: Duration) {
        self.used += spent;
        self.share.charge_cpu(spent);
    }

    /// The run computes again, in a new slice. A long run takes a free lane at once if
    /// its budget allows; says whether it must wait for one instead (its next epoch check
    /// should then come at once).
    pub fn leave_host(&mut self) -> bool {
        self.host_depth = self.host_depth.saturating_sub(1);
        let mut slice = self.slice();
        slice.since = Instant::now();
        if !self.long || slice.lane.is_some() || self.host_depth > 0 {
            return false;
        }
        // A lane is free only while nobody waits for one: taking it jumps no queue.
        slice.lane = self.share.debt().is_none().then(|| self.lanes.try_acquire()).flatten();
        slice.lane.is_none()
    }

    fn slice(&self) -> std::sync::MutexGuard<'_, Slice> {
        self.current.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Ends the slice that an epoch tick interrupted and says how the run goes on: after
    /// a yield, and on a lane once it is long.
    pub fn tick(&mut self) -> UpdateDeadline {
        self.end_slice(Instant::now());
        self.long |= self.used >= FIRST_SLICE;
        let current = self.current.clone();
        let lane = self.long.then(|| Self::lane(self.lanes.clone(), self.share.clone(), self.deadline));
        // Always yields: a lane free at once would otherwise resume the run without ever
        // giving its thread back.
        let resume: Resume = Box::pin(async move {
            tokio::task::yield_now().await;
            let lane = match lane {
                Some(lane) => lane.await,
                None => None,
            };
            *current.lock().unwrap_or_else(|p| p.into_inner()) = Slice { since: Instant::now(), lane };
        });
        UpdateDeadline::YieldCustom(1, resume)
    }

    /// Charges the last slice and frees its lane; says whether the run computed past its
    /// first slice (however it started).
    pub fn finish(&mut self) -> bool {
        self.end_slice(Instant::now());
        self.used >= FIRST_SLICE
    }

    /// Charges the slice ending `now` and frees its lane.
    fn end_slice(&mut self, now: Instant) {
        let mut slice = self.slice();
        let used = now.saturating_duration_since(slice.since);
        slice.since = now;
        slice.lane = None;
        drop(slice);
        self.used += used;
        self.share.charge_cpu(used);
    }

    /// A lane, once the share's budget allows and it is the share's turn; none if the
    /// deadline comes first (the next tick then ends the run).
    async fn lane(lanes: Arc<FairSemaphore>, share: Arc<Share>, deadline: Instant) -> Option<Permit> {
        let lane = async {
            while let Some(debt) = share.debt() {
                tokio::time::sleep(debt).await;
            }
            lanes.acquire(share.party()).await
        };
        tokio::time::timeout_at(deadline.into(), lane).await.ok()
    }
}
