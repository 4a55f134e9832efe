//! The notification hub: who is connected, by client id, by user root and by channel,
//! shared by WebSocket sessions and by walkers run over REST.
//!
//! Fan-out never waits on a peer: a payload is serialized once, shared by reference
//! among recipients, and pushed into each connection's bounded outbox. A connection
//! whose outbox is full is cut off (see `outbox`) without slowing anyone else. A client's
//! channel event is delivered a slice of connections at a time, so that one large
//! fan-out's wake-ups do not all queue ahead of every other task.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use axum::extract::ws::Utf8Bytes;

use crate::auth::parse_root;
use crate::metrics::FanoutMetrics;
use crate::outbox::Outbox;
use crate::rate::TokenBucket;
use crate::runtime::{Notifier, Target};

/// One live WebSocket connection, as the hub sees it.
pub struct Connection {
    pub client_id: Arc<str>,
    pub channel_id: Arc<str>,
    pub outbox: Outbox,
}

type Members = HashMap<Arc<str>, Arc<Connection>>;

/// Connections a fan-out wakes before it lets other tasks run.
const FANOUT_SLICE: usize = 16;

#[derive(Default)]
struct Registry {
    clients: Members,
    /// By root, 24 hex.
    users: HashMap<String, Members>,
    channels: HashMap<Arc<str>, Members>,
    /// Each client's current root, to move it on `change_user` and remove it on close.
    roots: HashMap<Arc<str>, String>,
}

#[derive(Default)]
pub struct Hub {
    registry: RwLock<Registry>,
    pub fanout: FanoutMetrics,
    /// Deliveries per second its tenant may make, when it has quotas.
    delivery_quota: Option<Mutex<TokenBucket>>,
}

impl Hub {
    /// A hub whose fan-out delivers at most `per_second` notifications a second (with a
    /// burst of twice that); a notification over it reaches nobody.
    pub fn with_delivery_quota(per_second: u32) -> Hub {
        Hub { delivery_quota: Some(Mutex::new(TokenBucket::new(per_second))), ..Hub::default() }
    }

    pub fn register(&self, connection: Arc<Connection>, root: &str) {
        let mut registry = self.registry.write().unwrap_or_else(|p| p.into_inner());
        let id = connection.client_id.clone();
        registry.channels.entry(connection.channel_id.clone()).or_default().insert(id.clone(), connection.clone());
        registry.users.entry(root.to_string()).or_default().insert(id.clone(), connection.clone());
        registry.roots.insert(id.clone(), root.to_string());
        registry.clients.insert(id, connection);
    }

    pub fn unregister(&self, client_id: &str) {
        let mut registry = self.registry.write().unwrap_or_else(|p| p.into_inner());
        let Some(connection) = registry.clients.remove(client_id) else { return };
        remove_member(&mut registry.channels, &connection.channel_id, client_id);
        if let Some(root) = registry.roots.remove(client_id) {
            remove_member(&mut registry.users, root.as_str(), client_id);
        }
    }

    /// Moves a connection to another user (`change_user`).
    pub fn change_root(&self, client_id: &str, root: &str) {
        let mut registry = self.registry.write().unwrap_or_else(|p| p.into_inner());
        let Some(connection) = registry.clients.get(client_id).cloned() else { return };
        if let Some(old) = registry.roots.insert(connection.client_id.clone(), root.to_string()) {
            remove_member(&mut registry.users, old.as_str(), client_id);
        }
        registry.users.entry(root.to_string()).or_default().insert(connection.client_id.clone(), connection);
    }

    pub fn connections(&self) -> usize {
        self.registry.read().unwrap_or_else(|p| p.into_inner()).clients.len()
    }

    /// Whether the delivery quota allows `count()` more deliveries (counted only when
    /// there is a quota); if not, they are counted as over the quota.
    fn admit(&self, count: impl FnOnce() -> usize) -> bool {
        let Some(quota) = &self.delivery_quota else { return true };
        let count = count();
        let admitted = quota.lock().unwrap_or_else(|p| p.into_inner()).take_many(count);
        if !admitted {
            self.fanout.over_quota.inc_by(count as u64);
        }
        admitted
    }

    /// Queues `payload` for other connections, counting the outcomes.
    fn deliver<'a>(&self, recipients: impl Iterator<Item = &'a Arc<Connection>>, payload: &Utf8Bytes) {
        for connection in recipients {
            let counter =
                if connection.outbox.push(payload.clone()) { &self.fanout.delivered } else { &self.fanout.dropped };
            counter.inc();
        }
    }

    /// The members of `groups`, if the quota allows delivering to as many.
    fn admitted<'a>(
        &self,
        groups: impl Iterator<Item = &'a Members> + Clone,
    ) -> Option<impl Iterator<Item = &'a Arc<Connection>>> {
        self.admit(|| groups.clone().map(Members::len).sum()).then(|| groups.flat_map(Members::values))
    }

    /// `send_channels` a slice of `FANOUT_SLICE` connections at a time, yielding between
    /// slices: a large fan-out then interleaves with every other task instead of queueing
    /// its wake-ups ahead of them all.
    pub async fn send_channels_in_slices<S: AsRef<str>>(&self, ids: &[S], payload: &Utf8Bytes) {
        let recipients: Vec<Arc<Connection>> = {
            let registry = self.registry.read().unwrap_or_else(|p| p.into_inner());
            match self.admitted(channels(&registry, ids)) {
                Some(members) => members.cloned().collect(),
                None => return,
            }
        };
        for slice in recipients.chunks(FANOUT_SLICE) {
            self.deliver(slice.iter(), payload);
            tokio::task::yield_now().await;
        }
    }

    pub fn send_clients<S: AsRef<str>>(&self, ids: &[S], payload: &Utf8Bytes) {
        let registry = self.registry.read().unwrap_or_else(|p| p.into_inner());
        let recipients = ids.iter().filter_map(|id| registry.clients.get(id.as_ref()));
        if self.admit(|| recipients.clone().count()) {
            self.deliver(recipients, payload);
        }
    }

    /// Root ids in either wire form; malformed ones match nobody.
    pub fn send_users<S: AsRef<str>>(&self, roots: &[S], payload: &Utf8Bytes) {
        let registry = self.registry.read().unwrap_or_else(|p| p.into_inner());
        let users = roots.iter().filter_map(|root| registry.users.get(&parse_root(root.as_ref())?));
        if let Some(members) = self.admitted(users) {
            self.deliver(members, payload);
        }
    }

    pub fn send_channels<S: AsRef<str>>(&self, ids: &[S], payload: &Utf8Bytes) {
        let registry = self.registry.read().unwrap_or_else(|p| p.into_inner());
        if let Some(members) = self.admitted(channels(&registry, ids)) {
            self.deliver(members, payload);
        }
    }

    /// Asks every connection to finish the event it is handling, send its reply, then
    /// close with 1001 (server shutdown).
    pub fn drain_all(&self) {
        let registry = self.registry.read().unwrap_or_else(|p| p.into_inner());
        for connection in registry.clients.values() {
            connection.outbox.drain();
        }
    }

    /// Asks every connection to close at once.
    pub fn close_all(&self, code: u16) {
        let registry = self.registry.read().unwrap_or_else(|p| p.into_inner());
        for connection in registry.clients.values() {
            connection.outbox.close(code);
        }
    }
}

/// The channels `ids` that have members.
fn channels<'a, S: AsRef<str>>(registry: &'a Registry, ids: &'a [S]) -> impl Iterator<Item = &'a Members> + Clone {
    ids.iter().filter_map(|id| registry.channels.get(id.as_ref()))
}

fn remove_member<K: std::borrow::Borrow<str> + std::hash::Hash + Eq>(
    groups: &mut HashMap<K, Members>,
    group: &str,
    client_id: &str,
) {
    if let Some(members) = groups.get_mut(group) {
        members.remove(client_id);
        if members.is_empty() {
            groups.remove(group);
        }
    }
}

impl Notifier for Hub {
    fn notify(&self, target: Target<'_>, payload: String) {
        let payload = Utf8Bytes::from(payload);
        match target {
            Target::Caller(id) => {
                let registry = self.registry.read().unwrap_or_else(|p| p.into_inner());
                if let Some(connection) = registry.clients.get(id) {
                    connection.outbox.push_own(payload);
                }
            }
            Target::Clients(ids) => self.send_clients(ids, &payload),
            Target::Users(roots) => self.send_users(roots, &payload),
            Target::Channels(ids) => self.send_channels(ids, &payload),
        }
    }
}
