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
//! `conflict`. The re-run also holds the locks of the roots owning the rows it lost on:
//! without that, the root that won keeps a head start and can win every time, which a
//! store whose commits take round trips (PostgreSQL) makes likely. Notifications are
//! delivered while a run runs (jac-cloud's progress pushes), so a failed run's
//! notifications have already been sent.

pub mod ids;
mod run;

use std::hash::BuildHasher;
use std::sync::Arc;

use tokio::sync::{Mutex, OwnedMutexGuard};

pub use run::{GraphError, Neighbours, RunGraph};

use crate::store::{GraphStore, Level, Quotas, StoreError};
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
    /// The store could not be read.
    Unavailable,
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

    /// The embedded default: SQLite in `data_dir`, default limits and quotas.
    pub fn open_sqlite(data_dir: &std::path::Path) -> anyhow::Result<Arc<Self>> {
        let store = crate::store::SqliteStore::open(data_dir, Quotas::default())?;
        Ok(Arc::new(GraphService::new(Arc::new(store), GraphLimits::default())))
    }

    pub fn store(&self) -> &Arc<dyn GraphStore> {
        &self.store
    }

    /// Orders the graph runs of these roots. Locks are taken in stripe order, so runs
    /// that take several never wait for each other in a cycle.
    async fn lock_roots(&self, roots: impl Iterator<Item = &str>) -> Vec<OwnedMutexGuard<()>> {
        let mut stripes: Vec<usize> =
            roots.map(|root| self.hasher.hash_one(root) as usize % ROOT_LOCK_STRIPES).collect();
        stripes.sort_unstable();
        stripes.dedup();
        let mut guards = Vec::with_capacity(stripes.len());
        for stripe in stripes {
            guards.push(self.root_locks[stripe].clone().lock_owned().await);
        }
        guards
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
            Ok(_) => Err(EntryError::NoAccess),
            Err(err) if err.is::<StoreError>() => Err(EntryError::Unavailable),
            Err(_) => Err(EntryError::NoAccess),
        }
    }
}
