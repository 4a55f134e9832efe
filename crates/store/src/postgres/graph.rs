//! The graph on PostgreSQL: reads on any pooled connection, one transaction per write set.

use deadpool_postgres::{ClientWrapper, Object, Transaction};
use futures_util::future::{try_join, try_join_all};
use tokio_postgres::types::ToSql;

use super::{PostgresStore, commit_failed};
use crate::rows::{self, EDGE_COLUMNS, NODE_COLUMNS};
use crate::{
    BoxFuture, CommitError, Delta, EdgePage, EdgeQuery, EdgeRow, GraphStore, Level, NodeRow, Quotas,
    ROW_OVERHEAD_BYTES, RootsLock, StoreError, WriteSet, commit::Usage, commit::add_store_total, grant_bytes, hex_of,
    row_bytes,
};

/// `rows::node_row`, which cannot fail on PostgreSQL.
pub(super) fn node_row(row: &tokio_postgres::Row, at: usize) -> NodeRow {
    let Ok(node) = rows::node_row(row, at);
    node
}

/// `rows::edge_row`, which cannot fail on PostgreSQL.
pub(super) fn edge_row(row: &tokio_postgres::Row) -> EdgeRow {
    let Ok(edge) = rows::edge_row(row);
    edge
}

/// The class of the advisory locks that order runs of a root ("jacr"); the second key
/// is the root's. Two-key advisory locks never collide with one-key ones (migrations).
const ROOT_LOCK_CLASS: i32 = 0x6a61_6372;

/// A root's key in the class: its last 8 hex digits, the random end of an ObjectId. Two
/// roots that share one are ordered together, which costs them only some waiting.
fn root_key(root: &str) -> i32 {
    u32::from_str_radix(&root[root.len().saturating_sub(8)..], 16).unwrap_or(0) as i32
}

/// Advisory locks of roots held on a connection of the lock pool. Dropped, it unlocks
/// them on a task of its own and returns the connection; a connection that cannot
/// unlock is closed, which unlocks too.
struct HeldLocks(Option<Object>);

impl Drop for HeldLocks {
    fn drop(&mut self) {
        let Some(client) = self.0.take() else { return };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return drop(Object::take(client)) };
        runtime.spawn(async move {
            if client.batch_execute("SELECT pg_advisory_unlock_all()").await.is_err() {
                drop(Object::take(client));
            }
        });
    }
}

impl GraphStore for PostgresStore {
    fn lock_roots<'a>(
        &'a self,
        roots: &'a [String],
        wait: bool,
    ) -> BoxFuture<'a, Result<Option<RootsLock>, StoreError>> {
        Box::pin(self.bounded(async move {
            let held = HeldLocks(Some(self.locks.get().await.map_err(super::failed)?));
            let client = held.0.as_ref().expect("just taken");
            let mut keys: Vec<i32> = roots.iter().map(|root| root_key(root)).collect();
            keys.sort_unstable();
            keys.dedup();
            let sql =
                if wait { "SELECT pg_advisory_lock($1, $2), true" } else { "SELECT pg_try_advisory_lock($1, $2)" };
            let statement = client.prepare_cached(sql).await.map_err(super::failed)?;
            for key in keys {
                let row = client.query_one(&statement, &[&ROOT_LOCK_CLASS, &key]).await.map_err(super::failed)?;
                if !row.get::<_, bool>(if wait { 1 } else { 0 }) {
                    return Ok(None);
                }
            }
            Ok(Some(Box::new(held) as RootsLock))
        }))
    }

    fn node<'a>(&'a self, hex: &'a str) -> BoxFuture<'a, Result<Option<NodeRow>, StoreError>> {
        Box::pin(async move {
            let sql = format!("SELECT {NODE_COLUMNS} FROM node WHERE hex = $1");
            self.query_opt(&sql, &[&hex], |row| node_row(row, 0)).await
        })
    }

    fn edge<'a>(&'a self, hex: &'a str) -> BoxFuture<'a, Result<Option<EdgeRow>, StoreError>> {
        Box::pin(async move {
            let sql = format!("SELECT {EDGE_COLUMNS} FROM edge e WHERE e.hex = $1");
            self.query_opt(&sql, &[&hex], edge_row).await
        })
    }

    fn edges<'a>(&'a self, query: EdgeQuery<'a>) -> BoxFuture<'a, Result<EdgePage, StoreError>> {
        let (filter, far) = crate::direction_sql(query.direction, "$1");
        let sql = format!(
            "SELECT {EDGE_COLUMNS}, n.hex, n.type, n.owner, n.ctx, n.ver, n.obj FROM edge e
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

    fn edges_between<'a>(
        &'a self,
        source: &'a str,
        target: &'a str,
        edge_type: Option<&'a str>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<EdgeRow>, StoreError>> {
        let sql = format!(
            "SELECT {EDGE_COLUMNS} FROM edge e WHERE e.src = $1 AND e.dst = $2 AND ($3::text IS NULL OR e.type = $3)
             ORDER BY e.seq LIMIT $4"
        );
        Box::pin(async move {
            let limit = limit as i64;
            self.query(&sql, &[&source, &target, &edge_type, &limit], edge_row).await
        })
    }

    fn owned_nodes<'a>(
        &'a self,
        owner: &'a str,
        after_hex: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<NodeRow>, StoreError>> {
        Box::pin(async move {
            let sql = format!(
                "SELECT {NODE_COLUMNS} FROM node WHERE owner = $1 AND hex > $2 AND NOT obj ORDER BY hex LIMIT $3"
            );
            self.query(&sql, &[&owner, &after_hex, &(limit as i64)], |row| node_row(row, 0)).await
        })
    }

    fn owned_counts<'a>(&'a self, owner: &'a str) -> BoxFuture<'a, Result<(i64, i64), StoreError>> {
        Box::pin(async move {
            let sql = "SELECT nodes, edges FROM usage WHERE root = $1";
            let counts = self.query_opt(sql, &[&owner], |row| (row.get::<_, i64>(0), row.get::<_, i64>(1))).await?;
            Ok(counts.unwrap_or_default())
        })
    }

    fn root_exists<'a>(&'a self, root: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            Ok(self.query_opt("SELECT 1 FROM users WHERE root_id = $1", &[&root], |_| ()).await?.is_some())
        })
    }

    fn grants<'a>(&'a self, target: &'a str) -> BoxFuture<'a, Result<Vec<(String, Level)>, StoreError>> {
        Box::pin(async move {
            self.query("SELECT grantee, level FROM grants WHERE target = $1", &[&target], |row| {
                (row.get(0), Level::from_i64(row.get::<_, i32>(1).into()))
            })
            .await
        })
    }

    fn commit(&self, writes: WriteSet) -> BoxFuture<'_, Result<(), CommitError>> {
        Box::pin(self.bounded(async move {
            let mut open = Open(Some(self.client().await?));
            let client = open.0.as_ref().expect("open");
            // `apply` sends `BEGIN` with its first batch.
            let applied = apply(client, &writes, &self.quotas).await;
            let end = if applied.is_ok() { "COMMIT" } else { "ROLLBACK" };
            let ended = client.batch_execute(end).await.map_err(commit_failed);
            open.0.take(); // back to the pool, outside any transaction
            applied.and(ended)
        }))
    }
}

/// A pooled connection inside a transaction a commit opened. A commit abandoned halfway
/// (the store timeout dropped it) closes the connection rather than return it to the
/// pool mid-transaction; PostgreSQL then rolls the transaction back.
struct Open(Option<Object>);

impl Drop for Open {
    fn drop(&mut self) {
        if let Some(client) = self.0.take() {
            drop(Object::take(client));
        }
    }
}

/// What a statement of a write set answers, and what its rows mean.
enum Then<'a> {
    /// Nothing to check.
    Nothing,
    /// A version-checked update: one row (owner, old context length), or a conflict.
    Updated { new_len: usize },
    /// A version-checked delete: one row (owner, type, context, bytes of the grants it
    /// took), or a conflict.
    Deleted { node: bool },
    /// The edges a node's deletion took: (owner, bytes with their grants') each.
    EdgesRemoved,
    /// A grant given: one row, true if it is new (then `owner` pays for it).
    GrantGiven { owner: &'a str, bytes: i64 },
    /// A grant revoked: a row if there was one (then `owner` is repaid).
    GrantRevoked { owner: &'a str, bytes: i64 },
    /// An existing end of a new edge, locked: one row, or a conflict.
    EndExists,
    /// A root's usage after the change: checked against its quota.
    Charged { root: &'a str, delta: Delta },
}

/// One statement of a write set.
struct Step<'a> {
    sql: String,
    params: Vec<&'a (dyn ToSql + Sync)>,
    then: Then<'a>,
}

impl<'a> Step<'a> {
    fn new(sql: impl Into<String>, params: Vec<&'a (dyn ToSql + Sync)>, then: Then<'a>) -> Self {
        Step { sql: sql.into(), params, then }
    }
}

const CHARGE: &str = "INSERT INTO usage (root, nodes, edges, bytes) VALUES ($1, $2, $3, $4)
    ON CONFLICT (root) DO UPDATE SET nodes = usage.nodes + $2, edges = usage.edges + $3,
    bytes = usage.bytes + $4 RETURNING nodes, edges, bytes";

/// Sends every step at once, after `BEGIN` when `begin` (tokio-postgres pipelines
/// requests polled together, in the order they are first polled, and PostgreSQL runs
/// them in order), then reads their answers: one round trip.
async fn pipeline(
    client: &ClientWrapper,
    steps: &[Step<'_>],
    begin: bool,
) -> Result<Vec<Vec<tokio_postgres::Row>>, CommitError> {
    let statements =
        try_join_all(steps.iter().map(|step| client.prepare_cached(&step.sql))).await.map_err(commit_failed)?;
    let queries =
        try_join_all(steps.iter().zip(&statements).map(|(step, statement)| client.query(statement, &step.params)));
    let answers = if begin {
        try_join(client.batch_execute("BEGIN"), queries).await.map(|(_, answers)| answers)
    } else {
        queries.await
    };
    answers.map_err(commit_failed)
}

/// Opens a transaction and applies a write set in one round trip, or two when updates
/// or deletes make the usage change depend on what they find: its rows first, then the
/// owners' usage rows. The caller commits or rolls back.
async fn apply(client: &ClientWrapper, writes: &WriteSet, quotas: &Quotas) -> Result<(), CommitError> {
    // Bare hex of ids, for statements that take them.
    let deleted: Vec<&str> = writes.delete_nodes.iter().map(|(id, _)| hex_of(id)).collect();
    let inserted = |end: &str| writes.insert_nodes.iter().any(|node| end.ends_with(node.hex.as_str()));
    // Roots always exist; an existing node must, and must not be deleted before the commit.
    let ends: Vec<&str> = (writes.insert_edges.iter())
        .flat_map(|edge| [edge.source.as_str(), edge.target.as_str()])
        .filter(|end| !end.starts_with("n::") && !inserted(end))
        .map(hex_of)
        .collect();

    let mut usage = Usage::new();
    let mut steps = Vec::new();
    for node in &writes.insert_nodes {
        let sql = "INSERT INTO node (hex, type, owner, ctx, ver, obj) VALUES ($1, $2, $3, $4, 1, $5)";
        let params: Vec<&(dyn ToSql + Sync)> =
            vec![&node.hex, &node.type_name, &node.owner, &node.context, &node.object];
        steps.push(Step::new(sql, params, Then::Nothing));
        usage.entry(node.owner.clone()).or_default().node_added(&node.type_name, &node.context);
    }
    for node in &writes.update_nodes {
        steps.push(update_context("node", &node.hex, &node.version, &node.context));
    }
    // Edges before nodes: a node's deletion takes its remaining edges with it. Each
    // takes its grants along.
    for (hex, version) in &writes.delete_edges {
        let target = "'e:' || type || ':' || $1::text";
        steps.push(Step::new(delete_with_grants("edge", target), vec![hex, version], Then::Deleted { node: false }));
    }
    for ((id, version), hex) in writes.delete_nodes.iter().zip(&deleted) {
        let sql = delete_with_grants("node", "$3::text");
        steps.push(Step::new(sql, vec![hex, version, id], Then::Deleted { node: true }));
        let grant_bytes = grant_bytes_sql();
        let sql = format!(
            "WITH e AS (DELETE FROM edge WHERE src = $1 OR dst = $1
                 RETURNING owner, 'e:' || type || ':' || hex AS id, octet_length(type) + octet_length(ctx) AS len),
             g AS (DELETE FROM grants WHERE target IN (SELECT id FROM e) RETURNING target, grantee)
             SELECT e.owner, (e.len + coalesce((SELECT sum({grant_bytes}) FROM g WHERE g.target = e.id), 0))::bigint
             FROM e"
        );
        steps.push(Step::new(sql, vec![id], Then::EdgesRemoved));
    }
    for end in &ends {
        steps.push(Step::new("SELECT 1 FROM node WHERE hex = $1 FOR KEY SHARE", vec![end], Then::EndExists));
    }
    for edge in &writes.insert_edges {
        let sql = "INSERT INTO edge (hex, type, owner, src, dst, ctx, ver) VALUES ($1, $2, $3, $4, $5, $6, 1)";
        let params: Vec<&(dyn ToSql + Sync)> =
            vec![&edge.hex, &edge.type_name, &edge.owner, &edge.source, &edge.target, &edge.context];
        steps.push(Step::new(sql, params, Then::Nothing));
        usage.entry(edge.owner.clone()).or_default().edge_added(&edge.type_name, &edge.context);
    }
    for edge in &writes.update_edges {
        steps.push(update_context("edge", &edge.hex, &edge.version, &edge.context));
    }
    for grant in &writes.grants {
        let (owner, bytes) = (grant.owner.as_str(), grant_bytes(&grant.target, &grant.grantee));
        steps.push(match grant.level {
            Some(level) => {
                // `xmax = 0`: the row was inserted, not updated.
                let sql = "INSERT INTO grants (target, grantee, level) VALUES ($1, $2, $3)
                           ON CONFLICT (target, grantee) DO UPDATE SET level = EXCLUDED.level RETURNING xmax = 0";
                Step::new(
                    sql,
                    vec![&grant.target, &grant.grantee, level_param(level)],
                    Then::GrantGiven { owner, bytes },
                )
            }
            None => {
                let sql = "DELETE FROM grants WHERE target = $1 AND grantee = $2 RETURNING 1";
                Step::new(sql, vec![&grant.target, &grant.grantee], Then::GrantRevoked { owner, bytes })
            }
        });
    }

    let usage_known = writes.update_nodes.is_empty()
        && writes.update_edges.is_empty()
        && writes.delete_nodes.is_empty()
        && writes.delete_edges.is_empty()
        && writes.grants.is_empty();
    if usage_known {
        add_store_total(&mut usage, quotas);
        charge(&mut steps, &usage);
        let answers = pipeline(client, &steps, true).await?;
        return check(&steps, answers, quotas, &mut Usage::new());
    }
    let answers = pipeline(client, &steps, true).await?;
    check(&steps, answers, quotas, &mut usage)?;
    add_store_total(&mut usage, quotas);
    let mut charges = Vec::new();
    charge(&mut charges, &usage);
    let answers = pipeline(client, &charges, false).await?;
    check(&charges, answers, quotas, &mut Usage::new())
}

/// A grant row `g`'s bytes in SQL, as `grant_bytes` counts them.
fn grant_bytes_sql() -> String {
    format!("{ROW_OVERHEAD_BYTES} + octet_length(g.target) + octet_length(g.grantee)")
}

/// A version-checked delete of a node or edge (`table`) with the grants on it, whose
/// full id is the SQL `target`: answers the row's owner, type and context, and the
/// bytes of the grants.
fn delete_with_grants(table: &str, target: &str) -> String {
    let grant_bytes = grant_bytes_sql();
    format!(
        "WITH r AS (DELETE FROM {table} WHERE hex = $1 AND ver = $2 RETURNING owner, type, ctx),
         g AS (DELETE FROM grants WHERE target = (SELECT {target} FROM r) RETURNING target, grantee)
         SELECT owner, type, ctx, (SELECT coalesce(sum({grant_bytes}), 0)::bigint FROM g) FROM r"
    )
}

/// A version-checked replacement of a node's or edge's context (`table`).
fn update_context<'a>(table: &str, hex: &'a String, version: &'a i64, context: &'a String) -> Step<'a> {
    let sql = format!(
        "UPDATE {table} t SET ctx = $3, ver = t.ver + 1 FROM (SELECT octet_length(ctx) AS len FROM {table}
         WHERE hex = $1) old WHERE t.hex = $1 AND t.ver = $2 RETURNING t.owner, old.len"
    );
    Step::new(sql, vec![hex, version, context], Then::Updated { new_len: context.len() })
}

fn level_param(level: Level) -> &'static (dyn ToSql + Sync) {
    match level {
        Level::NoAccess => &-1i32,
        Level::Read => &0i32,
        Level::Connect => &1i32,
        Level::Write => &2i32,
    }
}

/// Adds a usage update per owner, in root order (so two commits never wait for each
/// other's usage rows in opposite orders).
fn charge<'a>(steps: &mut Vec<Step<'a>>, usage: &'a Usage) {
    for (root, delta) in usage {
        let params: Vec<&(dyn ToSql + Sync)> = vec![root, &delta.nodes, &delta.edges, &delta.bytes];
        steps.push(Step::new(CHARGE, params, Then::Charged { root, delta: *delta }));
    }
}

/// Reads the answers of `steps`: conflicts, usage changes, quotas.
fn check(
    steps: &[Step<'_>],
    answers: Vec<Vec<tokio_postgres::Row>>,
    quotas: &Quotas,
    usage: &mut Usage,
) -> Result<(), CommitError> {
    for (step, rows) in steps.iter().zip(answers) {
        match step.then {
            Then::Nothing => {}
            Then::Updated { new_len } => {
                let row = rows.first().ok_or(CommitError::Conflict)?;
                usage.entry(row.get(0)).or_default().bytes += new_len as i64 - i64::from(row.get::<_, i32>(1));
            }
            Then::Deleted { node } => {
                let row = rows.first().ok_or(CommitError::Conflict)?;
                let (delta, bytes) = (usage.entry(row.get(0)).or_default(), row_bytes(row.get(1), row.get(2)));
                let removed = if node { Delta::node_removed } else { Delta::edge_removed };
                removed(delta, bytes + row.get::<_, i64>(3));
            }
            Then::EdgesRemoved => {
                for row in rows {
                    usage.entry(row.get(0)).or_default().edge_removed(row.get::<_, i64>(1) + ROW_OVERHEAD_BYTES);
                }
            }
            Then::GrantGiven { owner, bytes } => {
                if rows.first().is_some_and(|row| row.get::<_, bool>(0)) {
                    usage.entry(owner.to_string()).or_default().bytes += bytes;
                }
            }
            Then::GrantRevoked { owner, bytes } => {
                if !rows.is_empty() {
                    usage.entry(owner.to_string()).or_default().bytes -= bytes;
                }
            }
            Then::EndExists if rows.is_empty() => return Err(CommitError::Conflict),
            Then::EndExists => {}
            Then::Charged { root, delta } => {
                let row = rows.first().ok_or_else(|| CommitError::Store("no usage row".into()))?;
                delta.check(root, quotas, (row.get(0), row.get(1), row.get(2)))?;
            }
        }
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
