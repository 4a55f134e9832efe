//! Traversal: a node's neighbours, or the edges to them, page by page, as this run
//! sees them.

use serde_json::{Map, Value};

use walker_runtime::graph::{GraphError, Neighbours, Outcome, Yields};

use super::{Change, Resume, RunGraph, Seen, edge_json, resume, store_failure};
use walker_core::ids::Ref;
use walker_store::{Direction, EdgeQuery, EdgeRow, Level};

impl RunGraph {
    /// Neighbours of a node (or the edges to them) in edge creation order, with
    /// `{"items", "cursor"}`. Under jac-cloud's rules, of any node the run may `get`;
    /// unreadable neighbours are skipped either way.
    pub async fn neighbours(&mut self, node: &str, query: Neighbours<'_>) -> Outcome<String> {
        let (node, _) = refused!(self.permit_node(node, Level::Read).await?);
        let equals = match query.equals.map(serde_json::from_str::<Map<String, Value>>) {
            None => None,
            Some(Ok(equals)) => Some(equals),
            Some(Err(_)) => return Ok(Err(GraphError::Invalid("equals must be a JSON object".into()))),
        };
        let page = self.service.limits.page;
        let limit = if query.limit == 0 { page } else { query.limit.min(page) } as usize;
        // Stored edges resume after a sequence number.
        let (mut after_seq, mut new_from) = match refused!(resume(query.cursor)) {
            Resume::Start => (0, None),
            Resume::Stored(seq) => (seq.parse().unwrap_or(i64::MAX), None),
            Resume::New(index) => (i64::MAX, Some(index)),
        };
        let mut items = Vec::new();
        let mut budget = self.service.limits.scan as usize;
        while new_from.is_none() && items.len() < limit && budget > 0 {
            // Filters may drop rows: each read asks for a whole page, within the budget.
            let wanted = limit.min(budget);
            let edges_query = EdgeQuery {
                node: &node,
                direction: query.direction,
                edge_type: query.edge_type,
                after_seq,
                limit: wanted,
            };
            let rows = self.service.store().edges(edges_query).await.map_err(store_failure)?;
            let read = rows.len();
            budget -= read;
            let exhausted = read < wanted;
            let mut consumed = 0;
            for (edge, far) in rows {
                if items.len() >= limit {
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
                let far_id = if edge.source == node { edge.target.clone() } else { edge.source.clone() };
                if let Some(far) = far {
                    self.nodes.entry(far.hex.clone()).or_insert(Seen { row: Some(far), change: Change::Read });
                }
                if let Some(item) = self.neighbour_item(&edge, &far_id, &query, equals.as_ref()).await? {
                    items.push(item);
                }
            }
            if exhausted && consumed == read {
                new_from = Some(0);
            }
        }
        // A full page, or the scan budget spent: the walker goes on from here.
        let mut cursor = new_from.is_none().then(|| format!("s{after_seq}"));
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
                if let Some(item) = self.neighbour_item(&edge, &far_id, &query, equals.as_ref()).await? {
                    items.push(item);
                }
            }
        }
        let cursor = cursor.map_or(Value::Null, Value::String);
        Ok(Ok(format!(r#"{{"items":[{}],"cursor":{cursor}}}"#, items.join(","))))
    }

    /// A neighbour's JSON (or its edge's, for `Yields::Edges`) if it passes the query's
    /// filters and the caller may read it.
    async fn neighbour_item(
        &mut self,
        edge: &EdgeRow,
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
        Ok(Some(match query.yields {
            Yields::Nodes => self.json_of(&parsed),
            Yields::Edges => edge_json(edge),
        }))
    }
}
