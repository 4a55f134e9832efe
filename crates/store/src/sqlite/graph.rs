//! The graph on SQLite: reads inline on the reader pool, writes by group commit.

use std::sync::TryLockError;
use std::sync::atomic::Ordering;

use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;

use super::{Commit, CommitState, SqliteStore};
use crate::rows::{EDGE_COLUMNS, NODE_COLUMNS, edge_row, node_row};
use crate::{
    BoxFuture, CommitError, Delta, EdgePage, EdgeQuery, EdgeRow, GraphStore, Level, NodeRow, Quotas,
    ROW_OVERHEAD_BYTES, StoreError, WriteSet, commit::Usage, commit::add_store_total, grant_bytes, hex_of, row_bytes,
};
use walker_core::ids;

impl SqliteStore {
    /// Commits queued write sets until the queue is empty or another caller holds the
    /// write connection. A caller that queued a write set and finds the connection taken
    /// may leave: the holder looks at the queue again after releasing the connection, so
    /// a write set queued while it held it is never stranded.
    fn commit_queued(&self) {
        loop {
            let db = match self.writer.try_lock() {
                Ok(db) => db,
                // A panic while committing: the connection is still usable once any
                // transaction it left open is rolled back.
                Err(TryLockError::Poisoned(poisoned)) => {
                    self.writer.clear_poison();
                    poisoned.into_inner()
                }
                Err(TryLockError::WouldBlock) => return,
            };
            if !db.is_autocommit() {
                let _ = execute_cached(&db, "ROLLBACK");
            }
            let batch = std::mem::take(&mut *self.queue.lock().unwrap_or_else(|p| p.into_inner()));
            // Write sets whose runs stopped waiting (`commit_timeout`) are never committed.
            let batch: Vec<Commit> = batch.into_iter().filter(Commit::take).collect();
            if batch.is_empty() {
                #[cfg(test)]
                if let Some(pause) = self.found_empty.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    pause();
                }
                drop(db);
                if self.queue.lock().unwrap_or_else(|p| p.into_inner()).is_empty() {
                    return;
                }
                continue;
            }
            commit_batch(&db, batch, &self.quotas);
            self.checkpointer.committed();
        }
    }
}

/// Rows of a page of edges read inline, like point reads; the rest on the blocking pool.
const INLINE_PAGE: usize = 64;

/// Up to `limit` edges of `node` after `after_seq`, with their far ends (`sql` from `edges`).
fn read_edges(
    db: &Connection,
    sql: &str,
    node: &str,
    after_seq: i64,
    edge_type: Option<&str>,
    limit: usize,
) -> rusqlite::Result<EdgePage> {
    let mut statement = db.prepare_cached(sql)?;
    let rows = statement.query_map(params![node, after_seq, edge_type, limit as i64], |row| {
        let far: Option<String> = row.get(8)?;
        Ok((edge_row(row)?, far.map(|_| node_row(row, 8)).transpose()?))
    })?;
    rows.collect()
}

impl GraphStore for SqliteStore {
    fn node<'a>(&'a self, hex: &'a str) -> BoxFuture<'a, Result<Option<NodeRow>, StoreError>> {
        Box::pin(std::future::ready(self.read(|db| {
            db.prepare_cached(&format!("SELECT {NODE_COLUMNS} FROM node WHERE hex = ?1"))?
                .query_row([hex], |row| node_row(row, 0))
                .optional()
        })))
    }

    fn edge<'a>(&'a self, hex: &'a str) -> BoxFuture<'a, Result<Option<EdgeRow>, StoreError>> {
        Box::pin(std::future::ready(self.read(|db| {
            db.prepare_cached(&format!("SELECT {EDGE_COLUMNS} FROM edge e WHERE e.hex = ?1"))?
                .query_row([hex], |row| edge_row(row))
                .optional()
        })))
    }

    fn edges<'a>(&'a self, query: EdgeQuery<'a>) -> BoxFuture<'a, Result<EdgePage, StoreError>> {
        let (filter, far) = crate::direction_sql(query.direction, "?1");
        let sql = format!(
            "SELECT {EDGE_COLUMNS}, n.hex, n.type, n.owner, n.ctx, n.ver, n.obj FROM edge e
             LEFT JOIN node n ON n.hex = substr({far}, -24)
             WHERE {filter} AND e.seq > ?2 AND (?3 IS NULL OR e.type = ?3)
             ORDER BY e.seq LIMIT ?4"
        );
        // The first rows inline, like point reads: most pages are small. What may follow
        // is read on the blocking pool, so a large page never holds an async worker.
        let first = query.limit.min(INLINE_PAGE);
        let inline = self.read(|db| read_edges(db, &sql, query.node, query.after_seq, query.edge_type, first));
        match inline {
            Ok(mut page) if page.len() == first && query.limit > first => {
                let after_seq = page.last().map_or(query.after_seq, |(edge, _)| edge.seq);
                let (node, edge_type, rest) =
                    (query.node.to_string(), query.edge_type.map(str::to_string), query.limit - first);
                Box::pin(async move {
                    let read =
                        move |db: &Connection| read_edges(db, &sql, &node, after_seq, edge_type.as_deref(), rest);
                    page.extend(self.read_off_thread(read).await?);
                    Ok(page)
                })
            }
            done => Box::pin(std::future::ready(done)),
        }
    }

    fn edges_between<'a>(
        &'a self,
        source: &'a str,
        target: &'a str,
        edge_type: Option<&'a str>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<EdgeRow>, StoreError>> {
        let sql = format!(
            "SELECT {EDGE_COLUMNS} FROM edge e WHERE e.src = ?1 AND e.dst = ?2 AND (?3 IS NULL OR e.type = ?3)
             ORDER BY e.seq LIMIT ?4"
        );
        Box::pin(std::future::ready(self.read(|db| {
            let mut statement = db.prepare_cached(&sql)?;
            let rows = statement.query_map(params![source, target, edge_type, limit as i64], |row| edge_row(row))?;
            rows.collect()
        })))
    }

    fn owned_nodes<'a>(
        &'a self,
        owner: &'a str,
        after_hex: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<NodeRow>, StoreError>> {
        let sql =
            format!("SELECT {NODE_COLUMNS} FROM node WHERE owner = ?1 AND hex > ?2 AND NOT obj ORDER BY hex LIMIT ?3");
        let (owner, after_hex) = (owner.to_string(), after_hex.to_string());
        let read = move |db: &Connection| {
            let mut statement = db.prepare_cached(&sql)?;
            let rows = statement.query_map(params![owner, after_hex, limit as i64], |row| node_row(row, 0))?;
            rows.collect()
        };
        Box::pin(async move { self.read_off_thread(read).await })
    }

    fn owned_counts<'a>(&'a self, owner: &'a str) -> BoxFuture<'a, Result<(i64, i64), StoreError>> {
        Box::pin(std::future::ready(self.read(|db| {
            let counts = db
                .prepare_cached("SELECT nodes, edges FROM usage WHERE root = ?1")?
                .query_row([owner], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()?;
            Ok(counts.unwrap_or_default())
        })))
    }

    fn root_exists<'a>(&'a self, root: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        let accounts = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        let exists =
            accounts.prepare_cached("SELECT 1 FROM users WHERE root_id = ?1").and_then(|mut s| s.exists([root]));
        Box::pin(std::future::ready(exists.map_err(|err| StoreError(err.to_string()))))
    }

    fn grants<'a>(&'a self, target: &'a str) -> BoxFuture<'a, Result<Vec<(String, Level)>, StoreError>> {
        Box::pin(std::future::ready(self.read(|db| {
            let mut statement = db.prepare_cached("SELECT grantee, level FROM grants WHERE target = ?1")?;
            let rows = statement.query_map([target], |row| Ok((row.get(0)?, Level::from_i64(row.get(1)?))))?;
            rows.collect()
        })))
    }

    fn commit(&self, writes: WriteSet) -> BoxFuture<'_, Result<(), CommitError>> {
        let (done, mut result) = oneshot::channel();
        let state = std::sync::Arc::new(std::sync::atomic::AtomicU8::new(CommitState::Queued as u8));
        self.queue.lock().unwrap_or_else(|p| p.into_inner()).push(Commit { writes, done, state: state.clone() });
        let queued = CommitsQueued(self);
        Box::pin(async move {
            // Other runs ready on this worker queue their writes meanwhile and share the
            // transaction.
            tokio::task::yield_now().await;
            drop(queued);
            let abandoned = |_| CommitError::Store("the commit was abandoned".into());
            match tokio::time::timeout(self.commit_timeout, &mut result).await {
                Ok(outcome) => outcome.map_err(abandoned)?,
                // Still queued: withdrawn, so it can never commit after being reported
                // as failed. Already taken: its transaction is under way, and SQLite's
                // busy timeout bounds each of its statements.
                Err(_elapsed) => {
                    let withdrawn = (CommitState::Queued as u8, CommitState::Withdrawn as u8);
                    if state.compare_exchange(withdrawn.0, withdrawn.1, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                        let waited = self.commit_timeout.as_millis();
                        return Err(CommitError::Store(format!("the write connection stayed busy for {waited} ms")));
                    }
                    result.await.map_err(abandoned)?
                }
            }
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
            let mut results = Vec::with_capacity(batch.len());
            for commit in &batch {
                results.push(apply_in_savepoint(db, &commit.writes, quotas)?);
            }
            results
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

/// Applies one write set of a batch inside a savepoint, so that its failure rolls back
/// alone. The outer error is the savepoint failing: then the transaction holds writes of
/// unknown state, and the whole batch must roll back, or a write set reported as failed
/// would commit.
fn apply_in_savepoint(
    tx: &Connection,
    writes: &WriteSet,
    quotas: &Quotas,
) -> rusqlite::Result<Result<(), CommitError>> {
    execute_cached(tx, "SAVEPOINT run")?;
    let result = apply(tx, writes, quotas);
    if result.is_err() {
        execute_cached(tx, "ROLLBACK TO run")?;
    }
    execute_cached(tx, "RELEASE run")?;
    Ok(result)
}

fn apply(tx: &Connection, writes: &WriteSet, quotas: &Quotas) -> Result<(), CommitError> {
    let store = |err: rusqlite::Error| CommitError::Store(err.to_string());
    let mut usage = Usage::new();

    for node in &writes.insert_nodes {
        tx.prepare_cached("INSERT INTO node (hex, type, owner, ctx, ver, obj) VALUES (?1, ?2, ?3, ?4, 1, ?5)")
            .and_then(|mut s| s.execute(params![node.hex, node.type_name, node.owner, node.context, node.object]))
            .map_err(store)?;
        usage.entry(node.owner.clone()).or_default().node_added(&node.type_name, &node.context);
    }
    for node in &writes.update_nodes {
        let (owner, grew) = update_context(tx, "node", &node.hex, node.version, &node.context)?;
        usage.entry(owner).or_default().bytes += grew;
    }
    // Edges before nodes: a node's deletion takes its remaining edges with it.
    for (hex, version) in &writes.delete_edges {
        let (owner, type_name, bytes) = delete_row(tx, "edge", hex, *version)?;
        let grants = delete_grants(tx, &ids::edge_id(&type_name, hex))?;
        usage.entry(owner).or_default().edge_removed(bytes + grants);
    }
    for (id, version) in &writes.delete_nodes {
        let (owner, _, bytes) = delete_row(tx, "node", hex_of(id), *version)?;
        delete_edges_of(tx, &mut usage, id)?;
        let grants = delete_grants(tx, id)?;
        usage.entry(owner).or_default().node_removed(bytes + grants);
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
    for grant in &writes.grants {
        let (target, grantee) = (&grant.target, &grant.grantee);
        // Rows added or removed: a changed level costs nothing more.
        let rows = match grant.level {
            Some(level) => tx
                .prepare_cached("SELECT 1 FROM grants WHERE target = ?1 AND grantee = ?2")
                .and_then(|mut s| s.exists(params![target, grantee]))
                .and_then(|existed| {
                    tx.prepare_cached("INSERT OR REPLACE INTO grants (target, grantee, level) VALUES (?1, ?2, ?3)")?
                        .execute(params![target, grantee, level as i64])?;
                    Ok(i64::from(!existed))
                }),
            None => tx
                .prepare_cached("DELETE FROM grants WHERE target = ?1 AND grantee = ?2")
                .and_then(|mut s| s.execute(params![target, grantee]))
                .map(|removed| -(removed as i64)),
        };
        usage.entry(grant.owner.clone()).or_default().bytes += rows.map_err(store)? * grant_bytes(target, grantee);
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

/// Deletes a node or edge (`table`) if it still has `version`; returns its owner, its
/// type and the bytes it was charged.
fn delete_row(tx: &Connection, table: &str, hex: &str, version: i64) -> Result<(String, String, i64), CommitError> {
    tx.prepare_cached(&format!("DELETE FROM {table} WHERE hex = ?1 AND ver = ?2 RETURNING owner, type, ctx"))
        .and_then(|mut s| {
            s.query_row(params![hex, version], |row| {
                let type_name: String = row.get(1)?;
                let bytes = row_bytes(&type_name, &row.get::<_, String>(2)?);
                Ok((row.get::<_, String>(0)?, type_name, bytes))
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

/// Deletes a node's edges (`id`: its full id) and their grants, charging their owners.
fn delete_edges_of(tx: &Connection, usage: &mut Usage, id: &str) -> Result<(), CommitError> {
    let store = |err: rusqlite::Error| CommitError::Store(err.to_string());
    let removed: Vec<(String, String, String, i64)> = tx
        .prepare_cached(
            "DELETE FROM edge WHERE src = ?1 OR dst = ?1
             RETURNING owner, type, hex, octet_length(type) + octet_length(ctx)",
        )
        .and_then(|mut s| s.query_map([id], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)))?.collect())
        .map_err(store)?;
    for (owner, type_name, hex, bytes) in removed {
        let grants = delete_grants(tx, &ids::edge_id(&type_name, &hex))?;
        usage.entry(owner).or_default().edge_removed(bytes + ROW_OVERHEAD_BYTES + grants);
    }
    Ok(())
}

/// Deletes the grants on a node or edge going away (`target`: its full id); returns
/// the bytes they were charged.
fn delete_grants(tx: &Connection, target: &str) -> Result<i64, CommitError> {
    tx.prepare_cached("DELETE FROM grants WHERE target = ?1 RETURNING grantee")
        .and_then(|mut s| {
            s.query_map([target], |row| Ok(grant_bytes(target, &row.get::<_, String>(0)?)))?
                .sum::<rusqlite::Result<i64>>()
        })
        .map_err(|err| CommitError::Store(err.to_string()))
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rusqlite::hooks::{AuthAction, Authorization, TransactionOperation};

    use super::*;

    fn item(hex: &str) -> NodeRow {
        NodeRow {
            hex: hex.into(),
            type_name: "Item".into(),
            object: false,
            owner: "0".repeat(24),
            context: "{}".into(),
            version: 1,
        }
    }

    fn insert(hex: &str) -> WriteSet {
        WriteSet { insert_nodes: vec![item(hex)], ..WriteSet::default() }
    }

    fn store() -> (SqliteStore, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        (SqliteStore::open(dir.path(), Quotas::default()).unwrap(), dir)
    }

    #[tokio::test]
    async fn a_graph_file_from_before_objects_gets_their_column_and_keeps_its_nodes() {
        let dir = tempfile::tempdir().unwrap();
        let old = Connection::open(dir.path().join("graph.sqlite3")).unwrap();
        old.execute_batch(
            "CREATE TABLE node (hex TEXT PRIMARY KEY, type TEXT NOT NULL, owner TEXT NOT NULL, ctx TEXT NOT NULL,
                                ver INTEGER NOT NULL) WITHOUT ROWID;
             INSERT INTO node VALUES ('00000000000000000000000a', 'Item', '000000000000000000000000', '{}', 1);",
        )
        .unwrap();
        drop(old);
        let store = SqliteStore::open(dir.path(), Quotas::default()).unwrap();
        assert_eq!(store.node("00000000000000000000000a").await.unwrap(), Some(item("00000000000000000000000a")));
        let object = NodeRow { object: true, ..item("00000000000000000000000b") };
        store.commit(WriteSet { insert_nodes: vec![object.clone()], ..WriteSet::default() }).await.unwrap();
        assert_eq!(store.node(&object.hex).await.unwrap().map(|row| (row.object, row.version)), Some((true, 1)));
        let owned = store.owned_nodes(&object.owner, "", 10).await.unwrap();
        assert_eq!(owned.iter().map(|row| row.hex.as_str()).collect::<Vec<_>>(), ["00000000000000000000000a"]);
    }

    async fn exists(store: &SqliteStore, hex: &str) -> bool {
        store.node(hex).await.unwrap().is_some()
    }

    /// Bounds a test whose failure would be a wait forever.
    async fn within<T>(future: impl std::future::Future<Output = T>) -> T {
        tokio::time::timeout(Duration::from_secs(10), future).await.expect("waited forever")
    }

    /// A run that queues its write set while the committer holds the connection, having
    /// just found the queue empty, leaves it to that committer, which looks again after
    /// letting the connection go: the write set is committed, not stranded until some
    /// later commit.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_set_queued_as_the_committer_finds_the_queue_empty_is_committed() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path(), Quotas::default()).unwrap();
        let store = std::sync::Arc::new(store.with_commit_timeout(Duration::from_millis(500)));
        let (paused, is_paused) = std::sync::mpsc::channel();
        let (resume, resumed) = std::sync::mpsc::channel::<()>();
        *store.found_empty.lock().unwrap() = Some(Box::new(move || {
            paused.send(()).unwrap();
            resumed.recv().unwrap();
        }));
        let committer = std::thread::spawn({
            let store = store.clone();
            move || store.commit_queued()
        });
        is_paused.recv().unwrap();
        let hex = "a".repeat(24);
        let run = tokio::spawn({
            let (store, writes) = (store.clone(), insert(&hex));
            async move { store.commit(writes).await }
        });
        // The run has queued its write set and found the connection taken.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(store.queue.lock().unwrap().len(), 1);
        resume.send(()).unwrap();
        committer.join().unwrap();
        within(run).await.unwrap().expect("committed by the committer that looked again");
        assert!(exists(&store, &hex).await);
    }

    /// A store total under its former key (`*`) is dropped when the store opens, not
    /// added to the recount: a store that kept one from before would count twice.
    #[tokio::test]
    async fn the_store_total_is_recounted_without_its_former_row() {
        let dir = tempfile::tempdir().unwrap();
        let quotas = Quotas { store: Some(crate::Quota { nodes: 2, edges: 10, bytes: 1 << 20 }), ..Quotas::default() };
        let store = SqliteStore::open(dir.path(), quotas).unwrap();
        within(store.commit(insert(&"a".repeat(24)))).await.unwrap();
        drop(store);
        let db = Connection::open(dir.path().join("graph.sqlite3")).unwrap();
        db.execute("INSERT INTO usage (root, nodes, edges, bytes) VALUES ('*', 1, 0, 100)", []).unwrap();
        drop(db);
        let store = SqliteStore::open(dir.path(), quotas).unwrap();
        within(store.commit(insert(&"b".repeat(24)))).await.expect("the second of two nodes fits the quota");
        let over = within(store.commit(insert(&"c".repeat(24)))).await;
        assert!(matches!(over, Err(CommitError::Quota(_))), "{over:?}");
    }

    #[tokio::test]
    async fn a_panic_while_committing_does_not_wedge_the_store() {
        let (store, _dir) = store();
        std::thread::scope(|scope| {
            let holder = scope.spawn(|| {
                let db = store.writer.lock().unwrap();
                db.execute_batch("BEGIN IMMEDIATE").unwrap();
                panic!("a committer panics mid-transaction");
            });
            assert!(holder.join().is_err());
        });
        assert!(store.writer.is_poisoned());
        within(store.commit(insert(&"a".repeat(24)))).await.unwrap();
        assert!(exists(&store, &"a".repeat(24)).await);
    }

    #[tokio::test]
    // The held writer is the wedge under test.
    #[allow(clippy::await_holding_lock)]
    async fn a_commit_stuck_behind_a_wedged_writer_fails_then_the_store_recovers() {
        let (store, _dir) = store();
        let store = store.with_commit_timeout(Duration::from_millis(50));
        let wedged = store.writer.lock().unwrap();
        let error = within(store.commit(insert(&"b".repeat(24)))).await.unwrap_err();
        assert!(matches!(error, CommitError::Store(_)), "{error}");
        drop(wedged);
        within(store.commit(insert(&"c".repeat(24)))).await.unwrap();
        assert!(exists(&store, &"c".repeat(24)).await);
        assert!(!exists(&store, &"b".repeat(24)).await, "reported as failed, so never committed");
    }

    #[tokio::test]
    async fn a_failed_savepoint_fails_the_whole_batch() {
        let (store, _dir) = store();
        store.writer.lock().unwrap().authorizer(Some(|context: rusqlite::hooks::AuthContext<'_>| {
            match context.action {
                AuthAction::Savepoint { operation: TransactionOperation::Rollback, .. } => Authorization::Deny,
                _ => Authorization::Allow,
            }
        }));
        // The second write set inserts a node, then conflicts: its rollback to the
        // savepoint is refused, so its insert is still in the transaction.
        let mut failing = insert(&"e".repeat(24));
        failing.update_nodes.push(item(&"f".repeat(24)));
        let (first, second) = (oneshot::channel(), oneshot::channel());
        let queued = |writes, done| Commit {
            writes,
            done,
            state: std::sync::Arc::new(std::sync::atomic::AtomicU8::new(CommitState::Queued as u8)),
        };
        store.queue.lock().unwrap().extend([queued(insert(&"d".repeat(24)), first.0), queued(failing, second.0)]);
        store.commit_queued();
        assert!(matches!(second.1.await.unwrap(), Err(CommitError::Store(_))));
        assert!(matches!(first.1.await.unwrap(), Err(CommitError::Store(_))), "the batch rolled back");
        assert!(!exists(&store, &"e".repeat(24)).await, "a write set reported as failed never commits");
        assert!(!exists(&store, &"d".repeat(24)).await);
    }
}
