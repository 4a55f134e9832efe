//! The server: its tenants (see `tenancy`), each tenant's routes and state, and
//! graceful shutdown.
//!
//! Shutdown: stop accepting; every WebSocket stops reading events, finishes the walker it
//! is running (up to its time limit) and sends its reply, then closes with 1001 so
//! clients reconnect elsewhere; in-flight HTTP requests finish; then return.

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

use crate::accounts::{Accounts, HashPool};
use crate::addresses::AddressLimits;
use crate::auth::{Identity, Tokens};
use crate::catalog::Catalog;
use crate::cluster::Cluster;
use crate::config::Config;
use crate::graph::EntryError;
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::runtime::{FieldError, Runtime};
use crate::tenancy::quotas::{ConnectionQuota, EventPace};
use crate::tenancy::{self, Common, Tenants};
use crate::throttle::{LoginThrottle, RegistrationThrottle};
use crate::{rest, ws};

/// How often idle warm instances past their time are dropped.
const WARM_SWEEP_PERIOD: Duration = Duration::from_secs(10);

/// How long shutdown waits for WebSocket sessions to close, past the run time limit.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What every request handler of one tenant shares.
pub struct Shared {
    /// The tenant these routes serve (`default` at the root paths), for logs and metrics.
    pub tenant: Arc<str>,
    pub config: Arc<Config>,
    pub catalog: Arc<Catalog>,
    pub hub: Arc<Hub>,
    pub accounts: Arc<Accounts>,
    pub tokens: Tokens,
    pub metrics: Arc<Metrics>,
    /// The tenant's quota of open WebSocket connections, when it has quotas.
    pub connections: Option<ConnectionQuota>,
    /// The pace of the tenant's client events, when it has quotas.
    pub events: Option<EventPace>,
    /// Failed logins per account and client address, and the waits they earn; kept
    /// when the tenant is reopened.
    pub logins: Arc<LoginThrottle>,
    /// Registrations per client address, for the whole server.
    pub registrations: Arc<RegistrationThrottle>,
    /// Connections per client address, for the whole server.
    pub addresses: Arc<AddressLimits>,
    /// WebSocket sessions, until their close handshake ends: shutdown waits for them.
    pub sessions: TaskTracker,
}

pub struct Server {
    tenants: Arc<Tenants>,
}

impl Server {
    /// Opens the data directory and the tenants' stores, and starts loading walkers.
    pub async fn new(config: Config) -> anyhow::Result<Server> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating the data directory {}", config.data_dir.display()))?;
        let cache_dir = config.cache_dir.clone().unwrap_or_else(|| config.data_dir.join("compiled"));
        let runtime = Runtime::new(config.limits(), cache_dir)
            .map_err(|err| anyhow::anyhow!("starting the walker runtime: {err:#}"))?;
        let runtime = Arc::new(runtime);
        runtime.sweep_warm_instances(WARM_SWEEP_PERIOD);
        let cors = crate::cors::layer(&config)?;
        let hashing = HashPool::new(config.hash_concurrency, config.hash_queue);
        let registrations = Arc::new(RegistrationThrottle::new(config.registrations_per_minute));
        let addresses = AddressLimits::new(config.address_connections_per_second, config.address_connections);
        let cluster = config.cluster().map(|cluster| Cluster::start(&cluster)).transpose()?;
        let sessions = TaskTracker::new();
        let config = Arc::new(config);
        let common = Common { config, runtime, sessions, cors, hashing, registrations, addresses, cluster };
        Ok(Server { tenants: Tenants::open(common).await? })
    }

    /// The default tenant's state.
    pub fn shared(&self) -> Arc<Shared> {
        self.tenants.default_tenant().shared.clone()
    }

    pub fn tenants(&self) -> &Arc<Tenants> {
        &self.tenants
    }

    /// Every request goes to its tenant's routes (see `tenancy`).
    pub fn router(&self) -> Router {
        Router::new().fallback(tenancy::dispatch).with_state(self.tenants.clone())
    }

    /// Serves until `shutdown` completes, then shuts down gracefully.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let tenants = self.tenants.clone();
        tracing::info!(addr = %listener.local_addr()?, "serving");
        // Client addresses, for login throttling and per-address connection limits.
        axum::serve(listener, self.router().into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move {
                shutdown.await;
                tracing::info!("shutting down");
                for tenant in tenants.all() {
                    tenant.shared.hub.drain_all();
                }
            })
            .await?;
        let common = self.tenants.common();
        let sessions = &common.sessions;
        sessions.close();
        // Runs already started may take up to their time limit.
        let grace = common.runtime.limits().run_time + SHUTDOWN_GRACE;
        if tokio::time::timeout(grace, sessions.wait()).await.is_err() {
            tracing::warn!(sessions = sessions.len(), "sessions still open after the shutdown grace period");
        }
        Ok(())
    }
}

/// One tenant's routes, with its state.
pub fn tenant_router(shared: Arc<Shared>, cors: tower_http::cors::CorsLayer) -> Router {
    Router::new()
        .route("/websocket", get(ws::upgrade))
        .route("/user/register", post(rest::register))
        .route("/user/login", post(rest::login))
        .route("/healthz", get(rest::healthz))
        .route("/readyz", get(rest::readyz))
        .route("/openapi.json", get(crate::openapi::document))
        .route("/docs", get(crate::openapi::docs))
        .route("/playground", get(crate::openapi::playground))
        .fallback(rest::walker)
        .method_not_allowed_fallback(rest::method_not_allowed)
        .layer(DefaultBodyLimit::max(shared.config.max_body_bytes))
        .layer(axum::middleware::map_response(rest::json_errors))
        .layer(cors)
        .with_state(shared)
}

/// A server running in this process, for tests and benchmarks.
pub struct Running {
    pub addr: SocketAddr,
    /// The default tenant's state.
    pub shared: Arc<Shared>,
    pub tenants: Arc<Tenants>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    pub async fn start(config: Config) -> anyhow::Result<Running> {
        let listener = TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let server = Server::new(config).await?;
        let (shared, tenants) = (server.shared(), server.tenants.clone());
        let stop = CancellationToken::new();
        let task = tokio::spawn(server.serve(listener, stop.clone().cancelled_owned()));
        Ok(Running { addr, shared, tenants, stop, task })
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
    match shared.catalog.env().graph.entry(&identity.root, node).await {
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
