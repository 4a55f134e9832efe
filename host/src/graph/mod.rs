//! The walkers' graph as jac-cloud defines it: nodes and typed edges owned by roots,
//! access levels and grants, one transaction per run. `store` keeps the rows; this
//! module decides who may do what, and when a run's writes become visible.
//!
//! Transactions: a run's writes stay in its `RunGraph` (reads see them) and commit in
//! one write set after `run` returns ok; an error, trap or limit drops them. Runs of one
//! root are ordered: the first graph call of a run takes its root's lock, held until
//! the commit, so concurrent runs of one user never conflict. Runs of different roots
//! writing the same node (through grants) are checked by version at commit; a run that
//! loses is re-run from scratch if it has sent no notification yet, else it fails with
//! `conflict`. Notifications are delivered while a run runs (jac-cloud's progress
//! pushes), so a failed run's notifications have already been sent.

pub mod ids;
mod run;

use std::hash::BuildHasher;
use std::sync::Arc;

use tokio::sync::{Mutex, OwnedMutexGuard};

pub use run::{GraphError, Neighbours, RunGraph};

use crate::store::{GraphStore, Level, Quotas};
use ids::{Kind, Ref};

/// Per-run caps on graph use; quotas per root are the store's.
#[derive(Debug, Clone, Copy)]
pub struct GraphLimits {
    /// Graph calls one run may make.
    pub calls: u32,
    /// Writes one run may make (create, connect, update, delete, grant…).
    pub writes: u32,
    /// Context bytes one run may write.
    pub write_bytes: usize,
    /// Size of one node's or edge's context.
    pub context_bytes: usize,
    /// Neighbours returned per page, at most.
    pub page: u32,
}

impl Default for GraphLimits {
    fn default() -> Self {
        GraphLimits { calls: 10_000, writes: 1_000, write_bytes: 4 << 20, context_bytes: 256 << 10, page: 1_000 }
    }
}

/// Root locks, striped: memory stays bounded, and two roots rarely share a stripe.
const ROOT_LOCK_STRIPES: usize = 4096;

/// What every run's graph shares.
pub struct GraphService {
    store: Arc<dyn GraphStore>,
    pub limits: GraphLimits,
    root_locks: Vec<Arc<Mutex<()>>>,
    hasher: std::collections::hash_map::RandomState,
}

/// Why a run may not start on an entry node.
#[derive(Debug, PartialEq, Eq)]
pub enum EntryError {
    /// Not a node id.
    Malformed,
    /// Absent, or not readable by the caller: the same answer, so ids cannot be probed.
    NoAccess,
}

impl GraphService {
    pub fn new(store: Arc<dyn GraphStore>, limits: GraphLimits) -> Self {
        GraphService {
            store,
            limits,
            root_locks: (0..ROOT_LOCK_STRIPES).map(|_| Arc::new(Mutex::new(()))).collect(),
            hasher: Default::default(),
        }
    }

    /// The embedded default: SQLite at `path`, default limits and quotas.
    pub fn open_sqlite(path: &std::path::Path) -> anyhow::Result<Arc<Self>> {
        let store = crate::store::SqliteStore::open(path, Quotas::default())?;
        Ok(Arc::new(GraphService::new(Arc::new(store), GraphLimits::default())))
    }

    pub fn store(&self) -> &Arc<dyn GraphStore> {
        &self.store
    }

    /// Orders the graph runs of one root.
    async fn lock_root(&self, root: &str) -> OwnedMutexGuard<()> {
        let stripe = self.hasher.hash_one(root) as usize % ROOT_LOCK_STRIPES;
        self.root_locks[stripe].clone().lock_owned().await
    }

    /// Checks that `caller` (root hex) may start a walker on `node`: the node's full id.
    /// Roots may be named bare (`<24 hex>`).
    pub async fn entry(self: &Arc<Self>, caller: &str, node: &str) -> Result<String, EntryError> {
        let id = match Ref::parse(node) {
            Some(id) if id.kind == Kind::Node => id,
            Some(_) => return Err(EntryError::Malformed),
            None => match crate::auth::parse_root(node) {
                Some(hex) => Ref { kind: Kind::Node, type_name: String::new(), hex },
                None => return Err(EntryError::Malformed),
            },
        };
        let full = id.full();
        let mut graph = RunGraph::new(self.clone(), caller.to_string(), None);
        match graph.access(&full).await {
            Ok(level) if level >= Level::Read => Ok(full),
            _ => Err(EntryError::NoAccess),
        }
    }
}
