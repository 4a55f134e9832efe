//! Traversal: a node's neighbours, or the edges to them, page by page, as this run
//! sees them.

use serde_json::{Map, Value};

use walker_runtime::graph::{GraphError, Neighbours, Outcome, Yields};

use super::{Change, Resume, RunGraph, Seen, edge_json, resume, store_failure};
use walker_core::ids::Ref;
use walker_store::{Direction, EdgeQuery, EdgeRow, Level};

/// One `neighbours` call's question, read once.
struct Scan<'a> {
    node: &'a str,
    query: &'a Neighbours<'a>,
    equals: Option<&'a Map<String, Value>>,
    /// Items per page.
    limit: usize,
}

impl RunGraph {
    /// Neighbours of a node (or the edges to them) in edge creation order, with
    /// `{"items", "cursor"}`: stored edges first, then those this run made. Under
    /// jac-cloud's rules, of any node the run may `get`; unreadable neighbours are
    /// skipped either way.
    pub async fn neighbours(&mut self, node: &str, query: Neighbours<'_>) -> Outcome<String> {
        let (node, _) = refused!(self.permit_node(node, Level::Read).await?);
        let equals = match query.equals.map(serde_json::from_str::<Map<String, Value>>) {
            None => None,
            Some(Ok(equals)) => Some(equals),
            Some(Err(_)) => return Ok(Err(GraphError::Invalid("equals must be a JSON object".into()))),
        };
        let page = self.service.limits.page;
        let limit = if query.limit == 0 { page } else { query.limit.min(page) } as usize;
        let scan = Scan { node: &node, query: &query, equals: equals.as_ref(), limit };
        let mut items = Vec::new();
        let cursor = match refused!(resume(query.cursor)) {
            Resume::Start => self.stored_neighbours(&scan, 0, &mut items).await?,
            Resume::Stored(seq) => self.stored_neighbours(&scan, seq.parse().unwrap_or(i64::MAX), &mut items).await?,
            Resume::New(index) => self.new_neighbours(&scan, index, &mut items).await?,
        };
        let cursor = cursor.map_or(Value::Null, Value::String);
        Ok(Ok(format!(r#"{{"items":[{}],"cursor":{cursor}}}"#, items.join(","))))
    }

    /// Adds the neighbours through stored edges after sequence number `after_seq`, then
    /// (once those are all read) through edges this run made, up to a page; the cursor
    /// to go on from (`None`: the end). A full page or a spent scan budget stops early.
    async fn stored_neighbours(
        &mut self,
        scan: &Scan<'_>,
        mut after_seq: i64,
        items: &mut Vec<String>,
    ) -> wasmtime::Result<Option<String>> {
        let mut budget = self.service.limits.scan as usize;
        while items.len() < scan.limit && budget > 0 {
            // Filters may drop rows: each read asks for a whole page, within the budget.
            let wanted = scan.limit.min(budget);
            let edges_query = EdgeQuery {
                node: scan.node,
                direction: scan.query.direction,
                edge_type: scan.query.edge_type,
                after_seq,
                limit: wanted,
            };
            let rows = self.service.store().edges(edges_query).await.map_err(store_failure)?;
            let read = rows.len();
            budget -= read;
            let mut consumed = 0;
            for (edge, far) in rows {
                if items.len() >= scan.limit {
                    break;
                }
                consumed += 1;
                after_seq = edge.seq;
                // Rows this run changed or deleted are seen as this run left them.
                let edge = match self.edges.get(&edge.hex) {
                    Some(seen) => seen.row.clone(),
                    None => Some(edge),
                };
                let Some(edge) = edge else { continue };
                let far_id = if edge.source == scan.node { edge.target.clone() } else { edge.source.clone() };
                if let Some(far) = far {
                    self.nodes.entry(far.hex.clone()).or_insert(Seen { row: Some(far), change: Change::Read });
                }
                if let Some(item) = self.neighbour_item(&edge, &far_id, scan).await? {
                    items.push(item);
                }
            }
            if read < wanted && consumed == read {
                return self.new_neighbours(scan, 0, items).await;
            }
        }
        Ok(Some(format!("s{after_seq}")))
    }

    /// Adds the neighbours through edges this run made, from the `start`th, up to a page;
    /// the cursor to go on from (`None`: the end).
    async fn new_neighbours(
        &mut self,
        scan: &Scan<'_>,
        start: usize,
        items: &mut Vec<String>,
    ) -> wasmtime::Result<Option<String>> {
        let new_edges: Vec<EdgeRow> = self.new_edges[start.min(self.new_edges.len())..]
            .iter()
            .filter_map(|hex| self.edges.get(hex).and_then(|seen| seen.row.clone()))
            .collect();
        for (index, edge) in new_edges.into_iter().enumerate() {
            if items.len() >= scan.limit {
                return Ok(Some(format!("n{}", start + index)));
            }
            let node = scan.node;
            let far_id = match scan.query.direction {
                Direction::Out if edge.source == node => edge.target.clone(),
                Direction::In if edge.target == node => edge.source.clone(),
                Direction::Both if edge.source == node => edge.target.clone(),
                Direction::Both if edge.target == node => edge.source.clone(),
                _ => continue,
            };
            if scan.query.edge_type.is_some_and(|wanted| wanted != edge.type_name) {
                continue;
            }
            if let Some(item) = self.neighbour_item(&edge, &far_id, scan).await? {
                items.push(item);
            }
        }
        Ok(None)
    }

    /// A neighbour's JSON (or its edge's, for `Yields::Edges`) if it passes the query's
    /// filters and the caller may read it.
    async fn neighbour_item(&mut self, edge: &EdgeRow, far: &str, scan: &Scan<'_>) -> wasmtime::Result<Option<String>> {
        let Some(parsed) = Ref::parse(far) else { return Ok(None) };
        if scan.query.node_type.is_some_and(|wanted| wanted != parsed.type_name) {
            return Ok(None);
        }
        let Some((parsed, _)) = self.readable(far).await? else { return Ok(None) };
        if let Some(equals) = scan.equals {
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
        Ok(Some(match scan.query.yields {
            Yields::Nodes => self.json_of(&parsed),
            Yields::Edges => edge_json(edge),
        }))
    }
}
