//! The Redis bus: PUBLISH over one multiplexed connection, SUBSCRIBE on another.
//!
//! The interest table (topic → local reasons to receive it) is the source of truth: on
//! every (re)connect the subscriber subscribes to all of it, so a Redis restart loses
//! only what was published while it was down. Both connections reconnect forever, with
//! jittered exponential backoff. A subscription that stops receiving without its
//! connection failing (a Redis failover behind a proxy) is caught by a probe: after a
//! silence, this instance publishes to its own probe topic on this Redis and reconnects
//! if the echo does not come back.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use rand::Rng as _;
use redis::aio::{MultiplexedConnection, PubSubSink};
use redis::{AsyncConnectionConfig, Client};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::{Bus, ClusterConfig, ClusterMetrics, Receive, Subscribed};

/// Messages sent in one pipeline, at most.
const PUBLISH_BATCH: usize = 512;
/// Topics in one SUBSCRIBE or UNSUBSCRIBE, at most (as Centrifugo).
const SUBSCRIBE_BATCH: usize = 512;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
const BACKOFF_FIRST: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// At most one "bus down" warning per this long.
const WARN_EVERY: Duration = Duration::from_secs(10);

pub struct RedisBus {
    outbound: mpsc::Sender<(String, Bytes)>,
    interest: Arc<Mutex<Interest>>,
    /// Asks the subscriber to bring Redis in line with the interest table.
    changed: mpsc::UnboundedSender<Change>,
    /// While the subscriber's connection is up and subscribed.
    subscribed: Arc<AtomicBool>,
    linger: Duration,
    metrics: ClusterMetrics,
}

enum Change {
    Subscribe(String),
    /// The topic's last local reason left `linger` ago.
    Unsubscribe(String),
}

#[derive(Default)]
struct Interest {
    topics: HashMap<String, Topic>,
    /// Topics subscribed now, as added to the (server-wide) subscriptions gauge.
    counted: i64,
}

#[derive(Default)]
struct Topic {
    /// Local reasons to receive it: hub groups (one per tenant hub that has it).
    reasons: usize,
    /// Whether Redis confirmed the subscription on the current connection.
    subscribed: bool,
    /// Told when it is subscribed.
    waiters: Vec<oneshot::Sender<()>>,
}

impl RedisBus {
    pub fn start(
        client: Client,
        config: &ClusterConfig,
        tag: &str,
        receive: Receive,
        metrics: ClusterMetrics,
    ) -> RedisBus {
        let (outbound, queued) = mpsc::channel(config.publish_queue);
        let (changed, changes) = mpsc::unbounded_channel();
        let probe_topic = format!("wh:probe:{tag}");
        let interest = Arc::new(Mutex::new(Interest::default()));
        interest
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .topics
            .insert(probe_topic.clone(), Topic { reasons: 1, ..Topic::default() });
        let bus = RedisBus {
            outbound,
            interest: interest.clone(),
            changed,
            subscribed: Arc::new(AtomicBool::new(false)),
            linger: config.linger,
            metrics: metrics.clone(),
        };
        tokio::spawn(publisher(client.clone(), queued, metrics.clone()));
        let subscriber = Subscriber {
            client,
            interest,
            receive,
            subscribed: bus.subscribed.clone(),
            metrics,
            probe_topic,
            probe: config.probe,
            publish: bus.outbound.clone(),
        };
        tokio::spawn(subscriber.run(changes));
        bus
    }
}

impl Bus for RedisBus {
    fn publish(&self, topic: String, message: Bytes) {
        if self.outbound.try_send((topic, message)).is_err() {
            self.metrics.publish_dropped.inc();
        }
    }

    fn subscribe(&self, topic: &str) -> Subscribed {
        let mut interest = self.interest.lock().unwrap_or_else(|p| p.into_inner());
        let entry = interest.topics.entry(topic.to_string()).or_default();
        entry.reasons += 1;
        if entry.subscribed {
            return None;
        }
        // Sent even while the bus is down: the subscriber may be between its snapshot of
        // the table and its confirmation, and the change is a no-op once subscribed.
        let _ = self.changed.send(Change::Subscribe(topic.to_string()));
        if !self.subscribed.load(Ordering::Acquire) {
            return None;
        }
        let (told, confirmed) = oneshot::channel();
        entry.waiters.push(told);
        Some(confirmed)
    }

    fn unsubscribe(&self, topic: &str) {
        let mut interest = self.interest.lock().unwrap_or_else(|p| p.into_inner());
        let Some(entry) = interest.topics.get_mut(topic) else { return };
        entry.reasons = entry.reasons.saturating_sub(1);
        if entry.reasons == 0 {
            let (changed, topic, linger) = (self.changed.clone(), topic.to_string(), self.linger);
            tokio::spawn(async move {
                tokio::time::sleep(linger).await;
                let _ = changed.send(Change::Unsubscribe(topic));
            });
        }
    }

    fn connected(&self) -> bool {
        self.subscribed.load(Ordering::Acquire)
    }
}

/// A client for `url`. Over TCP without Nagle's algorithm (the crate's default keeps
/// it): a lone PUBLISH goes out at once.
pub fn client(url: &str) -> redis::RedisResult<Client> {
    use redis::IntoConnectionInfo as _;
    let info = url.into_connection_info()?;
    let tcp = info.tcp_settings().clone().set_nodelay(true);
    Client::open(info.set_tcp_settings(tcp))
}

/// Jittered exponential backoff between connection attempts.
struct Backoff(Duration);

impl Backoff {
    fn new() -> Backoff {
        Backoff(BACKOFF_FIRST)
    }

    fn next(&mut self) -> Duration {
        let wait = self.0.mul_f64(rand::rng().random_range(0.5..1.0));
        self.0 = (self.0 * 2).min(BACKOFF_MAX);
        wait
    }
}

/// Logs that Redis cannot be reached, at most once per `WARN_EVERY`.
struct Warnings(Option<Instant>);

impl Warnings {
    fn warn(&mut self, what: &str, err: &redis::RedisError) {
        if self.0.is_none_or(|last| last.elapsed() >= WARN_EVERY) {
            self.0 = Some(Instant::now());
            tracing::warn!("cluster bus: {what}: {err}; retrying");
        }
    }
}

fn connection_config() -> AsyncConnectionConfig {
    AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
}

/// Sends queued messages in pipelines; while Redis is down, drops them as they come.
async fn publisher(client: Client, mut queued: mpsc::Receiver<(String, Bytes)>, metrics: ClusterMetrics) {
    let mut batch = Vec::with_capacity(PUBLISH_BATCH);
    let mut connection: Option<MultiplexedConnection> = None;
    let mut backoff = Backoff::new();
    let mut warnings = Warnings(None);
    loop {
        let Some(redis) = connection.as_mut() else {
            match client.get_multiplexed_async_connection_with_config(&connection_config()).await {
                Ok(redis) => {
                    connection = Some(redis);
                    backoff = Backoff::new();
                }
                Err(err) => {
                    warnings.warn("publishing", &err);
                    let retry = tokio::time::sleep(backoff.next());
                    tokio::pin!(retry);
                    loop {
                        tokio::select! {
                            _ = &mut retry => break,
                            count = queued.recv_many(&mut batch, PUBLISH_BATCH) => {
                                if count == 0 {
                                    return;
                                }
                                metrics.publish_dropped.inc_by(count as u64);
                                batch.clear();
                            }
                        }
                    }
                }
            }
            continue;
        };
        let count = queued.recv_many(&mut batch, PUBLISH_BATCH).await;
        if count == 0 {
            return;
        }
        let mut pipeline = redis::pipe();
        for (topic, message) in batch.drain(..) {
            pipeline.publish(topic, message.as_ref()).ignore();
        }
        match pipeline.query_async::<()>(redis).await {
            Ok(()) => metrics.published.inc_by(count as u64),
            Err(err) => {
                metrics.publish_dropped.inc_by(count as u64);
                warnings.warn("publishing", &err);
                connection = None;
            }
        }
    }
}

/// Owns the subscriber connection.
struct Subscriber {
    client: Client,
    interest: Arc<Mutex<Interest>>,
    receive: Receive,
    subscribed: Arc<AtomicBool>,
    metrics: ClusterMetrics,
    /// This instance's topic on this Redis for the probe's echo.
    probe_topic: String,
    probe: Duration,
    publish: mpsc::Sender<(String, Bytes)>,
}

/// Why a connection's session ended.
enum Lost {
    Connection,
    ProbeUnanswered,
    /// The bus was dropped: the server is shutting down.
    Closed,
}

impl Subscriber {
    async fn run(self, mut changes: mpsc::UnboundedReceiver<Change>) {
        let mut backoff = Backoff::new();
        let mut warnings = Warnings(None);
        while !changes.is_closed() {
            let (mut sink, stream) = match self.connect().await {
                Ok(split) => split,
                Err(err) => {
                    warnings.warn("subscribing", &err);
                    tokio::time::sleep(backoff.next()).await;
                    continue;
                }
            };
            if let Err(err) = self.subscribe_all(&mut sink).await {
                warnings.warn("subscribing", &err);
                tokio::time::sleep(backoff.next()).await;
                continue;
            }
            backoff = Backoff::new();
            self.subscribed.store(true, Ordering::Release);
            self.metrics.connected.inc();
            tracing::info!("cluster bus: subscribed");
            let lost = self.serve(&mut sink, stream, &mut changes).await;
            self.subscribed.store(false, Ordering::Release);
            self.metrics.connected.dec();
            self.forget_subscriptions();
            match lost {
                Lost::Closed => return,
                Lost::Connection => tracing::warn!("cluster bus: the subscription was lost; reconnecting"),
                Lost::ProbeUnanswered => tracing::warn!("cluster bus: the probe was not echoed; reconnecting"),
            }
            self.metrics.gaps.inc();
        }
    }

    async fn connect(&self) -> redis::RedisResult<(PubSubSink, redis::aio::PubSubStream)> {
        let pubsub = tokio::time::timeout(CONNECT_TIMEOUT, self.client.get_async_pubsub())
            .await
            .map_err(|_| redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut)))??;
        Ok(pubsub.split())
    }

    /// Subscribes to every topic of the interest table; those with no reason left are
    /// forgotten instead.
    async fn subscribe_all(&self, sink: &mut PubSubSink) -> redis::RedisResult<()> {
        let topics: Vec<String> = {
            let mut interest = self.interest.lock().unwrap_or_else(|p| p.into_inner());
            interest.topics.retain(|_, topic| topic.reasons > 0);
            interest.topics.keys().cloned().collect()
        };
        for chunk in topics.chunks(SUBSCRIBE_BATCH) {
            timed(sink.subscribe(chunk)).await?;
        }
        self.confirm(&topics);
        Ok(())
    }

    /// Marks `topics` subscribed and tells whoever waits for them.
    fn confirm(&self, topics: &[String]) {
        let mut interest = self.interest.lock().unwrap_or_else(|p| p.into_inner());
        let mut newly = 0;
        for name in topics {
            if let Some(topic) = interest.topics.get_mut(name) {
                newly += i64::from(!topic.subscribed);
                topic.subscribed = true;
                for waiter in topic.waiters.drain(..) {
                    let _ = waiter.send(());
                }
            }
        }
        interest.counted += newly;
        self.metrics.subscriptions.add(newly);
    }

    fn forget_subscriptions(&self) {
        let mut interest = self.interest.lock().unwrap_or_else(|p| p.into_inner());
        for topic in interest.topics.values_mut() {
            topic.subscribed = false;
        }
        self.metrics.subscriptions.sub(interest.counted);
        interest.counted = 0;
    }

    /// Receives and applies interest changes until the connection is lost.
    async fn serve(
        &self,
        sink: &mut PubSubSink,
        mut stream: redis::aio::PubSubStream,
        changes: &mut mpsc::UnboundedReceiver<Change>,
    ) -> Lost {
        let mut last_heard = Instant::now();
        let mut probed: Option<Instant> = None;
        let mut probe = tokio::time::interval(self.probe);
        probe.tick().await;
        let mut batch = Vec::new();
        loop {
            tokio::select! {
                message = stream.next() => {
                    let Some(message) = message else { return Lost::Connection };
                    last_heard = Instant::now();
                    probed = None;
                    let topic = message.get_channel_name();
                    if topic != self.probe_topic {
                        (self.receive)(topic, Bytes::copy_from_slice(message.get_payload_bytes()));
                    }
                }
                count = changes.recv_many(&mut batch, SUBSCRIBE_BATCH) => {
                    if count == 0 {
                        return Lost::Closed;
                    }
                    if self.apply(sink, &mut batch).await.is_err() {
                        return Lost::Connection;
                    }
                }
                _ = probe.tick() => {
                    match probed {
                        Some(at) if at.elapsed() >= self.probe => return Lost::ProbeUnanswered,
                        Some(_) => {}
                        None if last_heard.elapsed() >= self.probe => {
                            probed = Some(Instant::now());
                            let _ = self.publish.try_send((self.probe_topic.clone(), Bytes::new()));
                        }
                        None => {}
                    }
                }
            }
        }
    }

    /// Subscribes to the topics that gained a reason and unsubscribes from those whose
    /// last reason left (and did not come back during the linger).
    async fn apply(&self, sink: &mut PubSubSink, batch: &mut Vec<Change>) -> redis::RedisResult<()> {
        let (mut subscribe, mut unsubscribe) = (HashSet::new(), Vec::new());
        {
            let mut interest = self.interest.lock().unwrap_or_else(|p| p.into_inner());
            for change in batch.drain(..) {
                match change {
                    Change::Subscribe(name) => {
                        if interest.topics.get(&name).is_some_and(|t| !t.subscribed && t.reasons > 0) {
                            subscribe.insert(name);
                        }
                    }
                    Change::Unsubscribe(name) => {
                        if interest.topics.get(&name).is_some_and(|topic| topic.reasons == 0)
                            && interest.topics.remove(&name).is_some_and(|topic| topic.subscribed)
                        {
                            interest.counted -= 1;
                            self.metrics.subscriptions.dec();
                            unsubscribe.push(name);
                        }
                    }
                }
            }
        }
        if !subscribe.is_empty() {
            let subscribe: Vec<String> = subscribe.into_iter().collect();
            timed(sink.subscribe(&subscribe)).await?;
            self.confirm(&subscribe);
        }
        if !unsubscribe.is_empty() {
            timed(sink.unsubscribe(&unsubscribe)).await?;
        }
        Ok(())
    }
}

/// A subscription command, failed when Redis does not answer in time.
async fn timed(command: impl Future<Output = redis::RedisResult<()>>) -> redis::RedisResult<()> {
    tokio::time::timeout(RESPONSE_TIMEOUT, command)
        .await
        .map_err(|_| redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut)))?
}
