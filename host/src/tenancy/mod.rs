//! Tenants: isolated deployments served by one process. Each has its own walkers
//! (`<walkers-dir>/<name>/`), accounts, token key, graph store, hub and metrics; they
//! share the engine, the instance pool and the compiled-code cache (by content hash).
//!
//! Routing decides the tenant, never a payload: `/t/<name>/…` reaches tenant `name`, a
//! request whose Host is one of a tenant's `hosts` reaches it at the root paths, and
//! anything else goes to the `default` tenant, which serves the top-level `*.wasm` files,
//! so a deployment without a tenants file works as before. An unknown tenant, or a Host
//! and a path that name different tenants, is a 404 like any unknown route.

pub mod file;
pub mod quotas;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use arc_swap::ArcSwap;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::Response;
use tokio_util::task::TaskTracker;
use tower::ServiceExt as _;
use tracing::Instrument as _;

pub use file::{DEFAULT_TENANT, TenantSettings, TenantsFile};
use quotas::TenantQuotas;
use walker_accounts::auth::{self, Tokens};
use walker_accounts::throttle::{LoginThrottle, RegistrationThrottle};
use walker_accounts::{Accounts, HashPool};
use walker_cluster::Cluster;
use walker_core::metrics::Collectors;
use walker_graph::GraphService;
use walker_hub::{Bus, Hub, close};
use walker_protocol::addresses::AddressLimits;
use walker_protocol::quotas::{ConnectionQuota, EventPace};
use walker_protocol::{HubNotifier, SessionMetrics, Settings, Shared, tenant_router};
use walker_runtime::catalog::Catalog;
use walker_runtime::jac::JacBuilder;
use walker_runtime::reload::{self, Watcher};
use walker_runtime::{RunQuota, Runtime, Share, Vars};
use walker_store::{self as store, GraphStore};

use crate::config::{Config, Secret};
use crate::metrics::{self, Metrics};

/// What every tenant shares.
pub struct Common {
    pub config: Arc<Config>,
    /// The protocol's part of `config`.
    pub settings: Arc<Settings>,
    /// One engine and instance pool: slots are shared, compiled code is cached by hash.
    pub runtime: Arc<Runtime>,
    /// Builds every tenant's `.jac` files: one place per core, one cache.
    pub jac: Arc<JacBuilder>,
    /// Every tenant's WebSocket sessions, which shutdown waits for.
    pub sessions: TaskTracker,
    pub cors: tower_http::cors::CorsLayer,
    /// Password hashing for every tenant's accounts, bounded once for the server and
    /// granted to tenants in turn.
    pub hashing: Arc<HashPool>,
    /// Registrations per client address, counted over every tenant.
    pub registrations: Arc<RegistrationThrottle>,
    /// Connections per client address, counted over every tenant.
    pub addresses: Arc<AddressLimits>,
    /// The bus to other instances, in cluster mode.
    pub cluster: Option<Arc<Cluster>>,
}

/// What a tenant is opened with: a change in the tenants file reopens it.
/// Never logged: `vars` may hold secrets.
#[derive(Clone, Default, PartialEq)]
struct Opened {
    own_code_cache: bool,
    /// `None`: the default tenant, which has none.
    quotas: Option<TenantQuotas>,
    vars: Vars,
    metrics_token: Option<String>,
}

impl Opened {
    fn declared(file: &TenantsFile, settings: &TenantSettings) -> Opened {
        Opened {
            own_code_cache: settings.own_code_cache,
            quotas: Some(file.quotas(settings)),
            vars: settings.vars.clone(),
            metrics_token: settings.metrics_token.clone(),
        }
    }
}

/// One tenant being served.
pub struct Tenant {
    pub shared: Arc<Shared>,
    /// Its metrics, each labelled with its name.
    pub metrics: Arc<Metrics>,
    opened: Opened,
    /// Its routes, with its state.
    router: Router,
    /// Keeps its walkers directory watched while it is served.
    _watcher: Watcher,
}

impl Tenant {
    /// The token its own metrics require, from the tenants file.
    pub fn metrics_token(&self) -> Option<&str> {
        self.opened.metrics_token.as_deref()
    }

    /// Opens a tenant's store and starts loading its walkers; a tenant reopened keeps
    /// the login backoffs of the `previous` one.
    async fn open(common: &Common, name: &str, opened: Opened, previous: Option<&Tenant>) -> anyhow::Result<Tenant> {
        let config = &common.config;
        let (data_dir, schema) = data_location(config, name)?;
        let walkers_dir =
            if name == DEFAULT_TENANT { config.walkers_dir.clone() } else { config.walkers_dir.join(name) };
        for dir in [&walkers_dir, &data_dir] {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let mut store_config = config.store();
        store_config.data_dir = &data_dir;
        store_config.schema = schema.as_deref();
        store_config.quotas.store = opened.quotas.and_then(|quotas| quotas.storage_mib).map(|mib| store::Quota {
            nodes: i64::MAX,
            edges: i64::MAX,
            bytes: (mib as i64).saturating_mul(1 << 20),
        });
        let store = store::open(&store_config).await.with_context(|| format!("opening tenant {name}'s store"))?;
        let graph = Arc::new(GraphService::new(store.clone() as Arc<dyn GraphStore>, config.graph_limits()));
        let mut catalog =
            Catalog::new(common.runtime.clone(), graph).with_tenant(name).with_jac_builder(common.jac.clone());
        if opened.own_code_cache {
            let cache = common.runtime.code_cache(data_dir.join("compiled"));
            catalog = catalog.with_code_cache(cache.map_err(|err| anyhow::anyhow!("{err:#}"))?);
        }
        if let Some(quotas) = &opened.quotas {
            catalog = catalog
                .with_run_quota(RunQuota::new(
                    quotas.runs_per_second,
                    quotas.concurrent_runs,
                    Duration::from_millis(config.walker_slot_wait_ms),
                ))
                .with_share(
                    Share::new()
                        .with_cpu_budget(quotas.cpu_ms_per_second)
                        .with_memory_budget(quotas.memory_mib.saturating_mul(1 << 20)),
                );
        }
        let catalog = Arc::new(catalog.with_vars(opened.vars.clone()));
        let debounce = Duration::from_millis(config.reload_debounce_ms);
        let watcher = reload::watch_and_load(catalog.clone(), &walkers_dir, debounce).await?;
        let secret = config.token_secret.as_ref().map(Secret::expose).filter(|secret| !secret.is_empty());
        if let Some(secret) = secret {
            auth::check_token_secret(secret).map_err(anyhow::Error::msg)?;
        }
        let secret = match secret {
            Some(master) if name != DEFAULT_TENANT => Some(auth::tenant_secret(master, name)),
            secret => secret.map(str::to_string),
        };
        let tokens = Tokens::new(secret.as_deref(), &data_dir, Duration::from_secs(config.token_ttl_secs))?;
        let cluster = common.cluster.clone().map(|cluster| (cluster as Arc<dyn Bus>, Arc::from(name)));
        let hub = Hub::new(opened.quotas.map(|quotas| quotas.deliveries_per_second), cluster);
        let sessions_metrics = SessionMetrics::default();
        let metrics = Metrics::new(name, catalog.metrics(), &hub.fanout, &sessions_metrics);
        let shared = Arc::new(Shared {
            tenant: Arc::from(name),
            settings: common.settings.clone(),
            metrics: sessions_metrics,
            accounts: Arc::new(Accounts::new(store, common.hashing.lane())),
            catalog,
            notifier: Arc::new(HubNotifier(hub.clone())),
            hub,
            tokens,
            connections: opened.quotas.map(|quotas| ConnectionQuota::new(quotas.connections)),
            events: opened.quotas.map(|quotas| EventPace::new(quotas.events_per_second)),
            logins: previous.map(|tenant| tenant.shared.logins.clone()).unwrap_or_else(|| {
                let max_backoff = Duration::from_secs(config.login_max_backoff_secs);
                Arc::new(LoginThrottle::new(config.login_free_failures, max_backoff, config.login_tarpit_places))
            }),
            registrations: common.registrations.clone(),
            sessions: common.sessions.clone(),
            addresses: common.addresses.clone(),
            openapi: Default::default(),
        });
        let router = tenant_router(shared.clone(), common.cors.clone());
        Ok(Tenant { router, shared, metrics, opened, _watcher: watcher })
    }
}

/// Where tenant `name` keeps its data: its directory (SQLite, token key, own code cache)
/// and, on PostgreSQL, its schema (`None`: the connection's default, for the default
/// tenant).
pub fn data_location(config: &Config, name: &str) -> anyhow::Result<(std::path::PathBuf, Option<String>)> {
    if name == DEFAULT_TENANT {
        return Ok((config.data_dir.clone(), None));
    }
    file::check_name(name)?;
    Ok((config.data_dir.join("tenants").join(name), Some(format!("tenant_{}", name.replace('-', "_")))))
}

/// The tenants served now, swapped whole when the tenants file changes.
#[derive(Default)]
struct Table {
    /// By name, the default tenant included.
    by_name: HashMap<String, Arc<Tenant>>,
    /// Tenant names by host.
    by_host: HashMap<String, String>,
}

pub struct Tenants {
    common: Common,
    table: ArcSwap<Table>,
    /// Serializes changes, each built on the table before it.
    changes: tokio::sync::Mutex<()>,
    /// Keeps the tenants file watched; set once the tenants exist.
    file_watcher: std::sync::Mutex<Option<file::FileWatcher>>,
    /// Edits of the tenants file left unapplied because the file was not valid.
    pub rejected_edits: prometheus::IntCounter,
}

impl Tenants {
    /// Opens the default tenant and those of `--tenants-file`, which is then watched:
    /// editing it adds and removes tenants. A tenant that fails to open at start is an
    /// error; on a later edit it is logged and left out.
    pub async fn open(common: Common) -> anyhow::Result<Arc<Tenants>> {
        let declared = match &common.config.tenants_file {
            Some(path) => TenantsFile::read(path)?,
            None => TenantsFile::default(),
        };
        let default = Arc::new(Tenant::open(&common, DEFAULT_TENANT, Opened::default(), None).await?);
        let mut by_name = HashMap::from([(DEFAULT_TENANT.to_string(), default)]);
        for (name, settings) in &declared.tenants {
            let opened = Opened::declared(&declared, settings);
            by_name.insert(name.clone(), Arc::new(Tenant::open(&common, name, opened, None).await?));
        }
        let table = Table { by_name, by_host: hosts(&declared) };
        let tenants = Arc::new(Tenants {
            common,
            table: ArcSwap::from_pointee(table),
            changes: Default::default(),
            file_watcher: Default::default(),
            rejected_edits: prometheus::IntCounter::new(
                "walker_host_tenants_file_rejected_total",
                "Edits of the tenants file not applied because it was not valid",
            )
            .expect("a valid metric"),
        });
        if let Some(path) = tenants.common.config.tenants_file.clone() {
            let debounce = Duration::from_millis(tenants.common.config.reload_debounce_ms);
            let (watcher, mut changed) = file::watch(&path, debounce)?;
            *tenants.file_watcher.lock().unwrap_or_else(|p| p.into_inner()) = Some(watcher);
            let weak = Arc::downgrade(&tenants);
            tokio::spawn(async move {
                while changed.recv().await.is_some() {
                    let Some(tenants) = weak.upgrade() else { break };
                    match TenantsFile::read(&path) {
                        Ok(declared) => tenants.apply(declared).await,
                        Err(err) => {
                            tenants.rejected_edits.inc();
                            tracing::error!("tenants file not applied, the tenants stay as they were: {err:#}");
                        }
                    }
                }
            });
        }
        Ok(tenants)
    }

    pub fn common(&self) -> &Common {
        &self.common
    }

    pub fn get(&self, name: &str) -> Option<Arc<Tenant>> {
        self.table.load().by_name.get(name).cloned()
    }

    pub fn default_tenant(&self) -> Arc<Tenant> {
        self.get(DEFAULT_TENANT).expect("the default tenant is always served")
    }

    /// Every tenant served now, by name.
    pub fn all(&self) -> Vec<Arc<Tenant>> {
        let mut all: Vec<Arc<Tenant>> = self.table.load().by_name.values().cloned().collect();
        all.sort_by(|a, b| a.shared.tenant.cmp(&b.shared.tenant));
        all
    }

    /// Serves the tenants `declared` names (and the default one): new ones are opened,
    /// those whose quotas, variables or code cache changed are opened again, hosts change
    /// at once. A tenant removed or reopened stops being routed, and its sockets are
    /// closed with 1001 (clients reconnect, to the reopened tenant).
    async fn apply(&self, declared: TenantsFile) {
        let _change = self.changes.lock().await;
        let current = self.table.load_full();
        let mut by_name = HashMap::from([(DEFAULT_TENANT.to_string(), self.default_tenant())]);
        for (name, settings) in &declared.tenants {
            let opened = Opened::declared(&declared, settings);
            let existing = current.by_name.get(name);
            let tenant = match existing {
                Some(tenant) if tenant.opened == opened => tenant.clone(),
                _ => match Tenant::open(&self.common, name, opened, existing.map(|tenant| &**tenant)).await {
                    Ok(tenant) => {
                        tracing::info!(tenant = name, "tenant opened");
                        Arc::new(tenant)
                    }
                    Err(err) => {
                        tracing::error!(tenant = name, "tenant not opened, kept as it was: {err:#}");
                        let Some(existing) = existing else { continue };
                        existing.clone()
                    }
                },
            };
            by_name.insert(name.clone(), tenant);
        }
        let by_host = hosts(&declared).into_iter().filter(|(_, name)| by_name.contains_key(name)).collect();
        let table = Arc::new(Table { by_name, by_host });
        self.table.store(table.clone());
        for (name, tenant) in &current.by_name {
            if !table.by_name.get(name).is_some_and(|kept| Arc::ptr_eq(kept, tenant)) {
                tracing::info!(tenant = name, "tenant closed");
                tenant.shared.hub.close_all(close::GOING_AWAY);
            }
        }
    }

    /// The tenant a request is for, and how many bytes of its path are the `/t/<name>`
    /// prefix. The Host header is read only when some tenant has hosts.
    fn route(&self, request: &Request) -> Option<(Arc<Tenant>, usize)> {
        let table = self.table.load();
        let host = if table.by_host.is_empty() { None } else { host_name(request) };
        let by_host = host.and_then(|host| table.by_host.get(&host));
        let path = request.uri().path();
        let Some(rest) = path.strip_prefix("/t/") else {
            let name = by_host.map_or(DEFAULT_TENANT, String::as_str);
            return Some((table.by_name.get(name)?.clone(), 0));
        };
        let name = rest.split('/').next().unwrap_or_default();
        if name == DEFAULT_TENANT || by_host.is_some_and(|owner| owner != name) {
            return None;
        }
        Some((table.by_name.get(name)?.clone(), "/t/".len() + name.len()))
    }
}

fn hosts(declared: &TenantsFile) -> HashMap<String, String> {
    (declared.tenants.iter())
        .flat_map(|(name, settings)| settings.hosts.iter().map(move |host| (host.clone(), name.clone())))
        .collect()
}

/// The request's host name: lower case, without a port.
fn host_name(request: &Request) -> Option<String> {
    let host = request.headers().get(header::HOST).and_then(|value| value.to_str().ok());
    let host = host.or_else(|| request.uri().host())?;
    let name = match host.strip_prefix('[') {
        Some(ipv6) => ipv6.split(']').next().unwrap_or_default(),
        None => host.split(':').next().unwrap_or_default(),
    };
    Some(name.to_ascii_lowercase())
}

/// Every request: finds its tenant and hands it to that tenant's routes, with the
/// `/t/<name>` prefix taken off; `/metrics` is answered here, since the default tenant's
/// shows every tenant's.
pub async fn dispatch(State(tenants): State<Arc<Tenants>>, mut request: Request) -> Response {
    let not_found = || walker_protocol::rest::detail(StatusCode::NOT_FOUND, "Not Found");
    let Some((tenant, prefix)) = tenants.route(&request) else { return not_found() };
    if &request.uri().path()[prefix..] == "/metrics" {
        return scrape(&tenants, &tenant, request.headers());
    }
    if prefix > 0 {
        let inner = &request.uri().path()[prefix..];
        let rewritten = match request.uri().query() {
            Some(query) => format!("{inner}?{query}"),
            None => inner.to_string(),
        };
        match rewritten.parse::<Uri>() {
            Ok(uri) => *request.uri_mut() = uri,
            Err(_) => return not_found(),
        }
    }
    let span = tracing::info_span!("request", tenant = &*tenant.shared.tenant);
    let response = tenant.router.clone().oneshot(request).instrument(span).await;
    match response {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// `GET /metrics`: the default tenant's shows the server's and every tenant's metrics,
/// behind the operator's `--metrics-token` when set; another tenant's
/// (`/t/<name>/metrics`) only its own, behind its `metrics_token` from the tenants file
/// when set, else the operator's: one tenant's token never opens another's metrics.
fn scrape(tenants: &Tenants, tenant: &Tenant, headers: &HeaderMap) -> Response {
    let common = tenants.common();
    let operators = common.config.metrics_token.as_ref().map(Secret::expose);
    let is_default = &*tenant.shared.tenant == DEFAULT_TENANT;
    let expected = if is_default { operators } else { tenant.metrics_token().or(operators) };
    let of_tenant = |tenant: &Tenant| {
        let shared = &tenant.shared;
        tenant.metrics.gather(shared.hub.connections(), &shared.catalog.env().share)
    };
    metrics::respond(headers, expected, || {
        if !is_default {
            return of_tenant(tenant);
        }
        let rejected_edits: Collectors = vec![Box::new(tenants.rejected_edits.clone())];
        let mut families = metrics::server_families(&common.runtime, common.cluster.as_deref(), rejected_edits);
        families.extend(tenants.all().iter().flat_map(|tenant| of_tenant(tenant)));
        families
    })
}
