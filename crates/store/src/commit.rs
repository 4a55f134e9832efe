//! What both backends compute alike when they commit a write set: the bytes a row is
//! charged, how usage changes per owner root, and whether that change breaks a quota.

use std::collections::BTreeMap;

use super::{CommitError, Quota, Quotas};
use walker_core::ids::PUBLIC_ROOT;

/// Bytes a row is charged beyond its type name and context: ids, owner, indexes.
pub const ROW_OVERHEAD_BYTES: i64 = 96;

pub fn row_bytes(type_name: &str, context: &str) -> i64 {
    (type_name.len() + context.len()) as i64 + ROW_OVERHEAD_BYTES
}

/// Bytes a grant row is charged to its target's owner: grants count against the same
/// storage quota as the nodes and edges they open.
pub fn grant_bytes(target: &str, grantee: &str) -> i64 {
    (target.len() + grantee.len()) as i64 + ROW_OVERHEAD_BYTES
}

/// The 24 hex at the end of a full id.
pub fn hex_of(id: &str) -> &str {
    &id[id.len().saturating_sub(24)..]
}

/// How a write set changes one owner's usage.
#[derive(Debug, Default, Clone, Copy)]
pub struct Delta {
    pub nodes: i64,
    pub edges: i64,
    pub bytes: i64,
}

/// Usage changes by owner root, in root order: backends update usage rows in this order,
/// so two commits never wait for each other's rows in opposite orders.
pub type Usage = BTreeMap<String, Delta>;

/// The usage row that counts the whole store, kept while it has a quota of its own
/// (`Quotas::store`). Not a root (those are 24 hex), and it sorts before every root, so
/// commits take it first.
pub const STORE_TOTAL: &str = "#store";

/// Recounts the whole store's usage row from its roots' (both backends' SQL): run when a
/// store with a quota of its own opens, so the count holds whatever happened unquoted.
/// It also drops the row under its former key, `*` (which was also `EVERYONE`'s).
pub const RECOUNT_STORE_TOTAL: &str = "DELETE FROM usage WHERE root IN ('#store', '*');
    INSERT INTO usage (root, nodes, edges, bytes)
    SELECT '#store', COALESCE(SUM(nodes), 0), COALESCE(SUM(edges), 0), COALESCE(SUM(bytes), 0) FROM usage;";

/// Adds the whole store's change to `usage` when the store has a quota of its own.
pub fn add_store_total(usage: &mut Usage, quotas: &Quotas) {
    if quotas.store.is_some() {
        let total = usage.values().fold(Delta::default(), |sum, delta| Delta {
            nodes: sum.nodes + delta.nodes,
            edges: sum.edges + delta.edges,
            bytes: sum.bytes + delta.bytes,
        });
        usage.insert(STORE_TOTAL.to_string(), total);
    }
}

impl Delta {
    pub fn node_added(&mut self, type_name: &str, context: &str) {
        self.nodes += 1;
        self.bytes += row_bytes(type_name, context);
    }

    pub fn edge_added(&mut self, type_name: &str, context: &str) {
        self.edges += 1;
        self.bytes += row_bytes(type_name, context);
    }

    /// A node removed, charged `bytes` with the grants on it.
    pub fn node_removed(&mut self, bytes: i64) {
        self.nodes -= 1;
        self.bytes -= bytes;
    }

    /// An edge removed, charged `bytes` with the grants on it.
    pub fn edge_removed(&mut self, bytes: i64) {
        self.edges -= 1;
        self.bytes -= bytes;
    }

    /// Checks an owner's usage after this change: only what grew can break its quota,
    /// so deleting is always allowed.
    pub fn check(&self, root: &str, quotas: &Quotas, used: (i64, i64, i64)) -> Result<(), CommitError> {
        let (quota, whose): (&Quota, _) = match root {
            STORE_TOTAL => match &quotas.store {
                Some(quota) => (quota, "for the tenant"),
                None => return Ok(()),
            },
            PUBLIC_ROOT => (&quotas.public, "per root"),
            _ => (&quotas.user, "per root"),
        };
        let (nodes, edges, bytes) = used;
        let over = |grew: bool, used: i64, limit: i64, what: &str| {
            (grew && used > limit).then(|| format!("{what} quota of {limit} {whose}"))
        };
        match over(self.nodes > 0, nodes, quota.nodes, "node")
            .or_else(|| over(self.edges > 0, edges, quota.edges, "edge"))
            .or_else(|| over(self.bytes > 0, bytes, quota.bytes, "storage"))
        {
            Some(quota) => Err(CommitError::Quota(quota)),
            None => Ok(()),
        }
    }
}
