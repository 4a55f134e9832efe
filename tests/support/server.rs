//! A real server on loopback for protocol tests, with WebSocket and HTTP clients.

use std::path::Path;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Bytes, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use walker_host::config::Config;
use walker_host::server::Running;

use super::{chat_wasm, fixture};

/// How long a client waits for a frame it expects.
const RECEIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a test server keeps accounts and the graph.
#[derive(Debug, Clone)]
pub struct Backend {
    /// A PostgreSQL database of its own, or SQLite in the data directory.
    pub database: Option<String>,
}

impl Backend {
    pub fn sqlite() -> Backend {
        Backend { database: None }
    }

    /// A fresh database on the test process's PostgreSQL server.
    pub async fn postgres() -> Backend {
        Backend { database: Some(super::postgres::shared().database().await) }
    }

    pub fn configure(&self, config: &mut Config) {
        config.database = self.database.clone().map(Into::into);
    }
}

pub struct TestServer {
    pub running: Running,
    pub walkers: tempfile::TempDir,
    pub data: tempfile::TempDir,
    pub http: reqwest::Client,
}

impl TestServer {
    /// The example walkers plus the hostile test walkers, on default settings.
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(configure: impl FnOnce(&mut Config)) -> TestServer {
        let walkers = tempfile::tempdir().unwrap();
        std::fs::copy(chat_wasm(), walkers.path().join("chat.wasm")).unwrap();
        std::fs::copy(fixture("hostile.wasm"), walkers.path().join("hostile.wasm")).unwrap();
        let data = tempfile::tempdir().unwrap();
        Self::start_in(walkers, data, configure).await
    }

    pub async fn start_in(
        walkers: tempfile::TempDir,
        data: tempfile::TempDir,
        configure: impl FnOnce(&mut Config),
    ) -> TestServer {
        // Server logs, when RUST_LOG asks for them (errors only otherwise).
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let mut config = Config::with_dirs(walkers.path().to_path_buf(), data.path().to_path_buf());
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.reload_debounce_ms = 20;
        config.walker_time_ms = 300;
        // Tests sign up many users from one address.
        config.registrations_per_minute = 100_000;
        configure(&mut config);
        let running = Running::start(config).await.unwrap();
        // It listens at once and loads walkers in the background: tests start once loaded.
        for tenant in running.tenants.all() {
            let catalog = &tenant.shared.catalog;
            super::wait_until(catalog, || async { catalog.readiness().ready }).await;
        }
        TestServer { running, walkers, data, http: reqwest::Client::new() }
    }

    /// A server of Jac apps alone (`jac-<app>.wasm`, built by `scripts/build-jac.sh`),
    /// with jac-cloud's suite's 6-character passwords, once `walker` is served.
    pub async fn start_jac_apps(apps: &[&str], walker: &str) -> TestServer {
        let (walkers, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let server = Self::start_in(walkers, data, |config| {
            // An 18 MB component takes a while to compile: shared between servers.
            config.cache_dir = Some(super::repo().join("target/test-compiled"));
            config.walker_time_ms = 5_000;
            config.min_password_length = 6;
        })
        .await;
        for app in apps {
            let file = format!("jac-{app}.wasm");
            super::deploy(&fixture(&file), &server.walkers_dir().join(&file));
        }
        let catalog = &server.running.shared.catalog;
        let served = || async { catalog.walker(walker).is_some() };
        super::wait_until_within(catalog, Duration::from_secs(300), served).await;
        server
    }

    /// Tenants as `tenants_toml` declares them (the file is `tenants_file()`), each
    /// serving `chat.wasm` and the fixtures `fixtures` lists for it as `(tenant, file)`;
    /// the default tenant serves `chat.wasm` and `hostile.wasm`.
    pub async fn start_tenants(tenants_toml: &str, fixtures: &[(&str, &str)]) -> TestServer {
        Self::start_tenants_with(tenants_toml, fixtures, |_| {}).await
    }

    pub async fn start_tenants_with(
        tenants_toml: &str,
        fixtures: &[(&str, &str)],
        configure: impl FnOnce(&mut Config),
    ) -> TestServer {
        let walkers = tempfile::tempdir().unwrap();
        std::fs::copy(chat_wasm(), walkers.path().join("chat.wasm")).unwrap();
        std::fs::copy(fixture("hostile.wasm"), walkers.path().join("hostile.wasm")).unwrap();
        let declared: toml::Table = toml::from_str(tenants_toml).unwrap();
        for tenant in declared.get("tenants").and_then(toml::Value::as_table).into_iter().flat_map(|t| t.keys()) {
            std::fs::create_dir(walkers.path().join(tenant)).unwrap();
            std::fs::copy(chat_wasm(), walkers.path().join(tenant).join("chat.wasm")).unwrap();
        }
        for (tenant, file) in fixtures {
            let name = file.split('-').next().unwrap().trim_end_matches(".wasm");
            std::fs::copy(fixture(file), walkers.path().join(tenant).join(format!("{name}.wasm"))).unwrap();
        }
        let data = tempfile::tempdir().unwrap();
        let tenants_file = data.path().join("tenants.toml");
        std::fs::write(&tenants_file, tenants_toml).unwrap();
        Self::start_in(walkers, data, |config| {
            config.tenants_file = Some(tenants_file);
            configure(config);
        })
        .await
    }

    pub fn tenants_file(&self) -> std::path::PathBuf {
        self.data.path().join("tenants.toml")
    }

    /// Stops the server, keeping its directories.
    pub async fn stop(self) -> (tempfile::TempDir, tempfile::TempDir) {
        self.running.stop().await.unwrap();
        (self.walkers, self.data)
    }

    /// Waits until `count` walker instance slots are in use: runs that proved to be under way.
    pub async fn until_slots_in_use(&self, count: usize) {
        let runtime = &self.running.tenants.common().runtime;
        let running = super::eventually(Duration::from_secs(10), || runtime.slots_in_use() == count).await;
        assert!(running, "{count} runs under way (in use: {})", runtime.slots_in_use());
    }

    /// `GET /metrics` of the default tenant (the server's and every tenant's), as text.
    pub async fn metrics(&self) -> String {
        self.http.get(self.url("/metrics")).send().await.unwrap().text().await.unwrap()
    }

    /// The default tenant's WebSocket closes with 4000, by cause: (write, silence).
    pub fn timeout_closes(&self) -> (u64, u64) {
        let closes = &self.running.shared.metrics.timeout_closes;
        (closes.with_label_values(&["write"]).get(), closes.with_label_values(&["silence"]).get())
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.running.addr)
    }

    pub fn ws_url(&self, query: &str) -> String {
        format!("ws://{}/websocket{query}", self.running.addr)
    }

    pub fn walkers_dir(&self) -> &Path {
        self.walkers.path()
    }

    /// Connects and reads the connection frame.
    pub async fn connect(&self, query: &str) -> (Client, Value) {
        self.connect_with(query, None).await
    }

    pub async fn connect_with(&self, query: &str, authorization: Option<&str>) -> (Client, Value) {
        self.connect_to(&self.ws_url(query), authorization).await
    }

    /// Connects to a WebSocket URL of this server (a tenant's, say).
    pub async fn connect_to(&self, url: &str, authorization: Option<&str>) -> (Client, Value) {
        let mut request = url.into_client_request().unwrap();
        if let Some(value) = authorization {
            request.headers_mut().insert("authorization", value.parse().unwrap());
        }
        let (socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        let mut client = Client { socket };
        let hello = client.recv().await;
        assert_eq!(hello["type"], "connection", "first frame: {hello}");
        (client, hello)
    }

    pub async fn post(&self, path: &str, body: Value, token: Option<&str>) -> (u16, Value) {
        let mut request = self.http.post(self.url(path)).json(&body);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        read(request.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        read(self.http.get(self.url(path)).send().await.unwrap()).await
    }

    /// Registers and logs in a new user: its token and root (24 hex). It has a `name`
    /// (jac-cloud's test app's `User` requires one; servers that declare none ignore it).
    pub async fn user(&self, email: &str) -> (String, String) {
        let credentials = json!({"email": email, "password": "correct horse", "name": "user"});
        let (status, body) = self.post("/user/register", credentials.clone(), None).await;
        assert_eq!(status, 201, "{body}");
        let (status, body) = self.post("/user/login", credentials, None).await;
        assert_eq!(status, 200, "{body}");
        (body["token"].as_str().unwrap().to_string(), body["user"]["root_id"].as_str().unwrap().to_string())
    }
}

pub async fn read(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
}

pub struct Client {
    pub socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Client {
    pub async fn send(&mut self, event: Value) {
        self.socket.send(Message::Text(event.to_string().into())).await.unwrap();
    }

    pub async fn send_raw(&mut self, message: Message) {
        self.socket.send(message).await.unwrap();
    }

    /// The next text frame, as JSON.
    pub async fn recv(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(RECEIVE_TIMEOUT, self.socket.next())
                .await
                .expect("a frame in time")
                .expect("the connection is open")
                .expect("a valid frame");
            match message {
                Message::Text(text) => return serde_json::from_str(&text).unwrap(),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    /// Sends an event and returns the first frame that answers it.
    pub async fn call(&mut self, event: Value) -> Value {
        self.send(event).await;
        self.recv().await
    }

    /// Asserts nothing arrives: sends a `connection` event and checks that its M1
    /// is the next frame, which proves nothing was queued before it.
    pub async fn expect_nothing_queued(&mut self) {
        let frame = self.call(json!({"type": "connection"})).await;
        assert_eq!(frame["type"], "connection", "unexpected frame {frame}");
    }

    /// Reads until the server closes; returns its close frame.
    pub async fn closed(&mut self) -> Option<CloseFrame> {
        loop {
            match tokio::time::timeout(RECEIVE_TIMEOUT, self.socket.next()).await.expect("closed in time") {
                Some(Ok(Message::Close(frame))) => return frame,
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    }

    pub async fn send_binary(&mut self, bytes: &'static [u8]) {
        self.send_raw(Message::Binary(Bytes::from_static(bytes))).await;
    }
}
