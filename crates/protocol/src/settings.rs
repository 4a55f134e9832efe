//! The protocol's settings, which the server fills from its configuration.

use std::time::Duration;

use serde::Serialize;

/// Who may send `user`, `channel` and `client` events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientEvents {
    /// Anyone, as jac-cloud does.
    Open,
    /// Signed-in connections only.
    Authenticated,
    /// Nobody: only walkers notify.
    Off,
}

/// Limits and choices of the wire protocol (each documented on its flag in the server's
/// `Config`).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Largest WebSocket message a client may send; larger ones close the connection.
    pub max_message_bytes: usize,
    /// Largest HTTP request body.
    pub max_body_bytes: usize,
    /// Chunks of a streamed reply the server holds for a client that reads slowly;
    /// past it the walker waits.
    pub stream_buffer: usize,
    /// What one connection's outbox holds before it is cut off as a slow consumer.
    pub queue_messages: usize,
    pub queue_bytes: usize,
    /// Time one write to a client may take.
    pub write_timeout: Duration,
    pub ping_interval: Duration,
    /// A connection silent (no frame, no pong) for this long is closed.
    pub silence_limit: Duration,
    /// Client events one WebSocket may send per second (a burst of twice that).
    pub ws_events_per_second: u32,
    /// Targets one client event may name.
    pub notify_targets: usize,
    pub client_events: ClientEvents,
    pub min_password_length: usize,
    /// The app's own user fields (see `user_fields`), and the bytes of JSON they may take.
    pub user_fields: Vec<walker_runtime::FieldSpec>,
    pub user_fields_bytes: usize,
    /// Origins browsers may call the HTTP routes from, their methods and headers (`*`:
    /// any), and the origins they may open a WebSocket from (`None`: any).
    pub cors_origins: Vec<String>,
    pub cors_methods: Vec<String>,
    pub cors_headers: Vec<String>,
    pub ws_origins: Option<Vec<String>>,
}
