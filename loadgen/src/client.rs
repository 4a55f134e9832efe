//! WebSocket clients for the scenarios: small buffers (so thousands fit in memory), and
//! source addresses spread over 127.0.0.x to get past one address's port range.

use std::net::{Ipv4Addr, SocketAddr};

use anyhow::Context as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// Source addresses used round-robin: each has its own ephemeral port range (and its
/// own TIME_WAIT entries from earlier runs).
const SOURCE_ADDRESSES: usize = 64;

pub type Socket = WebSocketStream<TcpStream>;

/// Connects connection number `index` to `url` (a `ws://` loopback URL).
pub async fn connect(url: &str, index: usize) -> anyhow::Result<Socket> {
    let authority = url.strip_prefix("ws://").context("a ws:// URL")?;
    let host_port = authority.split('/').next().unwrap_or(authority);
    let server: SocketAddr = tokio::net::lookup_host(host_port).await?.next().context("resolving the server")?;
    let socket = TcpSocket::new_v4()?;
    let source = Ipv4Addr::new(127, 0, 0, 2 + (index % SOURCE_ADDRESSES) as u8);
    socket.bind(SocketAddr::from((source, 0)))?;
    let stream = socket.connect(server).await?;
    stream.set_nodelay(true)?;
    let config = WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0);
    let (socket, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(config)).await?;
    Ok(socket)
}

/// The next text frame; `None` when the connection ends.
pub async fn next_text(socket: &mut Socket) -> Option<Utf8Bytes> {
    while let Some(message) = socket.next().await {
        match message.ok()? {
            Message::Text(text) => return Some(text),
            Message::Close(_) => return None,
            _ => continue,
        }
    }
    None
}

/// The next text frame as JSON; `None` when the connection ends.
pub async fn next_json(socket: &mut Socket) -> Option<Value> {
    serde_json::from_str(&next_text(socket).await?).ok()
}

pub async fn send_json(socket: &mut Socket, value: &Value) -> anyhow::Result<()> {
    socket.send(Message::Text(value.to_string().into())).await?;
    Ok(())
}

/// A REST call that succeeds with a 2xx and a body read to the end.
pub async fn post(http: &reqwest::Client, url: &str, token: Option<&str>, body: &Value) -> bool {
    let mut request = http.post(url).json(body);
    if let Some(token) = token {
        request = request.header("authorization", token);
    }
    match request.send().await {
        Ok(response) => response.status().is_success() && response.bytes().await.is_ok(),
        Err(_) => false,
    }
}
