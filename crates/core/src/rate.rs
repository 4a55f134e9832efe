//! Token buckets: a rate with a burst, for quotas, throttles and rate limits; and
//! `Swept`, the per-key table (per client address, per account) that holds them.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Duration;

use tokio::time::Instant;

/// `rate` tokens a second, up to `burst`.
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    refilled: Instant,
}

impl TokenBucket {
    /// `rate` tokens a second, up to a burst of twice that.
    pub fn new(rate: u32) -> Self {
        let rate = f64::from(rate);
        TokenBucket { rate, burst: 2.0 * rate, tokens: 2.0 * rate, refilled: Instant::now() }
    }

    /// `count` tokens a minute, up to a burst of `count`: for slow, costly actions.
    pub fn per_minute(count: u32) -> Self {
        let burst = f64::from(count);
        TokenBucket { rate: burst / 60.0, burst, tokens: burst, refilled: Instant::now() }
    }

    pub fn take(&mut self) -> bool {
        self.take_many(1)
    }

    /// Takes `amount` tokens whether or not there are as many, and says how long until
    /// the debt is paid, if there is one.
    pub fn charge(&mut self, amount: f64) -> Option<Duration> {
        self.refill();
        self.tokens -= amount;
        self.debt()
    }

    /// How long until the bucket is out of debt, if it is in debt.
    pub fn debt(&mut self) -> Option<Duration> {
        self.refill();
        (self.tokens < 0.0).then(|| Duration::from_secs_f64(-self.tokens / self.rate))
    }

    /// Whether it holds its whole burst: forgetting it would change nothing.
    pub fn is_full(&mut self) -> bool {
        self.refill();
        self.tokens >= self.burst
    }

    fn refill(&mut self) {
        let now = Instant::now();
        let elapsed = now.duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.refilled = now;
    }

    /// Takes a token, or says how long until there is one.
    pub fn take_or_wait(&mut self) -> Result<(), Duration> {
        if self.take() {
            return Ok(());
        }
        Err(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
    }

    /// Takes `count` tokens if there are as many, else none.
    pub fn take_many(&mut self, count: usize) -> bool {
        self.refill();
        if self.tokens < count as f64 {
            return false;
        }
        self.tokens -= count as f64;
        true
    }
}

/// What `EventLimit` makes of one more event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Admit,
    /// Over the rate: refuse it, and say so.
    Refuse,
    /// Still sending over the rate after refusals: stop reading the sender.
    CutOff,
}

/// `rate` events a second (a burst of twice that), tolerating brief excess: refusals
/// past a tenth of the rate per second (a burst of twice that) cut the sender off.
pub struct EventLimit {
    admitted: TokenBucket,
    refusals: TokenBucket,
}

impl EventLimit {
    pub fn new(rate: u32) -> Self {
        EventLimit { admitted: TokenBucket::new(rate), refusals: TokenBucket::new((rate / 10).max(1)) }
    }

    pub fn check(&mut self) -> Verdict {
        if self.admitted.take() {
            Verdict::Admit
        } else if self.refusals.take() {
            Verdict::Refuse
        } else {
            Verdict::CutOff
        }
    }
}

/// State per key that a flood of new keys can neither grow without bound nor slow down:
/// once the table holds more than twice what its last sweep kept (and more than
/// `floor`), the entries that `idle` says hold nothing worth keeping are forgotten. A
/// sweep costs the table's size and follows at least as many insertions, so each
/// insertion costs O(1) amortized however many keys are active.
pub struct Swept<K, V> {
    entries: HashMap<K, V>,
    floor: usize,
    /// The size that starts the next sweep.
    sweep_at: usize,
}

impl<K: Hash + Eq, V> Swept<K, V> {
    pub fn new(floor: usize) -> Self {
        Swept { entries: HashMap::new(), floor, sweep_at: floor }
    }

    /// `key`'s entry, made by `make` if it has none; a sweep with `idle` may come first.
    pub fn entry(&mut self, key: K, idle: impl FnMut(&mut V) -> bool, make: impl FnOnce() -> V) -> &mut V {
        if self.entries.len() > self.sweep_at {
            let mut idle = idle;
            self.entries.retain(|_, value| !idle(value));
            self.sweep_at = self.floor.max(2 * self.entries.len());
        }
        self.entries.entry(key).or_insert_with(make)
    }

    pub fn get(&self, key: &K) -> Option<&V> {
        self.entries.get(key)
    }

    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.entries.get_mut(key)
    }

    pub fn remove(&mut self, key: &K) {
        self.entries.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A flood of keys that hold nothing is swept as it comes; keys in use are kept.
    #[test]
    fn a_flood_of_idle_keys_is_swept_and_keys_in_use_kept() {
        let mut table = Swept::new(4);
        for key in 0..100 {
            table.entry(key, |in_use: &mut bool| !*in_use, || key < 2);
            assert!(table.entries.len() <= 5, "{} entries after {key}", table.entries.len());
        }
        assert!(table.get(&0).is_some() && table.get(&1).is_some());
    }
}
