//! walker-protocol: jac-cloud's wire protocol. WebSocket sessions (`ws`), the REST
//! routes (`rest`), the frames and reply bodies both send (`frames`), the API's
//! description (`openapi`), browser origins (`cors`) and per-address connection limits
//! (`addresses`), all served over one tenant's `Shared` state. It calls walkers through
//! the runtime's catalog, reaches sockets through the hub and signs users in through
//! walker-accounts; it never sees a store. Depends on walker-core, walker-runtime,
//! walker-hub and walker-accounts.

pub mod addresses;
pub mod cors;
pub mod frames;
mod metrics;
mod notify;
pub mod openapi;
pub mod quotas;
pub mod rest;
mod settings;
pub mod user_fields;
pub mod ws;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use serde_json::Value;
use tokio_util::task::TaskTracker;
use walker_accounts::Accounts;
use walker_accounts::auth::{Identity, Tokens};
use walker_accounts::throttle::{LoginThrottle, RegistrationThrottle};
use walker_core::access::AccessRules;
use walker_hub::Hub;
use walker_runtime::catalog::Catalog;
use walker_runtime::graph::EntryError;
use walker_runtime::{FieldError, Notifier};

pub use metrics::SessionMetrics;
pub use notify::HubNotifier;
pub use settings::{ClientEvents, Settings};

use addresses::AddressLimits;
use quotas::{ConnectionQuota, EventPace};

/// What every request handler of one tenant shares.
pub struct Shared {
    /// The tenant these routes serve (`default` at the root paths), for logs and metrics.
    pub tenant: Arc<str>,
    pub settings: Arc<Settings>,
    pub catalog: Arc<Catalog>,
    pub hub: Arc<Hub>,
    /// The hub, as walkers' notifications reach it.
    pub notifier: Arc<dyn Notifier>,
    pub accounts: Arc<Accounts>,
    pub tokens: Tokens,
    /// Its WebSocket sessions' counters.
    pub metrics: SessionMetrics,
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
    /// `/openapi.json` and `/openapi.yaml`, built once per catalog snapshot.
    pub openapi: openapi::DocumentCache,
}

/// One tenant's routes, with its state.
pub fn tenant_router(shared: Arc<Shared>, cors: tower_http::cors::CorsLayer) -> Router {
    Router::new()
        .route("/websocket", get(ws::upgrade))
        .route("/user/register", post(rest::register))
        .route("/user/login", post(rest::login))
        .route("/healthz", get(rest::healthz))
        .route("/util/traverse", get(rest::traverse::traverse))
        .route("/readyz", get(rest::readyz))
        .route("/openapi.json", get(openapi::document))
        .route("/openapi.yaml", get(openapi::yaml))
        .route("/docs", get(openapi::docs))
        .route("/playground", get(openapi::playground))
        .fallback(rest::walker)
        .method_not_allowed_fallback(rest::method_not_allowed)
        .layer(DefaultBodyLimit::max(shared.settings.max_body_bytes))
        .layer(axum::middleware::map_response(rest::json_errors))
        .layer(cors)
        .with_state(shared)
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

/// Checks an entry node: well formed, present, and readable by the caller under the
/// walker's access rules.
pub async fn check_node(shared: &Shared, node: &str, identity: &Identity, rules: &AccessRules) -> NodeAccess {
    match shared.catalog.env().graph.clone().entry(&identity.root, node, rules).await {
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
