//! One run's view of the graph: the rows it read, the writes it made (which its reads
//! see), its access checks and its limits; at the end, its write set.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};
use tokio::sync::OwnedMutexGuard;

use super::ids::{self, Kind, Ref};
use super::GraphService;
use crate::runtime::LimitHit;
use crate::store::{CommitError, Direction, EVERYONE, EdgeQuery, EdgeRow, Level, NodeRow, StoreError, WriteSet};

/// What a graph call tells the walker when it cannot do what was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphError {
    NotFound(String),
    Denied(String),
    Invalid(String),
}

/// A graph call's result: the inner error is the walker's to handle; the outer one
/// stops the run (a limit, or the store failing).
pub type Outcome<T> = wasmtime::Result<Result<T, GraphError>>;

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

/// A neighbours query, as the walker asked it.
pub struct Neighbours<'a> {
    pub direction: Direction,
    pub edge_type: Option<&'a str>,
    pub node_type: Option<&'a str>,
    pub equals: Option<&'a str>,
    pub limit: u32,
    pub cursor: Option<&'a str>,
}

pub struct RunGraph {
    service: Arc<GraphService>,
    /// The caller's root, 24 hex.
    caller: String,
    /// The entry node's full id; the caller's root when `None`.
    entry: Option<String>,
    /// The caller's root lock, from the first graph call to the commit.
    lock: Option<OwnedMutexGuard<()>>,
    nodes: HashMap<String, Seen<NodeRow>>,
    edges: HashMap<String, Seen<EdgeRow>>,
    /// Edges this run created, in order (hex).
    new_edges: Vec<String>,
    /// Grants by target id, with this run's changes applied.
    grants: HashMap<String, Vec<(String, Level)>>,
    grant_writes: Vec<(String, String, Option<Level>)>,
    /// Stored nodes this run deleted: full id and the version read.
    deleted_nodes: Vec<(String, i64)>,
    calls: u32,
    writes: u32,
    written_bytes: usize,
}

fn store_failure(err: StoreError) -> wasmtime::Error {
    tracing::error!("graph read failed: {err}");
    wasmtime::Error::msg(err.0)
}

fn root_json(hex: &str) -> String {
    format!(r#"{{"id":"n::{hex}","context":{{}}}}"#)
}

fn node_json(row: &NodeRow) -> String {
    format!(r#"{{"id":"n:{}:{}","context":{}}}"#, row.type_name, row.hex, row.context)
}

fn edge_json(row: &EdgeRow) -> String {
    format!(
        r#"{{"id":"e:{}:{}","source":"{}","target":"{}","context":{}}}"#,
        row.type_name, row.hex, row.source, row.target, row.context
    )
}

fn not_found(id: &str) -> GraphError {
    GraphError::NotFound(format!("no node or edge {id}"))
}

impl RunGraph {
    pub fn new(service: Arc<GraphService>, caller: String, entry: Option<String>) -> Self {
        RunGraph {
            service,
            caller,
            entry,
            lock: None,
            nodes: HashMap::new(),
            edges: HashMap::new(),
            new_edges: Vec::new(),
            grants: HashMap::new(),
            grant_writes: Vec::new(),
            deleted_nodes: Vec::new(),
            calls: 0,
            writes: 0,
            written_bytes: 0,
        }
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
        if self.lock.is_none() {
            self.lock = Some(self.service.lock_root(&self.caller).await);
        }
        Ok(())
    }

    fn count_write(&mut self, bytes: usize) -> wasmtime::Result<()> {
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

    // ---- reads -------------------------------------------------------------------

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

    /// The caller's level on a node (full id); `NoAccess` if it does not exist.
    pub async fn level_of_node(&mut self, id: &str) -> wasmtime::Result<Level> {
        let Some(parsed) = Ref::parse(id) else { return Ok(Level::NoAccess) };
        if parsed.is_root() {
            return self.level(id, &parsed.hex).await;
        }
        match self.node(&parsed.hex).await? {
            Some(row) if row.type_name == parsed.type_name => self.level(id, &row.owner.clone()).await,
            _ => Ok(Level::NoAccess),
        }
    }

    /// A node or edge the caller may read: its JSON, owner and level; `None` otherwise.
    async fn readable(&mut self, id: &str) -> wasmtime::Result<Option<(Ref, Level)>> {
        let Some(parsed) = Ref::parse(id) else { return Ok(None) };
        let owner = match (parsed.kind, parsed.is_root()) {
            (Kind::Node, true) => parsed.hex.clone(),
            (Kind::Node, false) => match self.node(&parsed.hex).await? {
                Some(row) if row.type_name == parsed.type_name => row.owner,
                _ => return Ok(None),
            },
            (Kind::Edge, _) => match self.edge(&parsed.hex).await? {
                Some(row) if row.type_name == parsed.type_name => row.owner,
                _ => return Ok(None),
            },
        };
        let full = match parsed.kind {
            Kind::Node => ids::node_id(&parsed.type_name, &parsed.hex),
            Kind::Edge => ids::edge_id(&parsed.type_name, &parsed.hex),
        };
        let level = self.level(&full, &owner).await?;
        Ok((level >= Level::Read).then_some((parsed, level)))
    }

    /// `readable`, needing `need`: not found below read, denied below `need`.
    async fn require(&mut self, id: &str, need: Level) -> Outcome<Ref> {
        match self.readable(id).await? {
            None => Ok(Err(not_found(id))),
            Some((_, level)) if level < need => {
                Ok(Err(GraphError::Denied(format!("no {} access on {id}", format!("{need:?}").to_lowercase()))))
            }
            Some((parsed, _)) => Ok(Ok(parsed)),
        }
    }

    /// The JSON of a node or edge already known to exist.
    fn json_of(&self, parsed: &Ref) -> String {
        match (parsed.kind, parsed.is_root()) {
            (Kind::Node, true) => root_json(&parsed.hex),
            (Kind::Node, false) => node_json(self.nodes[&parsed.hex].row.as_ref().expect("checked")),
            (Kind::Edge, _) => edge_json(self.edges[&parsed.hex].row.as_ref().expect("checked")),
        }
    }

    pub fn root(&self) -> String {
        self.caller_root_id()
    }

    pub async fn here(&mut self) -> wasmtime::Result<String> {
        let Some(entry) = self.entry.clone() else { return Ok(root_json(&self.caller)) };
        // Checked before the run; this run may have changed or deleted it since.
        Ok(self.get(&entry).await?.unwrap_or_else(|| root_json(&self.caller)))
    }

    pub async fn get(&mut self, id: &str) -> wasmtime::Result<Option<String>> {
        Ok(self.readable(id).await?.map(|(parsed, _)| self.json_of(&parsed)))
    }

    pub async fn access(&mut self, id: &str) -> wasmtime::Result<Level> {
        Ok(self.readable(id).await?.map_or(Level::NoAccess, |(_, level)| level))
    }

    /// Neighbours of a node in edge creation order, with `{"items", "cursor"}`.
    pub async fn neighbours(&mut self, node: &str, query: Neighbours<'_>) -> Outcome<String> {
        let parsed = match self.require(node, Level::Read).await? {
            Ok(parsed) if parsed.kind == Kind::Node => parsed,
            Ok(_) => return Ok(Err(GraphError::Invalid(format!("{node} is not a node")))),
            Err(err) => return Ok(Err(err)),
        };
        let node = ids::node_id(&parsed.type_name, &parsed.hex);
        let equals = match query.equals.map(serde_json::from_str::<Map<String, Value>>) {
            None => None,
            Some(Ok(equals)) => Some(equals),
            Some(Err(_)) => return Ok(Err(GraphError::Invalid("equals must be a JSON object".into()))),
        };
        let page = self.service.limits.page;
        let limit = if query.limit == 0 { page } else { query.limit.min(page) } as usize;
        // Cursor: `s<seq>` inside the stored edges, `n<index>` inside this run's new ones.
        let (mut after_seq, mut new_from) = match query.cursor {
            None => (0, None),
            Some(cursor) => match (cursor.strip_prefix('s'), cursor.strip_prefix('n')) {
                (Some(seq), _) => (seq.parse().unwrap_or(i64::MAX), None),
                (_, Some(index)) => (i64::MAX, Some(index.parse().unwrap_or(usize::MAX))),
                _ => return Ok(Err(GraphError::Invalid("malformed cursor".into()))),
            },
        };
        let mut items = Vec::new();
        while new_from.is_none() && items.len() < limit {
            let edges_query = EdgeQuery {
                node: &node,
                direction: query.direction,
                edge_type: query.edge_type,
                after_seq,
                limit: limit - items.len(),
            };
            let rows = self.service.store().edges(edges_query).await.map_err(store_failure)?;
            let exhausted = rows.len() < limit - items.len();
            for (edge, far) in rows {
                after_seq = edge.seq;
                // Rows this run changed or deleted are seen as this run left them.
                let edge = match self.edges.get(&edge.hex) {
                    Some(seen) => seen.row.clone(),
                    None => Some(edge),
                };
                let Some(edge) = edge else { continue };
                let far_id = if edge.source == node { edge.target.clone() } else { edge.source.clone() };
                if let Some(far) = far {
                    self.nodes.entry(far.hex.clone()).or_insert(Seen { row: Some(far), change: Change::Read });
                }
                if let Some(item) = self.neighbour_item(&far_id, &query, equals.as_ref()).await? {
                    items.push(item);
                }
            }
            if exhausted {
                new_from = Some(0);
            }
        }
        let mut cursor = (items.len() >= limit).then(|| format!("s{after_seq}"));
        if let Some(start) = new_from {
            cursor = None;
            let new_edges: Vec<EdgeRow> = self.new_edges[start.min(self.new_edges.len())..]
                .iter()
                .filter_map(|hex| self.edges.get(hex).and_then(|seen| seen.row.clone()))
                .collect();
            for (index, edge) in new_edges.into_iter().enumerate() {
                if items.len() >= limit {
                    cursor = Some(format!("n{}", start + index));
                    break;
                }
                let far_id = match query.direction {
                    Direction::Out if edge.source == node => edge.target.clone(),
                    Direction::In if edge.target == node => edge.source.clone(),
                    Direction::Both if edge.source == node => edge.target.clone(),
                    Direction::Both if edge.target == node => edge.source.clone(),
                    _ => continue,
                };
                if query.edge_type.is_some_and(|wanted| wanted != edge.type_name) {
                    continue;
                }
                if let Some(item) = self.neighbour_item(&far_id, &query, equals.as_ref()).await? {
                    items.push(item);
                }
            }
        }
        let cursor = cursor.map_or(Value::Null, Value::String);
        Ok(Ok(format!(r#"{{"items":[{}],"cursor":{cursor}}}"#, items.join(","))))
    }

    /// A neighbour's JSON if it passes the query's filters and the caller may read it.
    async fn neighbour_item(
        &mut self,
        far: &str,
        query: &Neighbours<'_>,
        equals: Option<&Map<String, Value>>,
    ) -> wasmtime::Result<Option<String>> {
        let Some(parsed) = Ref::parse(far) else { return Ok(None) };
        if query.node_type.is_some_and(|wanted| wanted != parsed.type_name) {
            return Ok(None);
        }
        let Some((parsed, _)) = self.readable(far).await? else { return Ok(None) };
        if let Some(equals) = equals {
            let context = match parsed.is_root() {
                true => Map::new(),
                false => {
                    let row = self.nodes[&parsed.hex].row.as_ref().expect("readable");
                    serde_json::from_str(&row.context).unwrap_or_default()
                }
            };
            if !equals.iter().all(|(key, value)| context.get(key) == Some(value)) {
                return Ok(None);
            }
        }
        Ok(Some(self.json_of(&parsed)))
    }

    // ---- writes ------------------------------------------------------------------

    pub async fn create(&mut self, node_type: &str, context: &str) -> Outcome<String> {
        Ok(self.new_node(node_type, context)?.map(|row| node_json(&row)))
    }

    fn new_node(&mut self, node_type: &str, context: &str) -> Outcome<NodeRow> {
        if !ids::is_type_name(node_type) {
            return Ok(Err(GraphError::Invalid(format!("{node_type:?} is not a node type"))));
        }
        let context = match self.context(context)? {
            Ok(context) => context,
            Err(err) => return Ok(Err(err)),
        };
        self.count_write(context.len())?;
        let row = NodeRow {
            hex: ids::new_hex(),
            type_name: node_type.to_string(),
            owner: self.caller.clone(),
            context,
            version: 0,
        };
        self.nodes.insert(row.hex.clone(), Seen { row: Some(row.clone()), change: Change::Created });
        Ok(Ok(row))
    }

    pub async fn spawn(
        &mut self,
        from: &str,
        edge_type: &str,
        edge_context: &str,
        node_type: &str,
        context: &str,
    ) -> Outcome<String> {
        let from = match self.require(from, Level::Connect).await? {
            Ok(parsed) if parsed.kind == Kind::Node => parsed,
            Ok(_) => return Ok(Err(GraphError::Invalid(format!("{from} is not a node")))),
            Err(err) => return Ok(Err(err)),
        };
        if !(edge_type.is_empty() || ids::is_type_name(edge_type)) {
            return Ok(Err(GraphError::Invalid(format!("{edge_type:?} is not an edge type"))));
        }
        let edge_context = match self.context(edge_context)? {
            Ok(context) => context,
            Err(err) => return Ok(Err(err)),
        };
        let node = match self.new_node(node_type, context)? {
            Ok(node) => node,
            Err(err) => return Ok(Err(err)),
        };
        let source = ids::node_id(&from.type_name, &from.hex);
        self.new_edge(source, ids::node_id(&node.type_name, &node.hex), edge_type, edge_context)?;
        Ok(Ok(node_json(&node)))
    }

    pub async fn connect(&mut self, from: &str, to: &str, edge_type: &str, context: &str) -> Outcome<String> {
        if !(edge_type.is_empty() || ids::is_type_name(edge_type)) {
            return Ok(Err(GraphError::Invalid(format!("{edge_type:?} is not an edge type"))));
        }
        let mut ends = Vec::with_capacity(2);
        for end in [from, to] {
            match self.require(end, Level::Connect).await? {
                Ok(parsed) if parsed.kind == Kind::Node => ends.push(ids::node_id(&parsed.type_name, &parsed.hex)),
                Ok(_) => return Ok(Err(GraphError::Invalid(format!("{end} is not a node")))),
                Err(err) => return Ok(Err(err)),
            }
        }
        let context = match self.context(context)? {
            Ok(context) => context,
            Err(err) => return Ok(Err(err)),
        };
        let target = ends.pop().expect("two ends");
        let source = ends.pop().expect("two ends");
        Ok(Ok(self.new_edge(source, target, edge_type, context)?))
    }

    fn new_edge(&mut self, source: String, target: String, edge_type: &str, context: String) -> wasmtime::Result<String> {
        self.count_write(context.len())?;
        let row = EdgeRow {
            hex: ids::new_hex(),
            type_name: edge_type.to_string(),
            owner: self.caller.clone(),
            source,
            target,
            context,
            version: 0,
            seq: 0,
        };
        let json = edge_json(&row);
        self.new_edges.push(row.hex.clone());
        self.edges.insert(row.hex.clone(), Seen { row: Some(row), change: Change::Created });
        Ok(json)
    }

    pub async fn disconnect(&mut self, from: &str, to: &str, edge_type: Option<&str>) -> Outcome<u32> {
        let mut ends = Vec::with_capacity(2);
        for end in [from, to] {
            match self.require(end, Level::Connect).await? {
                Ok(parsed) if parsed.kind == Kind::Node => ends.push(ids::node_id(&parsed.type_name, &parsed.hex)),
                Ok(_) => return Ok(Err(GraphError::Invalid(format!("{end} is not a node")))),
                Err(err) => return Ok(Err(err)),
            }
        }
        let (source, target) = (&ends[0], &ends[1]);
        let mut matching = Vec::new();
        let mut after_seq = 0;
        loop {
            let query = EdgeQuery { node: source, direction: Direction::Out, edge_type, after_seq, limit: 1_000 };
            let rows = self.service.store().edges(query).await.map_err(store_failure)?;
            let done = rows.len() < 1_000;
            for (edge, _) in rows {
                after_seq = edge.seq;
                if &edge.target == target && !self.edges.contains_key(&edge.hex) {
                    self.edges.insert(edge.hex.clone(), Seen { row: Some(edge.clone()), change: Change::Read });
                }
                if &edge.target == target {
                    matching.push(edge.hex);
                }
            }
            if done {
                break;
            }
        }
        matching.extend(self.new_edges.iter().cloned());
        let mut removed = 0;
        for hex in matching {
            let Some(seen) = self.edges.get(&hex) else { continue };
            let Some(edge) = &seen.row else { continue };
            if &edge.source != source || &edge.target != target || edge_type.is_some_and(|t| t != edge.type_name) {
                continue;
            }
            self.count_write(0)?;
            self.delete_edge(&hex);
            removed += 1;
        }
        Ok(Ok(removed))
    }

    fn delete_edge(&mut self, hex: &str) {
        let Some(seen) = self.edges.get_mut(hex) else { return };
        let version = seen.row.as_ref().map_or(0, |row| row.version);
        seen.change = match seen.change {
            Change::Created => Change::Deleted(0),
            _ => Change::Deleted(version),
        };
        seen.row = None;
    }

    pub async fn update(&mut self, id: &str, fields: &str) -> Outcome<String> {
        let parsed = match self.require(id, Level::Write).await? {
            Ok(parsed) => parsed,
            Err(err) => return Ok(Err(err)),
        };
        if parsed.is_root() {
            return Ok(Err(GraphError::Invalid("a root's context cannot change".into())));
        }
        let Ok(fields) = serde_json::from_str::<Map<String, Value>>(fields) else {
            return Ok(Err(GraphError::Invalid("fields must be a JSON object".into())));
        };
        let current = match parsed.kind {
            Kind::Node => self.nodes[&parsed.hex].row.as_ref().map(|row| row.context.clone()),
            Kind::Edge => self.edges[&parsed.hex].row.as_ref().map(|row| row.context.clone()),
        };
        let mut context: Map<String, Value> = serde_json::from_str(&current.unwrap_or_default()).unwrap_or_default();
        context.extend(fields);
        let context = match self.context(&Value::Object(context).to_string())? {
            Ok(context) => context,
            Err(err) => return Ok(Err(err)),
        };
        self.count_write(context.len())?;
        let mark = |change: &mut Change| {
            if *change == Change::Read {
                *change = Change::Updated;
            }
        };
        let json = match parsed.kind {
            Kind::Node => {
                let seen = self.nodes.get_mut(&parsed.hex).expect("required");
                mark(&mut seen.change);
                let row = seen.row.as_mut().expect("required");
                row.context = context;
                node_json(row)
            }
            Kind::Edge => {
                let seen = self.edges.get_mut(&parsed.hex).expect("required");
                mark(&mut seen.change);
                let row = seen.row.as_mut().expect("required");
                row.context = context;
                edge_json(row)
            }
        };
        Ok(Ok(json))
    }

    pub async fn delete(&mut self, id: &str) -> Outcome<()> {
        let parsed = match self.require(id, Level::Write).await? {
            Ok(parsed) => parsed,
            Err(err) => return Ok(Err(err)),
        };
        if parsed.is_root() {
            return Ok(Err(GraphError::Invalid("a root cannot be deleted".into())));
        }
        self.count_write(0)?;
        match parsed.kind {
            Kind::Edge => self.delete_edge(&parsed.hex),
            Kind::Node => {
                let full = ids::node_id(&parsed.type_name, &parsed.hex);
                // Its stored edges go at commit; the ones this run made go now.
                let touching: Vec<String> = self
                    .new_edges
                    .iter()
                    .filter(|hex| {
                        self.edges[*hex].row.as_ref().is_some_and(|edge| edge.source == full || edge.target == full)
                    })
                    .cloned()
                    .collect();
                for hex in touching {
                    self.delete_edge(&hex);
                }
                // Stored edges already seen by this run are gone too.
                for seen in self.edges.values_mut() {
                    if seen.row.as_ref().is_some_and(|edge| edge.source == full || edge.target == full) {
                        seen.row = None;
                    }
                }
                let seen = self.nodes.get_mut(&parsed.hex).expect("required");
                if seen.change != Change::Created {
                    let version = seen.row.as_ref().map_or(0, |row| row.version);
                    self.deleted_nodes.push((full, version));
                }
                seen.change = Change::Deleted(0);
                seen.row = None;
            }
        }
        Ok(Ok(()))
    }

    pub async fn grant(&mut self, target: &str, grantee: Option<&str>, level: Option<Level>) -> Outcome<()> {
        let parsed = match self.require(target, Level::Write).await? {
            Ok(parsed) => parsed,
            Err(err) => return Ok(Err(err)),
        };
        let grantee = match grantee {
            None => EVERYONE.to_string(),
            Some(root) => match crate::auth::parse_root(root) {
                Some(hex) => hex,
                None => return Ok(Err(GraphError::Invalid(format!("{root} is not a root id")))),
            },
        };
        self.count_write(0)?;
        let full = match parsed.kind {
            Kind::Node => ids::node_id(&parsed.type_name, &parsed.hex),
            Kind::Edge => ids::edge_id(&parsed.type_name, &parsed.hex),
        };
        self.grants_on(&full).await?;
        let grants = self.grants.get_mut(&full).expect("just read");
        grants.retain(|(who, _)| *who != grantee);
        if let Some(level) = level {
            grants.push((grantee.clone(), level));
        }
        self.grant_writes.push((full, grantee, level));
        Ok(Ok(()))
    }

    // ---- commit ------------------------------------------------------------------

    /// Whether the run wrote anything.
    pub fn has_writes(&self) -> bool {
        !self.grant_writes.is_empty()
            || self.nodes.values().any(|seen| seen.change != Change::Read)
            || self.edges.values().any(|seen| seen.change != Change::Read)
    }

    /// Commits the run's writes, then releases its root's lock.
    pub async fn commit(mut self) -> Result<(), CommitError> {
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
