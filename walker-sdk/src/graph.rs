//! The persistent graph, as jac writes it: `here`, `root`, `here ++> Item(..)`,
//! `[here -->](`?Item)`, `[edge -->]`, `save`, grants. Walking it (`visit`) is in
//! [`Abilities`](crate::Abilities).
//!
//! A run is one transaction: reads see the run's own writes, and every write commits
//! when `run` returns `Ok` (none survives an `Err` or a trap). Node types are plain serde
//! structs that implement [`Archetype`]; [`Node<T>`] is `{"id", "context"}`, so
//! `cx.report(&node)` is byte-identical to jac-cloud's `report node`.
//!
//! ```no_run
//! use walker_sdk::graph::{self, Archetype};
//! # use serde::{Deserialize, Serialize};
//! #[derive(Serialize, Deserialize, Archetype)]
//! struct Item { name: String }
//!
//! # fn f() -> walker_sdk::Result {
//! let item = graph::spawn(&graph::root(), &Item { name: "a".into() })?;   // root ++> Item(name="a")
//! let items = graph::neighbours::<Item>(&graph::root(), graph::Query::out())?; // [root -->](`?Item)
//! # Ok(()) }
//! ```

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::bindings::jac::walker::graph as wit;
use crate::{Error, ErrorKind, Result};

pub use walker_sdk_derive::Archetype;
pub use wit::{Direction, Level};

/// A node, edge or object type (jac's `node Item { has name: str; }`, `edge Follows`,
/// `obj Profile`): its fields are the context. `#[derive(Archetype)]` names it after the
/// struct (`#[archetype(name = "…")]` to name it otherwise); on a node type,
/// `#[archetype(access = "field")]` is jac's `__jac_access__` returning that field (see
/// [`Spec::jac_cloud_access`](crate::Spec::jac_cloud_access)).
pub trait Archetype: Serialize + DeserializeOwned {
    /// The type name in ids (`n:Item:…`) and filters.
    const TYPE: &'static str;
}

/// A node, an object or an edge: its id and context, typed (`Node<Item>`) or not (`Node`). It
/// dereferences to its context, so `here.val` reads the node's field as jac reads it
/// (a field named `id` or `context` is reached as `here.context.id`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node<C = Value> {
    pub id: String,
    pub context: C,
}

impl<C> Deref for Node<C> {
    type Target = C;

    fn deref(&self) -> &C {
        &self.context
    }
}

impl<C> DerefMut for Node<C> {
    fn deref_mut(&mut self) -> &mut C {
        &mut self.context
    }
}

impl Node {
    /// The same node with a typed context.
    pub fn typed<C: DeserializeOwned>(self) -> Result<Node<C>> {
        Ok(Node { id: self.id, context: serde_json::from_value(self.context)? })
    }

    /// The node as a `T`, if it is one: for neighbours of mixed types.
    pub fn to<T: Archetype>(&self) -> Option<Node<T>> {
        self.is::<T>().then(|| self.clone().typed().ok()).flatten()
    }
}

impl<C> Node<C> {
    /// The type in its id, as jac names it: `Item` for `n:Item:…`, `Root` for a root
    /// (`n::…`), `GenericEdge` for an untyped edge (`e::…`).
    pub fn type_name(&self) -> &str {
        match self.id.split(':').nth(1) {
            Some("") if self.is_root() => "Root",
            Some("") => "GenericEdge",
            named => named.unwrap_or_default(),
        }
    }

    /// Whether it is a root (`n::…`).
    pub fn is_root(&self) -> bool {
        self.id.starts_with("n::")
    }

    /// Whether it is an object (`o:…`) rather than a node.
    pub fn is_object(&self) -> bool {
        self.id.starts_with("o:")
    }

    /// Whether it is a `T` (`(`?T)` on one node).
    pub fn is<T: Archetype>(&self) -> bool {
        !self.is_root() && self.type_name() == T::TYPE
    }
}

/// An edge, with its ends' ids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Edge<C = Value> {
    pub id: String,
    pub source: String,
    pub target: String,
    pub context: C,
}

impl Edge {
    /// The type in its id: `Follows` for `e:Follows:…`, `GenericEdge` for `e::…`.
    pub fn type_name(&self) -> &str {
        match self.id.split(':').nth(1) {
            Some("") => "GenericEdge",
            named => named.unwrap_or_default(),
        }
    }

    /// The same edge with a typed context.
    pub fn typed<C: DeserializeOwned>(self) -> Result<Edge<C>> {
        let context = serde_json::from_value(self.context)?;
        Ok(Edge { id: self.id, source: self.source, target: self.target, context })
    }
}

/// Writes this run made through this module: a walk re-reads a queued node when it
/// changed, so that an ability never sees, or saves over, an older copy.
static WRITES: AtomicU64 = AtomicU64::new(0);

pub(crate) fn writes_made() -> u64 {
    WRITES.load(Ordering::Relaxed)
}

fn wrote<T>(result: Result<T>) -> Result<T> {
    WRITES.fetch_add(1, Ordering::Relaxed);
    result
}

/// A host refusal as the walker's error, of its kind: `not found: …`, `denied: …`,
/// `invalid: …`.
fn host<T>(result: std::result::Result<T, wit::Error>) -> Result<T> {
    result.map_err(|err| match err {
        wit::Error::NotFound(msg) => Error::of(ErrorKind::NotFound, format!("not found: {msg}")),
        wit::Error::Denied(msg) => Error::of(ErrorKind::Denied, format!("denied: {msg}")),
        wit::Error::Invalid(msg) => Error::of(ErrorKind::Invalid, format!("invalid: {msg}")),
    })
}

fn parse<T: DeserializeOwned>(json: String) -> Result<T> {
    Ok(serde_json::from_str(&json)?)
}

fn to_json(value: &impl Serialize) -> String {
    serde_json::to_string(value).expect("graph contexts serialize to JSON")
}

/// The entry node: the caller's root, or the node the call named.
pub fn here() -> Node {
    serde_json::from_str(&wit::here()).expect("the host sends nodes as JSON")
}

/// The caller's root id, `n::<hex>`.
pub fn root() -> String {
    wit::root()
}

/// A node (or an edge, or an object) by id, if it exists and the caller may read it.
pub fn get(id: &str) -> Result<Option<Node>> {
    wit::get(id).map(parse).transpose()
}

/// A node (or an object) of type `T` by id; `None` if absent, unreadable or of another
/// type.
pub fn get_as<T: Archetype>(id: &str) -> Result<Option<Node<T>>> {
    match get(id)? {
        Some(node) if node.type_name() == T::TYPE => node.typed().map(Some),
        _ => Ok(None),
    }
}

/// `save(Item(..))`: a node owned by the caller's root, connected to nothing.
pub fn create<T: Archetype>(context: &T) -> Result<Node<T>> {
    wrote(parse(host(wit::create(T::TYPE, &to_json(context)))?))
}

/// jac's `save(Obj(..))`: a persisted object, `o:<Type>:<hex>`, owned by the caller's
/// root and connected to nothing. `get_as`, `save`, `update`, `delete` and `grant` take
/// it by id, as they take a node.
pub fn save_object<T: Archetype>(context: &T) -> Result<Node<T>> {
    wrote(parse(host(wit::create_object(T::TYPE, &to_json(context)))?))
}

/// The object `id` names, if it exists, is a `T` and the caller may read it; otherwise
/// a new one, `make()`, saved: for an object a walker keeps across runs by id.
pub fn object_or_save<T: Archetype>(id: Option<&str>, make: impl FnOnce() -> T) -> Result<Node<T>> {
    match id.map(get_as::<T>).transpose()?.flatten() {
        Some(object) if object.is_object() => Ok(object),
        _ => save_object(&make()),
    }
}

/// `from ++> Item(..)`: a new node and an untyped edge from `from` to it.
pub fn spawn<T: Archetype>(from: &str, context: &T) -> Result<Node<T>> {
    wrote(parse(host(wit::spawn(from, "", "{}", T::TYPE, &to_json(context)))?))
}

/// `from +>:E(..):+> Item(..)`: a new node and an edge of type `edge_type` to it.
pub fn spawn_via<T: Archetype>(from: &str, edge_type: &str, edge: &impl Serialize, context: &T) -> Result<Node<T>> {
    wrote(parse(host(wit::spawn(from, edge_type, &to_json(edge), T::TYPE, &to_json(context)))?))
}

/// `from +>:E(..):+> to` ("" for an untyped edge).
pub fn connect(from: &str, to: &str, edge_type: &str, context: &impl Serialize) -> Result<Edge> {
    wrote(parse(host(wit::connect(from, to, edge_type, &to_json(context)))?))
}

/// `from +>:E(..):+> to`, typed: an edge of type `E` with its fields.
pub fn connect_with<E: Archetype>(from: &str, to: &str, edge: &E) -> Result<Edge<E>> {
    wrote(parse(host(wit::connect(from, to, E::TYPE, &to_json(edge)))?))
}

/// `from del--> to`: removes the edges from `from` to `to` (of one type, if given).
pub fn disconnect(from: &str, to: &str, edge_type: Option<&str>) -> Result<u32> {
    wrote(host(wit::disconnect(from, to, edge_type)))
}

/// Sets top-level fields of a node's (or edge's) context; returns it updated.
pub fn update(id: &str, fields: &impl Serialize) -> Result<Node> {
    wrote(parse(host(wit::update(id, &to_json(fields)))?))
}

/// `save(node)`: writes a node's (or edge's) whole context, as jac's `save` and
/// `commit` do; an ability's `here` is saved without it.
pub fn save<C: Serialize>(node: &Node<C>) -> Result<Node> {
    update(&node.id, &node.context)
}

/// Deletes a node with its edges, or an edge.
pub fn delete(id: &str) -> Result {
    wrote(host(wit::delete(id)))
}

/// The caller's root's own nodes (not the root), of type `node_type` if given: stored
/// ones in id order, then the run's new ones.
pub fn owned(node_type: Option<&str>) -> Result<Vec<Node>> {
    every(|cursor| parse(host(wit::nodes(node_type, 0, cursor.as_deref()))?))
}

/// How many nodes (its root not counted) and edges the caller's root owns, as last
/// committed.
pub fn count() -> Counts {
    serde_json::from_str(&wit::count()).expect("the host sends counts as JSON")
}

/// A root's graph, counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub nodes: u64,
    pub edges: u64,
}

/// jac's `reset_graph()`: deletes every node of the caller's but its root, with their
/// edges; returns how many nodes and edges.
pub fn reset() -> Result<u32> {
    wrote(host(wit::reset()))
}

/// Keeps node `id` although the run leaves it with no edges, as jac's explicit `commit`
/// does: by jac-cloud's rule, the commit deletes a node of the caller's whose last edge
/// the run removed (roots never).
pub fn keep(id: &str) {
    wit::keep(Some(id))
}

/// Keeps every node this run leaves with no edges: the orphan rule off, for this run.
pub fn keep_orphans() {
    wit::keep(None)
}

impl Level {
    /// A level as jac writes one (`perm_grant(here, level)`): its number (0 read,
    /// 1 connect, 2 write, -1 none) or its name (`"READ"`, `"WRITE"`…, any case).
    pub fn from_jac(level: &Value) -> Option<Level> {
        let named = level.as_str().map(str::to_ascii_uppercase);
        match (level.as_i64(), named.as_deref()) {
            (Some(-1), _) | (_, Some("NO_ACCESS")) => Some(Level::NoAccess),
            (Some(0), _) | (_, Some("READ")) => Some(Level::Read),
            (Some(1), _) | (_, Some("CONNECT")) => Some(Level::Connect),
            (Some(2), _) | (_, Some("WRITE")) => Some(Level::Write),
            _ => None,
        }
    }
}

/// Gives a root (`Some(root id)`) or everyone (`None`) `level` on `id`; on a root it
/// covers the root's whole graph.
pub fn grant(id: &str, grantee: Option<&str>, level: Level) -> Result {
    host(wit::grant(id, grantee, level))
}

pub fn revoke(id: &str, grantee: Option<&str>) -> Result {
    host(wit::revoke(id, grantee))
}

/// The caller's level on `id`.
pub fn access(id: &str) -> Result<Level> {
    host(wit::access(id))
}

/// Which neighbours: `[-->]` (`Query::out()`), `[<--]`, `[<-->]`, narrowed by edge
/// type, node type and field values.
#[derive(Debug, Clone)]
pub struct Query {
    direction: Direction,
    edge_type: Option<String>,
    node_type: Option<String>,
    equals: Option<Value>,
    page: u32,
}

impl Query {
    fn new(direction: Direction) -> Self {
        Query { direction, edge_type: None, node_type: None, equals: None, page: 0 }
    }

    pub fn out() -> Self {
        Self::new(Direction::Out)
    }

    pub fn incoming() -> Self {
        Self::new(Direction::In)
    }

    pub fn both() -> Self {
        Self::new(Direction::Both)
    }

    /// Only along edges of this type (`[->:Follows:->]`).
    pub fn edge(mut self, edge_type: &str) -> Self {
        self.edge_type = Some(edge_type.to_string());
        self
    }

    /// Only neighbours of this type (`(`?Item)`).
    pub fn node(mut self, node_type: &str) -> Self {
        self.node_type = Some(node_type.to_string());
        self
    }

    /// Only neighbours whose context has these top-level values (`(?name == "a")`).
    pub fn equals(mut self, fields: Value) -> Self {
        self.equals = Some(fields);
        self
    }

    /// Neighbours per host call (0: the host's maximum).
    pub fn page(mut self, items: u32) -> Self {
        self.page = items;
        self
    }

    fn to_wit(&self, cursor: Option<String>) -> wit::Query {
        wit::Query {
            direction: self.direction,
            edge_type: self.edge_type.clone(),
            node_type: self.node_type.clone(),
            equals: self.equals.as_ref().map(to_json),
            limit: self.page,
            cursor,
        }
    }
}

/// One page of neighbours (or edges) and where the next starts.
#[derive(Debug, Deserialize)]
pub struct Page<T = Node> {
    pub items: Vec<T>,
    pub cursor: Option<String>,
}

/// One page of `node`'s neighbours, from `cursor`.
pub fn neighbours_page(node: &str, query: &Query, cursor: Option<String>) -> Result<Page> {
    parse(host(wit::neighbours(node, &query.to_wit(cursor)))?)
}

/// Every item of every page `next` reads, from the first.
fn every<T>(mut next: impl FnMut(Option<String>) -> Result<Page<T>>) -> Result<Vec<T>> {
    let mut items = Vec::new();
    let mut cursor = None;
    loop {
        let page = next(cursor)?;
        items.extend(page.items);
        match page.cursor {
            Some(more) => cursor = Some(more),
            None => return Ok(items),
        }
    }
}

/// Every neighbour of `node` matching `query`, in the order their edges were made, of
/// whatever types (`Node::to` tells them apart).
pub fn all_neighbours(node: &str, query: &Query) -> Result<Vec<Node>> {
    every(|cursor| neighbours_page(node, query, cursor))
}

/// The neighbours of type `T` (`[node -->](`?Item)` with `Query::out()`).
pub fn neighbours<T: Archetype>(node: &str, query: Query) -> Result<Vec<Node<T>>> {
    all_neighbours(node, &query.node(T::TYPE))?.into_iter().map(Node::typed).collect()
}

/// `[node edge -->]`: the edges to the neighbours `all_neighbours` would list.
pub fn edges(node: &str, query: &Query) -> Result<Vec<Edge>> {
    every(|cursor| parse(host(wit::edges(node, &query.to_wit(cursor)))?))
}
