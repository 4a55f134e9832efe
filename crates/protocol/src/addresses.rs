//! Per client address limits on WebSocket connections, for the whole server (every
//! tenant together): connections opened per second (a token bucket with a burst of twice
//! the rate) and connections open at once. Over either, the upgrade request is answered
//! 429 with `Retry-After` before any other work. The address is the TCP peer's: behind a
//! proxy, the proxy's.

use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use walker_core::rate::{Swept, TokenBucket};

/// Addresses remembered before those with nothing open and a full bucket are forgotten.
const SWEEP_ABOVE: usize = 10_000;

pub struct AddressLimits {
    per_second: u32,
    open: usize,
    table: Mutex<Swept<IpAddr, Address>>,
}

struct Address {
    opened: TokenBucket,
    open: usize,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Its address opened too many connections in the last second or two.
    Rate,
    /// Its address has as many open as it may.
    Open,
}

impl Refusal {
    /// The limit's name in metrics.
    pub fn limit(self) -> &'static str {
        match self {
            Refusal::Rate => "address_connections_per_second",
            Refusal::Open => "address_connections",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Refusal::Rate => "Too many new connections from your address; retry later",
            Refusal::Open => "Too many open connections from your address",
        }
    }
}

/// One open connection of an address; dropping it frees its place.
pub struct AddressPlace {
    limits: Arc<AddressLimits>,
    address: IpAddr,
}

impl Drop for AddressPlace {
    fn drop(&mut self) {
        if let Some(address) = self.limits.table().get_mut(&self.address) {
            address.open -= 1;
        }
    }
}

impl AddressLimits {
    pub fn new(per_second: u32, open: usize) -> Arc<Self> {
        Arc::new(AddressLimits { per_second, open, table: Mutex::new(Swept::new(SWEEP_ABOVE)) })
    }

    fn table(&self) -> MutexGuard<'_, Swept<IpAddr, Address>> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A place for one more connection from `address`, or why not.
    pub fn admit(self: &Arc<Self>, address: IpAddr) -> Result<AddressPlace, Refusal> {
        let mut table = self.table();
        let entry = table.entry(
            address,
            |address| address.open == 0 && address.opened.is_full(),
            || Address { opened: TokenBucket::new(self.per_second), open: 0 },
        );
        if entry.open >= self.open {
            return Err(Refusal::Open);
        }
        if !entry.opened.take() {
            return Err(Refusal::Rate);
        }
        entry.open += 1;
        Ok(AddressPlace { limits: self.clone(), address })
    }
}
