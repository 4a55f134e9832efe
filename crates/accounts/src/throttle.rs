//! Login throttling: failed logins, counted per account and per client address, slow
//! down further attempts with an exponential backoff. The first `free` failures cost
//! nothing; after them each failure doubles the wait (1 s, 2 s, 4 s… up to `max`). An
//! attempt made while waiting is held (while fewer than `tarpit_places` are held): a wait
//! of up to `TARPIT` is sat out and the attempt then proceeds; a longer one is refused
//! with 429 and `Retry-After` after `TARPIT`, before any password is hashed. A client
//! that retries at once is so slowed to about one attempt a second. A successful login
//! clears its account's count; an address's count is forgotten once it has failed
//! nothing for `max`.
//!
//! Registrations are throttled per client address (every tenant together): each costs a
//! password hash and a stored account, so an address may register a few a minute.

use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::Instant;

use walker_core::rate::{Swept, TokenBucket};

/// Keys kept before those not waiting are swept (see `Swept`).
const SWEEP_ABOVE: usize = 100_000;
/// The longest an attempt is held.
const TARPIT: Duration = Duration::from_secs(1);

pub struct LoginThrottle {
    failures: Mutex<Swept<Key, Failures>>,
    /// Failures allowed before the backoff starts.
    free: u32,
    /// The longest wait, and how long a quiet key is remembered.
    max: Duration,
    /// Attempts being held, at most as many as it has permits (each holds a request,
    /// and its connection, open); past it an attempt that must wait is refused at once.
    tarpit: Semaphore,
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum Key {
    Account(String),
    Address(IpAddr),
}

/// One account's or address's failed logins.
struct Failures {
    count: u32,
    /// When the last one was.
    last: Instant,
}

impl Failures {
    /// When the next attempt may be made.
    fn free_at(&self, free: u32, max: Duration) -> Instant {
        match self.count.checked_sub(free) {
            None | Some(0) => self.last,
            Some(over) => self.last + Duration::from_secs(1u64 << (over - 1).min(20)).min(max),
        }
    }
}

impl LoginThrottle {
    pub fn new(free: u32, max: Duration, tarpit_places: usize) -> Self {
        let failures = Mutex::new(Swept::new(SWEEP_ABOVE));
        LoginThrottle { failures, free, max, tarpit: Semaphore::new(tarpit_places) }
    }

    /// Holds an attempt made while `email` or `address` must wait: `None` once it may
    /// proceed, or how much longer the wait lasts when it is refused.
    pub async fn hold(&self, email: &str, address: Option<IpAddr>) -> Option<Duration> {
        let wait = self.wait(email, address)?;
        let Ok(_place) = self.tarpit.try_acquire() else { return Some(wait) };
        tokio::time::sleep(wait.min(TARPIT)).await;
        self.wait(email, address)
    }

    fn keys(email: &str, address: Option<IpAddr>) -> impl Iterator<Item = Key> {
        std::iter::once(Key::Account(email.to_ascii_lowercase())).chain(address.map(Key::Address))
    }

    /// How long until this account may try again from this address; `None`: now.
    fn wait(&self, email: &str, address: Option<IpAddr>) -> Option<Duration> {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        (Self::keys(email, address))
            .filter_map(|key| failures.get(&key))
            .map(|record| record.free_at(self.free, self.max).saturating_duration_since(now))
            .filter(|wait| !wait.is_zero())
            .max()
    }

    pub fn failed(&self, email: &str, address: Option<IpAddr>) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let (free, max) = (self.free, self.max);
        for key in Self::keys(email, address) {
            let quiet = |record: &mut Failures| record.free_at(free, max) <= now;
            let record = failures.entry(key, quiet, || Failures { count: 0, last: now });
            // A key quiet for the longest wait starts over.
            if now.duration_since(record.last) > self.max {
                record.count = 0;
            }
            record.count += 1;
            record.last = now;
        }
    }

    pub fn succeeded(&self, email: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.remove(&Key::Account(email.to_ascii_lowercase()));
    }
}

/// Registrations per client address: `per_minute` a minute, a burst of as many.
pub struct RegistrationThrottle {
    per_minute: u32,
    addresses: Mutex<Swept<IpAddr, TokenBucket>>,
}

impl RegistrationThrottle {
    pub fn new(per_minute: u32) -> Self {
        RegistrationThrottle { per_minute, addresses: Mutex::new(Swept::new(SWEEP_ABOVE)) }
    }

    /// Takes `address`'s place for one registration, or says how long until it has one.
    pub fn admit(&self, address: IpAddr) -> Result<(), Duration> {
        let mut addresses = self.addresses.lock().unwrap_or_else(|p| p.into_inner());
        let per_minute = self.per_minute;
        addresses.entry(address, TokenBucket::is_full, || TokenBucket::per_minute(per_minute)).take_or_wait()
    }
}
