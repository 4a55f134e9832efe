//! The Redis bus: PUBLISH on one connection, SUBSCRIBE on another, both spoken by
//! `resp` on sockets this module owns.
//!
//! The interest table (topic → local reasons to receive it) is the source of truth: on
//! every (re)connect the subscriber subscribes to all of it, so a Redis restart loses
//! only what was published while it was down. Both connections reconnect forever, with
//! jittered exponential backoff. A subscription that stops receiving without its
//! connection failing (a Redis failover behind a proxy) is caught by a probe: after a
//! silence, this instance publishes to its own probe topic on this Redis and reconnects
//! if the echo does not come back.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::FutureExt as _;
use rand::Rng as _;
use redis::ConnectionInfo;
use tokio::io::AsyncWriteExt as _;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::resp::{self, Reader, Reply, Writer};
use super::{ClusterConfig, ClusterMetrics, PubSub, Receive, Subscribed};

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
    /// Asks the subscriber to bring Redis in line with the interest table's `pending`.
    changed: Arc<Notify>,
    /// While the subscriber's connection is up, its SUBSCRIBEs sent (each topic is
    /// marked subscribed when Redis confirms it).
    subscribed: Arc<AtomicBool>,
    /// Whether Redis confirmed the subscription to the probe topic on the current
    /// connection: the bus receives. `subscribed` alone says only that it asked.
    receiving: Arc<AtomicBool>,
    /// Stops the subscriber when the bus is dropped (the server shutting down).
    closed: CancellationToken,
    linger: Duration,
    metrics: ClusterMetrics,
}

impl Drop for RedisBus {
    fn drop(&mut self) {
        self.closed.cancel();
    }
}

#[derive(Default)]
struct Interest {
    topics: HashMap<String, Subscription>,
    /// Topics whose subscription may differ from their reasons, for the subscriber to
    /// settle. A set, not a queue of changes: during an outage it holds each topic at
    /// most once, so it is bounded by the topics there are.
    pending: HashSet<String>,
    /// Topics subscribed now, as added to the (server-wide) subscriptions gauge.
    counted: i64,
}

/// One topic's subscription.
#[derive(Default)]
struct Subscription {
    /// Local reasons to receive it: audiences (one per tenant hub that has it).
    reasons: usize,
    /// Whether Redis confirmed the subscription on the current connection.
    subscribed: bool,
    /// Told when it is subscribed.
    waiters: Vec<oneshot::Sender<()>>,
}

impl RedisBus {
    pub fn start(
        redis: ConnectionInfo,
        config: &ClusterConfig,
        probe_topic: String,
        receive: Receive,
        metrics: ClusterMetrics,
    ) -> RedisBus {
        let (outbound, queued) = mpsc::channel(config.publish_queue);
        let interest = Arc::new(Mutex::new(Interest::default()));
        interest
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .topics
            .insert(probe_topic.clone(), Subscription { reasons: 1, ..Subscription::default() });
        let bus = RedisBus {
            outbound,
            interest: interest.clone(),
            changed: Arc::default(),
            subscribed: Arc::new(AtomicBool::new(false)),
            receiving: Arc::new(AtomicBool::new(false)),
            closed: CancellationToken::new(),
            linger: config.linger,
            metrics: metrics.clone(),
        };
        tokio::spawn(publisher(redis.clone(), queued, metrics.clone()));
        let subscriber = Subscriber {
            redis,
            interest,
            receive,
            subscribed: bus.subscribed.clone(),
            receiving: bus.receiving.clone(),
            metrics,
            probe_topic,
            probe: config.probe,
            publish: bus.outbound.clone(),
            changed: bus.changed.clone(),
            closed: bus.closed.clone(),
        };
        tokio::spawn(subscriber.run());
        bus
    }
}

impl PubSub for RedisBus {
    fn publish(&self, topic: String, message: Bytes) {
        if self.outbound.try_send((topic, message)).is_err() {
            self.metrics.publish_dropped.inc();
        }
    }

    fn subscribe(&self, topic: &str) -> Subscribed {
        let mut interest = self.interest.lock().unwrap_or_else(|p| p.into_inner());
        let Interest { topics, pending, .. } = &mut *interest;
        let entry = topics.entry(topic.to_string()).or_default();
        entry.reasons += 1;
        if entry.subscribed {
            return None;
        }
        // Marked even while the bus is down: the subscriber may be between its snapshot
        // of the table and its confirmation, and settling is a no-op once subscribed.
        pending.insert(topic.to_string());
        self.changed.notify_one();
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
            let (interest, changed, linger) = (Arc::downgrade(&self.interest), self.changed.clone(), self.linger);
            let topic = topic.to_string();
            tokio::spawn(async move {
                tokio::time::sleep(linger).await;
                let Some(interest) = interest.upgrade() else { return };
                interest.lock().unwrap_or_else(|p| p.into_inner()).pending.insert(topic);
                changed.notify_one();
            });
        }
    }

    fn connected(&self) -> bool {
        self.receiving.load(Ordering::Acquire)
    }
}

/// `text` (a message about `url`) with what `url` holds that may be secret replaced by
/// `***`: the user information of `redis://user:password@host` and a `pass=` value.
pub fn without_secrets(url: &str, text: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let userinfo =
        after_scheme.split('/').next().and_then(|authority| authority.rsplit_once('@')).map(|(info, _)| info);
    let pass = url
        .split_once('?')
        .into_iter()
        .flat_map(|(_, query)| query.split('&'))
        .find_map(|pair| pair.strip_prefix("pass=").or_else(|| pair.strip_prefix("password=")));
    let mut shown = text.to_string();
    for secret in userinfo.into_iter().chain(pass).filter(|secret| !secret.is_empty()) {
        shown = shown.replace(secret, "***");
        // The parts of `user:password` may be quoted alone, decoded or not.
        for part in secret.split(':').filter(|part| part.len() > 2) {
            shown = shown.replace(part, "***");
        }
    }
    shown
}

/// Where `url` points, checked: a TCP address or a Unix socket (no TLS yet).
pub fn address(url: &str) -> anyhow::Result<ConnectionInfo> {
    let info = redis::IntoConnectionInfo::into_connection_info(url)?;
    if info.redis_settings().db() != 0 {
        tracing::warn!(
            "a Redis database number isolates nothing in pub/sub: use --cluster-prefix to keep deployments apart"
        );
    }
    match info.addr() {
        redis::ConnectionAddr::Tcp(..) | redis::ConnectionAddr::Unix(_) => Ok(info),
        _ => anyhow::bail!("only redis:// and redis+unix:// addresses are supported"),
    }
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
    fn warn(&mut self, what: &str, err: &std::io::Error) {
        if self.0.is_none_or(|last| last.elapsed() >= WARN_EVERY) {
            self.0 = Some(Instant::now());
            tracing::warn!("cluster bus: {what}: {err}; retrying");
        }
    }
}

/// Sends queued messages in pipelines, each once Redis has answered the one before (so
/// that what queues meanwhile goes out together); while Redis is down, drops them as
/// they come.
async fn publisher(redis: ConnectionInfo, mut queued: mpsc::Receiver<(String, Bytes)>, metrics: ClusterMetrics) {
    let mut batch = Vec::with_capacity(PUBLISH_BATCH);
    let mut packed = Vec::new();
    let mut connection: Option<(Reader, Writer, BytesMut)> = None;
    let mut backoff = Backoff::new();
    let mut warnings = Warnings(None);
    loop {
        let Some((reader, writer, buffer)) = connection.as_mut() else {
            match resp::connect(&redis, CONNECT_TIMEOUT).await {
                Ok(link) => {
                    connection = Some(link);
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
        packed.clear();
        for (topic, message) in batch.drain(..) {
            redis::cmd("PUBLISH").arg(topic).arg(message.as_ref()).write_packed_command(&mut packed);
        }
        let sent = async {
            writer.write_all(&packed).await?;
            for _ in 0..count {
                if let Reply::Error(message) = resp::read(reader, buffer).await? {
                    return Err(std::io::Error::other(String::from_utf8_lossy(&message).into_owned()));
                }
            }
            Ok(())
        };
        match timed(sent).await {
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
    redis: ConnectionInfo,
    interest: Arc<Mutex<Interest>>,
    receive: Receive,
    subscribed: Arc<AtomicBool>,
    receiving: Arc<AtomicBool>,
    metrics: ClusterMetrics,
    /// This instance's topic on this Redis for the probe's echo.
    probe_topic: String,
    probe: Duration,
    publish: mpsc::Sender<(String, Bytes)>,
    changed: Arc<Notify>,
    closed: CancellationToken,
}

/// The subscriber's connection: replies and messages are read into `buffer`.
struct Link {
    reader: Reader,
    writer: Writer,
    buffer: BytesMut,
}

/// Why a connection's session ended.
enum Lost {
    Connection,
    ProbeUnanswered,
    /// The bus was dropped: the server is shutting down.
    Closed,
    /// A bug: something on the receiving path panicked. The connection is dropped and
    /// made again, so the bus goes on receiving.
    Panicked,
}

impl Subscriber {
    async fn run(self) {
        let mut backoff = Backoff::new();
        let mut warnings = Warnings(None);
        while !self.closed.is_cancelled() {
            let connected = match resp::connect(&self.redis, CONNECT_TIMEOUT).await {
                Ok((reader, writer, buffer)) => {
                    let mut link = Link { reader, writer, buffer };
                    self.subscribe_all(&mut link).await.map(|()| link)
                }
                Err(err) => Err(err),
            };
            let mut link = match connected {
                Ok(link) => link,
                Err(err) => {
                    warnings.warn("subscribing", &err);
                    tokio::time::sleep(backoff.next()).await;
                    continue;
                }
            };
            backoff = Backoff::new();
            self.subscribed.store(true, Ordering::Release);
            let serving = std::panic::AssertUnwindSafe(self.serve(&mut link));
            let lost = serving.catch_unwind().await.unwrap_or(Lost::Panicked);
            self.subscribed.store(false, Ordering::Release);
            if self.receiving.swap(false, Ordering::AcqRel) {
                self.metrics.connected.dec();
            }
            self.forget_subscriptions();
            match lost {
                Lost::Closed => return,
                Lost::Connection => tracing::warn!("cluster bus: the subscription was lost; reconnecting"),
                Lost::ProbeUnanswered => tracing::warn!("cluster bus: the probe was not echoed; reconnecting"),
                Lost::Panicked => {
                    tracing::error!("cluster bus: the subscriber panicked; reconnecting");
                    tokio::time::sleep(backoff.next()).await;
                }
            }
            self.metrics.gaps.inc();
        }
    }

    /// Subscribes to every topic of the interest table (Redis confirms each in `serve`);
    /// those with no reason left are forgotten instead.
    async fn subscribe_all(&self, link: &mut Link) -> std::io::Result<()> {
        let topics: Vec<String> = {
            let mut interest = self.interest.lock().unwrap_or_else(|p| p.into_inner());
            interest.topics.retain(|_, topic| topic.reasons > 0);
            interest.topics.keys().cloned().collect()
        };
        for chunk in topics.chunks(SUBSCRIBE_BATCH) {
            send(&mut link.writer, "SUBSCRIBE", chunk).await?;
        }
        Ok(())
    }

    /// Marks `topic` subscribed and tells whoever waits for it.
    fn confirm(&self, topic: &str) {
        if topic == self.probe_topic && !self.receiving.swap(true, Ordering::AcqRel) {
            self.metrics.connected.inc();
            tracing::info!("cluster bus: subscribed");
        }
        let mut interest = self.interest.lock().unwrap_or_else(|p| p.into_inner());
        let Some(topic) = interest.topics.get_mut(topic) else { return };
        let newly = !topic.subscribed;
        topic.subscribed = true;
        for waiter in topic.waiters.drain(..) {
            let _ = waiter.send(());
        }
        if newly {
            interest.counted += 1;
            self.metrics.subscriptions.inc();
        }
    }

    fn forget_subscriptions(&self) {
        let mut interest = self.interest.lock().unwrap_or_else(|p| p.into_inner());
        for topic in interest.topics.values_mut() {
            topic.subscribed = false;
        }
        self.metrics.subscriptions.sub(interest.counted);
        interest.counted = 0;
    }

    /// Receives messages and confirmations, and applies interest changes, until the
    /// connection is lost.
    async fn serve(&self, link: &mut Link) -> Lost {
        let mut last_heard = Instant::now();
        let mut probed: Option<Instant> = None;
        let mut probe = tokio::time::interval(self.probe);
        probe.tick().await;
        loop {
            tokio::select! {
                reply = resp::read(&mut link.reader, &mut link.buffer) => {
                    let Ok(reply) = reply else { return Lost::Connection };
                    last_heard = Instant::now();
                    probed = None;
                    if !self.handle(reply) {
                        return Lost::Connection;
                    }
                    // The rest of what one read brought, without a turn of the loop each.
                    loop {
                        match resp::parse(&mut link.buffer) {
                            Ok(Some(reply)) => {
                                if !self.handle(reply) {
                                    return Lost::Connection;
                                }
                            }
                            Ok(None) => break,
                            Err(_) => return Lost::Connection,
                        }
                    }
                }
                _ = self.closed.cancelled() => return Lost::Closed,
                _ = self.changed.notified() => {
                    if self.settle(&mut link.writer).await.is_err() {
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

    /// Delivers a message or takes a confirmation; false for an error reply.
    fn handle(&self, reply: Reply) -> bool {
        let items = match reply {
            Reply::Array(Some(items)) => items,
            Reply::Error(message) => {
                tracing::warn!("cluster bus: Redis answered {}", String::from_utf8_lossy(&message));
                return false;
            }
            _ => return true,
        };
        let text = |index: usize| items.get(index).and_then(Reply::as_bytes);
        let topic = text(1).and_then(|topic| std::str::from_utf8(topic).ok());
        match (text(0).map(Bytes::as_ref), topic) {
            (Some(b"message"), Some(topic)) if topic != self.probe_topic => {
                if let Some(payload) = text(2) {
                    (self.receive)(topic, payload.clone());
                }
            }
            (Some(b"subscribe"), Some(topic)) => self.confirm(topic),
            _ => {}
        }
        true
    }

    /// Settles the pending topics: subscribes to those that gained a reason, and
    /// unsubscribes from those whose last reason left (and did not come back during the
    /// linger).
    async fn settle(&self, writer: &mut Writer) -> std::io::Result<()> {
        let (mut subscribe, mut unsubscribe) = (Vec::new(), Vec::new());
        {
            let mut interest = self.interest.lock().unwrap_or_else(|p| p.into_inner());
            for name in std::mem::take(&mut interest.pending) {
                match interest.topics.get(&name).map(|topic| (topic.reasons, topic.subscribed)) {
                    Some((0, subscribed)) => {
                        interest.topics.remove(&name);
                        if subscribed {
                            interest.counted -= 1;
                            self.metrics.subscriptions.dec();
                            unsubscribe.push(name);
                        }
                    }
                    Some((_, false)) => subscribe.push(name),
                    _ => {}
                }
            }
        }
        for chunk in subscribe.chunks(SUBSCRIBE_BATCH) {
            send(writer, "SUBSCRIBE", chunk).await?;
        }
        for chunk in unsubscribe.chunks(SUBSCRIBE_BATCH) {
            send(writer, "UNSUBSCRIBE", chunk).await?;
        }
        Ok(())
    }
}

/// Sends `command` with `topics`.
async fn send(writer: &mut Writer, command: &str, topics: &[String]) -> std::io::Result<()> {
    timed(writer.write_all(&redis::cmd(command).arg(topics).get_packed_command())).await
}

/// An exchange with Redis, failed when it does not answer in time.
async fn timed<T>(exchange: impl Future<Output = std::io::Result<T>>) -> std::io::Result<T> {
    tokio::time::timeout(RESPONSE_TIMEOUT, exchange)
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
}

/// A real Redis, on a Unix socket of its own: the integration tests' helper.
#[cfg(test)]
#[path = "../../../tests/support/redis.rs"]
#[allow(dead_code)] // what the integration tests use of it besides
mod test_redis;

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::test_redis as server;
    use super::*;

    /// A panic while receiving (here, in what the bus hands each message to) does not end
    /// the bus: its subscriber reconnects, counts the gap, and receives what comes next.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panic_while_receiving_reconnects_and_the_bus_receives_again() {
        let redis = server::Redis::start();
        let config = ClusterConfig {
            urls: vec![redis.url()],
            linger: Duration::from_millis(50),
            subscribe_wait: Duration::from_secs(1),
            publish_queue: 64,
            probe: Duration::from_secs(5),
            prefix: "test".into(),
        };
        let received = Arc::new(Mutex::new(Vec::new()));
        let panics = Arc::new(AtomicUsize::new(0));
        let receive: Receive = {
            let (received, panics) = (received.clone(), panics.clone());
            Arc::new(move |_topic, message: Bytes| {
                if &message[..] == b"boom" && panics.fetch_add(1, Ordering::SeqCst) == 0 {
                    panic!("a bug on the receiving path");
                }
                received.lock().unwrap().push(message);
            })
        };
        let metrics = ClusterMetrics::default();
        let address = address(&redis.url()).unwrap();
        let bus = RedisBus::start(address, &config, "test:probe".into(), receive, metrics.clone());
        let until = Instant::now() + Duration::from_secs(10);
        while !bus.connected() {
            assert!(Instant::now() < until, "the bus connects");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let confirmed = bus.subscribe("test:room").expect("a new subscription, on a connected bus");
        tokio::time::timeout(Duration::from_secs(5), confirmed).await.expect("subscribed in time").unwrap();

        bus.publish("test:room".into(), Bytes::from_static(b"boom"));
        let until = Instant::now() + Duration::from_secs(10);
        while received.lock().unwrap().iter().all(|message| &message[..] != b"after") {
            assert!(Instant::now() < until, "the bus never received again; gaps: {}", metrics.gaps.get());
            if bus.connected() {
                bus.publish("test:room".into(), Bytes::from_static(b"after"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(panics.load(Ordering::SeqCst), 1, "the panicking message was not handed over again");
        assert!(metrics.gaps.get() >= 1, "the lost subscription is counted");
    }
}
