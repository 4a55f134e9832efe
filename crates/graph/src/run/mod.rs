//! One run's view of the graph: the rows it read, the writes it made (which its reads
//! see), its access checks and its limits; at the end, its write set. Traversal is in
//! `neighbours`, writes in `writes`.

/// The value of a graph call's `Outcome`, or returns its refusal to the walker.
macro_rules! refused {
    ($outcome:expr) => {
        match $outcome {
            Ok(value) => value,
            Err(refusal) => return Ok(Err(refusal)),
        }
    };
}

mod boundary;
mod neighbours;
mod orphans;
mod whole;
mod writes;

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use walker_core::access::AccessRules;
use walker_core::ids::{self, Kind, Ref};
use walker_runtime::LimitHit;
use walker_runtime::graph::{Contended, EntryGone, GraphError, Outcome};
use walker_store::{CommitError, EVERYONE, EdgeRow, GrantWrite, Level, NodeRow, StoreError, WriteSet};

use super::{GraphService, HeldRoots};

/// A row the run has seen, and what it did to it.
#[derive(Debug, Clone)]
struct Seen<R> {
    /// `None`: absent, or deleted by this run.
    row: Option<R>,
    change: Change,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Read,
    Created,
    Updated,
    /// Deleted; the version read (0 if this run created it).
    Deleted(i64),
}

pub struct RunGraph {
    service: Arc<GraphService>,
    /// The walker's access rules: strict, or jac-cloud's (which drop refused writes).
    rules: AccessRules,
    /// The caller's root, 24 hex.
    caller: String,
    /// The entry node's full id; the caller's root when `None`.
    entry: Option<String>,
    /// Other roots whose locks this run takes with its own: owners of rows a previous
    /// attempt lost a conflict on, so that this attempt cannot lose to them again.
    contended: Vec<String>,
    /// The root locks, from the first graph call to the commit.
    locks: Option<HeldRoots>,
    /// It only reads (see `GraphService::read`): it takes no lock, and a write stops it.
    read_only: bool,
    nodes: HashMap<String, Seen<NodeRow>>,
    edges: HashMap<String, Seen<EdgeRow>>,
    /// Edges this run created, in order (hex).
    new_edges: Vec<String>,
    /// Grants by target id, with this run's changes applied.
    grants: HashMap<String, Vec<(String, Level)>>,
    grant_writes: Vec<GrantWrite>,
    /// Stored nodes this run deleted: full id and the version read.
    deleted_nodes: Vec<(String, i64)>,
    /// Nodes whose edges it removed, deleted at commit if it left them with none.
    orphans: orphans::Orphans,
    calls: u32,
    writes: u32,
    written_bytes: usize,
}

const READ_ONLY: &str = "a graph run that only reads cannot write";

fn store_failure(err: StoreError) -> wasmtime::Error {
    tracing::error!("graph read failed: {err}");
    wasmtime::Error::new(err)
}

fn root_json(hex: &str) -> String {
    format!(r#"{{"id":"n::{hex}","context":{{}}}}"#)
}

/// A node's JSON, or an object's (`o:…`).
fn node_json(row: &NodeRow) -> String {
    let kind = if row.object { 'o' } else { 'n' };
    format!(r#"{{"id":"{kind}:{}:{}","context":{}}}"#, row.type_name, row.hex, row.context)
}

fn edge_json(row: &EdgeRow) -> String {
    format!(
        r#"{{"id":"e:{}:{}","source":"{}","target":"{}","context":{}}}"#,
        row.type_name, row.hex, row.source, row.target, row.context
    )
}

/// Where a paged listing resumes: its cursor is `s<position>` inside the stored rows,
/// `n<index>` inside this run's new ones.
enum Resume<'a> {
    Start,
    Stored(&'a str),
    New(usize),
}

fn resume(cursor: Option<&str>) -> Result<Resume<'_>, GraphError> {
    let Some(cursor) = cursor else { return Ok(Resume::Start) };
    match (cursor.strip_prefix('s'), cursor.strip_prefix('n')) {
        (Some(position), _) => Ok(Resume::Stored(position)),
        (_, Some(index)) => Ok(Resume::New(index.parse().unwrap_or(usize::MAX))),
        _ => Err(GraphError::Invalid("malformed cursor".into())),
    }
}

/// What a write may do to its target under the run's rules.
enum Permit {
    /// Make it.
    Granted(Ref),
    /// Answer as if it were made, and make nothing (jac-cloud's rules).
    Dropped(Ref),
}

impl Permit {
    /// The target, and whether the write is dropped.
    fn split(self) -> (Ref, bool) {
        match self {
            Permit::Granted(target) => (target, false),
            Permit::Dropped(target) => (target, true),
        }
    }
}

fn not_found(id: &str) -> GraphError {
    GraphError::NotFound(format!("no node, edge or object {id}"))
}

impl RunGraph {
    pub fn new(service: Arc<GraphService>, caller: String, entry: Option<String>, rules: AccessRules) -> Self {
        RunGraph {
            service,
            rules,
            caller,
            entry,
            contended: Vec::new(),
            locks: None,
            read_only: false,
            nodes: HashMap::new(),
            edges: HashMap::new(),
            new_edges: Vec::new(),
            grants: HashMap::new(),
            grant_writes: Vec::new(),
            deleted_nodes: Vec::new(),
            orphans: orphans::Orphans::default(),
            calls: 0,
            writes: 0,
            written_bytes: 0,
        }
    }

    /// Takes no lock, and refuses to write.
    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }

    /// Also takes the locks of `roots` (see `contended`).
    pub fn contending_with(mut self, roots: Vec<String>) -> Self {
        self.contended = roots;
        self
    }

    /// Owners, other than the caller, of stored rows this run changes: whom it may
    /// conflict with.
    pub fn others_written(&self) -> Vec<String> {
        let changed = |change: Change| matches!(change, Change::Updated | Change::Deleted(_));
        let nodes = self.nodes.values().filter(|seen| changed(seen.change)).filter_map(|seen| seen.row.as_ref());
        let edges = self.edges.values().filter(|seen| changed(seen.change)).filter_map(|seen| seen.row.as_ref());
        let mut owners: Vec<String> = nodes
            .map(|row| &row.owner)
            .chain(edges.map(|row| &row.owner))
            .filter(|owner| **owner != self.caller)
            .cloned()
            .collect();
        owners.sort();
        owners.dedup();
        owners
    }

    fn caller_root_id(&self) -> String {
        ids::node_id("", &self.caller)
    }

    /// Counts a call against the run's limit and, on the first, takes the root's lock.
    pub async fn begin_call(&mut self) -> wasmtime::Result<()> {
        self.calls += 1;
        if self.calls > self.service.limits.calls {
            return Err(LimitHit::GraphCalls(self.service.limits.calls).into());
        }
        if self.locks.is_none() && !self.read_only {
            let roots = std::iter::once(self.caller.as_str()).chain(self.contended.iter().map(String::as_str));
            self.locks = Some(self.service.lock_roots(roots).await.map_err(store_failure)?);
        }
        Ok(())
    }

    /// Before writing a stored row that `owner` owns: holds `owner`'s lock, or stops the
    /// run with `Contended` when another run holds it.
    async fn order_with(&mut self, owner: &str) -> wasmtime::Result<()> {
        let Some(held) = self.locks.as_mut() else { return Err(wasmtime::Error::msg(READ_ONLY)) };
        if self.service.try_lock_root(held, owner).await.map_err(store_failure)? {
            return Ok(());
        }
        let mut owners = self.others_written();
        owners.push(owner.to_string());
        Err(Contended { owners }.into())
    }

    fn count_write(&mut self, bytes: usize) -> wasmtime::Result<()> {
        if self.read_only {
            return Err(wasmtime::Error::msg(READ_ONLY));
        }
        let limits = &self.service.limits;
        self.writes += 1;
        self.written_bytes += bytes;
        if self.writes > limits.writes {
            return Err(LimitHit::GraphWrites(limits.writes).into());
        }
        if self.written_bytes > limits.write_bytes {
            return Err(LimitHit::GraphWriteBytes(limits.write_bytes).into());
        }
        Ok(())
    }

    /// A context as compact JSON object text, within the size limit.
    fn context(&self, text: &str) -> wasmtime::Result<Result<String, GraphError>> {
        let Ok(object) = serde_json::from_str::<Map<String, Value>>(text) else {
            return Ok(Err(GraphError::Invalid("a context must be a JSON object".into())));
        };
        let compact = Value::Object(object).to_string();
        if compact.len() > self.service.limits.context_bytes {
            return Err(LimitHit::ContextSize(self.service.limits.context_bytes).into());
        }
        Ok(Ok(compact))
    }

    async fn node(&mut self, hex: &str) -> wasmtime::Result<Option<NodeRow>> {
        if let Some(seen) = self.nodes.get(hex) {
            return Ok(seen.row.clone());
        }
        let row = self.service.store().node(hex).await.map_err(store_failure)?;
        self.nodes.insert(hex.to_string(), Seen { row: row.clone(), change: Change::Read });
        Ok(row)
    }

    async fn edge(&mut self, hex: &str) -> wasmtime::Result<Option<EdgeRow>> {
        if let Some(seen) = self.edges.get(hex) {
            return Ok(seen.row.clone());
        }
        let row = self.service.store().edge(hex).await.map_err(store_failure)?;
        self.edges.insert(hex.to_string(), Seen { row: row.clone(), change: Change::Read });
        Ok(row)
    }

    async fn grants_on(&mut self, target: &str) -> wasmtime::Result<&[(String, Level)]> {
        if !self.grants.contains_key(target) {
            let grants = self.service.store().grants(target).await.map_err(store_failure)?;
            self.grants.insert(target.to_string(), grants);
        }
        Ok(&self.grants[target])
    }

    async fn grant_of(&mut self, target: &str, grantee: &str) -> wasmtime::Result<Option<Level>> {
        let grants = self.grants_on(target).await?;
        Ok(grants.iter().find(|(who, _)| who == grantee).map(|(_, level)| *level))
    }

    /// jac-cloud's rule: the owner (and a root itself) may write; otherwise everyone's
    /// grant on the target or on its owner's root, overridden by a grant to the caller
    /// on the owner's root, overridden by one on the target itself.
    async fn level(&mut self, id: &str, owner: &str) -> wasmtime::Result<Level> {
        if owner == self.caller {
            return Ok(Level::Write);
        }
        let owner_root = ids::node_id("", owner);
        let everyone = self.grant_of(id, EVERYONE).await?.unwrap_or(Level::NoAccess);
        let everyone_on_root = self.grant_of(&owner_root, EVERYONE).await?.unwrap_or(Level::NoAccess);
        let mut level = everyone.max(everyone_on_root);
        if let Some(granted) = self.grant_of(&owner_root, &self.caller.clone()).await? {
            level = granted;
        }
        if id != owner_root
            && let Some(granted) = self.grant_of(id, &self.caller.clone()).await?
        {
            level = granted;
        }
        Ok(level)
    }

    /// The level jac's `__jac_access__` gives other roots on a node whose type computes
    /// it (jac-cloud's rules only); `None` to use the grants.
    fn computed_level(&self, parsed: &Ref) -> Option<Level> {
        let AccessRules::JacCloud(computed) = &self.rules else { return None };
        let field = computed.get(&parsed.type_name).filter(|_| parsed.kind == Kind::Node)?;
        let row = self.nodes.get(&parsed.hex)?.row.as_ref()?;
        let context: Map<String, Value> = serde_json::from_str(&row.context).ok()?;
        Level::cast(context.get(field)?)
    }

    /// A node, edge or object that exists, and the caller's level on it (which may be
    /// none); `None` if it is absent or malformed.
    async fn resolve(&mut self, id: &str) -> wasmtime::Result<Option<(Ref, Level)>> {
        let Some(parsed) = Ref::parse(id) else { return Ok(None) };
        let owner = match (parsed.kind, parsed.is_root()) {
            (Kind::Node, true) => parsed.hex.clone(),
            (Kind::Node, false) | (Kind::Object, _) => match self.node(&parsed.hex).await? {
                Some(row) if row.type_name == parsed.type_name && row.object == (parsed.kind == Kind::Object) => {
                    row.owner
                }
                _ => return Ok(None),
            },
            (Kind::Edge, _) => match self.edge(&parsed.hex).await? {
                Some(row) if row.type_name == parsed.type_name => row.owner,
                _ => return Ok(None),
            },
        };
        // The owner's level is never computed: it may always write.
        let computed = if owner == self.caller { None } else { self.computed_level(&parsed) };
        let level = match computed {
            Some(level) => level,
            None => self.level(&parsed.full(), &owner).await?,
        };
        Ok(Some((parsed, level)))
    }

    /// `resolve`, for what the caller may read: `None` if it may not.
    async fn readable(&mut self, id: &str) -> wasmtime::Result<Option<(Ref, Level)>> {
        Ok(self.resolve(id).await?.filter(|(_, level)| *level >= Level::Read))
    }

    /// Whether the caller may make a write that needs `need` on `id`. Strict rules refuse
    /// it (not found below read, denied below `need`); jac-cloud's drop it.
    async fn permit(&mut self, id: &str, need: Level) -> Outcome<Permit> {
        let jac_cloud = matches!(self.rules, AccessRules::JacCloud(_));
        Ok(match self.resolve(id).await? {
            None => Err(not_found(id)),
            Some((parsed, level)) if level >= need => Ok(Permit::Granted(parsed)),
            Some((parsed, _)) if jac_cloud => Ok(Permit::Dropped(parsed)),
            Some((_, level)) if level < Level::Read => Err(not_found(id)),
            Some(_) => Err(GraphError::Denied(format!("no {} access on {id}", format!("{need:?}").to_lowercase()))),
        })
    }

    /// `permit` for a node: its full id, and whether the write is dropped.
    async fn permit_node(&mut self, id: &str, need: Level) -> Outcome<(String, bool)> {
        let (parsed, dropped) = refused!(self.permit(id, need).await?).split();
        match parsed.kind {
            Kind::Node => Ok(Ok((parsed.full(), dropped))),
            _ => Ok(Err(GraphError::Invalid(format!("{id} is not a node")))),
        }
    }

    /// The JSON of a node or edge already known to exist.
    fn json_of(&self, parsed: &Ref) -> String {
        match (parsed.kind, parsed.is_root()) {
            (Kind::Node, true) => root_json(&parsed.hex),
            (Kind::Node, false) | (Kind::Object, _) => {
                node_json(self.nodes[&parsed.hex].row.as_ref().expect("checked"))
            }
            (Kind::Edge, _) => edge_json(self.edges[&parsed.hex].row.as_ref().expect("checked")),
        }
    }

    pub fn root(&self) -> String {
        self.caller_root_id()
    }

    /// The entry node. It was readable when the run was let in; if it has been deleted
    /// or made unreadable since, the run stops with `EntryGone` rather than go on from
    /// somewhere else (its writes would land on the wrong node).
    pub async fn here(&mut self) -> wasmtime::Result<String> {
        let Some(entry) = self.entry.clone() else { return Ok(root_json(&self.caller)) };
        self.get(&entry).await?.ok_or_else(|| EntryGone.into())
    }

    /// Under jac-cloud's rules, any node by id (jac's `&(id)`), whoever owns it.
    pub async fn get(&mut self, id: &str) -> wasmtime::Result<Option<String>> {
        let found = match self.rules {
            AccessRules::Strict => self.readable(id).await?,
            AccessRules::JacCloud(_) => self.resolve(id).await?,
        };
        Ok(found.map(|(parsed, _)| self.json_of(&parsed)))
    }

    pub async fn access(&mut self, id: &str) -> wasmtime::Result<Level> {
        Ok(self.readable(id).await?.map_or(Level::NoAccess, |(_, level)| level))
    }

    /// Commits the run's writes (with its orphans' deletion), then releases its root's lock.
    pub async fn commit(mut self) -> Result<(), CommitError> {
        self.delete_orphans().await.map_err(|err| CommitError::Store(err.to_string()))?;
        let mut writes = WriteSet::default();
        for seen in std::mem::take(&mut self.nodes).into_values() {
            match (seen.change, seen.row) {
                (Change::Created, Some(row)) => writes.insert_nodes.push(row),
                (Change::Updated, Some(row)) => writes.update_nodes.push(row),
                _ => {}
            }
        }
        writes.delete_nodes = std::mem::take(&mut self.deleted_nodes);
        for (hex, seen) in std::mem::take(&mut self.edges) {
            match (seen.change, seen.row) {
                (Change::Created, Some(row)) => writes.insert_edges.push(row),
                (Change::Updated, Some(row)) => writes.update_edges.push(row),
                (Change::Deleted(version), _) if version > 0 => writes.delete_edges.push((hex, version)),
                _ => {}
            }
        }
        // Edges in creation order, so their sequence numbers follow it.
        let order: HashMap<&str, usize> = self.new_edges.iter().enumerate().map(|(i, hex)| (hex.as_str(), i)).collect();
        writes.insert_edges.sort_by_key(|edge| order.get(edge.hex.as_str()).copied().unwrap_or(usize::MAX));
        writes.insert_nodes.sort_by(|a, b| a.hex.cmp(&b.hex));
        writes.grants = std::mem::take(&mut self.grant_writes);
        if writes.is_empty() {
            return Ok(());
        }
        self.service.store().commit(writes).await
    }
}
