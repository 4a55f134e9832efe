//! walker-cluster: cluster mode: instances behind one load balancer reach each other's
//! sockets through a message bus (`--redis`), so `notify_users`, `notify_channels`,
//! `notify_clients` and the client `user`/`channel`/`client` events find their sockets on
//! any instance.
//!
//! Subscriptions follow interest: an instance subscribes to a user's or a channel's
//! topic only while it holds a socket for it (the hub says when an audience appears and
//! empties), and every instance subscribes to its own node topic, which client-targeted
//! messages use: a client id carries the tag of the instance that holds it. A
//! notification is delivered to local sockets and published once per topic; publishing
//! never waits, and whatever cannot be published (the bus is down, its queue is full) is
//! dropped and counted, so walkers and local delivery never notice the bus.
//!
//! `Cluster` is the hub's `Bus` (walker-hub's boundary to other instances). Under it,
//! `PubSub` is one connection's publish and subscribe: `redis` speaks it to one Redis
//! server, and `sharded` spreads topics over several. Depends on walker-core and
//! walker-hub.

mod envelope;
mod redis;
mod resp;
mod sharded;

use std::collections::HashMap;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use bytes::Bytes;
use prometheus::{Histogram, IntCounter, IntCounterVec, IntGauge};

use envelope::Envelope;

use walker_core::metrics::{self, Collectors};
use walker_hub::{Audience, Bus, Hub, Subscribed};

/// What a bus does with each message it receives: its topic and bytes. Called on the
/// bus's receiving task, so it must not wait (delivery pushes into outboxes).
pub type Receive = Arc<dyn Fn(&str, Bytes) + Send + Sync>;

/// Publish and subscribe on one bus (one Redis server, or several sharded).
pub trait PubSub: Send + Sync {
    /// Queues `message` for the instances subscribed to `topic`; never waits. A message
    /// that cannot be sent is dropped and counted.
    fn publish(&self, topic: String, message: Bytes);
    /// One more local reason to receive `topic`.
    fn subscribe(&self, topic: &str) -> Subscribed;
    /// One fewer; the last one unsubscribes after a linger, so flapping costs nothing.
    fn unsubscribe(&self, topic: &str);
    /// Whether the bus receives now.
    fn connected(&self) -> bool;
}

/// What a topic names, as the hub sees it.
#[derive(Debug, PartialEq, Eq)]
pub enum Topic<'a> {
    User {
        tenant: &'a str,
        root: &'a str,
    },
    Channel {
        tenant: &'a str,
        id: &'a str,
    },
    /// An instance's clients, by its tag.
    Node(&'a str),
    /// An instance's probe of its own subscription, by its tag.
    Probe(&'a str),
}

impl Topic<'_> {
    /// `<prefix>:t:<tenant>:u:<root>`, `<prefix>:t:<tenant>:c:<channel id>`,
    /// `<prefix>:n:<tag>` and `<prefix>:p:<tag>`. Tenant names are DNS labels, without
    /// `:`, so no two topics share a name, whatever a tenant is called; the prefix keeps
    /// deployments that share a Redis apart (pub/sub ignores the database number).
    pub fn name(&self, prefix: &str) -> String {
        match self {
            Topic::User { tenant, root } => format!("{prefix}:t:{tenant}:u:{root}"),
            Topic::Channel { tenant, id } => format!("{prefix}:t:{tenant}:c:{id}"),
            Topic::Node(tag) => format!("{prefix}:n:{tag}"),
            Topic::Probe(tag) => format!("{prefix}:p:{tag}"),
        }
    }

    fn parse<'a>(name: &'a str, prefix: &str) -> Option<Topic<'a>> {
        let rest = name.strip_prefix(prefix)?.strip_prefix(':')?;
        match rest.split_once(':')? {
            ("n", tag) => Some(Topic::Node(tag)),
            ("p", tag) => Some(Topic::Probe(tag)),
            ("t", rest) => {
                let (tenant, rest) = rest.split_once(':')?;
                match rest.split_once(':')? {
                    ("u", root) => Some(Topic::User { tenant, root }),
                    ("c", id) => Some(Topic::Channel { tenant, id }),
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

/// Cluster settings, from the configuration.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// One Redis URL per shard (usually one).
    pub urls: Vec<String>,
    /// How long a topic stays subscribed after its last socket left.
    pub linger: Duration,
    /// How long a new connection waits for its subscriptions before its connection frame.
    pub subscribe_wait: Duration,
    /// Messages waiting to be published, at most; more are dropped.
    pub publish_queue: usize,
    /// Silence after which the subscription is probed (a publish to this node's topic);
    /// no echo within as long again reconnects it.
    pub probe: Duration,
    /// Starts every topic name: deployments on one Redis with different prefixes never
    /// see each other's messages.
    pub prefix: String,
}

/// Cross-instance traffic, for the whole server.
#[derive(Clone)]
pub struct ClusterMetrics {
    pub published: IntCounter,
    /// Remote copies that could not be published: the bus down or its queue full.
    pub publish_dropped: IntCounter,
    /// By topic kind: `user`, `channel`, `client`, and `own` (this instance's echoes).
    pub received: IntCounterVec,
    /// From publish to delivery, by the publisher's clock.
    pub lag_seconds: Histogram,
    pub subscriptions: IntGauge,
    pub connected: IntGauge,
    /// Times the subscription was lost: messages published meanwhile were missed.
    pub gaps: IntCounter,
}

impl Default for ClusterMetrics {
    fn default() -> Self {
        ClusterMetrics {
            published: metrics::counter("walker_host_cluster_published_total", "Messages published to other instances"),
            publish_dropped: metrics::counter(
                "walker_host_cluster_publish_dropped_total",
                "Messages for other instances dropped: the bus was down or its queue full",
            ),
            received: metrics::counters(
                "walker_host_cluster_received_total",
                "Messages received from the bus, by topic kind",
                &["kind"],
            ),
            lag_seconds: Histogram::with_opts(metrics::seconds(
                "walker_host_cluster_lag_seconds",
                "From publish on another instance to delivery here",
            ))
            .expect("a valid metric"),
            subscriptions: IntGauge::new("walker_host_cluster_subscriptions", "Topics subscribed on the bus")
                .expect("a valid metric"),
            connected: IntGauge::new("walker_host_cluster_connected", "Redis servers whose subscription is up")
                .expect("a valid metric"),
            gaps: metrics::counter("walker_host_cluster_gaps_total", "Times the bus subscription was lost"),
        }
    }
}

impl ClusterMetrics {
    pub fn collectors(&self) -> Collectors {
        vec![
            Box::new(self.published.clone()),
            Box::new(self.publish_dropped.clone()),
            Box::new(self.received.clone()),
            Box::new(self.lag_seconds.clone()),
            Box::new(self.subscriptions.clone()),
            Box::new(self.connected.clone()),
            Box::new(self.gaps.clone()),
        ]
    }
}

/// This instance's place in the cluster: its tag, its bus, and the hubs that messages
/// from the bus are delivered to.
pub struct Cluster {
    /// 8 hex digits, in every client id this instance gives out.
    pub tag: String,
    pub bus: Arc<dyn PubSub>,
    pub subscribe_wait: Duration,
    /// Starts every topic name (`ClusterConfig::prefix`).
    prefix: String,
    /// By tenant; a tenant's hub is replaced when the tenant is reopened.
    hubs: RwLock<HashMap<Arc<str>, Weak<Hub>>>,
    pub metrics: ClusterMetrics,
}

impl Cluster {
    /// Connects to Redis in the background (it need not be up) and starts delivering
    /// what it receives.
    pub fn start(config: &ClusterConfig) -> anyhow::Result<Arc<Cluster>> {
        let addresses = config.urls.iter().map(|url| {
            redis::address(url)
                .map_err(|err| anyhow::anyhow!("--redis {}", redis::without_secrets(url, &format!("{url}: {err:#}"))))
        });
        let addresses = addresses.collect::<anyhow::Result<Vec<_>>>()?;
        let tag = walker_core::ids::random_hex(4);
        let metrics = ClusterMetrics::default();
        let cluster = Arc::new_cyclic(|cluster: &Weak<Cluster>| {
            let cluster = cluster.clone();
            let receive: Receive = Arc::new(move |topic, message| {
                if let Some(cluster) = cluster.upgrade() {
                    cluster.deliver(topic, message);
                }
            });
            let mut shards: Vec<Box<dyn PubSub>> = addresses
                .into_iter()
                .map(|address| {
                    let probe = Topic::Probe(&tag).name(&config.prefix);
                    let bus = redis::RedisBus::start(address, config, probe, receive.clone(), metrics.clone());
                    Box::new(bus) as Box<dyn PubSub>
                })
                .collect();
            let bus: Arc<dyn PubSub> = match shards.len() {
                1 => Arc::from(shards.remove(0)),
                _ => Arc::new(sharded::ShardedBus::new(shards)),
            };
            let prefix = config.prefix.clone();
            Cluster { bus, tag, subscribe_wait: config.subscribe_wait, prefix, hubs: RwLock::default(), metrics }
        });
        // Messages for this instance's clients, for as long as it runs.
        let _ = cluster.bus.subscribe(&cluster.name(&Topic::Node(&cluster.tag)));
        Ok(cluster)
    }

    /// A topic's name on the bus.
    pub fn name(&self, topic: &Topic<'_>) -> String {
        topic.name(&self.prefix)
    }

    fn hub(&self, tenant: &str) -> Option<Arc<Hub>> {
        self.hubs.read().unwrap_or_else(|p| p.into_inner()).get(tenant)?.upgrade()
    }

    /// Delivers a message from the bus to this instance's sockets.
    fn deliver(&self, topic: &str, message: Bytes) {
        let Some(envelope) = Envelope::decode(message) else {
            tracing::warn!(topic, "dropped a malformed message from the bus");
            return;
        };
        if envelope.origin == self.tag {
            self.metrics.received.with_label_values(&["own"]).inc();
            return;
        }
        self.metrics.lag_seconds.observe(envelope.age().as_secs_f64());
        let payload = &envelope.payload;
        let kind = match Topic::parse(topic, &self.prefix) {
            Some(Topic::User { tenant, root }) => self.hub(tenant).map(|hub| {
                hub.deliver_users(&[root], payload);
                "user"
            }),
            Some(Topic::Channel { tenant, id }) => self.hub(tenant).map(|hub| {
                hub.deliver_channels(&[id], payload);
                "channel"
            }),
            Some(Topic::Node(_)) => envelope.clients.as_ref().and_then(|(tenant, ids)| {
                let hub = self.hub(tenant)?;
                hub.deliver_clients(&ids.split(' ').collect::<Vec<_>>(), payload);
                Some("client")
            }),
            Some(Topic::Probe(_)) | None => None,
        };
        self.metrics.received.with_label_values(&[kind.unwrap_or("unknown")]).inc();
    }
}

/// A user's or channel's topic.
fn topic<'a>(tenant: &'a str, audience: Audience<'a>) -> Topic<'a> {
    match audience {
        Audience::User(root) => Topic::User { tenant, root },
        Audience::Channel(id) => Topic::Channel { tenant, id },
    }
}

impl Bus for Cluster {
    fn tag(&self) -> &str {
        &self.tag
    }

    fn subscribe_wait(&self) -> Duration {
        self.subscribe_wait
    }

    fn connected(&self) -> bool {
        self.bus.connected()
    }

    fn attach(&self, tenant: &Arc<str>, hub: &Arc<Hub>) {
        let mut hubs = self.hubs.write().unwrap_or_else(|p| p.into_inner());
        hubs.retain(|_, hub| hub.strong_count() > 0);
        hubs.insert(tenant.clone(), Arc::downgrade(hub));
    }

    fn subscribe(&self, tenant: &str, audience: Audience<'_>) -> Subscribed {
        self.bus.subscribe(&self.name(&topic(tenant, audience)))
    }

    fn unsubscribe(&self, tenant: &str, audience: Audience<'_>) {
        self.bus.unsubscribe(&self.name(&topic(tenant, audience)));
    }

    fn publish(&self, tenant: &str, audience: Audience<'_>, payload: &Utf8Bytes) {
        let message = Envelope::encode(&self.tag, None, payload);
        self.bus.publish(self.name(&topic(tenant, audience)), message);
    }

    fn publish_to_clients(&self, tag: &str, tenant: &str, ids: &[&str], payload: &Utf8Bytes) {
        let message = Envelope::encode(&self.tag, Some((tenant, &ids.join(" "))), payload);
        self.bus.publish(self.name(&Topic::Node(tag)), message);
    }
}

#[cfg(test)]
mod tests {
    use super::Topic;

    #[test]
    fn topic_names_are_unambiguous_whatever_a_tenant_is_called() {
        let tag = "0123abcd";
        let topics = [
            Topic::Node(tag),
            Topic::Probe(tag),
            Topic::User { tenant: "node", root: tag },
            Topic::Channel { tenant: "node", id: tag },
            Topic::User { tenant: "n", root: tag },
            Topic::Channel { tenant: "p", id: "u:x" },
        ];
        let names: std::collections::HashSet<String> = topics.iter().map(|topic| topic.name("wh")).collect();
        assert_eq!(names.len(), topics.len(), "{names:?}");
        for topic in &topics {
            assert_eq!(Topic::parse(&topic.name("wh"), "wh").as_ref(), Some(topic));
            assert_eq!(Topic::parse(&topic.name("wh"), "other"), None, "another deployment's");
        }
    }
}
