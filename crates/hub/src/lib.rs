//! walker-hub: the notification hub: who is connected, by client id, by user root and
//! by channel, shared by WebSocket sessions and by walkers run over REST.
//!
//! Fan-out never waits on a peer: a payload is serialized once, shared by reference
//! among recipients, and pushed into each connection's bounded outbox. A connection
//! whose outbox is full is cut off (see `outbox`) without slowing anyone else. A client's
//! channel event is delivered a slice of connections at a time, so that one large
//! fan-out's wake-ups do not all queue ahead of every other task.
//!
//! In cluster mode the hub tells the bus which audiences (users and channels) it holds
//! sockets of (one appearing or emptying), and `send_*` publishes each notification once per
//! user, channel or remote instance besides delivering it locally (after, except in the
//! sliced delivery, which publishes first so that its slices do not delay the remote
//! copies); what arrives from the bus is delivered with `deliver_*`, which never
//! publishes. The bus is the `Bus` trait; walker-cluster implements it on Redis, and
//! the hub never names Redis. Depends on walker-core only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use tokio::sync::oneshot;
use walker_core::ids::{parse_root, random_hex};
use walker_core::rate::TokenBucket;

mod bus;
pub mod close;
mod metrics;
mod outbox;

pub use bus::{Audience, Bus, Subscribed};
pub use metrics::FanoutMetrics;
pub use outbox::Outbox;

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

pub struct Hub {
    registry: RwLock<Registry>,
    pub fanout: FanoutMetrics,
    /// Deliveries per second its tenant may make, when it has quotas.
    delivery_quota: Option<Mutex<TokenBucket>>,
    /// In cluster mode: the bus, and the tenant this hub's audiences belong to.
    cluster: Option<(Arc<dyn Bus>, Arc<str>)>,
}

/// Subscriptions that a new member's groups wait for (cluster mode): until Redis confirms
/// them, a message published on another instance would miss the member.
#[must_use]
pub struct Subscribing {
    confirmations: Vec<oneshot::Receiver<()>>,
    wait: Duration,
}

impl Subscribing {
    /// Waits for the confirmations, for at most the cluster's subscribe wait; past it the
    /// connection goes on, and may miss what other instances publish until confirmed.
    pub async fn confirmed(self) {
        if !self.confirmations.is_empty() {
            let _ = tokio::time::timeout(self.wait, futures_util::future::join_all(self.confirmations)).await;
        }
    }
}

impl Hub {
    /// A hub whose fan-out delivers at most `deliveries_per_second` notifications a
    /// second, when given (with a burst of twice that; a notification over it reaches
    /// nobody), and that reaches other instances through `cluster`, when given.
    pub fn new(deliveries_per_second: Option<u32>, cluster: Option<(Arc<dyn Bus>, Arc<str>)>) -> Arc<Hub> {
        let hub = Arc::new(Hub {
            registry: RwLock::default(),
            fanout: FanoutMetrics::default(),
            delivery_quota: deliveries_per_second.map(|rate| Mutex::new(TokenBucket::new(rate))),
            cluster,
        });
        if let Some((cluster, tenant)) = &hub.cluster {
            cluster.attach(tenant, &hub);
        }
        hub
    }

    /// In cluster mode, whether the bus receives now.
    pub fn cluster_connected(&self) -> Option<bool> {
        self.cluster.as_ref().map(|(cluster, _)| cluster.connected())
    }

    /// A new connection's client id, which tells other instances where it is.
    pub fn new_client_id(&self) -> String {
        new_client_id(self.cluster.as_ref().map(|(cluster, _)| cluster.tag()))
    }

    /// The connection receives from now on; from other instances too once the returned
    /// subscriptions are confirmed.
    pub fn register(&self, connection: Arc<Connection>, root: &str) -> Subscribing {
        let mut subscribing = self.subscribing();
        let mut registry = self.registry.write().unwrap_or_else(|p| p.into_inner());
        let id = connection.client_id.clone();
        let channel = registry.channels.entry(connection.channel_id.clone()).or_default();
        if channel.is_empty() {
            self.subscribe(Audience::Channel(&connection.channel_id), &mut subscribing);
        }
        channel.insert(id.clone(), connection.clone());
        self.join_user(&mut registry, &connection, root, &mut subscribing);
        registry.clients.insert(id, connection);
        subscribing
    }

    pub fn unregister(&self, client_id: &str) {
        let mut registry = self.registry.write().unwrap_or_else(|p| p.into_inner());
        let Some(connection) = registry.clients.remove(client_id) else { return };
        if remove_member(&mut registry.channels, &connection.channel_id, client_id) {
            self.unsubscribe(Audience::Channel(&connection.channel_id));
        }
        self.leave_user(&mut registry, client_id);
    }

    /// Moves a connection to another user (`change_user`).
    pub fn change_root(&self, client_id: &str, root: &str) -> Subscribing {
        let mut subscribing = self.subscribing();
        let mut registry = self.registry.write().unwrap_or_else(|p| p.into_inner());
        if let Some(connection) = registry.clients.get(client_id).cloned() {
            self.leave_user(&mut registry, client_id);
            self.join_user(&mut registry, &connection, root, &mut subscribing);
        }
        subscribing
    }

    fn join_user(&self, registry: &mut Registry, member: &Arc<Connection>, root: &str, subscribing: &mut Subscribing) {
        let user = registry.users.entry(root.to_string()).or_default();
        if user.is_empty() {
            self.subscribe(Audience::User(root), subscribing);
        }
        user.insert(member.client_id.clone(), member.clone());
        registry.roots.insert(member.client_id.clone(), root.to_string());
    }

    fn leave_user(&self, registry: &mut Registry, client_id: &str) {
        if let Some(root) = registry.roots.remove(client_id)
            && remove_member(&mut registry.users, &root, client_id)
        {
            self.unsubscribe(Audience::User(&root));
        }
    }

    fn subscribing(&self) -> Subscribing {
        let wait = self.cluster.as_ref().map_or(Duration::ZERO, |(cluster, _)| cluster.subscribe_wait());
        Subscribing { confirmations: Vec::new(), wait }
    }

    /// `audience` gained its first member here.
    fn subscribe(&self, audience: Audience<'_>, subscribing: &mut Subscribing) {
        if let Some((cluster, tenant)) = &self.cluster {
            subscribing.confirmations.extend(cluster.subscribe(tenant, audience));
        }
    }

    /// `audience` lost its last member here.
    fn unsubscribe(&self, audience: Audience<'_>) {
        if let Some((cluster, tenant)) = &self.cluster {
            cluster.unsubscribe(tenant, audience);
        }
    }

    /// Sends `payload` to `audience`'s members on other instances.
    fn publish(&self, audience: Audience<'_>, payload: &Utf8Bytes) {
        if let Some((cluster, tenant)) = &self.cluster {
            cluster.publish(tenant, audience, payload);
        }
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
        ids.iter().for_each(|id| self.publish(Audience::Channel(id.as_ref()), payload));
        for slice in recipients.chunks(FANOUT_SLICE) {
            self.deliver(slice.iter(), payload);
            tokio::task::yield_now().await;
        }
    }

    /// Client ids of other instances (cluster mode) are published to those instances.
    pub fn send_clients<S: AsRef<str>>(&self, ids: &[S], payload: &Utf8Bytes) {
        let Some((cluster, tenant)) = &self.cluster else {
            self.deliver_clients(ids, payload);
            return;
        };
        let mut local = Vec::new();
        let mut remote: HashMap<&str, Vec<&str>> = HashMap::new();
        for id in ids.iter().map(AsRef::as_ref) {
            match instance_tag(id) {
                Some(tag) if tag != cluster.tag() => remote.entry(tag).or_default().push(id),
                _ => local.push(id),
            }
        }
        if self.deliver_clients(&local, payload) {
            for (tag, ids) in remote {
                cluster.publish_to_clients(tag, tenant, &ids, payload);
            }
        }
    }

    /// Root ids in either wire form; malformed ones match nobody.
    pub fn send_users<S: AsRef<str>>(&self, roots: &[S], payload: &Utf8Bytes) {
        if self.deliver_users(roots, payload) {
            roots
                .iter()
                .filter_map(|root| parse_root(root.as_ref()))
                .for_each(|root| self.publish(Audience::User(&root), payload));
        }
    }

    pub fn send_channels<S: AsRef<str>>(&self, ids: &[S], payload: &Utf8Bytes) {
        if self.deliver_channels(ids, payload) {
            ids.iter().for_each(|id| self.publish(Audience::Channel(id.as_ref()), payload));
        }
    }

    /// Delivers to this instance's members of the clients `ids`; false if the delivery
    /// quota refused it.
    pub fn deliver_clients<S: AsRef<str>>(&self, ids: &[S], payload: &Utf8Bytes) -> bool {
        let registry = self.registry.read().unwrap_or_else(|p| p.into_inner());
        let recipients = ids.iter().filter_map(|id| registry.clients.get(id.as_ref()));
        let admitted = self.admit(|| recipients.clone().count());
        if admitted {
            self.deliver(recipients, payload);
        }
        admitted
    }

    /// Delivers to this instance's members of the users `roots`; false if the delivery
    /// quota refused it.
    pub fn deliver_users<S: AsRef<str>>(&self, roots: &[S], payload: &Utf8Bytes) -> bool {
        let registry = self.registry.read().unwrap_or_else(|p| p.into_inner());
        let users = roots.iter().filter_map(|root| registry.users.get(&parse_root(root.as_ref())?));
        self.admitted(users).map(|members| self.deliver(members, payload)).is_some()
    }

    /// Delivers to this instance's members of the channels `ids`; false if the delivery
    /// quota refused it.
    pub fn deliver_channels<S: AsRef<str>>(&self, ids: &[S], payload: &Utf8Bytes) -> bool {
        let registry = self.registry.read().unwrap_or_else(|p| p.into_inner());
        self.admitted(channels(&registry, ids)).map(|members| self.deliver(members, payload)).is_some()
    }

    /// Asks every connection to finish the event it is handling, send its reply, then
    /// close with 1001 (server shutdown).
    pub fn drain_all(&self) {
        let registry = self.registry.read().unwrap_or_else(|p| p.into_inner());
        for connection in registry.clients.values() {
            connection.outbox.drain();
        }
    }

    /// Bytes queued for connection `id`, its own frames and others' together; `None`
    /// when it is not connected here.
    pub fn queued_bytes(&self, id: &str) -> Option<usize> {
        let registry = self.registry.read().unwrap_or_else(|p| p.into_inner());
        registry.clients.get(id).map(|connection| connection.outbox.queued_bytes())
    }

    /// Queues `payload` for the connection `id` itself (a walker's `notify-self`),
    /// bounded by the run's limits rather than by its outbox's (see `outbox`).
    pub fn send_own(&self, id: &str, payload: Utf8Bytes) {
        let registry = self.registry.read().unwrap_or_else(|p| p.into_inner());
        if let Some(connection) = registry.clients.get(id) {
            connection.outbox.push_own(payload);
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

/// The tag of the instance that gave out a client id of the form
/// `<seconds>:<8 hex tag><24 hex>`.
fn instance_tag(client_id: &str) -> Option<&str> {
    let (_, hex) = client_id.split_once(':')?;
    (hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| &hex[..8])
}

/// Removes a member from its group; true if that emptied the group (now removed).
fn remove_member<K: std::borrow::Borrow<str> + std::hash::Hash + Eq>(
    groups: &mut HashMap<K, Members>,
    group: &str,
    client_id: &str,
) -> bool {
    let Some(members) = groups.get_mut(group) else { return false };
    members.remove(client_id);
    let emptied = members.is_empty();
    if emptied {
        groups.remove(group);
    }
    emptied
}

/// `<unix seconds>:<32 hex>`, jac-cloud's form for client and random channel ids. In
/// cluster mode a client id's hex starts with its instance's tag (`instance`), which
/// other instances publish to.
pub fn new_client_id(instance: Option<&str>) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    match instance {
        Some(tag) => format!("{}:{tag}{}", now.as_secs(), random_hex(12)),
        None => format!("{}:{}", now.as_secs(), random_hex(16)),
    }
}
