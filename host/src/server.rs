//! The server: shared state, the router, and graceful shutdown.
//!
//! Shutdown: stop accepting, close every WebSocket with 1001 so clients reconnect
//! elsewhere, give sessions a moment to send their close frames, then return.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::accounts::Accounts;
use crate::auth::{Identity, Tokens};
use crate::catalog::Catalog;
use crate::config::Config;
use crate::frames::close;
use crate::graph::{EntryError, GraphService};
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::reload::{self, Watcher};
use crate::runtime::{FieldError, Runtime};
use crate::store::GraphStore;
use crate::{rest, ws};

/// How often idle warm instances past their time are dropped.
const WARM_SWEEP_PERIOD: Duration = Duration::from_secs(10);

/// How long shutdown waits for WebSocket sessions to close.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What every request handler shares.
pub struct Shared {
    pub config: Config,
    pub catalog: Arc<Catalog>,
    pub hub: Arc<Hub>,
    pub accounts: Arc<Accounts>,
    pub tokens: Tokens,
    pub metrics: Arc<Metrics>,
    /// WebSocket sessions, until their close handshake ends: shutdown waits for them.
    pub sessions: TaskTracker,
}

pub struct Server {
    shared: Arc<Shared>,
    /// CORS for the HTTP routes, checked when the server is made.
    cors: tower_http::cors::CorsLayer,
    /// Keeps hot reload running while the server lives.
    _watcher: Watcher,
}

impl Server {
    /// Opens the data directory and loads the walkers.
    pub async fn new(config: Config) -> anyhow::Result<Server> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating the data directory {}", config.data_dir.display()))?;
        std::fs::create_dir_all(&config.walkers_dir)
            .with_context(|| format!("creating the walkers directory {}", config.walkers_dir.display()))?;
        let cache_dir = config.cache_dir.clone().unwrap_or_else(|| config.data_dir.join("compiled"));
        let store = crate::store::open(&config.store()).await?;
        let graph = Arc::new(GraphService::new(store.clone() as Arc<dyn GraphStore>, config.graph_limits()));
        let runtime = Runtime::new(config.limits(), cache_dir, graph)
            .map_err(|err| anyhow::anyhow!("starting the walker runtime: {err:#}"))?;
        let runtime = Arc::new(runtime);
        runtime.sweep_warm_instances(WARM_SWEEP_PERIOD);
        let catalog = Arc::new(Catalog::new(runtime));
        let debounce = Duration::from_millis(config.reload_debounce_ms);
        let watcher = reload::watch_and_load(catalog.clone(), &config.walkers_dir, debounce).await?;
        let accounts = Arc::new(Accounts::new(store, config.hash_concurrency));
        let tokens =
            Tokens::new(config.token_secret.as_deref(), &config.data_dir, Duration::from_secs(config.token_ttl_secs))?;
        let cors = crate::cors::layer(&config)?;
        let hub = Arc::new(Hub::default());
        let metrics = Metrics::new(catalog.metrics(), &hub.fanout);
        let shared = Arc::new(Shared { config, catalog, hub, accounts, tokens, metrics, sessions: TaskTracker::new() });
        Ok(Server { shared, cors, _watcher: watcher })
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/websocket", get(ws::upgrade))
            .route("/user/register", post(rest::register))
            .route("/user/login", post(rest::login))
            .route("/healthz", get(rest::healthz))
            .route("/readyz", get(rest::readyz))
            .route("/openapi.json", get(crate::openapi::document))
            .route("/docs", get(crate::openapi::docs))
            .route("/playground", get(crate::openapi::playground))
            .route("/metrics", get(crate::metrics::scrape))
            .fallback(rest::walker)
            .method_not_allowed_fallback(rest::method_not_allowed)
            .layer(DefaultBodyLimit::max(self.shared.config.max_body_bytes))
            .layer(axum::middleware::map_response(rest::json_errors))
            .layer(self.cors.clone())
            .with_state(self.shared.clone())
    }

    /// Serves until `shutdown` completes, then shuts down gracefully.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let hub = self.shared.hub.clone();
        tracing::info!(addr = %listener.local_addr()?, "serving");
        axum::serve(listener, self.router())
            .with_graceful_shutdown(async move {
                shutdown.await;
                tracing::info!("shutting down");
                hub.close_all(close::GOING_AWAY);
            })
            .await?;
        self.shared.sessions.close();
        if tokio::time::timeout(SHUTDOWN_GRACE, self.shared.sessions.wait()).await.is_err() {
            tracing::warn!(
                sessions = self.shared.sessions.len(),
                "sessions still open after the shutdown grace period"
            );
        }
        Ok(())
    }
}

/// A server running in this process, for tests and benchmarks.
pub struct Running {
    pub addr: SocketAddr,
    pub shared: Arc<Shared>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    pub async fn start(config: Config) -> anyhow::Result<Running> {
        let listener = TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let server = Server::new(config).await?;
        let shared = server.shared.clone();
        let stop = CancellationToken::new();
        let task = tokio::spawn(server.serve(listener, stop.clone().cancelled_owned()));
        Ok(Running { addr, shared, stop, task })
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        self.stop.cancel();
        self.task.await?
    }
}

/// Whether a caller may run a walker on `node`.
pub enum NodeAccess {
    /// Yes: the node's full id.
    Allowed(String),
    /// Absent or unreadable (the same answer, so ids cannot be probed).
    Denied,
    /// The graph store could not be read: try again later.
    Unavailable,
    Invalid(FieldError),
}

/// Checks an entry node: well formed, present, and readable by the caller.
pub async fn check_node(shared: &Shared, node: &str, identity: &Identity) -> NodeAccess {
    match shared.catalog.runtime().graph().entry(&identity.root, node).await {
        Ok(id) => NodeAccess::Allowed(id),
        Err(EntryError::NoAccess) => NodeAccess::Denied,
        Err(EntryError::Unavailable) => NodeAccess::Unavailable,
        Err(EntryError::Malformed) => NodeAccess::Invalid(FieldError::new(
            "value_error",
            Vec::new(),
            format!("[{node}] is not a valid reference!"),
            Some(Value::String(node.to_string())),
        )),
    }
}
