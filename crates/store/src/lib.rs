//! walker-store: persistence of accounts and the walkers' graph, behind one trait
//! (`Store`) with two backends: SQLite in the data directory (the embedded default) and
//! PostgreSQL (shared by the instances of a cluster). Walkers and routes never know
//! which one runs.
//!
//! A backend stores rows and applies write sets atomically; it knows nothing of access
//! rules, runs or JSON shapes (walker-graph does). Reads are by id or by one node's edges,
//! indexed, so reading a node or a page of its edges costs the same however large the
//! caller's graph is (a filtered page may read more edges than it returns, up to the
//! graph's scan limit). Roots are not rows: any 24 hex names a root, owned by itself, so
//! the store cannot tell a user's root from one nobody has; grants go only to roots that
//! are users' (`root_exists`), and a root's grants live in the grants table like any
//! node's. Depends on walker-core, and on walker-accounts for the trait it implements.

mod commit;
pub mod jac_cloud;
pub mod portable;
mod postgres;
mod rows;
mod sqlite;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use walker_accounts::{AccountStore, UserRow};
pub use walker_core::access::{BoxFuture, CommitError, Direction, EVERYONE, Level, StoreError};

pub use commit::{Delta, ROW_OVERHEAD_BYTES, grant_bytes, hex_of, row_bytes};
pub use portable::{Portable, Record};
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// Everything a backend keeps.
pub trait Store: GraphStore + AccountStore + Portable {}

impl<T: GraphStore + AccountStore + Portable> Store for T {}

/// Where the data lives and how the server reaches it.
#[derive(Debug, Clone)]
pub struct StoreConfig<'a> {
    /// SQLite's directory, when no database URL is given.
    pub data_dir: &'a Path,
    /// A `postgres://` URL: accounts and the graph live there instead.
    pub database_url: Option<&'a str>,
    /// The PostgreSQL schema that holds them (a tenant's own), created when missing;
    /// `None`: the connection's default (`public`).
    pub schema: Option<&'a str>,
    /// PostgreSQL connections kept open.
    pub pool_size: usize,
    /// How long one store operation may take, waiting for a connection included.
    pub timeout: Duration,
    pub quotas: Quotas,
}

/// Opens the configured backend, creating or migrating its schema.
pub async fn open(config: &StoreConfig<'_>) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match config.database_url {
        Some(url) => {
            Arc::new(PostgresStore::connect(url, config.schema, config.pool_size, config.timeout, config.quotas).await?)
        }
        None => Arc::new(SqliteStore::open(config.data_dir, config.quotas)?.with_commit_timeout(config.timeout)),
    })
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeRow {
    /// 24 hex.
    pub hex: String,
    pub type_name: String,
    /// A jac object (`o:<Type>:<hex>`) rather than a node: kept, owned, granted and
    /// counted against quotas as a node is, but never an edge's end, and not among a
    /// root's listed or reset nodes.
    #[serde(default)]
    pub object: bool,
    /// The root (24 hex) that created it: its quota pays for it.
    pub owner: String,
    /// Its context, compact JSON object text.
    pub context: String,
    /// Bumped by every update: a write based on an older version is a conflict.
    pub version: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EdgeRow {
    pub hex: String,
    pub type_name: String,
    pub owner: String,
    /// Full node ids of its ends (`n:<Type>:<hex>` or a root's `n::<hex>`).
    pub source: String,
    pub target: String,
    pub context: String,
    pub version: i64,
    /// Creation order; neighbours are listed in it and paged by it.
    pub seq: i64,
}

/// SQL for a node's edges `e` in `direction`, `node` being the parameter that holds the
/// node's id: the condition on the edge, and the expression of the far end's id.
pub(crate) fn direction_sql(direction: Direction, node: &str) -> (String, String) {
    match direction {
        Direction::Out => (format!("e.src = {node}"), "e.dst".into()),
        Direction::In => (format!("e.dst = {node}"), "e.src".into()),
        Direction::Both => (
            format!("(e.src = {node} OR e.dst = {node})"),
            format!("CASE WHEN e.src = {node} THEN e.dst ELSE e.src END"),
        ),
    }
}

/// One page of a node's edges, in creation order, after `after_seq`.
#[derive(Debug, Clone)]
pub struct EdgeQuery<'a> {
    /// The node's full id.
    pub node: &'a str,
    pub direction: Direction,
    pub edge_type: Option<&'a str>,
    pub after_seq: i64,
    pub limit: usize,
}

/// What one run changes, applied all or nothing.
#[derive(Debug, Default)]
pub struct WriteSet {
    /// New nodes.
    pub insert_nodes: Vec<NodeRow>,
    /// Changed contexts; `version` is the one read, which must still be current.
    pub update_nodes: Vec<NodeRow>,
    /// Deleted nodes (with their edges and grants): full id and the version read.
    pub delete_nodes: Vec<(String, i64)>,
    /// New edges: both ends must still exist.
    pub insert_edges: Vec<EdgeRow>,
    pub update_edges: Vec<EdgeRow>,
    /// Deleted edges: hex and the version read.
    pub delete_edges: Vec<(String, i64)>,
    pub grants: Vec<GrantWrite>,
}

/// A grant given, changed or revoked.
#[derive(Debug, Clone)]
pub struct GrantWrite {
    /// The node's or edge's full id.
    pub target: String,
    /// A root (24 hex) or `EVERYONE`.
    pub grantee: String,
    /// `None` revokes.
    pub level: Option<Level>,
    /// The target's owner: its storage quota pays for the grant (`commit::grant_bytes`).
    pub owner: String,
}

impl WriteSet {
    pub fn is_empty(&self) -> bool {
        self.insert_nodes.is_empty()
            && self.update_nodes.is_empty()
            && self.delete_nodes.is_empty()
            && self.insert_edges.is_empty()
            && self.update_edges.is_empty()
            && self.delete_edges.is_empty()
            && self.grants.is_empty()
    }
}

/// Storage a root may use, checked atomically with each commit that grows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub nodes: i64,
    pub edges: i64,
    pub bytes: i64,
}

/// Per-root quotas: the public root, shared by every anonymous caller, has its own; and
/// optionally one for the whole store (a tenant's), counted in a usage row of its own.
#[derive(Debug, Clone, Copy)]
pub struct Quotas {
    pub user: Quota,
    pub public: Quota,
    pub store: Option<Quota>,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            user: Quota { nodes: 100_000, edges: 200_000, bytes: 64 << 20 },
            public: Quota { nodes: 10_000, edges: 20_000, bytes: 8 << 20 },
            store: None,
        }
    }
}

/// A page of edges, each with its far end (`None` when the far end is a root).
pub type EdgePage = Vec<(EdgeRow, Option<NodeRow>)>;

/// Held while a run of some roots reads and commits; dropped, it lets their next run in.
pub type RootsLock = Box<dyn Send>;

/// The graph's persistence.
pub trait GraphStore: Send + Sync + 'static {
    /// Orders the runs of `roots` (24 hex each, sorted) across every instance on this
    /// store until the lock is dropped; `None` when `wait` is false and another run
    /// holds one of them. The default suits a store that one process owns (SQLite), which
    /// the graph's own locks already order.
    fn lock_roots<'a>(
        &'a self,
        _roots: &'a [String],
        _wait: bool,
    ) -> BoxFuture<'a, Result<Option<RootsLock>, StoreError>> {
        Box::pin(std::future::ready(Ok(Some(Box::new(()) as RootsLock))))
    }
    /// A node by its 24 hex.
    fn node<'a>(&'a self, hex: &'a str) -> BoxFuture<'a, Result<Option<NodeRow>, StoreError>>;
    fn edge<'a>(&'a self, hex: &'a str) -> BoxFuture<'a, Result<Option<EdgeRow>, StoreError>>;
    /// A page of a node's edges with their far ends.
    fn edges<'a>(&'a self, query: EdgeQuery<'a>) -> BoxFuture<'a, Result<EdgePage, StoreError>>;
    /// Edges from `source` to `target` (full node ids), of `edge_type` when given, in
    /// creation order, at most `limit`: by an index on both ends, however many edges
    /// either end has.
    fn edges_between<'a>(
        &'a self,
        source: &'a str,
        target: &'a str,
        edge_type: Option<&'a str>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<EdgeRow>, StoreError>>;
    /// A page of the nodes `owner` (24 hex) owns, objects not included, by hex after
    /// `after_hex` ("" for the first page), at most `limit`: a root's whole graph
    /// (`reset_graph`), by an index on the owner.
    fn owned_nodes<'a>(
        &'a self,
        owner: &'a str,
        after_hex: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<NodeRow>, StoreError>>;
    /// How many nodes (objects included) and edges `owner` owns, as its usage row counts
    /// them.
    fn owned_counts<'a>(&'a self, owner: &'a str) -> BoxFuture<'a, Result<(i64, i64), StoreError>>;
    /// Whether `root` (24 hex) is a user's root: grants go only to roots that exist.
    fn root_exists<'a>(&'a self, root: &'a str) -> BoxFuture<'a, Result<bool, StoreError>>;
    /// Grants on a target (full id), by grantee.
    fn grants<'a>(&'a self, target: &'a str) -> BoxFuture<'a, Result<Vec<(String, Level)>, StoreError>>;
    /// Applies a write set atomically: version checks, edge ends, quotas.
    fn commit(&self, writes: WriteSet) -> BoxFuture<'_, Result<(), CommitError>>;
}
