//! The embedded default backend: two SQLite files (WAL) in the data directory,
//! `accounts.sqlite3` and `graph.sqlite3`.
//!
//! Edges are indexed rows in both directions, never lists inside nodes. Reads run inline
//! on a small pool of read-only connections (point lookups from the page cache take
//! microseconds). Writes use group commit without a thread hop: a run queues its write
//! set, yields once (so runs ready on its worker queue theirs), and whichever run holds
//! the write connection commits everything queued in one transaction, each write set
//! inside its own savepoint, so one conflict or quota failure rolls back alone and many
//! runs share one WAL append. A thread copies committed pages back into the file (see
//! `checkpoint`). With WAL and `synchronous=NORMAL`, a committed transaction survives the
//! process being killed; only the operating system crashing can lose the last ones.

mod accounts;
mod checkpoint;
mod graph;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use rusqlite::{Connection, params};
use tokio::sync::{mpsc, oneshot};

use checkpoint::{Checkpointer, WAL_BOUND_PAGES};

use super::commit::RECOUNT_STORE_TOTAL;
use super::portable::{GrantRow, Portable, Record, usage_of};
use super::{BoxFuture, CommitError, Level, Quotas, StoreError, WriteSet};

/// How long a run waits for its commit unless configured (`database_timeout_ms`).
const DEFAULT_COMMIT_TIMEOUT: Duration = Duration::from_secs(5);

/// Read-only connections: enough that concurrent runs rarely wait for one.
const READERS: usize = 8;

const GRAPH_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS node (
    hex TEXT PRIMARY KEY, type TEXT NOT NULL, owner TEXT NOT NULL, ctx TEXT NOT NULL, ver INTEGER NOT NULL,
    obj INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS edge (
    seq INTEGER PRIMARY KEY, hex TEXT NOT NULL UNIQUE, type TEXT NOT NULL, owner TEXT NOT NULL,
    src TEXT NOT NULL, dst TEXT NOT NULL, ctx TEXT NOT NULL, ver INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS edge_out ON edge (src, seq);
CREATE INDEX IF NOT EXISTS edge_in ON edge (dst, seq);
CREATE INDEX IF NOT EXISTS edge_ends ON edge (src, dst, type);
CREATE INDEX IF NOT EXISTS node_owner ON node (owner, hex);
CREATE TABLE IF NOT EXISTS grants (
    target TEXT NOT NULL, grantee TEXT NOT NULL, level INTEGER NOT NULL, PRIMARY KEY (target, grantee)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS usage (
    root TEXT PRIMARY KEY, nodes INTEGER NOT NULL, edges INTEGER NOT NULL, bytes INTEGER NOT NULL
) WITHOUT ROWID;
";

const ACCOUNTS_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    root_id TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL DEFAULT (unixepoch()),
    fields TEXT NOT NULL DEFAULT '{}'
);
";

pub struct SqliteStore {
    graph_path: PathBuf,
    accounts_path: PathBuf,
    /// Shared with reads on the blocking pool (`read_off_thread`).
    readers: Arc<[Mutex<Connection>]>,
    /// The one graph write connection; its holder commits the queue.
    writer: Mutex<Connection>,
    /// Write sets waiting for the next commit.
    queue: Mutex<Vec<Commit>>,
    quotas: Quotas,
    /// How long a run waits for its write set to be committed before it is told the
    /// store is unavailable (and the write set withdrawn).
    commit_timeout: Duration,
    /// One connection: SQLite serializes writers anyway, and account calls are rare.
    accounts: Mutex<Connection>,
    /// Copies committed pages back into the graph file, off the commit path.
    checkpointer: Checkpointer,
    /// Tests only: runs once while a committer holds the write connection and has just
    /// found the queue empty, the window in which another run's write set may arrive.
    #[cfg(test)]
    found_empty: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

struct Commit {
    writes: WriteSet,
    done: oneshot::Sender<Result<(), CommitError>>,
    /// A `CommitState`: whether a committer took it, or its run stopped waiting.
    state: Arc<AtomicU8>,
}

#[repr(u8)]
enum CommitState {
    Queued,
    Taken,
    Withdrawn,
}

impl Commit {
    /// Claims it for a transaction; false if its run withdrew it.
    fn take(&self) -> bool {
        let (queued, taken) = (CommitState::Queued as u8, CommitState::Taken as u8);
        self.state.compare_exchange(queued, taken, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }
}

fn connect(path: &Path) -> anyhow::Result<Connection> {
    let db = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
    db.pragma_update(None, "journal_mode", "WAL")?;
    db.pragma_update(None, "synchronous", "NORMAL")?;
    db.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(db)
}

/// A file written before a column existed gets it (the schemas above have it): objects'
/// `obj` in the graph, user fields' `fields` in the accounts.
fn add_column(db: &Connection, table: &str, column: &str, definition: &str) -> rusqlite::Result<()> {
    let sql = "SELECT count(*) > 0 FROM pragma_table_info(?1) WHERE name = ?2";
    let has_it: bool = db.query_row(sql, [table, column], |row| row.get(0))?;
    if !has_it {
        db.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {definition}"))?;
    }
    Ok(())
}

fn failed(err: rusqlite::Error) -> StoreError {
    StoreError(err.to_string())
}

impl SqliteStore {
    /// Opens (or creates) the databases in `data_dir`.
    pub fn open(data_dir: &Path, quotas: Quotas) -> anyhow::Result<Self> {
        std::fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
        let graph_path = data_dir.join("graph.sqlite3");
        let accounts_path = data_dir.join("accounts.sqlite3");
        let writer = connect(&graph_path)?;
        writer.execute_batch(GRAPH_SCHEMA)?;
        add_column(&writer, "node", "obj", "INTEGER NOT NULL DEFAULT 0")?;
        writer.pragma_update(None, "wal_autocheckpoint", WAL_BOUND_PAGES)?;
        let checkpointer = Checkpointer::start(connect(&graph_path)?, &graph_path)?;
        if quotas.store.is_some() {
            writer.execute_batch(&format!("BEGIN IMMEDIATE; {RECOUNT_STORE_TOTAL} COMMIT;"))?;
        }
        let readers = (0..READERS)
            .map(|_| {
                let reader = connect(&graph_path)?;
                reader.pragma_update(None, "query_only", true)?;
                Ok(Mutex::new(reader))
            })
            .collect::<anyhow::Result<Vec<_>>>()?
            .into();
        let accounts = connect(&accounts_path)?;
        accounts.execute_batch(ACCOUNTS_SCHEMA)?;
        add_column(&accounts, "users", "fields", "TEXT NOT NULL DEFAULT '{}'")?;
        Ok(SqliteStore {
            graph_path,
            accounts_path,
            readers,
            writer: Mutex::new(writer),
            queue: Mutex::default(),
            quotas,
            commit_timeout: DEFAULT_COMMIT_TIMEOUT,
            accounts: Mutex::new(accounts),
            checkpointer,
            #[cfg(test)]
            found_empty: Mutex::default(),
        })
    }

    /// Sets how long a run waits for its commit (`commit_timeout`).
    pub fn with_commit_timeout(mut self, timeout: Duration) -> Self {
        self.commit_timeout = timeout;
        self
    }

    /// Runs `read` on a free read connection (or waits for one), inline: point reads
    /// from the page cache take microseconds.
    fn read<T>(&self, read: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, StoreError> {
        read_on(&self.readers, read)
    }

    /// `read` on the blocking pool, for reads of many rows (a page of edges with their
    /// far ends), which would otherwise hold an async worker for as long.
    async fn read_off_thread<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let readers = self.readers.clone();
        let reading = tokio::task::spawn_blocking(move || read_on(&readers, read));
        reading.await.map_err(|err| StoreError(err.to_string()))?
    }
}

fn read_on<T>(
    readers: &[Mutex<Connection>],
    read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
) -> Result<T, StoreError> {
    let reader = readers.iter().find_map(|reader| reader.try_lock().ok());
    let reader = match reader {
        Some(reader) => reader,
        None => readers[0].lock().unwrap_or_else(|p| p.into_inner()),
    };
    read(&reader).map_err(failed)
}

/// Sends every row a query returns, converted by `record`; stops early if nobody reads.
fn send_rows(
    db: &Connection,
    sql: &str,
    out: &mpsc::Sender<Record>,
    record: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<Record>,
) -> Result<(), StoreError> {
    let mut statement = db.prepare(sql).map_err(failed)?;
    let mut rows = statement.query([]).map_err(failed)?;
    while let Some(row) = rows.next().map_err(failed)? {
        if out.blocking_send(record(row).map_err(failed)?).is_err() {
            return Err(StoreError("the export was abandoned".into()));
        }
    }
    Ok(())
}

impl Portable for SqliteStore {
    fn export(&self, out: mpsc::Sender<Record>) -> BoxFuture<'_, Result<(), StoreError>> {
        let (graph_path, accounts_path) = (self.graph_path.clone(), self.accounts_path.clone());
        Box::pin(async move {
            let export = move || -> Result<(), StoreError> {
                let mut accounts = connect(&accounts_path).map_err(|err| StoreError(err.to_string()))?;
                let snapshot = accounts.transaction().map_err(failed)?;
                let users = format!("SELECT {} FROM users ORDER BY id", crate::rows::USER_COLUMNS);
                send_rows(&snapshot, &users, &out, |row| Ok(Record::User(accounts::user_row(row)?)))?;
                drop(snapshot);
                let mut graph = connect(&graph_path).map_err(|err| StoreError(err.to_string()))?;
                let snapshot = graph.transaction().map_err(failed)?;
                let nodes = format!("SELECT {} FROM node ORDER BY hex", crate::rows::NODE_COLUMNS);
                send_rows(&snapshot, &nodes, &out, |row| Ok(Record::Node(crate::rows::node_row(row, 0)?)))?;
                let edges = format!("SELECT {} FROM edge e ORDER BY e.seq", crate::rows::EDGE_COLUMNS);
                send_rows(&snapshot, &edges, &out, |row| Ok(Record::Edge(crate::rows::edge_row(row)?)))?;
                send_rows(
                    &snapshot,
                    "SELECT target, grantee, level FROM grants ORDER BY target, grantee",
                    &out,
                    |row| {
                        Ok(Record::Grant(GrantRow {
                            target: row.get(0)?,
                            grantee: row.get(1)?,
                            level: Level::from_i64(row.get(2)?),
                        }))
                    },
                )
            };
            tokio::task::spawn_blocking(export).await.map_err(|err| StoreError(err.to_string()))?
        })
    }

    fn import(&self, rows: Vec<Record>) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(std::future::ready(self.import_rows(&rows)))
    }
}

impl SqliteStore {
    fn import_rows(&self, rows: &[Record]) -> Result<(), StoreError> {
        let mut accounts = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        let mut graph = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let users = accounts.transaction().map_err(failed)?;
        let tx = graph.transaction().map_err(failed)?;
        for row in rows {
            match row {
                Record::User(user) => users.execute(
                    "INSERT INTO users (id, email, password_hash, root_id, fields) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![user.id, user.email, user.password_hash, user.root, user.fields],
                ),
                Record::Node(node) => tx.execute(
                    "INSERT INTO node (hex, type, owner, ctx, ver, obj) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![node.hex, node.type_name, node.owner, node.context, node.version, node.object],
                ),
                Record::Edge(edge) => tx.execute(
                    "INSERT INTO edge (hex, type, owner, src, dst, ctx, ver) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![edge.hex, edge.type_name, edge.owner, edge.source, edge.target, edge.context, edge.version],
                ),
                Record::Grant(grant) => tx.execute(
                    "INSERT INTO grants (target, grantee, level) VALUES (?1, ?2, ?3)",
                    params![grant.target, grant.grantee, grant.level as i64],
                ),
            }
            .map_err(failed)?;
        }
        for (root, delta) in usage_of(rows) {
            graph::add_usage(&tx, &root, delta).map_err(failed)?;
        }
        // Accounts first: a failed graph commit then leaves users that a retried import
        // reports as duplicates, never nodes without their owners.
        users.commit().map_err(failed)?;
        tx.commit().map_err(failed)
    }
}
