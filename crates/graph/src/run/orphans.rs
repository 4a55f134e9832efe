//! jac-cloud's orphan rule: a node that a run left with no edges (the run removed its
//! last one, or spawned it and jac-cloud's rules dropped the edge) is deleted when the run commits, as jac-cloud's automatic save deletes it.
//! Roots never are; nor is a node the walker keeps (`keep`, jac's explicit `commit`), a
//! node of another root's, or any node once the walker keeps them all.

use std::collections::BTreeSet;

use walker_core::ids::{self, Ref};
use walker_store::{Direction, EdgeQuery};

use super::{Change, RunGraph, store_failure};

/// Edges read per store call while looking for one a node still has.
const EDGES_PER_READ: usize = 64;

/// The nodes a run may leave orphaned, and what the walker keeps.
#[derive(Debug, Default)]
pub(super) struct Orphans {
    /// Full ids of the ends of every edge the run removed, and of the nodes it spawned
    /// without their edge.
    candidates: BTreeSet<String>,
    kept: BTreeSet<String>,
    keep_all: bool,
}

impl Orphans {
    pub(super) fn edge_removed(&mut self, source: &str, target: &str) {
        self.candidates.insert(source.to_string());
        self.candidates.insert(target.to_string());
    }

    pub(super) fn spawned_without_edge(&mut self, node: &str) {
        self.candidates.insert(node.to_string());
    }
}

impl RunGraph {
    /// Keeps `node` (every node, when `None`) even if the run leaves it with no edges.
    pub fn keep(&mut self, node: Option<&str>) {
        match node.and_then(Ref::parse) {
            Some(parsed) => {
                self.orphans.kept.insert(parsed.full());
            }
            None if node.is_none() => self.orphans.keep_all = true,
            None => {} // not an id: nothing it names could be deleted
        }
    }

    /// Deletes, in the run's writes, the caller's nodes that the run left with no edges.
    pub(super) async fn delete_orphans(&mut self) -> wasmtime::Result<()> {
        if self.orphans.keep_all {
            return Ok(());
        }
        let candidates = std::mem::take(&mut self.orphans.candidates);
        let unkept: Vec<String> = candidates.difference(&self.orphans.kept).cloned().collect();
        for id in &unkept {
            let Some(parsed) = Ref::parse(id).filter(|parsed| !parsed.is_root()) else { continue };
            let Some(row) = self.node(&parsed.hex).await? else { continue };
            if row.owner != self.caller || self.has_edges(id).await? {
                continue;
            }
            let seen = self.nodes.get_mut(&parsed.hex).expect("just read");
            if seen.change != Change::Created {
                let version = seen.row.as_ref().map_or(0, |row| row.version);
                self.deleted_nodes.push((ids::node_id(&parsed.type_name, &parsed.hex), version));
            }
            seen.change = Change::Deleted(0);
            seen.row = None;
        }
        Ok(())
    }

    /// Whether node `id` has an edge, as this run leaves the graph.
    async fn has_edges(&mut self, id: &str) -> wasmtime::Result<bool> {
        let touches = |source: &str, target: &str| source == id || target == id;
        let made = self.new_edges.iter().filter_map(|hex| self.edges[hex].row.as_ref());
        if made.into_iter().any(|edge| touches(&edge.source, &edge.target)) {
            return Ok(true);
        }
        Ok(!self.stored_edges_left(id, 1).await?.is_empty())
    }

    /// Up to `most` stored edges of node `id` that this run has not removed (hex).
    pub(super) async fn stored_edges_left(&mut self, id: &str, most: usize) -> wasmtime::Result<Vec<String>> {
        let mut left = Vec::new();
        let mut after_seq = 0;
        loop {
            let query =
                EdgeQuery { node: id, direction: Direction::Both, edge_type: None, after_seq, limit: EDGES_PER_READ };
            let page = self.service.store().edges(query).await.map_err(store_failure)?;
            let exhausted = page.len() < EDGES_PER_READ;
            for (edge, _) in page {
                after_seq = edge.seq;
                let removed = self.edges.get(&edge.hex).is_some_and(|seen| seen.row.is_none());
                if !removed {
                    left.push(edge.hex);
                    if left.len() == most {
                        return Ok(left);
                    }
                }
            }
            if exhausted {
                return Ok(left);
            }
        }
    }
}
