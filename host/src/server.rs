//! The server: the runtime, the shared limits and the cluster, its tenants (see
//! `tenancy`), and graceful shutdown.
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
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use walker_accounts::HashPool;
use walker_accounts::throttle::RegistrationThrottle;
use walker_cluster::Cluster;
use walker_protocol::Shared;
use walker_protocol::addresses::AddressLimits;
use walker_runtime::Runtime;
use walker_runtime::jac::JacBuilder;

use crate::config::Config;
use crate::tenancy::{self, Common, Tenants};

/// How often idle warm instances past their time are dropped.
const WARM_SWEEP_PERIOD: Duration = Duration::from_secs(10);

/// How long shutdown waits for WebSocket sessions to close, past the run time limit.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

pub struct Server {
    tenants: Arc<Tenants>,
}

impl Server {
    /// Opens the data directory and the tenants' stores, and starts loading walkers.
    pub async fn new(config: Config) -> anyhow::Result<Server> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating the data directory {}", config.data_dir.display()))?;
        let cache_dir = config.cache_dir.clone().unwrap_or_else(|| config.data_dir.join("compiled"));
        let jac = Arc::new(JacBuilder::new(
            config.jac_toolchain(),
            cache_dir.join("jac"),
            Duration::from_secs(config.jac_build_secs),
        ));
        let runtime = Runtime::new(config.limits(), cache_dir)
            .map_err(|err| anyhow::anyhow!("starting the walker runtime: {err:#}"))?;
        let runtime = Arc::new(runtime);
        runtime.sweep_warm_instances(WARM_SWEEP_PERIOD);
        let settings = Arc::new(config.settings());
        let cors = walker_protocol::cors::layer(&settings)?;
        let hashing = HashPool::new(config.hash_concurrency, config.hash_queue);
        let registrations = Arc::new(RegistrationThrottle::new(config.registrations_per_minute));
        let addresses = AddressLimits::new(config.address_connections_per_second, config.address_connections);
        let cluster = config.cluster().map(|cluster| Cluster::start(&cluster)).transpose()?;
        let sessions = TaskTracker::new();
        let config = Arc::new(config);
        let common =
            Common { config, settings, runtime, jac, sessions, cors, hashing, registrations, addresses, cluster };
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
