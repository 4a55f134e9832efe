//! The graph on PostgreSQL: reads on any pooled connection, one transaction per write set.

use deadpool_postgres::Transaction;
use tokio_postgres::types::ToSql;

use super::{PostgresStore, commit_failed};
use crate::store::{
    CommitError, Delta, Direction, EdgePage, EdgeQuery, EdgeRow, GraphStore, Level, NodeRow, Quotas,
    ROW_OVERHEAD_BYTES, StoreError, StoreFuture, WriteSet, commit::Usage, hex_of, row_bytes,
};

pub(super) const NODE_COLUMNS: &str = "hex, type, owner, ctx, ver";
pub(super) const EDGE_COLUMNS: &str = "e.seq, e.hex, e.type, e.owner, e.src, e.dst, e.ctx, e.ver";

pub(super) fn node_row(row: &tokio_postgres::Row, at: usize) -> NodeRow {
    NodeRow {
        hex: row.get(at),
        type_name: row.get(at + 1),
        owner: row.get(at + 2),
        context: row.get(at + 3),
        version: row.get(at + 4),
    }
}

pub(super) fn edge_row(row: &tokio_postgres::Row) -> EdgeRow {
    EdgeRow {
        seq: row.get(0),
        hex: row.get(1),
        type_name: row.get(2),
        owner: row.get(3),
        source: row.get(4),
        target: row.get(5),
        context: row.get(6),
        version: row.get(7),
    }
}

impl GraphStore for PostgresStore {
    fn node<'a>(&'a self, hex: &'a str) -> StoreFuture<'a, Result<Option<NodeRow>, StoreError>> {
        Box::pin(async move {
            let sql = format!("SELECT {NODE_COLUMNS} FROM node WHERE hex = $1");
            self.query_opt(&sql, &[&hex], |row| node_row(row, 0)).await
        })
    }

    fn edge<'a>(&'a self, hex: &'a str) -> StoreFuture<'a, Result<Option<EdgeRow>, StoreError>> {
        Box::pin(async move {
            let sql = format!("SELECT {EDGE_COLUMNS} FROM edge e WHERE e.hex = $1");
            self.query_opt(&sql, &[&hex], edge_row).await
        })
    }

    fn edges<'a>(&'a self, query: EdgeQuery<'a>) -> StoreFuture<'a, Result<EdgePage, StoreError>> {
        let (filter, far) = match query.direction {
            Direction::Out => ("e.src = $1", "e.dst"),
            Direction::In => ("e.dst = $1", "e.src"),
            Direction::Both => ("(e.src = $1 OR e.dst = $1)", "CASE WHEN e.src = $1 THEN e.dst ELSE e.src END"),
        };
        let sql = format!(
            "SELECT {EDGE_COLUMNS}, n.hex, n.type, n.owner, n.ctx, n.ver FROM edge e
             LEFT JOIN node n ON n.hex = right({far}, 24)
             WHERE {filter} AND e.seq > $2 AND ($3::text IS NULL OR e.type = $3)
             ORDER BY e.seq LIMIT $4"
        );
        Box::pin(async move {
            let limit = query.limit as i64;
            self.query(&sql, &[&query.node, &query.after_seq, &query.edge_type, &limit], |row| {
                let far: Option<String> = row.get(8);
                (edge_row(row), far.map(|_| node_row(row, 8)))
            })
            .await
        })
    }

    fn grants<'a>(&'a self, target: &'a str) -> StoreFuture<'a, Result<Vec<(String, Level)>, StoreError>> {
        Box::pin(async move {
            self.query("SELECT grantee, level FROM grants WHERE target = $1", &[&target], |row| {
                (row.get(0), Level::from_i64(row.get::<_, i32>(1).into()))
            })
            .await
        })
    }

    fn commit(&self, writes: WriteSet) -> StoreFuture<'_, Result<(), CommitError>> {
        Box::pin(self.bounded(async move {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(commit_failed)?;
            // Dropping `tx` on an error rolls it back.
            apply(&tx, &writes, &self.quotas).await?;
            tx.commit().await.map_err(commit_failed)
        }))
    }
}

/// Executes one statement, prepared once per connection; returns the rows it changed.
async fn execute(tx: &Transaction<'_>, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, CommitError> {
    let statement = tx.prepare_cached(sql).await.map_err(commit_failed)?;
    tx.execute(&statement, params).await.map_err(commit_failed)
}

/// Runs one statement that returns at most one row.
async fn query_opt(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Option<tokio_postgres::Row>, CommitError> {
    let statement = tx.prepare_cached(sql).await.map_err(commit_failed)?;
    tx.query_opt(&statement, params).await.map_err(commit_failed)
}

async fn apply(tx: &Transaction<'_>, writes: &WriteSet, quotas: &Quotas) -> Result<(), CommitError> {
    let mut usage = Usage::new();

    for node in &writes.insert_nodes {
        execute(
            tx,
            "INSERT INTO node (hex, type, owner, ctx, ver) VALUES ($1, $2, $3, $4, 1)",
            &[&node.hex, &node.type_name, &node.owner, &node.context],
        )
        .await?;
        usage.entry(node.owner.clone()).or_default().node_added(&node.type_name, &node.context);
    }
    for node in &writes.update_nodes {
        let (owner, grew) = update_context(tx, "node", &node.hex, node.version, &node.context).await?;
        usage.entry(owner).or_default().bytes += grew;
    }
    // Edges before nodes: a node's deletion takes its remaining edges with it.
    for (hex, version) in &writes.delete_edges {
        let (owner, bytes) = delete_row(tx, "edge", hex, *version).await?;
        let delta = usage.entry(owner).or_default();
        delta.edges -= 1;
        delta.bytes -= bytes;
    }
    for (id, version) in &writes.delete_nodes {
        let (owner, bytes) = delete_row(tx, "node", hex_of(id), *version).await?;
        delete_edges_of(tx, &mut usage, id).await?;
        execute(tx, "DELETE FROM grants WHERE target = $1", &[id]).await?;
        let delta = usage.entry(owner).or_default();
        delta.nodes -= 1;
        delta.bytes -= bytes;
    }
    let inserted = |end: &str| writes.insert_nodes.iter().any(|node| end.ends_with(node.hex.as_str()));
    for edge in &writes.insert_edges {
        for end in [&edge.source, &edge.target] {
            if !inserted(end) && !end_exists(tx, end).await? {
                return Err(CommitError::Conflict);
            }
        }
        execute(
            tx,
            "INSERT INTO edge (hex, type, owner, src, dst, ctx, ver) VALUES ($1, $2, $3, $4, $5, $6, 1)",
            &[&edge.hex, &edge.type_name, &edge.owner, &edge.source, &edge.target, &edge.context],
        )
        .await?;
        usage.entry(edge.owner.clone()).or_default().edge_added(&edge.type_name, &edge.context);
    }
    for edge in &writes.update_edges {
        let (owner, grew) = update_context(tx, "edge", &edge.hex, edge.version, &edge.context).await?;
        usage.entry(owner).or_default().bytes += grew;
    }
    for (target, grantee, level) in &writes.grants {
        match level {
            Some(level) => {
                let sql = "INSERT INTO grants (target, grantee, level) VALUES ($1, $2, $3)
                           ON CONFLICT (target, grantee) DO UPDATE SET level = EXCLUDED.level";
                execute(tx, sql, &[target, grantee, &(*level as i32)]).await?
            }
            None => execute(tx, "DELETE FROM grants WHERE target = $1 AND grantee = $2", &[target, grantee]).await?,
        };
    }
    for (root, delta) in usage {
        let used = add_usage(tx, &root, delta).await.map_err(commit_failed)?;
        delta.check(&root, quotas, used)?;
    }
    Ok(())
}

/// Replaces a node's or edge's context (`table`) if it still has `version`; returns its
/// owner and how many bytes it grew.
async fn update_context(
    tx: &Transaction<'_>,
    table: &str,
    hex: &str,
    version: i64,
    context: &str,
) -> Result<(String, i64), CommitError> {
    let sql = format!(
        "UPDATE {table} t SET ctx = $3, ver = t.ver + 1 FROM (SELECT octet_length(ctx) AS len FROM {table}
         WHERE hex = $1) old WHERE t.hex = $1 AND t.ver = $2 RETURNING t.owner, old.len"
    );
    let row = query_opt(tx, &sql, &[&hex, &version, &context]).await?.ok_or(CommitError::Conflict)?;
    Ok((row.get(0), context.len() as i64 - i64::from(row.get::<_, i32>(1))))
}

/// Deletes a node or edge (`table`) if it still has `version`; returns its owner and the
/// bytes it was charged.
async fn delete_row(tx: &Transaction<'_>, table: &str, hex: &str, version: i64) -> Result<(String, i64), CommitError> {
    let sql = format!("DELETE FROM {table} WHERE hex = $1 AND ver = $2 RETURNING owner, type, ctx");
    let row = query_opt(tx, &sql, &[&hex, &version]).await?.ok_or(CommitError::Conflict)?;
    Ok((row.get(0), row_bytes(row.get(1), row.get(2))))
}

/// Whether a node still exists, locking it against deletion until the commit.
async fn end_exists(tx: &Transaction<'_>, node: &str) -> Result<bool, CommitError> {
    if node.starts_with("n::") {
        return Ok(true); // roots always exist
    }
    Ok(query_opt(tx, "SELECT 1 FROM node WHERE hex = $1 FOR KEY SHARE", &[&hex_of(node)]).await?.is_some())
}

/// Deletes a node's edges (`id`: its full id), charging their owners.
async fn delete_edges_of(tx: &Transaction<'_>, usage: &mut Usage, id: &str) -> Result<(), CommitError> {
    let statement = tx
        .prepare_cached(
            "DELETE FROM edge WHERE src = $1 OR dst = $1 RETURNING owner, octet_length(type) + octet_length(ctx)",
        )
        .await
        .map_err(commit_failed)?;
    for row in tx.query(&statement, &[&id]).await.map_err(commit_failed)? {
        let delta = usage.entry(row.get(0)).or_default();
        delta.edges -= 1;
        delta.bytes -= i64::from(row.get::<_, i32>(1)) + ROW_OVERHEAD_BYTES;
    }
    Ok(())
}

/// Adds `delta` to a root's usage; returns its nodes, edges and bytes after.
pub(super) async fn add_usage(
    tx: &Transaction<'_>,
    root: &str,
    delta: Delta,
) -> Result<(i64, i64, i64), tokio_postgres::Error> {
    let statement = tx
        .prepare_cached(
            "INSERT INTO usage (root, nodes, edges, bytes) VALUES ($1, $2, $3, $4)
             ON CONFLICT (root) DO UPDATE SET nodes = usage.nodes + $2, edges = usage.edges + $3,
             bytes = usage.bytes + $4 RETURNING nodes, edges, bytes",
        )
        .await?;
    let row = tx.query_one(&statement, &[&root, &delta.nodes, &delta.edges, &delta.bytes]).await?;
    Ok((row.get(0), row.get(1), row.get(2)))
}
