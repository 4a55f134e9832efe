//! walker-graph: the walkers' graph as jac-cloud defines it: nodes and typed edges owned
//! by roots, access levels and grants, one transaction per run. It implements the
//! runtime's `Graph` and `GraphRun` over a walker-store `GraphStore`, which keeps the
//! rows; this crate decides who may do what, and when a run's writes become visible.
//! Depends on walker-core, walker-store and walker-runtime (for the traits).
//!
//! Transactions: a run's writes stay in its `RunGraph` (reads see them) and commit in
//! one write set after `run` returns ok; an error, trap or limit drops them.
//!
//! Order: a row is written only by a run that holds its owner root's lock, from then
//! until its commit. A signed-in caller's run takes its own root's lock at its first
//! graph call, in this process and, on a store shared by instances (PostgreSQL), in the
//! store, so runs of one user never conflict, "create it if absent" included. A run
//! that writes a row another root owns (through a grant) takes that owner's lock when
//! it writes, without waiting: if another run holds it, the run stops and runs again,
//! holding that owner's lock from its first call. Writes stay version-checked at
//! commit. A run that loses is re-run from scratch if it has sent no notification yet,
//! else it fails with `conflict`; a re-run that holds the owners' locks cannot lose to
//! another writer of their rows. The public root, which every anonymous caller shares,
//! takes no lock: anonymous runs never wait for each other, and their writes to public
//! rows are ordered only by those version checks. Notifications are delivered while a
//! run runs (jac-cloud's progress pushes), so a failed run's notifications have already
//! been sent.

mod run;

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use tokio::sync::{Mutex, OwnedMutexGuard};

pub use run::RunGraph;
use walker_core::access::{AccessRules, BoxFuture};
use walker_core::ids::{Kind, PUBLIC_ROOT, Ref, parse_root};
use walker_runtime::graph::{EntryError, Graph, GraphRun};
use walker_store::{GraphStore, Level, Quotas, RootsLock, StoreError};

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
    /// Stored edges one call reads, at most, whatever its filters leave: a call's work
    /// is bounded, and a walker that wants more goes on from the cursor, between its
    /// epoch checks.
    pub scan: u32,
}

impl Default for GraphLimits {
    fn default() -> Self {
        GraphLimits {
            calls: 10_000,
            writes: 1_000,
            write_bytes: 4 << 20,
            context_bytes: 256 << 10,
            page: 1_000,
            scan: 10_000,
        }
    }
}

/// What every run's graph shares.
pub struct GraphService {
    store: Arc<dyn GraphStore>,
    pub limits: GraphLimits,
    /// This process's lock of each root some run holds or waits for: one per root, so
    /// two roots never wait for each other.
    root_locks: RootLocks,
}

/// Locks by root, kept only while a run holds or waits for one.
#[derive(Default)]
struct RootLocks {
    locks: std::sync::Mutex<HashMap<String, Weak<Mutex<()>>>>,
}

impl RootLocks {
    fn of(&self, root: &str) -> Arc<Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(lock) = locks.get(root).and_then(Weak::upgrade) {
            return lock;
        }
        // Forget the locks nobody holds whenever the table doubles, so it stays about
        // the size of the roots in use, at a cost spread over the insertions.
        if locks.len() >= 64 && locks.len().is_power_of_two() {
            locks.retain(|_, lock| lock.strong_count() > 0);
        }
        let lock = Arc::new(Mutex::new(()));
        locks.insert(root.to_string(), Arc::downgrade(&lock));
        lock
    }
}

/// The locks a run holds: in this process, and in the store when it is shared.
#[derive(Default)]
pub(crate) struct HeldRoots {
    roots: Vec<String>,
    _local: Vec<OwnedMutexGuard<()>>,
    _store: Vec<RootsLock>,
}

impl HeldRoots {
    fn holds(&self, root: &str) -> bool {
        self.roots.iter().any(|held| held == root)
    }
}

impl GraphService {
    pub fn new(store: Arc<dyn GraphStore>, limits: GraphLimits) -> Self {
        GraphService { store, limits, root_locks: RootLocks::default() }
    }

    /// The embedded default: SQLite in `data_dir`, default limits and quotas.
    pub fn open_sqlite(data_dir: &std::path::Path) -> anyhow::Result<Arc<Self>> {
        let store = walker_store::SqliteStore::open(data_dir, Quotas::default())?;
        Ok(Arc::new(GraphService::new(Arc::new(store), GraphLimits::default())))
    }

    pub fn store(&self) -> &Arc<dyn GraphStore> {
        &self.store
    }

    /// Orders the graph runs of these roots (never the public root's), waiting for them.
    /// Locks are taken in root order, here and then in the store, so runs that take
    /// several never wait for each other in a cycle; runs that take one later
    /// (`try_lock_root`) never wait at all.
    async fn lock_roots(&self, roots: impl Iterator<Item = &str>) -> Result<HeldRoots, StoreError> {
        let mut roots: Vec<String> = roots.filter(|root| *root != PUBLIC_ROOT).map(str::to_string).collect();
        roots.sort_unstable();
        roots.dedup();
        let mut held = HeldRoots::default();
        for root in &roots {
            held._local.push(self.root_locks.of(root).lock_owned().await);
        }
        if !roots.is_empty() {
            held._store.push(self.store.lock_roots(&roots, true).await?.expect("waited for"));
        }
        held.roots = roots;
        Ok(held)
    }

    /// Adds `root`'s lock to `held` if no other run holds it; false if one does.
    async fn try_lock_root(&self, held: &mut HeldRoots, root: &str) -> Result<bool, StoreError> {
        if root == PUBLIC_ROOT || held.holds(root) {
            return Ok(true);
        }
        let Ok(local) = self.root_locks.of(root).try_lock_owned() else { return Ok(false) };
        let roots = [root.to_string()];
        let Some(store) = self.store.lock_roots(&roots, false).await? else { return Ok(false) };
        held._local.push(local);
        held._store.push(store);
        held.roots.push(root.to_string());
        Ok(true)
    }

    /// Checks that `caller` (root hex) may start a walker that follows `rules` on
    /// `node`: the node's full id. Roots may be named bare (`<24 hex>`).
    pub async fn entry(self: &Arc<Self>, caller: &str, node: &str, rules: &AccessRules) -> Result<String, EntryError> {
        let id = match Ref::parse(node) {
            Some(id) if id.kind == Kind::Node => id,
            Some(_) => return Err(EntryError::Malformed),
            None => match parse_root(node) {
                Some(hex) => Ref { kind: Kind::Node, type_name: String::new(), hex },
                None => return Err(EntryError::Malformed),
            },
        };
        let full = id.full();
        let mut graph = RunGraph::new(self.clone(), caller.to_string(), None, rules.clone());
        match graph.access(&full).await {
            Ok(level) if level >= Level::Read => Ok(full),
            Ok(_) => Err(EntryError::NoAccess),
            Err(err) if err.is::<StoreError>() => Err(EntryError::Unavailable),
            Err(_) => Err(EntryError::NoAccess),
        }
    }
}

impl Graph for GraphService {
    fn begin(
        self: Arc<Self>,
        root: String,
        entry: Option<String>,
        contending: Vec<String>,
        rules: AccessRules,
    ) -> Box<dyn GraphRun> {
        Box::new(RunGraph::new(self, root, entry, rules).contending_with(contending))
    }

    fn read(self: Arc<Self>, root: String) -> Box<dyn GraphRun> {
        Box::new(RunGraph::new(self, root, None, AccessRules::Strict).read_only())
    }

    fn entry<'a>(
        self: Arc<Self>,
        caller: &'a str,
        node: &'a str,
        rules: &'a AccessRules,
    ) -> BoxFuture<'a, Result<String, EntryError>> {
        Box::pin(async move { GraphService::entry(&self, caller, node, rules).await })
    }
}
