//! Moving a deployment between backends: `walker-host export` writes every account,
//! node, edge and grant as JSON lines, `walker-host import` reads them into another
//! store with their ids, so tokens, references and access keep working.
//!
//! One line per row, tagged by `kind`; a node's `context` is its fields as JSON text,
//! byte for byte. Edges come in creation order and are numbered anew on import.
//! Usage is recounted from the imported rows; quotas are not applied (an operator is
//! moving data that already exists).

use std::io::{BufRead, Write};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::commit::Usage;
use super::{BoxFuture, EdgeRow, Level, NodeRow, Store, StoreError, UserRow};

/// Rows imported per transaction.
const IMPORT_BATCH: usize = 1_000;

/// One exported row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    User(UserRow),
    Node(NodeRow),
    Edge(EdgeRow),
    Grant(GrantRow),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrantRow {
    /// Full id of the node or root the grant is on.
    pub target: String,
    /// A root's 24 hex, or `*` for everyone.
    pub grantee: String,
    pub level: Level,
}

/// Bulk reads and writes, for export and import.
pub trait Portable: Send + Sync + 'static {
    /// Sends every row, from one consistent snapshot of each database: users, nodes,
    /// edges in creation order, grants.
    fn export(&self, out: mpsc::Sender<Record>) -> BoxFuture<'_, Result<(), StoreError>>;
    /// Adds rows as they are, in one transaction, and charges their owners' usage. A row
    /// whose id exists already fails the whole batch.
    fn import(&self, rows: Vec<Record>) -> BoxFuture<'_, Result<(), StoreError>>;
}

/// Writes the store's rows to `out` as JSON lines; returns how many.
pub async fn export_to(store: &dyn Store, mut out: impl Write) -> anyhow::Result<u64> {
    let (sender, mut rows) = mpsc::channel(IMPORT_BATCH);
    let reading = store.export(sender);
    let writing = async {
        let mut count = 0;
        while let Some(row) = rows.recv().await {
            serde_json::to_writer(&mut out, &row)?;
            out.write_all(b"\n")?;
            count += 1;
        }
        out.flush()?;
        anyhow::Ok(count)
    };
    let (read, written) = tokio::join!(reading, writing);
    read?;
    written
}

/// Reads JSON lines into the store in batches; returns how many rows.
pub async fn import_from(store: &dyn Store, input: impl BufRead) -> anyhow::Result<u64> {
    let mut batch = Vec::with_capacity(IMPORT_BATCH);
    let mut count = 0;
    for (number, line) in input.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        batch.push(serde_json::from_str(&line).with_context(|| format!("line {}", number + 1))?);
        if batch.len() == IMPORT_BATCH {
            count += import_rows(store, std::mem::take(&mut batch)).await?;
        }
    }
    Ok(count + import_rows(store, batch).await?)
}

/// Imports rows in batches; returns how many.
pub async fn import_rows(store: &dyn Store, mut rows: Vec<Record>) -> anyhow::Result<u64> {
    let count = rows.len() as u64;
    while !rows.is_empty() {
        let rest = rows.split_off(rows.len().min(IMPORT_BATCH));
        store.import(rows).await?;
        rows = rest;
    }
    Ok(count)
}

/// What imported rows add to their owners' usage.
pub fn usage_of(rows: &[Record]) -> Usage {
    let mut usage = Usage::new();
    // Grants are charged to their targets' owners, which may come later in `rows`.
    let mut owners = std::collections::HashMap::new();
    for row in rows {
        match row {
            Record::Node(node) => {
                owners.insert(node.hex.as_str(), node.owner.as_str());
                usage.entry(node.owner.clone()).or_default().node_added(&node.type_name, &node.context);
            }
            Record::Edge(edge) => {
                owners.insert(edge.hex.as_str(), edge.owner.as_str());
                usage.entry(edge.owner.clone()).or_default().edge_added(&edge.type_name, &edge.context);
            }
            Record::User(_) | Record::Grant(_) => {}
        }
    }
    for row in rows {
        if let Record::Grant(grant) = row {
            let target = super::hex_of(&grant.target);
            let owner = if grant.target.starts_with("n::") { Some(target) } else { owners.get(target).copied() };
            if let Some(owner) = owner {
                usage.entry(owner.to_string()).or_default().bytes += super::grant_bytes(&grant.target, &grant.grantee);
            }
        }
    }
    usage
}
