//! What a run sees of its tenant's graph, as traits: the runtime calls the graph only
//! through them, and `walker-graph` implements them (access rules, transactions) over a
//! store. A second graph (in memory, for a test; over another database) plugs in here.

use std::sync::Arc;

use walker_core::access::{AccessRules, BoxFuture, CommitError, Direction, Level};

/// A graph call's result: the inner error is the walker's to handle; the outer one
/// stops the run (a limit, the store failing, `Contended`, `EntryGone`).
pub type Outcome<T> = wasmtime::Result<Result<T, GraphError>>;

/// What a graph call tells the walker when it cannot do what was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphError {
    NotFound(String),
    Denied(String),
    Invalid(String),
}

/// The run must write a row whose owner's lock another run holds: it stops, and runs
/// again holding that lock from its first call.
#[derive(Debug, thiserror::Error)]
#[error("another run writes the same rows")]
pub struct Contended {
    /// Owners, other than the caller, of rows the run wrote or was about to write.
    pub owners: Vec<String>,
}

/// The run's entry node was deleted, or made unreadable, after the run was let in: a
/// conflict with that concurrent change.
#[derive(Debug, thiserror::Error)]
#[error("the entry node is gone")]
pub struct EntryGone;

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

/// A neighbours query, as the walker asked it.
pub struct Neighbours<'a> {
    pub direction: Direction,
    pub edge_type: Option<&'a str>,
    pub node_type: Option<&'a str>,
    pub equals: Option<&'a str>,
    pub limit: u32,
    pub cursor: Option<&'a str>,
    pub yields: Yields,
}

/// What a neighbours query lists: the neighbours (`[-->]`) or the edges to them
/// (`[edge -->]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Yields {
    Nodes,
    Edges,
}

/// A tenant's graph, as runs start on it.
pub trait Graph: Send + Sync {
    /// A run's transaction for the caller's root `root` (24 hex) on `entry` (a node id
    /// the caller may read; its root when `None`), also holding the locks of
    /// `contending` (owners a previous attempt lost to) from its first call, under the
    /// walker's access `rules`.
    fn begin(
        self: Arc<Self>,
        root: String,
        entry: Option<String>,
        contending: Vec<String>,
        rules: AccessRules,
    ) -> Box<dyn GraphRun>;

    /// A transaction that only reads, as the caller's root `root` (24 hex) under the
    /// strict rules: it takes no lock, so a long read never holds up the caller's runs
    /// (each read sees what is committed when it is made); a write stops it.
    fn read(self: Arc<Self>, root: String) -> Box<dyn GraphRun>;

    /// Checks that `caller` (root hex) may start a walker that follows `rules` on
    /// `node`: the node's full id.
    fn entry<'a>(
        self: Arc<Self>,
        caller: &'a str,
        node: &'a str,
        rules: &'a AccessRules,
    ) -> BoxFuture<'a, Result<String, EntryError>>;
}

/// One run's graph transaction: what its walker's `graph` calls reach. Writes stay in it
/// (its reads see them) until `commit`.
pub trait GraphRun: Send {
    /// Counts a call against the run's limit; the first also takes the caller's lock.
    fn begin_call(&mut self) -> BoxFuture<'_, wasmtime::Result<()>>;
    /// The caller's root's id.
    fn root(&self) -> String;
    fn here(&mut self) -> BoxFuture<'_, wasmtime::Result<String>>;
    fn get<'a>(&'a mut self, id: &'a str) -> BoxFuture<'a, wasmtime::Result<Option<String>>>;
    fn access<'a>(&'a mut self, id: &'a str) -> BoxFuture<'a, wasmtime::Result<Level>>;
    fn neighbours<'a>(&'a mut self, node: &'a str, query: Neighbours<'a>) -> BoxFuture<'a, Outcome<String>>;
    fn create<'a>(&'a mut self, node_type: &'a str, context: &'a str) -> BoxFuture<'a, Outcome<String>>;
    /// A new object of `object_type` (jac's `save(Obj(..))`).
    fn create_object<'a>(&'a mut self, object_type: &'a str, context: &'a str) -> BoxFuture<'a, Outcome<String>>;
    /// A new node of `node_type`, reached from `from` by a new edge of `edge_type`.
    fn spawn<'a>(
        &'a mut self,
        from: &'a str,
        edge_type: &'a str,
        edge_context: &'a str,
        node_type: &'a str,
        context: &'a str,
    ) -> BoxFuture<'a, Outcome<String>>;
    fn connect<'a>(
        &'a mut self,
        from: &'a str,
        to: &'a str,
        edge_type: &'a str,
        context: &'a str,
    ) -> BoxFuture<'a, Outcome<String>>;
    fn disconnect<'a>(
        &'a mut self,
        from: &'a str,
        to: &'a str,
        edge_type: Option<&'a str>,
    ) -> BoxFuture<'a, Outcome<u32>>;
    fn update<'a>(&'a mut self, id: &'a str, fields: &'a str) -> BoxFuture<'a, Outcome<String>>;
    fn delete<'a>(&'a mut self, id: &'a str) -> BoxFuture<'a, Outcome<()>>;
    /// Gives `grantee` (everyone when `None`) `level` on `target`; `None` revokes.
    fn grant<'a>(
        &'a mut self,
        target: &'a str,
        grantee: Option<&'a str>,
        level: Option<Level>,
    ) -> BoxFuture<'a, Outcome<()>>;
    /// The caller's own nodes, its root not among them, of `node_type` if given.
    fn owned<'a>(
        &'a mut self,
        node_type: Option<&'a str>,
        limit: u32,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Outcome<String>>;
    /// How many nodes and edges the caller's root owns, as last committed.
    fn count(&mut self) -> BoxFuture<'_, wasmtime::Result<String>>;
    /// Deletes every node of the caller's but its root; how many nodes and edges.
    fn reset(&mut self) -> BoxFuture<'_, Outcome<u32>>;
    /// Keeps `node` (every node, when `None`) that the run leaves with no edges, which
    /// the commit would otherwise delete (jac-cloud's orphan rule).
    fn keep(&mut self, node: Option<&str>);
    /// Owners, other than the caller, of stored rows this run changes: whom it may
    /// conflict with.
    fn others_written(&self) -> Vec<String>;
    /// Commits the run's writes, then releases its locks.
    fn commit(self: Box<Self>) -> BoxFuture<'static, Result<(), CommitError>>;
}
