//! Warm instances, for walkers that opt in (`warm-runs` > 0): after a run that did not
//! trap, the instance is kept and reused by the same user's next run of that walker, up to
//! `warm-runs` runs. Large guests (Python, JavaScript) take milliseconds to instantiate and
//! microseconds to call, so reuse is worth it when the author accepts persistent globals.
//!
//! An instance is kept for one caller only: a signed-in user (by root), or, for anonymous
//! callers, who all share the public root, one WebSocket connection; anonymous HTTP
//! calls never reuse an instance.
//!
//! Idle instances are bounded per component and expire (checked on use, and by the
//! runtime's periodic sweep); each holds its pool slot, and gives it up at once when a
//! fresh run finds no free slot. A reloaded component starts with an empty pool, so no
//! instance outlives its version.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use wasmtime::Store;

use super::bindings::{Caller, Walkers};
use super::sandbox::RunState;
use walker_core::fair::Permit;

/// A store, its instance once created, and the pool slot they occupy.
pub struct Sandbox {
    pub store: Store<RunState>,
    pub walkers: Option<Walkers>,
    /// Runs served so far.
    pub runs: u32,
    pub _slot: Permit,
}

/// Whose runs a warm instance may serve: one user, or one anonymous connection.
pub fn owner(caller: &Caller) -> Option<String> {
    match (&caller.client_id, caller.authenticated) {
        (_, true) => Some(format!("user {}", caller.root_id)),
        (Some(client), false) => Some(format!("connection {client}")),
        (None, false) => None,
    }
}

struct Idle {
    walker: String,
    /// See `owner`.
    owner: String,
    since: Instant,
    sandbox: Sandbox,
}

pub struct WarmPool {
    idle: Mutex<VecDeque<Idle>>,
    /// Idle instances kept at most; the oldest go first.
    capacity: usize,
    /// Idle instances older than this are dropped.
    ttl: Duration,
}

impl WarmPool {
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        WarmPool { idle: Mutex::default(), capacity, ttl }
    }

    /// An idle instance of `walker` that served `owner`, if any.
    pub fn take(&self, walker: &str, owner: &str) -> Option<Sandbox> {
        let (found, expired) = {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            let expired = self.expire(&mut idle);
            let found = idle.iter().position(|entry| entry.walker == walker && entry.owner == owner);
            (found.and_then(|index| idle.remove(index)), expired)
        };
        drop(expired); // stores are dropped outside the lock
        found.map(|entry| entry.sandbox)
    }

    pub fn put(&self, walker: &str, owner: String, sandbox: Sandbox) {
        let evicted = {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            let mut evicted = self.expire(&mut idle);
            idle.push_back(Idle { walker: walker.to_string(), owner, since: Instant::now(), sandbox });
            while idle.len() > self.capacity {
                evicted.extend(idle.pop_front());
            }
            evicted
        };
        drop(evicted);
    }

    /// Drops idle instances past their time.
    pub fn sweep(&self) {
        let expired = {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            self.expire(&mut idle)
        };
        drop(expired);
    }

    /// When the oldest idle instance was put back, if there is one.
    pub fn oldest(&self) -> Option<Instant> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).front().map(|entry| entry.since)
    }

    /// Drops the oldest idle instance, giving its slot back; false if there was none.
    pub fn evict_oldest(&self) -> bool {
        let evicted = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
        evicted.is_some()
    }

    fn expire(&self, idle: &mut VecDeque<Idle>) -> Vec<Idle> {
        let mut expired = Vec::new();
        while idle.front().is_some_and(|entry| entry.since.elapsed() > self.ttl) {
            expired.extend(idle.pop_front());
        }
        expired
    }
}
