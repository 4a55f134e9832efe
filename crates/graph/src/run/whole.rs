//! A root's whole graph: its nodes listed page by page, counted, and deleted but the
//! root (jac's `reset_graph`), as this run sees them.

use std::collections::HashSet;

use walker_runtime::graph::Outcome;

use super::{Change, Resume, RunGraph, Seen, node_json, resume, store_failure};
use walker_core::ids;

impl RunGraph {
    /// The caller's nodes (not its root, nor objects), of `node_type` if given: stored
    /// ones by hex, then those this run made, with `{"items", "cursor"}`.
    pub async fn owned(&mut self, node_type: Option<&str>, limit: u32, cursor: Option<&str>) -> Outcome<String> {
        let page = self.service.limits.page;
        let limit = if limit == 0 { page } else { limit.min(page) } as usize;
        // Stored nodes resume after a hex.
        let (mut after, mut new_from) = match refused!(resume(cursor)) {
            Resume::Start => (String::new(), None),
            Resume::Stored(hex) => (hex.to_string(), None),
            Resume::New(index) => (String::new(), Some(index)),
        };
        let wanted = |type_name: &str| node_type.is_none_or(|wanted| wanted == type_name);
        let mut items = Vec::new();
        let mut budget = self.service.limits.scan as usize;
        while new_from.is_none() && items.len() < limit && budget > 0 {
            let read = limit.min(budget);
            let rows = self.service.store().owned_nodes(&self.caller, &after, read).await.map_err(store_failure)?;
            budget -= rows.len();
            let exhausted = rows.len() < read;
            for stored in rows {
                after = stored.hex.clone();
                // As this run left it: updated, or deleted.
                let seen =
                    self.nodes.entry(stored.hex.clone()).or_insert(Seen { row: Some(stored), change: Change::Read });
                if let Some(row) = seen.row.as_ref().filter(|row| wanted(&row.type_name)) {
                    items.push(node_json(row));
                }
                if items.len() == limit {
                    break;
                }
            }
            if exhausted && items.len() < limit {
                new_from = Some(0);
            }
        }
        let mut cursor = new_from.is_none().then(|| format!("s{after}"));
        if let Some(start) = new_from {
            let made = self.nodes_made();
            cursor = None;
            for (index, hex) in made.iter().enumerate().skip(start) {
                if items.len() == limit {
                    cursor = Some(format!("n{index}"));
                    break;
                }
                let row = self.nodes[hex].row.as_ref().expect("made and not deleted");
                if wanted(&row.type_name) {
                    items.push(node_json(row));
                }
            }
        }
        let cursor = cursor.map_or(serde_json::Value::Null, serde_json::Value::String);
        Ok(Ok(format!(r#"{{"items":[{}],"cursor":{cursor}}}"#, items.join(","))))
    }

    /// The nodes (not objects) this run made and has not deleted, by hex (the order they
    /// were made in, as ids count up within a process).
    fn nodes_made(&self) -> Vec<String> {
        let mut made: Vec<String> = self
            .nodes
            .iter()
            .filter(|(_, seen)| seen.change == Change::Created && seen.row.as_ref().is_some_and(|row| !row.object))
            .map(|(hex, _)| hex.clone())
            .collect();
        made.sort();
        made
    }

    /// How many nodes (its root not counted) and edges the caller's root owns, as last
    /// committed: `{"nodes", "edges"}`.
    pub async fn count(&mut self) -> wasmtime::Result<String> {
        let (nodes, edges) = self.service.store().owned_counts(&self.caller).await.map_err(store_failure)?;
        Ok(format!(r#"{{"nodes":{nodes},"edges":{edges}}}"#))
    }

    /// jac's `reset_graph()`: deletes every node of the caller's but its root, with their
    /// edges, each node a write of the run; returns how many nodes and edges, as jac.
    pub async fn reset(&mut self) -> Outcome<u32> {
        let mut doomed = Vec::new();
        let mut after = String::new();
        loop {
            let read = self.service.limits.page as usize;
            let rows = self.service.store().owned_nodes(&self.caller, &after, read).await.map_err(store_failure)?;
            let exhausted = rows.len() < read;
            for stored in rows {
                after = stored.hex.clone();
                doomed.push(ids::node_id(&stored.type_name, &stored.hex));
                self.nodes.entry(stored.hex.clone()).or_insert(Seen { row: Some(stored), change: Change::Read });
            }
            if exhausted {
                break;
            }
            // More than a run may write fails at the write limit anyway.
            if doomed.len() > self.service.limits.writes as usize {
                break;
            }
        }
        doomed.extend(self.nodes_made().into_iter().map(|hex| {
            let row = self.nodes[&hex].row.as_ref().expect("made and not deleted");
            ids::node_id(&row.type_name, &hex)
        }));
        doomed.retain(|id| self.nodes.get(&id[id.len() - 24..]).is_some_and(|seen| seen.row.is_some()));
        let edges = self.edges_touching(&doomed).await?;
        for id in &doomed {
            refused!(self.delete(id).await?);
        }
        Ok(Ok((doomed.len() + edges) as u32))
    }

    /// How many edges, as this run sees them, have an end among `nodes` (full ids).
    async fn edges_touching(&mut self, nodes: &[String]) -> wasmtime::Result<usize> {
        let ends: HashSet<&str> = nodes.iter().map(String::as_str).collect();
        let mut touching: HashSet<String> = self
            .new_edges
            .iter()
            .filter(|hex| {
                let edge = self.edges[*hex].row.as_ref();
                edge.is_some_and(|edge| ends.contains(edge.source.as_str()) || ends.contains(edge.target.as_str()))
            })
            .cloned()
            .collect();
        for node in nodes {
            touching.extend(self.stored_edges_left(node, usize::MAX).await?);
        }
        Ok(touching.len())
    }
}
