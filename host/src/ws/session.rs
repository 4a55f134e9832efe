//! One WebSocket connection: a reader that handles events in order (this task) and a
//! writer task that owns the socket's sending half.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::mpsc;

use super::events::{self, ClientEvent, WalkerEvent};
use crate::auth::{Identity, wire_root};
use crate::catalog::CallError;
use crate::config::ClientEvents;
use crate::frames::{self, Problem, close};
use crate::hub::{Connection, Outbox};
use crate::runtime::{Caller, Method, Transport};
use crate::server::{NodeAccess, Shared, check_node};

/// Frames sent to the socket per flush, at most: fairness between fan-out and the rest.
const WRITE_BATCH: usize = 64;

const INVALID_WALKER: &str = "Invalid request! Please use valid walker event!";

struct Session {
    shared: Arc<Shared>,
    connection: Arc<Connection>,
    identity: Identity,
}

pub async fn run(shared: Arc<Shared>, socket: WebSocket, identity: Identity, channel_id: String) {
    let config = &shared.config;
    let (outbox, outgoing) = Outbox::new(config.queue_messages, config.queue_bytes);
    let connection =
        Arc::new(Connection { client_id: super::new_client_id().into(), channel_id: channel_id.into(), outbox });
    let (sink, stream) = socket.split();
    let writer = tokio::spawn(write_loop(
        sink,
        outgoing,
        connection.clone(),
        Duration::from_millis(config.write_timeout_ms),
        Duration::from_secs(config.ping_interval_secs.max(1)),
    ));
    shared.hub.register(connection.clone(), &identity.root);
    tracing::debug!(client_id = &*connection.client_id, authenticated = identity.authenticated, "connected");

    let mut session = Session { shared, connection, identity };
    session.send(session.connection_frame());
    session.read_loop(stream).await;

    let Session { shared, connection, .. } = session;
    shared.hub.unregister(&connection.client_id);
    connection.outbox.close(close::NORMAL);
    let _ = writer.await;
    tracing::debug!(client_id = &*connection.client_id, "disconnected");
}

impl Session {
    fn send(&self, text: String) {
        self.connection.outbox.push(Utf8Bytes::from(text));
    }

    fn connection_frame(&self) -> String {
        frames::connection(&self.connection.client_id, &self.identity.root, &self.connection.channel_id)
    }

    async fn read_loop(&mut self, mut stream: SplitStream<WebSocket>) {
        let idle_limit = Duration::from_secs(self.shared.config.ping_timeout_secs.max(1));
        let closed = self.connection.outbox.closed().clone();
        loop {
            let next = tokio::select! {
                _ = closed.cancelled() => return,
                next = tokio::time::timeout(idle_limit, stream.next()) => next,
            };
            let message = match next {
                Err(_silent) => return self.connection.outbox.close(close::TIMEOUT),
                Ok(None) => return,
                Ok(Some(Err(err))) => {
                    if is_too_big(err) {
                        self.connection.outbox.close(close::TOO_BIG);
                    }
                    return;
                }
                Ok(Some(Ok(message))) => message,
            };
            match message {
                Message::Text(text) => self.handle_text(&text).await,
                Message::Binary(_) => self.send(frames::problem(
                    Problem { kind: "binary_frame", msg: "binary frames are not supported; send JSON text" },
                    None,
                )),
                Message::Close(_) => return,
                Message::Ping(_) | Message::Pong(_) => {}
            }
        }
    }

    async fn handle_text(&mut self, text: &str) {
        let event: Value = match serde_json::from_str(text) {
            Ok(event) => event,
            Err(err) => {
                let msg = format!("invalid JSON: {err}");
                return self.send(frames::problem(Problem { kind: "invalid_json", msg: &msg }, None));
            }
        };
        let req_id = events::req_id(&event);
        let req_id = req_id.as_ref();
        match events::parse(event) {
            Err(errors) => self.send(frames::invalid(&errors, req_id)),
            Ok(ClientEvent::Connection) => self.send(self.connection_frame()),
            Ok(ClientEvent::Walker(event)) => self.run_walker(event, req_id).await,
            Ok(ClientEvent::User { root_ids, data }) => {
                if self.may_send("user", req_id) {
                    self.shared.hub.send_users(&root_ids, &to_payload(&data));
                }
            }
            Ok(ClientEvent::Channel { channel_ids, data }) => {
                if self.may_send("channel", req_id) {
                    self.shared.hub.send_channels(&channel_ids, &to_payload(&data));
                }
            }
            Ok(ClientEvent::Client { client_ids, data }) => {
                if self.may_send("client", req_id) {
                    self.shared.hub.send_clients(&client_ids, &to_payload(&data));
                }
            }
            Ok(ClientEvent::ChangeUser { token }) => {
                self.identity = token
                    .filter(|token| !token.trim().is_empty())
                    .and_then(|token| self.shared.tokens.verify(&token))
                    .unwrap_or_else(Identity::anonymous);
                self.shared.hub.change_root(&self.connection.client_id, &self.identity.root);
                self.send(self.connection_frame());
            }
        }
    }

    /// Applies the client-event policy; a refusal is answered like a walker refusal.
    fn may_send(&self, event_type: &str, req_id: Option<&Value>) -> bool {
        let refusal = match self.shared.config.client_events {
            ClientEvents::Open => return true,
            ClientEvents::Authenticated if self.identity.authenticated => return true,
            ClientEvents::Authenticated => format!("Event {event_type} requires to be authenticated!"),
            ClientEvents::Off => format!("Event {event_type} is disabled on this server!"),
        };
        self.send(frames::refusal(event_type, &refusal, req_id));
        false
    }

    async fn run_walker(&self, event: WalkerEvent, req_id: Option<&Value>) {
        let refuse = |message: &str| self.send(frames::refusal("walker", message, req_id));
        let walker = match self.shared.catalog.walker(&event.walker) {
            Some(walker) if walker.spec().allows(Method::Websocket) => walker,
            _ => return refuse(INVALID_WALKER),
        };
        if walker.spec().auth && !self.identity.authenticated {
            return refuse(&format!("Event {} requires to be authenticated!", event.walker));
        }
        if let Some(node) = &event.node {
            match check_node(node, &self.identity) {
                NodeAccess::Allowed => {}
                NodeAccess::Invalid(error) => {
                    let mut error = error;
                    error.loc = ["event", "walker", "node"].map(str::to_string).to_vec();
                    return self.send(frames::invalid(&[error], req_id));
                }
                NodeAccess::Denied => return refuse(&format!("You don't have access on target entry {node}!")),
            }
        }
        let caller = Caller {
            client_id: Some(self.connection.client_id.to_string()),
            root_id: wire_root(&self.identity.root),
            channel_id: Some(self.connection.channel_id.to_string()),
            authenticated: self.identity.authenticated,
            transport: Transport::Websocket,
        };
        let notifier = self.shared.hub.clone();
        match self.shared.catalog.call(&walker, &caller, &event.context, notifier).await {
            Ok(reply) if event.response => self.send(frames::reply(&reply, req_id)),
            Ok(_) => {}
            Err(CallError::Invalid(errors)) => self.send(frames::invalid(&errors, req_id)),
            Err(CallError::Run(err)) => {
                let message = err.to_string();
                self.send(frames::problem(Problem::from_run(&err, &message), req_id))
            }
            Err(CallError::UnknownWalker) => refuse(INVALID_WALKER),
        }
    }
}

fn to_payload(data: &Value) -> Utf8Bytes {
    Utf8Bytes::from(data.to_string())
}

/// Whether a read failed because the message exceeded the size limit.
fn is_too_big(err: axum::Error) -> bool {
    let inner = err.into_inner();
    matches!(inner.downcast_ref::<tungstenite::Error>(), Some(tungstenite::Error::Capacity(_)))
}

async fn write_loop(
    mut sink: SplitSink<WebSocket, Message>,
    mut outgoing: mpsc::Receiver<Utf8Bytes>,
    connection: Arc<Connection>,
    write_timeout: Duration,
    ping_interval: Duration,
) {
    let outbox = &connection.outbox;
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + ping_interval, ping_interval);
    loop {
        let written = tokio::select! {
            biased;
            _ = outbox.closed().cancelled() => break,
            frame = outgoing.recv() => {
                let Some(first) = frame else { break };
                tokio::time::timeout(write_timeout, write_batch(&mut sink, first, &mut outgoing, outbox)).await
            }
            _ = ping.tick() => tokio::time::timeout(write_timeout, sink.send(Message::Ping(Default::default()))).await,
        };
        if !matches!(written, Ok(Ok(()))) {
            tracing::debug!(client_id = &*connection.client_id, "write failed or timed out; closing");
            outbox.close(close::TIMEOUT);
            return;
        }
    }
    if let Some(code) = outbox.close_code() {
        let frame = CloseFrame { code, reason: close::reason(code).into() };
        let _ = tokio::time::timeout(write_timeout, sink.send(Message::Close(Some(frame)))).await;
    }
}

/// Feeds `first` and whatever else is queued (up to `WRITE_BATCH`), then flushes once.
async fn write_batch(
    sink: &mut SplitSink<WebSocket, Message>,
    first: Utf8Bytes,
    outgoing: &mut mpsc::Receiver<Utf8Bytes>,
    outbox: &Outbox,
) -> Result<(), axum::Error> {
    let mut next = Some(first);
    let mut batched = 0;
    while let Some(text) = next.take() {
        let len = text.len();
        sink.feed(Message::Text(text)).await?;
        outbox.sent(len);
        batched += 1;
        if batched < WRITE_BATCH {
            next = outgoing.try_recv().ok();
        }
    }
    sink.flush().await
}
