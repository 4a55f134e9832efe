//! A semaphore that shares its permits fairly between parties (tenants): waiters are
//! served in turn across parties, first come first served within one, so a party with a
//! long backlog delays another party's next waiter by one grant at most.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;

/// Whose turn a waiter takes: one per tenant.
pub type Party = u64;

static NEXT_GROUP: AtomicU64 = AtomicU64::new(0);

/// A party no one else is.
pub fn new_party() -> Party {
    NEXT_GROUP.fetch_add(1, Ordering::Relaxed)
}

pub struct FairSemaphore {
    permits: usize,
    state: Mutex<State>,
}

struct State {
    /// Permits nobody holds; while any are free, nobody waits.
    free: usize,
    /// Waiters by party; a party is in `turns` exactly while it has waiters here.
    waiting: HashMap<Party, VecDeque<oneshot::Sender<Permit>>>,
    /// Groups with waiters, in the order they are served.
    turns: VecDeque<Party>,
}

/// One permit; dropping it hands it to the next waiter, or frees it.
pub struct Permit {
    /// `None` once handed on, so that dropping it releases nothing.
    semaphore: Option<Arc<FairSemaphore>>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(semaphore) = self.semaphore.take() {
            semaphore.release();
        }
    }
}

impl FairSemaphore {
    pub fn new(permits: usize) -> Arc<Self> {
        let state = State { free: permits, waiting: HashMap::new(), turns: VecDeque::new() };
        Arc::new(FairSemaphore { permits, state: Mutex::new(state) })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Permits held now.
    pub fn in_use(&self) -> usize {
        self.permits - self.state().free
    }

    /// A permit if one is free now.
    pub fn try_acquire(self: &Arc<Self>) -> Option<Permit> {
        let mut state = self.state();
        (state.free > 0).then(|| {
            state.free -= 1;
            Permit { semaphore: Some(self.clone()) }
        })
    }

    /// A permit, once one is free and it is `party`'s turn. Cancel-safe: a waiter
    /// dropped before its turn takes nothing.
    pub async fn acquire(self: &Arc<Self>, party: Party) -> Permit {
        let granted = {
            let mut state = self.state();
            if state.free > 0 {
                state.free -= 1;
                return Permit { semaphore: Some(self.clone()) };
            }
            let (grant, granted) = oneshot::channel();
            let queue = state.waiting.entry(party).or_default();
            queue.push_back(grant);
            if queue.len() == 1 {
                state.turns.push_back(party);
            }
            granted
        };
        // Senders are dropped only after a send that failed because this receiver was gone.
        granted.await.expect("a waiter is granted a permit before its sender is dropped")
    }

    /// Hands a released permit to the next party's first waiter still waiting, or frees it.
    fn release(self: &Arc<Self>) {
        let mut permit = Permit { semaphore: Some(self.clone()) };
        let mut state = self.state();
        while let Some(party) = state.turns.pop_front() {
            let Some(queue) = state.waiting.get_mut(&party) else { continue };
            let next = queue.pop_front();
            if queue.is_empty() {
                state.waiting.remove(&party);
            } else {
                state.turns.push_back(party);
            }
            match next.map(|grant| grant.send(permit)) {
                Some(Ok(())) => return,
                Some(Err(returned)) => permit = returned,
                None => unreachable!("a party in turns has waiters"),
            }
        }
        state.free += 1;
        permit.semaphore = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two parties waiting: grants alternate between them, whatever the backlog of one.
    #[tokio::test]
    async fn parties_take_turns() {
        let semaphore = FairSemaphore::new(1);
        let held = semaphore.try_acquire().unwrap();
        let (order_tx, mut order) = tokio::sync::mpsc::unbounded_channel();
        for (party, count) in [(1, 5), (2, 2)] {
            for _ in 0..count {
                let (semaphore, order_tx) = (semaphore.clone(), order_tx.clone());
                tokio::spawn(async move {
                    let _permit = semaphore.acquire(party).await;
                    order_tx.send(party).unwrap();
                });
                tokio::task::yield_now().await;
            }
        }
        drop((held, order_tx));
        let mut served = Vec::new();
        while let Some(party) = order.recv().await {
            served.push(party);
        }
        assert_eq!(served, [1, 2, 1, 2, 1, 1, 1]);
        assert_eq!(semaphore.in_use(), 0);
    }

    #[tokio::test]
    async fn a_cancelled_waiter_takes_nothing() {
        let semaphore = FairSemaphore::new(1);
        let held = semaphore.try_acquire().unwrap();
        let cancelled = tokio::time::timeout(std::time::Duration::from_millis(5), semaphore.acquire(1)).await;
        assert!(cancelled.is_err());
        drop(held);
        assert_eq!(semaphore.in_use(), 0);
        assert!(semaphore.try_acquire().is_some());
    }
}
