//! The graph on SQLite: reads inline on the reader pool, writes by group commit.

use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;

use super::{Commit, SqliteStore};
use crate::store::{
    CommitError, Delta, EdgePage, EdgeQuery, EdgeRow, GraphStore, Level, NodeRow, Quotas, ROW_OVERHEAD_BYTES,
    StoreError, StoreFuture, WriteSet, commit::Usage, commit::add_store_total, hex_of, row_bytes,
};

impl SqliteStore {
    /// Commits queued write sets until the queue is empty or another caller holds the
    /// write connection. A caller that queued a write set and finds the connection taken
    /// may leave: the holder takes the queue again after each transaction.
    fn commit_queued(&self) {
        loop {
            let Ok(db) = self.writer.try_lock() else { return };
            let batch = std::mem::take(&mut *self.queue.lock().unwrap_or_else(|p| p.into_inner()));
            if batch.is_empty() {
                return;
            }
            commit_batch(&db, batch, &self.quotas);
            self.checkpointer.committed();
        }
    }
}

pub(super) fn node_row(row: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<NodeRow> {
    Ok(NodeRow {
        hex: row.get(at)?,
        type_name: row.get(at + 1)?,
        owner: row.get(at + 2)?,
        context: row.get(at + 3)?,
        version: row.get(at + 4)?,
    })
}

pub(super) fn edge_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<EdgeRow> {
    Ok(EdgeRow {
        seq: row.get(0)?,
        hex: row.get(1)?,
        type_name: row.get(2)?,
        owner: row.get(3)?,
        source: row.get(4)?,
        target: row.get(5)?,
        context: row.get(6)?,
        version: row.get(7)?,
    })
}

pub(super) const EDGE_COLUMNS: &str = "e.seq, e.hex, e.type, e.owner, e.src, e.dst, e.ctx, e.ver";

impl GraphStore for SqliteStore {
    fn node<'a>(&'a self, hex: &'a str) -> StoreFuture<'a, Result<Option<NodeRow>, StoreError>> {
        Box::pin(std::future::ready(self.read(|db| {
            db.prepare_cached("SELECT hex, type, owner, ctx, ver FROM node WHERE hex = ?1")?
                .query_row([hex], |row| node_row(row, 0))
                .optional()
        })))
    }

    fn edge<'a>(&'a self, hex: &'a str) -> StoreFuture<'a, Result<Option<EdgeRow>, StoreError>> {
        Box::pin(std::future::ready(self.read(|db| {
            db.prepare_cached(&format!("SELECT {EDGE_COLUMNS} FROM edge e WHERE e.hex = ?1"))?
                .query_row([hex], edge_row)
                .optional()
        })))
    }

    fn edges<'a>(&'a self, query: EdgeQuery<'a>) -> StoreFuture<'a, Result<EdgePage, StoreError>> {
        let (filter, far) = query.direction.sql("?1");
        let sql = format!(
            "SELECT {EDGE_COLUMNS}, n.hex, n.type, n.owner, n.ctx, n.ver FROM edge e
             LEFT JOIN node n ON n.hex = substr({far}, -24)
             WHERE {filter} AND e.seq > ?2 AND (?3 IS NULL OR e.type = ?3)
             ORDER BY e.seq LIMIT ?4"
        );
        Box::pin(std::future::ready(self.read(|db| {
            let mut statement = db.prepare_cached(&sql)?;
            let rows = statement.query_map(
                params![query.node, query.after_seq, query.edge_type, query.limit as i64],
                |row| {
                    let far: Option<String> = row.get(8)?;
                    Ok((edge_row(row)?, far.map(|_| node_row(row, 8)).transpose()?))
                },
            )?;
            rows.collect()
        })))
    }

    fn grants<'a>(&'a self, target: &'a str) -> StoreFuture<'a, Result<Vec<(String, Level)>, StoreError>> {
        Box::pin(std::future::ready(self.read(|db| {
            let mut statement = db.prepare_cached("SELECT grantee, level FROM grants WHERE target = ?1")?;
            let rows = statement.query_map([target], |row| Ok((row.get(0)?, Level::from_i64(row.get(1)?))))?;
            rows.collect()
        })))
    }

    fn commit(&self, writes: WriteSet) -> StoreFuture<'_, Result<(), CommitError>> {
        let (done, result) = oneshot::channel();
        self.queue.lock().unwrap_or_else(|p| p.into_inner()).push(Commit { writes, done });
        let queued = CommitsQueued(self);
        Box::pin(async move {
            // Other runs ready on this worker queue their writes meanwhile and share the
            // transaction.
            tokio::task::yield_now().await;
            drop(queued);
            result.await.map_err(|_| CommitError::Store("the commit was abandoned".into()))?
        })
    }
}

/// Commits the queue when dropped: after the yield, or when a cancelled run drops its
/// commit future, so a queued write set never waits for some later run to commit it.
struct CommitsQueued<'a>(&'a SqliteStore);

impl Drop for CommitsQueued<'_> {
    fn drop(&mut self) {
        self.0.commit_queued();
    }
}

/// Commits a batch of write sets in one transaction, each in its own savepoint.
fn commit_batch(db: &Connection, batch: Vec<Commit>, quotas: &Quotas) {
    // Cached statements rather than rusqlite's `Transaction`, which parses its BEGIN and
    // COMMIT on every transaction.
    let run = |sql: &str| execute_cached(db, sql);
    let outcome = (|| -> rusqlite::Result<Vec<Result<(), CommitError>>> {
        run("BEGIN IMMEDIATE")?;
        let results = if let [alone] = batch.as_slice() {
            // One write set: the transaction itself is its savepoint.
            let result = apply(db, &alone.writes, quotas);
            if result.is_err() {
                run("ROLLBACK")?;
                return Ok(vec![result]);
            }
            vec![result]
        } else {
            batch.iter().map(|commit| apply_in_savepoint(db, &commit.writes, quotas)).collect()
        };
        run("COMMIT")?;
        Ok(results)
    })();
    if outcome.is_err() && !db.is_autocommit() {
        let _ = run("ROLLBACK");
    }
    match outcome {
        Ok(results) => {
            for (commit, result) in batch.into_iter().zip(results) {
                let _ = commit.done.send(result);
            }
        }
        Err(err) => {
            tracing::error!("committing graph writes: {err}");
            for commit in batch {
                let _ = commit.done.send(Err(CommitError::Store(err.to_string())));
            }
        }
    }
}

/// Runs a parameterless statement (transaction control) from the statement cache.
fn execute_cached(db: &Connection, sql: &str) -> rusqlite::Result<()> {
    db.prepare_cached(sql)?.execute([]).map(drop)
}

fn apply_in_savepoint(tx: &Connection, writes: &WriteSet, quotas: &Quotas) -> Result<(), CommitError> {
    let store = |err: rusqlite::Error| CommitError::Store(err.to_string());
    let run = |sql: &str| execute_cached(tx, sql).map_err(store);
    run("SAVEPOINT run")?;
    let result = apply(tx, writes, quotas);
    if result.is_err() {
        run("ROLLBACK TO run")?;
    }
    run("RELEASE run")?;
    result
}

fn apply(tx: &Connection, writes: &WriteSet, quotas: &Quotas) -> Result<(), CommitError> {
    let store = |err: rusqlite::Error| CommitError::Store(err.to_string());
    let mut usage = Usage::new();

    for node in &writes.insert_nodes {
        tx.prepare_cached("INSERT INTO node (hex, type, owner, ctx, ver) VALUES (?1, ?2, ?3, ?4, 1)")
            .and_then(|mut s| s.execute(params![node.hex, node.type_name, node.owner, node.context]))
            .map_err(store)?;
        usage.entry(node.owner.clone()).or_default().node_added(&node.type_name, &node.context);
    }
    for node in &writes.update_nodes {
        let (owner, grew) = update_context(tx, "node", &node.hex, node.version, &node.context)?;
        usage.entry(owner).or_default().bytes += grew;
    }
    // Edges before nodes: a node's deletion takes its remaining edges with it.
    for (hex, version) in &writes.delete_edges {
        let (owner, bytes) = delete_row(tx, "edge", hex, *version)?;
        let delta = usage.entry(owner).or_default();
        delta.edges -= 1;
        delta.bytes -= bytes;
    }
    for (id, version) in &writes.delete_nodes {
        let (owner, bytes) = delete_row(tx, "node", hex_of(id), *version)?;
        delete_edges_of(tx, &mut usage, id)?;
        tx.prepare_cached("DELETE FROM grants WHERE target = ?1").and_then(|mut s| s.execute([id])).map_err(store)?;
        let delta = usage.entry(owner).or_default();
        delta.nodes -= 1;
        delta.bytes -= bytes;
    }
    let inserted = |end: &str| writes.insert_nodes.iter().any(|node| end.ends_with(node.hex.as_str()));
    for edge in &writes.insert_edges {
        for end in [&edge.source, &edge.target] {
            if !inserted(end) && !end_exists(tx, end)? {
                return Err(CommitError::Conflict);
            }
        }
        tx.prepare_cached("INSERT INTO edge (hex, type, owner, src, dst, ctx, ver) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1)")
            .and_then(|mut s| {
                s.execute(params![edge.hex, edge.type_name, edge.owner, edge.source, edge.target, edge.context])
            })
            .map_err(store)?;
        usage.entry(edge.owner.clone()).or_default().edge_added(&edge.type_name, &edge.context);
    }
    for edge in &writes.update_edges {
        let (owner, grew) = update_context(tx, "edge", &edge.hex, edge.version, &edge.context)?;
        usage.entry(owner).or_default().bytes += grew;
    }
    for (target, grantee, level) in &writes.grants {
        let result = match level {
            Some(level) => tx
                .prepare_cached("INSERT OR REPLACE INTO grants (target, grantee, level) VALUES (?1, ?2, ?3)")
                .and_then(|mut s| s.execute(params![target, grantee, *level as i64])),
            None => tx
                .prepare_cached("DELETE FROM grants WHERE target = ?1 AND grantee = ?2")
                .and_then(|mut s| s.execute(params![target, grantee])),
        };
        result.map_err(store)?;
    }
    add_store_total(&mut usage, quotas);
    for (root, delta) in usage {
        charge(tx, &root, delta, quotas)?;
    }
    Ok(())
}

/// Replaces a node's or edge's context (`table`) if it still has `version`; returns its
/// owner and how many bytes it grew.
fn update_context(
    tx: &Connection,
    table: &str,
    hex: &str,
    version: i64,
    context: &str,
) -> Result<(String, i64), CommitError> {
    let store = |err: rusqlite::Error| CommitError::Store(err.to_string());
    let (owner, old_bytes): (String, i64) = tx
        .prepare_cached(&format!("SELECT owner, octet_length(ctx) FROM {table} WHERE hex = ?1 AND ver = ?2"))
        .and_then(|mut s| s.query_row(params![hex, version], |row| Ok((row.get(0)?, row.get(1)?))).optional())
        .map_err(store)?
        .ok_or(CommitError::Conflict)?;
    tx.prepare_cached(&format!("UPDATE {table} SET ctx = ?2, ver = ver + 1 WHERE hex = ?1"))
        .and_then(|mut s| s.execute(params![hex, context]))
        .map_err(store)?;
    Ok((owner, context.len() as i64 - old_bytes))
}

/// Deletes a node or edge (`table`) if it still has `version`; returns its owner and the
/// bytes it was charged.
fn delete_row(tx: &Connection, table: &str, hex: &str, version: i64) -> Result<(String, i64), CommitError> {
    tx.prepare_cached(&format!("DELETE FROM {table} WHERE hex = ?1 AND ver = ?2 RETURNING owner, type, ctx"))
        .and_then(|mut s| {
            s.query_row(params![hex, version], |row| {
                Ok((row.get::<_, String>(0)?, row_bytes(&row.get::<_, String>(1)?, &row.get::<_, String>(2)?)))
            })
            .optional()
        })
        .map_err(|err| CommitError::Store(err.to_string()))?
        .ok_or(CommitError::Conflict)
}

fn end_exists(tx: &Connection, node: &str) -> Result<bool, CommitError> {
    if node.starts_with("n::") {
        return Ok(true); // roots always exist
    }
    tx.prepare_cached("SELECT 1 FROM node WHERE hex = ?1")
        .and_then(|mut s| s.exists([hex_of(node)]))
        .map_err(|err| CommitError::Store(err.to_string()))
}

/// Deletes a node's edges (`id`: its full id), charging their owners.
fn delete_edges_of(tx: &Connection, usage: &mut Usage, id: &str) -> Result<(), CommitError> {
    let store = |err: rusqlite::Error| CommitError::Store(err.to_string());
    let removed: Vec<(String, i64)> = tx
        .prepare_cached(
            "DELETE FROM edge WHERE src = ?1 OR dst = ?1 RETURNING owner, octet_length(type) + octet_length(ctx)",
        )
        .and_then(|mut s| s.query_map([id], |row| Ok((row.get(0)?, row.get(1)?)))?.collect())
        .map_err(store)?;
    for (owner, bytes) in removed {
        let delta = usage.entry(owner).or_default();
        delta.edges -= 1;
        delta.bytes -= bytes + ROW_OVERHEAD_BYTES;
    }
    Ok(())
}

/// Applies an owner's usage change; one that grows past the quota fails the write set.
fn charge(tx: &Connection, root: &str, delta: Delta, quotas: &Quotas) -> Result<(), CommitError> {
    let used = add_usage(tx, root, delta).map_err(|err| CommitError::Store(err.to_string()))?;
    delta.check(root, quotas, used)
}

/// Adds `delta` to a root's usage; returns its nodes, edges and bytes after.
pub(super) fn add_usage(tx: &Connection, root: &str, delta: Delta) -> rusqlite::Result<(i64, i64, i64)> {
    tx.prepare_cached(
        "INSERT INTO usage (root, nodes, edges, bytes) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (root) DO UPDATE SET nodes = nodes + ?2, edges = edges + ?3, bytes = bytes + ?4
         RETURNING nodes, edges, bytes",
    )?
    .query_row(params![root, delta.nodes, delta.edges, delta.bytes], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
}
