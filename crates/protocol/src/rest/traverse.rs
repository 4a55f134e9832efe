//! `GET /util/traverse`: jac-cloud's view of the caller's graph from a node (its root by
//! default) or an edge (`source`), breadth-first, alternating a level of nodes (each with
//! its edges' ids) and a level of edges (each with its two ends), for `depth` levels after
//! the first (negative: all of them), entering only `node_types` and `edge_types` when
//! given; `detailed` adds each one's context as `archetype`, and only then are contexts
//! kept. It reads as a walker run does, under the strict rules (only what the caller may
//! read) and within a run's limits: admitted by the tenant's run quota and CPU budget
//! (charged for the time it takes), at most `--graph-calls` graph calls, `--walker-time-ms`
//! and `--walker-report-bytes` of answer. A walk those limits cut short answers what it
//! had, with `"truncated": true`. It takes no lock: the caller's walker runs go on
//! beside it.

use std::collections::HashSet;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use walker_accounts::auth::Identity;
use walker_core::access::Direction;
use walker_runtime::graph::{GraphRun, Neighbours, Yields};
use walker_runtime::{FieldError, FieldSpec, FieldType, LimitHit, RunError, validate_fields};

use super::{bearer_identity, detail, run_failed, store_unavailable, unprocessable};
use crate::Shared;

pub async fn traverse(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let identity = match bearer_identity(&shared, &headers) {
        Ok(identity) if identity.authenticated => identity,
        Ok(_) => return detail(StatusCode::FORBIDDEN, "Not authenticated"),
        Err(response) => return response,
    };
    let request = match Request::read(&query) {
        Ok(request) => request,
        Err(errors) => return unprocessable(&errors),
    };
    let admission = match shared.catalog.admit_read().await {
        Ok(admission) => admission,
        Err(kind) => return run_failed(&RunError::new("util/traverse", kind)),
    };
    match admission.charged(request.walk(&shared, &identity)).await {
        Ok(body) => axum::Json(body).into_response(),
        Err(_) => store_unavailable(),
    }
}

/// The answer around the listed items, at its longest.
const EMPTY_ANSWER: &str = r#"{"edges":[],"nodes":[],"truncated":true}"#;

/// The query, read as jac-cloud's FastAPI route reads it.
struct Request {
    source: Option<String>,
    detailed: bool,
    depth: i64,
    node_types: Option<HashSet<String>>,
    edge_types: Option<HashSet<String>>,
}

impl Request {
    fn read(query: &[(String, String)]) -> Result<Self, Vec<FieldError>> {
        let field = |name: &str, kind, default: Value| FieldSpec {
            name: name.into(),
            kind,
            default: Some(default),
            schema: None,
            excluded: false,
        };
        let fields = [
            field("source", FieldType::Str, Value::Null),
            field("detailed", FieldType::Bool, false.into()),
            field("depth", FieldType::Int, 1.into()),
        ];
        let scalars: Map<String, Value> = (query.iter())
            .filter(|(name, _)| fields.iter().any(|field| &field.name == name))
            .map(|(name, value)| (name.clone(), Value::String(value.clone())))
            .collect();
        let values = validate_fields(&fields, &scalars).map_err(|errors| FieldError::located(errors, |_| "query"))?;
        let listed = |name: &str| {
            let types: HashSet<String> =
                query.iter().filter(|(key, _)| key == name).map(|(_, value)| value.clone()).collect();
            (!types.is_empty()).then_some(types)
        };
        Ok(Request {
            source: values["source"].as_str().map(str::to_string),
            detailed: values["detailed"].as_bool().unwrap_or(false),
            depth: values["depth"].as_i64().unwrap_or(1),
            node_types: listed("node_types"),
            edge_types: listed("edge_types"),
        })
    }

    /// `{"nodes", "edges"}` as jac-cloud answers; `Err` when the store fails.
    async fn walk(self, shared: &Shared, identity: &Identity) -> Result<Value, wasmtime::Error> {
        let limits = shared.catalog.runtime().limits();
        let graph = shared.catalog.env().graph.clone().read(identity.root.clone());
        let mut walk = Walk {
            request: self,
            graph,
            nodes: Vec::new(),
            edges: Vec::new(),
            seen: HashSet::new(),
            bytes: EMPTY_ANSWER.len(),
            max_bytes: limits.report_bytes,
        };
        let deadline = tokio::time::Instant::now() + limits.run_time;
        let truncated = match tokio::time::timeout_at(deadline, walk.run()).await {
            Err(_elapsed) => true,
            Ok(Ok(())) => false,
            Ok(Err(err)) if err.is::<LimitHit>() => true,
            Ok(Err(err)) => return Err(err),
        };
        let mut body = json!({"edges": walk.edges, "nodes": walk.nodes});
        if truncated {
            body["truncated"] = true.into();
        }
        Ok(body)
    }
}

/// One traversal under way; dropped without a commit, as it writes nothing.
struct Walk {
    request: Request,
    graph: Box<dyn GraphRun>,
    nodes: Vec<Value>,
    edges: Vec<Value>,
    /// Every node and edge id entered, so each is listed once.
    seen: HashSet<String>,
    /// Bytes of JSON listed so far, and the most the answer may take.
    bytes: usize,
    max_bytes: usize,
}

impl Walk {
    async fn run(&mut self) -> wasmtime::Result<()> {
        self.graph.begin_call().await?;
        let source = match self.request.source.clone() {
            Some(source) => source,
            None => self.graph.root(),
        };
        let Some(first) = self.graph.get(&source).await? else { return Ok(()) };
        let first = self.kept(serde_json::from_str(&first)?);
        self.seen.insert(source);
        let mut at_nodes = first.get("source").is_none();
        let mut frontier = vec![first];
        let mut depth = self.request.depth;
        loop {
            let next = if at_nodes { self.nodes_level(frontier).await? } else { self.edges_level(frontier).await? };
            if next.is_empty() || depth == 0 {
                return Ok(());
            }
            depth -= 1;
            at_nodes = !at_nodes;
            frontier = next;
        }
    }

    /// Lists `nodes`, each with its edges' ids; the edges to enter next.
    async fn nodes_level(&mut self, nodes: Vec<Value>) -> wasmtime::Result<Vec<Value>> {
        let mut next = Vec::new();
        for node in nodes {
            let id = node["id"].as_str().unwrap_or_default().to_string();
            let edges = self.edges_of(&id).await?;
            let ids: Vec<&Value> = edges.iter().map(|edge| &edge["id"]).collect();
            let listed = self.listed(json!({"id": id, "edges": ids}), &node)?;
            self.nodes.push(listed);
            for edge in edges {
                if enters(&mut self.seen, &edge, self.request.edge_types.as_ref()) {
                    next.push(edge);
                }
            }
        }
        Ok(next)
    }

    /// Lists `edges`, each with its ends; the nodes to enter next.
    async fn edges_level(&mut self, edges: Vec<Value>) -> wasmtime::Result<Vec<Value>> {
        let mut next = Vec::new();
        for edge in edges {
            for end in ["source", "target"] {
                let id = edge[end].as_str().unwrap_or_default().to_string();
                let entered = json!({"id": id});
                if !enters(&mut self.seen, &entered, self.request.node_types.as_ref()) {
                    continue;
                }
                self.graph.begin_call().await?;
                if let Some(node) = self.graph.get(&id).await? {
                    next.push(self.kept(serde_json::from_str(&node)?));
                }
            }
            let listed = json!({"id": edge["id"], "source": edge["source"], "target": edge["target"]});
            let listed = self.listed(listed, &edge)?;
            self.edges.push(listed);
        }
        Ok(next)
    }

    /// Every edge of `node` the caller may read, in both directions, page by page.
    async fn edges_of(&mut self, node: &str) -> wasmtime::Result<Vec<Value>> {
        let (mut edges, mut cursor) = (Vec::new(), None::<String>);
        loop {
            self.graph.begin_call().await?;
            let query = Neighbours {
                direction: Direction::Both,
                edge_type: None,
                node_type: None,
                equals: None,
                limit: 0,
                cursor: cursor.as_deref(),
                yields: Yields::Edges,
            };
            let Ok(page) = self.graph.neighbours(node, query).await? else { return Ok(edges) };
            let mut page: Value = serde_json::from_str(&page)?;
            let items = page["items"].as_array_mut().map(std::mem::take).unwrap_or_default();
            edges.extend(items.into_iter().map(|edge| self.kept(edge)));
            match page["cursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => return Ok(edges),
            }
        }
    }

    /// `listed`, with the context as `archetype` when the request is detailed, counted
    /// against the answer's bytes: past them, the walk stops.
    fn listed(&mut self, mut listed: Value, item: &Value) -> wasmtime::Result<Value> {
        if self.request.detailed {
            listed["archetype"] = item.get("context").cloned().unwrap_or_else(|| json!({}));
        }
        self.bytes += listed.to_string().len() + 1;
        if self.bytes > self.max_bytes {
            return Err(LimitHit::ReportSize(self.max_bytes).into());
        }
        Ok(listed)
    }

    /// A node or edge as the walk keeps it until it is listed: its context only when
    /// the request is detailed (a context may take hundreds of KiB).
    fn kept(&self, mut item: Value) -> Value {
        if !self.request.detailed {
            item.as_object_mut().map(|fields| fields.remove("context"));
        }
        item
    }
}

/// Whether the walk enters `item` (by the type in its id): once, and only of `types`.
fn enters(seen: &mut HashSet<String>, item: &Value, types: Option<&HashSet<String>>) -> bool {
    let id = item["id"].as_str().unwrap_or_default();
    let type_name = id.split(':').nth(1).unwrap_or_default();
    types.is_none_or(|types| types.contains(type_name)) && seen.insert(id.to_string())
}
