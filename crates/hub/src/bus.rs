//! The hub's boundary to other instances (cluster mode): the hub says which audiences
//! it holds sockets of and publishes what other instances' sockets must receive; the bus
//! hands what arrives back to the hub's `deliver_*`. walker-cluster implements it on
//! Redis; a second backend (NATS, Redis Cluster) plugs in here.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use tokio::sync::oneshot;

use crate::Hub;

/// Whom a user or channel notification reaches: that user's or channel's sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience<'a> {
    /// A user's root, 24 hex.
    User(&'a str),
    Channel(&'a str),
}

/// A subscription is confirmed when this resolves; `None` when there is nothing to wait
/// for (already subscribed, or the bus is down and will subscribe on reconnect).
pub type Subscribed = Option<oneshot::Receiver<()>>;

/// A publish/subscribe bus between instances, for the hubs of every tenant.
pub trait Bus: Send + Sync {
    /// This instance's tag, in every client id it gives out.
    fn tag(&self) -> &str;
    /// How long a new member waits for its subscriptions to be confirmed.
    fn subscribe_wait(&self) -> Duration;
    /// Whether the bus receives now.
    fn connected(&self) -> bool;
    /// What arrives for `tenant` from now on goes to `hub`.
    fn attach(&self, tenant: &Arc<str>, hub: &Arc<Hub>);
    /// One more local reason to receive `audience`'s messages.
    fn subscribe(&self, tenant: &str, audience: Audience<'_>) -> Subscribed;
    /// One fewer.
    fn unsubscribe(&self, tenant: &str, audience: Audience<'_>);
    /// Queues `payload` for `audience`'s sockets on other instances; never waits.
    fn publish(&self, tenant: &str, audience: Audience<'_>, payload: &Utf8Bytes);
    /// Queues `payload` for the clients `ids` of the instance tagged `tag`.
    fn publish_to_clients(&self, tag: &str, tenant: &str, ids: &[&str], payload: &Utf8Bytes);
}
