//! One WebSocket connection, driven by one task: it reads and handles client events
//! strictly in order, drains the connection's outbox to the socket, pings, and enforces
//! the silence and write timeouts.
//!
//! A walker event runs as a future polled by the same loop, so while it runs, its
//! notifications (and other connections' fan-out) keep flowing to the socket, and no
//! second task has to be woken to send its reply.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, SystemTime};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::{Instant, Interval, Sleep};

use super::events::{self, ClientEvent, WalkerEvent};
use walker_accounts::auth::Identity;
use walker_core::ids::wire_root;
use walker_core::rate::{EventLimit, Verdict};
use walker_hub::{Connection, Outbox, close};
use walker_runtime::catalog::{CallError, Walker};
use walker_runtime::{Caller, Invocation, Method, Streamed, Transport, stream_channel};

use crate::frames::{self, Problem};
use crate::quotas::EventPace;
use crate::{ClientEvents, NodeAccess, Shared, check_node};

/// Frames sent to the socket per flush, at most: fairness between fan-out and the rest.
const WRITE_BATCH: usize = 64;

/// How long a server-initiated close waits for the client's close frame.
const CLOSE_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(1);

const INVALID_WALKER: &str = "Invalid request! Please use valid walker event!";

/// A walker run in progress; it pushes its own reply or error to the outbox.
type Running = Pin<Box<dyn Future<Output = ()> + Send>>;

struct Session {
    shared: Arc<Shared>,
    connection: Arc<Connection>,
    identity: Identity,
}

pub async fn run(shared: Arc<Shared>, socket: WebSocket, identity: Identity, channel_id: String) {
    let mut session = Session::connect(shared, identity, channel_id).await;
    let settings = session.shared.settings.clone();
    let mut events = EventLimit::new(settings.ws_events_per_second);
    let mut clocks = Clocks::new(settings.ping_interval, settings.silence_limit);
    let connection = session.connection.clone();
    let (mut sink, mut stream) = socket.split();
    let outbox = &connection.outbox;
    let (closed, draining) = (outbox.closed().clone(), outbox.draining().clone());
    let (mut running, mut drained, mut client_closed) = (None::<Running>, false, false);
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    loop {
        // Shutting down: once its run has replied and everything queued is sent, close.
        if drained && running.is_none() && outbox.is_empty() {
            outbox.close(close::GOING_AWAY);
        }
        clocks.arm_expiry(session.identity.expires);
        tokio::select! {
            biased;
            _ = closed.cancelled() => break,
            _ = draining.cancelled(), if !drained => drained = true,
            () = &mut clocks.expiry, if clocks.armed_expiry.is_some() => {
                session.switch_user(Identity::anonymous()).await;
            }
            () = poll_fn(|cx| {
                outbox.quiesce();
                running.as_mut().expect("guarded by is_some").as_mut().poll(cx)
            }), if running.is_some() => running = None,
            () = outbox.next_batch(&mut batch, WRITE_BATCH) => {
                if !within(settings.write_timeout, write_batch(&mut sink, &mut batch)).await {
                    session.timed_out("write");
                    break;
                }
            }
            // One event at a time, and none while the client has not read its own replies.
            () = &mut clocks.paused, if clocks.pausing => clocks.pausing = false,
            message = stream.next(), if running.is_none() && !outbox.own_backlog() && !clocks.pausing && !drained => {
                outbox.quiesce();
                clocks.heard(session.shared.events.as_ref().and_then(EventPace::after_event));
                match session.on_frame(message, &mut events) {
                    Read::Next => {}
                    Read::Run(run) => {
                        running = run;
                        // One event per turn: a client sending many at once lets every
                        // other task on this thread run between them.
                        tokio::task::yield_now().await;
                    }
                    Read::Closed => {
                        client_closed = true;
                        break;
                    }
                    Read::Stop => break,
                }
            }
            () = &mut clocks.silence => {
                if clocks.silent() {
                    session.timed_out("silence");
                    break;
                }
            }
            _ = clocks.ping.tick() => {
                if !within(settings.write_timeout, sink.send(Message::Ping(Default::default()))).await {
                    session.timed_out("write");
                    break;
                }
            }
        }
    }
    session.disconnect(sink, stream, client_closed).await;
}

/// A session's timers.
struct Clocks {
    ping: Interval,
    /// A deadline, not a check on ping ticks: a silent client is closed `silence_limit`
    /// after its last frame. Moved lazily: frames only record when they arrived.
    silence: Pin<Box<Sleep>>,
    silence_limit: Duration,
    last_heard: Instant,
    /// Over its tenant's events per second, the connection is not read until this passes.
    paused: Pin<Box<Sleep>>,
    pausing: bool,
    /// When the connection's token expires, it is signed out (see `switch_user`).
    expiry: Pin<Box<Sleep>>,
    armed_expiry: Option<SystemTime>,
}

impl Clocks {
    fn new(ping_interval: Duration, silence_limit: Duration) -> Self {
        let now = Instant::now();
        Clocks {
            ping: tokio::time::interval_at(now + ping_interval, ping_interval),
            silence: Box::pin(tokio::time::sleep_until(now + silence_limit)),
            silence_limit,
            last_heard: now,
            paused: Box::pin(tokio::time::sleep_until(now)),
            pausing: false,
            expiry: Box::pin(tokio::time::sleep_until(now)),
            armed_expiry: None,
        }
    }

    /// Sets the expiry timer for the connection's token, when it changed.
    fn arm_expiry(&mut self, expires: Option<SystemTime>) {
        if expires == self.armed_expiry {
            return;
        }
        self.armed_expiry = expires;
        if let Some(expires) = expires {
            let left = expires.duration_since(SystemTime::now()).unwrap_or_default();
            self.expiry.as_mut().reset(Instant::now() + left);
        }
    }

    /// A frame arrived; the tenant's pace may ask to wait before reading the next.
    fn heard(&mut self, wait: Option<Duration>) {
        self.last_heard = Instant::now();
        if let Some(wait) = wait {
            self.paused.as_mut().reset(self.last_heard + wait);
            self.pausing = true;
        }
    }

    /// The silence timer fired: whether nothing was heard for the whole limit (else it is
    /// moved to the limit past the last frame).
    fn silent(&mut self) -> bool {
        if self.last_heard.elapsed() >= self.silence_limit {
            return true;
        }
        self.silence.as_mut().reset(self.last_heard + self.silence_limit);
        false
    }
}

/// What the reader does after a client frame.
enum Read {
    /// Read the next one.
    Next,
    /// Drive this walker run (or `change_user`) before reading on.
    Run(Option<Running>),
    /// The client sent its close frame.
    Closed,
    /// The connection ends: the stream ended or failed, or the session closed it.
    Stop,
}

/// Whether a write to the client finished, and within `timeout`.
async fn within<E>(timeout: Duration, write: impl Future<Output = Result<(), E>>) -> bool {
    matches!(tokio::time::timeout(timeout, write).await, Ok(Ok(())))
}

/// Sends our close frame, then gives the client a moment to answer before the socket is
/// dropped, so the frame is read rather than reset away.
async fn close_handshake(
    sink: &mut SplitSink<WebSocket, Message>,
    stream: &mut SplitStream<WebSocket>,
    code: u16,
    write_timeout: Duration,
) {
    let frame = CloseFrame { code, reason: close::reason(code).into() };
    if let Ok(Ok(())) = tokio::time::timeout(write_timeout, sink.send(Message::Close(Some(frame)))).await {
        let answered = async {
            while let Some(Ok(message)) = stream.next().await {
                if let Message::Close(_) = message {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(CLOSE_HANDSHAKE_TIMEOUT, answered).await;
    }
}

impl Session {
    /// Registers the connection with the hub and queues its connection frame, which tells
    /// the client it may be reached: from other instances too, once confirmed.
    async fn connect(shared: Arc<Shared>, identity: Identity, channel_id: String) -> Session {
        let settings = &shared.settings;
        let outbox = Outbox::new(settings.queue_messages, settings.queue_bytes);
        let client_id = shared.hub.new_client_id().into();
        let connection = Arc::new(Connection { client_id, channel_id: channel_id.into(), outbox });
        shared.hub.register(connection.clone(), &identity.root).confirmed().await;
        tracing::debug!(client_id = &*connection.client_id, authenticated = identity.authenticated, "connected");
        let session = Session { shared, connection, identity };
        session.send(session.connection_frame());
        session
    }

    /// Handles one frame from the client, after the events per second it may send.
    fn on_frame(&mut self, message: Option<Result<Message, axum::Error>>, events: &mut EventLimit) -> Read {
        let outbox = &self.connection.outbox;
        if let Some(Ok(Message::Text(_) | Message::Binary(_))) = &message {
            match events.check() {
                Verdict::Admit => {}
                Verdict::Refuse => {
                    self.refuse_over_rate();
                    return Read::Next;
                }
                Verdict::CutOff => {
                    self.shared.metrics.rate_limit_closes.inc();
                    outbox.close(close::POLICY);
                    return Read::Stop;
                }
            }
        }
        match message {
            Some(Ok(Message::Text(text))) => return Read::Run(self.handle_text(&text)),
            Some(Ok(Message::Binary(_))) => self.send(frames::problem(
                Problem { kind: "binary_frame", msg: "binary frames are not supported; send JSON text" },
                None,
            )),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(Message::Close(_))) => return Read::Closed,
            None => return Read::Stop,
            Some(Err(err)) => {
                if is_too_big(err) {
                    outbox.close(close::TOO_BIG);
                }
                return Read::Stop;
            }
        }
        Read::Next
    }

    /// Leaves the hub, then ends the WebSocket: the echo of the client's close frame, or
    /// our own close frame with the code the session closed with.
    async fn disconnect(
        self,
        mut sink: SplitSink<WebSocket, Message>,
        mut stream: SplitStream<WebSocket>,
        client_closed: bool,
    ) {
        let (connection, outbox) = (&self.connection, &self.connection.outbox);
        self.shared.hub.unregister(&connection.client_id);
        let code = outbox.close_code();
        if code == Some(close::SLOW_CONSUMER) {
            self.shared.metrics.slow_consumer_closes.inc();
        }
        tracing::debug!(client_id = &*connection.client_id, client_closed, code, "disconnecting");
        let write_timeout = self.shared.settings.write_timeout;
        if client_closed {
            // The WebSocket library queued the echo of the client's close frame (RFC 6455
            // §5.5.1); closing the sink flushes it, so the client sees a clean close.
            let _ = tokio::time::timeout(write_timeout, sink.close()).await;
        } else if let Some(code) = code {
            close_handshake(&mut sink, &mut stream, code, write_timeout).await;
        }
        outbox.close(close::NORMAL);
    }

    fn send(&self, text: String) {
        self.connection.outbox.push_own(Utf8Bytes::from(text));
    }

    /// Closes with 4000 for `cause`, counted.
    fn timed_out(&self, cause: &str) {
        self.shared.metrics.timeout_closes.with_label_values(&[cause]).inc();
        self.connection.outbox.close(close::TIMEOUT);
    }

    /// Answers an event over the connection's events per second, which is not handled.
    fn refuse_over_rate(&self) {
        let limit = self.shared.settings.ws_events_per_second;
        let msg = format!("too many events: at most {limit} per second on one connection; this one was not handled");
        self.send(frames::problem(Problem { kind: "rate_limited", msg: &msg }, None));
        self.shared.metrics.rate_limited.with_label_values(&["connection_events_per_second"]).inc();
    }

    /// Makes the connection `identity`'s and tells the client with a connection frame
    /// (`change_user`, and a token's expiry: the connection then goes on anonymous, and
    /// the client may send `change_user` with a fresh token). The frame waits for the
    /// new user's subscription in cluster mode, as on connect.
    fn switch_user(&mut self, identity: Identity) -> Running {
        let subscribing = self.shared.hub.change_root(&self.connection.client_id, &identity.root);
        self.identity = identity;
        let (frame, connection) = (Utf8Bytes::from(self.connection_frame()), self.connection.clone());
        Box::pin(async move {
            subscribing.confirmed().await;
            connection.outbox.push_own(frame);
        })
    }

    fn connection_frame(&self) -> String {
        frames::connection(&self.connection.client_id, &self.identity.root, &self.connection.channel_id)
    }

    /// Handles one client event. Everything but a walker run completes here; a walker
    /// run is returned for the session loop to drive.
    fn handle_text(&mut self, text: &str) -> Option<Running> {
        let event: Value = match serde_json::from_str(text) {
            Ok(event) => event,
            Err(err) => {
                let msg = format!("invalid JSON: {err}");
                self.send(frames::problem(Problem { kind: "invalid_json", msg: &msg }, None));
                return None;
            }
        };
        let req_id = events::req_id(&event);
        let event = events::parse(event, self.shared.settings.notify_targets);
        let kind = event.as_ref().map_or("invalid", ClientEvent::kind);
        self.shared.metrics.events.with_label_values(&[kind]).inc();
        match event {
            Err(errors) => self.send(frames::invalid(&errors, req_id.as_ref())),
            Ok(ClientEvent::Connection) => self.send(self.connection_frame()),
            Ok(ClientEvent::Walker(event)) => return self.start_walker(event, req_id),
            Ok(ClientEvent::User { root_ids, data }) => {
                if self.may_send("user", req_id.as_ref()) {
                    self.shared.hub.send_users(&root_ids, &to_payload(&data));
                }
            }
            Ok(ClientEvent::Channel { channel_ids, data }) => {
                if self.may_send("channel", req_id.as_ref()) {
                    let hub = self.shared.hub.clone();
                    return Some(Box::pin(async move {
                        hub.send_channels_in_slices(&channel_ids, &to_payload(&data)).await;
                    }));
                }
            }
            Ok(ClientEvent::Client { client_ids, data }) => {
                if self.may_send("client", req_id.as_ref()) {
                    self.shared.hub.send_clients(&client_ids, &to_payload(&data));
                }
            }
            Ok(ClientEvent::ChangeUser { token }) => {
                let identity = token
                    .filter(|token| !token.trim().is_empty())
                    .and_then(|token| self.shared.tokens.verify(&token))
                    .unwrap_or_else(Identity::anonymous);
                return Some(self.switch_user(identity));
            }
        }
        None
    }

    /// Applies the client-event policy; a refusal is answered like a walker refusal.
    fn may_send(&self, event_type: &str, req_id: Option<&Value>) -> bool {
        let refusal = match self.shared.settings.client_events {
            ClientEvents::Open => return true,
            ClientEvents::Authenticated if self.identity.authenticated => return true,
            ClientEvents::Authenticated => format!("Event {event_type} requires to be authenticated!"),
            ClientEvents::Off => format!("Event {event_type} is disabled on this server!"),
        };
        self.send(frames::refusal(event_type, &refusal, req_id));
        false
    }

    /// Checks a walker event (walker, transport, auth, node) and returns its run.
    fn start_walker(&self, event: WalkerEvent, req_id: Option<Value>) -> Option<Running> {
        let refuse = |message: &str| self.send(frames::refusal("walker", message, req_id.as_ref()));
        let walker = match self.shared.catalog.walker(&event.walker) {
            Some(walker) if walker.spec().allows(Method::Websocket) => walker,
            _ => {
                refuse(INVALID_WALKER);
                return None;
            }
        };
        if walker.spec().auth && !self.identity.authenticated {
            refuse(&format!("Event {} requires to be authenticated!", event.walker));
            return None;
        }
        let caller = Caller {
            client_id: Some(self.connection.client_id.to_string()),
            root_id: wire_root(&self.identity.root),
            channel_id: Some(self.connection.channel_id.to_string()),
            authenticated: self.identity.authenticated,
            transport: Transport::Websocket,
        };
        let identity = self.identity.clone();
        Some(Box::pin(run_walker(
            self.shared.clone(),
            self.connection.clone(),
            walker,
            caller,
            identity,
            event,
            req_id,
        )))
    }
}

/// Checks a walker event's entry node, runs it, and queues its reply (when asked for)
/// or its error.
async fn run_walker(
    shared: Arc<Shared>,
    connection: Arc<Connection>,
    walker: Walker,
    caller: Caller,
    identity: Identity,
    event: WalkerEvent,
    req_id: Option<Value>,
) {
    let req_id = req_id.as_ref();
    let send = |frame: String| connection.outbox.push_own(Utf8Bytes::from(frame));
    let mut entry = None;
    if let Some(node) = &event.node {
        match check_node(&shared, node, &identity, &walker.spec().access).await {
            NodeAccess::Allowed(id) => entry = Some(id),
            NodeAccess::Invalid(mut error) => {
                error.loc = ["event", "walker", "node"].map(Value::from).to_vec();
                return send(frames::invalid(&[error], req_id));
            }
            NodeAccess::Denied => {
                let message = format!("You don't have access on target entry {node}!");
                return send(frames::refusal("walker", &message, req_id));
            }
            NodeAccess::Unavailable => {
                return send(frames::problem(Problem::STORE_UNAVAILABLE, req_id));
            }
        }
    }
    // Streamed chunks become frames as they come; the reply frame follows the last.
    let (sink, mut chunks) = stream_channel(shared.settings.stream_buffer);
    let call = Invocation { caller: &caller, account: identity.account.as_ref(), stream: Some(&sink) };
    let run = shared.catalog.call(&walker, call, &event.context, shared.notifier.clone(), entry.as_deref());
    tokio::pin!(run);
    let send_chunk = |streamed: Streamed| {
        if let Streamed::Chunk(chunk) = streamed {
            send(frames::stream_chunk(&chunk, req_id));
        }
    };
    let outbox = &connection.outbox;
    let result = loop {
        tokio::select! {
            result = &mut run => break result,
            Some(streamed) = next_chunk(&mut chunks, outbox) => send_chunk(streamed),
        }
    };
    while let Ok(streamed) = chunks.try_recv() {
        send_chunk(streamed);
    }
    let frame = match result {
        Ok(reply) if event.response => frames::reply(&reply, req_id),
        Ok(_) => return,
        Err(CallError::Invalid(errors)) => frames::invalid(&errors, req_id),
        Err(CallError::Run(err)) => frames::problem(Problem::from_run(&err, &err.to_string()), req_id),
    };
    send(frame);
}

/// The next chunk of a streamed reply, once the client has read the connection's own
/// frames down below its queue limits: until then the chunks wait in the stream buffer,
/// whose sender (the walker) then waits too. The session polls the run again after each
/// write, which is when the backlog shrinks, so no waker is needed for it.
fn next_chunk<'a>(
    chunks: &'a mut mpsc::Receiver<Streamed>,
    outbox: &'a Outbox,
) -> impl Future<Output = Option<Streamed>> + 'a {
    poll_fn(move |cx| if outbox.own_backlog() { Poll::Pending } else { chunks.poll_recv(cx) })
}

fn to_payload(data: &Value) -> Utf8Bytes {
    Utf8Bytes::from(data.to_string())
}

/// Whether a read failed because the message exceeded the size limit.
fn is_too_big(err: axum::Error) -> bool {
    let inner = err.into_inner();
    matches!(inner.downcast_ref::<tungstenite::Error>(), Some(tungstenite::Error::Capacity(_)))
}

/// Feeds the batch's frames, then flushes once.
async fn write_batch(sink: &mut SplitSink<WebSocket, Message>, batch: &mut Vec<Utf8Bytes>) -> Result<(), axum::Error> {
    for text in batch.drain(..) {
        sink.feed(Message::Text(text)).await?;
    }
    sink.flush().await
}
