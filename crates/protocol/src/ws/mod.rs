//! WebSocket sessions on `GET /websocket`: authentication, the connection frame, the
//! reader that handles client events strictly in order, and the writer that drains the
//! connection's outbox, pings, and enforces write timeouts.

mod events;
mod session;

use std::sync::Arc;

use std::time::Duration;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Query, State};
use axum::http::{Extensions, HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use walker_accounts::auth::Identity;
use walker_hub::new_client_id;

use crate::Shared;

/// Eagerly allocated read buffer per connection: small, so an idle connection costs
/// a few KB (tungstenite's default is 128 KiB); it grows for larger messages.
const READ_BUFFER_BYTES: usize = 1 << 10;
/// Frames are batched up to this many bytes before a write to the socket. The write
/// buffer itself is not capped: what may be queued is bounded by the outbox and the run
/// limits, and a cap below the largest reply would fail its write.
const WRITE_BUFFER_BYTES: usize = 8 << 10;

pub async fn upgrade(
    State(shared): State<Arc<Shared>>,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    extensions: Extensions,
    ws: WebSocketUpgrade,
) -> Response {
    if !crate::cors::websocket_allowed(&shared.settings, &headers) {
        tracing::info!(origin = ?headers.get(header::ORIGIN), "refused a WebSocket from an origin not allowed");
        return crate::rest::detail(StatusCode::FORBIDDEN, "Origin not allowed");
    }
    let retry_later =
        |status, message: &str| crate::rest::retry_after(status, Duration::ZERO, json!({ "detail": message }));
    let address = crate::rest::client_address(&extensions);
    let address_place = match address.map(|address| shared.addresses.admit(address)).transpose() {
        Ok(place) => place,
        Err(refusal) => {
            shared.metrics.rate_limited.with_label_values(&[refusal.limit()]).inc();
            return retry_later(StatusCode::TOO_MANY_REQUESTS, refusal.message()).into_response();
        }
    };
    let place = match shared.connections.as_ref().map(|quota| quota.admit()) {
        None => None,
        Some(Some(place)) => Some(place),
        Some(None) => return retry_later(StatusCode::SERVICE_UNAVAILABLE, "Too many connections").into_response(),
    };
    let last = |key: &str| params.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    // `?auth=` wins over the header, even when it is invalid: browsers cannot set headers.
    let token = last("auth").or_else(|| headers.get("authorization").and_then(|value| value.to_str().ok()));
    let identity = token.and_then(|token| shared.tokens.verify(token)).unwrap_or_else(Identity::anonymous);
    let channel_id = match last("channel_id") {
        Some(id) if !id.is_empty() => id.to_string(),
        _ => new_client_id(None),
    };
    let settings = &shared.settings;
    ws.read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_message_size(settings.max_message_bytes)
        .max_frame_size(settings.max_message_bytes)
        .on_upgrade(move |socket| {
            let sessions = shared.sessions.clone();
            // The connection keeps its place until its session ends.
            sessions.track_future(async move {
                session::run(shared, socket, identity, channel_id).await;
                drop((place, address_place));
            })
        })
}
