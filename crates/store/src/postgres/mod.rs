//! The cluster backend: accounts and the graph in PostgreSQL, shared by every instance.
//!
//! A pool of connections (deadpool) with statements prepared once per connection. A run's
//! write set commits in one transaction on one connection: rows are version-checked with
//! `UPDATE … WHERE ver = $n`, an edge's ends are locked against deletion (`FOR KEY
//! SHARE`) while it is inserted, and usage rows are updated in root order. Whatever
//! PostgreSQL reports as a serialization failure or deadlock is a `Conflict`, which the
//! runtime retries like any other. Every operation is bounded by the store timeout, so
//! a database that is down or stuck fails runs with a structured error, and the pool
//! reconnects by itself when it is back.
//!
//! The schema is versioned: `migrations/` files apply in order at start-up, once, under
//! an advisory lock, so instances started together never race.

mod accounts;
mod graph;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use futures_util::{StreamExt, pin_mut};
use tokio::sync::mpsc;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

use super::commit::RECOUNT_STORE_TOTAL;
use super::portable::{GrantRow, Portable, Record, usage_of};
use super::{BoxFuture, CommitError, Level, Quotas, StoreError};

/// Schema versions, applied in order; a database never goes back.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_init.sql"),
    include_str!("migrations/0002_edge_ends.sql"),
    include_str!("migrations/0003_node_owner.sql"),
    include_str!("migrations/0004_objects.sql"),
    include_str!("migrations/0005_user_fields.sql"),
];

/// The advisory lock that serializes migrations across instances ("jacmigr").
const MIGRATION_LOCK: i64 = 0x006a_6163_6d69_6772;

pub struct PostgresStore {
    pool: Pool,
    /// Connections that hold advisory locks of roots for runs (see `graph::lock_roots`):
    /// a pool of their own, so runs holding locks never take the connections that their
    /// reads and commits need.
    locks: Pool,
    quotas: Quotas,
    /// How long one operation may take, waiting for a connection included.
    timeout: Duration,
}

fn failed(err: impl std::fmt::Display) -> StoreError {
    StoreError(err.to_string())
}

/// A failure to commit: what PostgreSQL says a retry may cure is a conflict.
fn commit_failed(err: tokio_postgres::Error) -> CommitError {
    match err.code() {
        Some(code) if *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED => {
            tracing::debug!("PostgreSQL: {err}");
            CommitError::Conflict
        }
        _ => CommitError::Store(err.to_string()),
    }
}

/// TLS for `sslmode=prefer` (the default) and `require`: server certificates are
/// checked against the Mozilla roots.
fn tls() -> anyhow::Result<tokio_postgres_rustls::MakeRustlsConnect> {
    let roots = rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// Lower-case letters, digits and `_`, not starting with a digit: a schema name that
/// needs no quoting in SQL or in `search_path`.
fn is_schema_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl PostgresStore {
    /// Connects to the database at `url` and brings its schema up to date: `schema`'s
    /// tables when given (created first), else those of the connection's search path.
    pub async fn connect(
        url: &str,
        schema: Option<&str>,
        pool_size: usize,
        timeout: Duration,
        quotas: Quotas,
    ) -> anyhow::Result<Self> {
        // The URL may hold a password: errors never repeat it.
        let mut config: tokio_postgres::Config =
            url.parse().context("the database URL is not a valid PostgreSQL URL")?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(timeout);
        }
        // PostgreSQL gives up too, rather than finishing work nobody waits for.
        let mut options =
            format!("{} -c statement_timeout={}", config.get_options().unwrap_or_default(), timeout.as_millis());
        if let Some(schema) = schema {
            anyhow::ensure!(is_schema_name(schema), "{schema:?} is not a schema name");
            options += &format!(" -c search_path={schema}");
        }
        config.options(options.trim_start());
        let pool = |config: tokio_postgres::Config| -> anyhow::Result<Pool> {
            let manager =
                Manager::from_config(config, tls()?, ManagerConfig { recycling_method: RecyclingMethod::Fast });
            Ok(Pool::builder(manager)
                .max_size(pool_size)
                .runtime(Runtime::Tokio1)
                .wait_timeout(Some(timeout))
                .create_timeout(Some(timeout))
                .recycle_timeout(Some(timeout))
                .build()?)
        };
        let store = PostgresStore { pool: pool(config.clone())?, locks: pool(config)?, quotas, timeout };
        store.migrate(schema).await.context("preparing the PostgreSQL schema")?;
        if quotas.store.is_some() {
            store.recount_store_total().await.context("counting the schema's storage")?;
        }
        Ok(store)
    }

    async fn migrate(&self, schema: Option<&str>) -> anyhow::Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
        if let Some(schema) = schema {
            tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}")).await?;
        }
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now()
            )",
        )
        .await?;
        let current: i32 = tx.query_one("SELECT coalesce(max(version), 0) FROM schema_migrations", &[]).await?.get(0);
        if current as usize > MIGRATIONS.len() {
            anyhow::bail!(
                "the database has schema version {current}, newer than this server's {}: upgrade the server",
                MIGRATIONS.len()
            );
        }
        for (version, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
            let version = version as i32 + 1;
            tx.batch_execute(sql).await.with_context(|| format!("migration {version}"))?;
            tx.execute("INSERT INTO schema_migrations (version) VALUES ($1)", &[&version]).await?;
            tracing::info!(version, "applied a PostgreSQL schema migration");
        }
        tx.commit().await?;
        Ok(())
    }

    /// Recounts the whole store's usage row, with commits held off meanwhile.
    async fn recount_store_total(&self) -> anyhow::Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.batch_execute(&format!("LOCK TABLE usage IN SHARE ROW EXCLUSIVE MODE; {RECOUNT_STORE_TOTAL}")).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A pooled connection.
    async fn client(&self) -> Result<Object, StoreError> {
        self.pool.get().await.map_err(failed)
    }

    /// Runs `operation` within the store timeout.
    async fn bounded<T, E: From<StoreError>>(&self, operation: impl Future<Output = Result<T, E>>) -> Result<T, E> {
        match tokio::time::timeout(self.timeout, operation).await {
            Ok(result) => result,
            Err(_) => Err(StoreError(format!("no answer from PostgreSQL in {} ms", self.timeout.as_millis())).into()),
        }
    }

    /// Runs a query by primary key: its row, if any.
    async fn query_opt<T>(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        convert: impl Fn(&tokio_postgres::Row) -> T,
    ) -> Result<Option<T>, StoreError> {
        Ok(self.query(sql, params, convert).await?.into_iter().next())
    }

    /// Runs a query with a statement prepared once per connection, converting every row.
    async fn query<T>(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        convert: impl Fn(&tokio_postgres::Row) -> T,
    ) -> Result<Vec<T>, StoreError> {
        self.bounded(async {
            let client = self.client().await?;
            let statement = client.prepare_cached(sql).await.map_err(failed)?;
            Ok(client.query(&statement, params).await.map_err(failed)?.iter().map(convert).collect())
        })
        .await
    }
}

/// Streams every row of `sql` to `out`, converted by `record`.
async fn send_rows(
    tx: &deadpool_postgres::Transaction<'_>,
    sql: &str,
    out: &mpsc::Sender<Record>,
    record: impl Fn(&tokio_postgres::Row) -> Record,
) -> Result<(), StoreError> {
    let rows = tx.query_raw(sql, std::iter::empty::<i32>()).await.map_err(failed)?;
    pin_mut!(rows);
    while let Some(row) = rows.next().await {
        if out.send(record(&row.map_err(failed)?)).await.is_err() {
            return Err(StoreError("the export was abandoned".into()));
        }
    }
    Ok(())
}

impl Portable for PostgresStore {
    fn export(&self, out: mpsc::Sender<Record>) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let mut client = self.client().await?;
            let tx = client
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await
                .map_err(failed)?;
            let users = format!("SELECT {} FROM users ORDER BY id", crate::rows::USER_COLUMNS);
            send_rows(&tx, &users, &out, |row| Record::User(accounts::user_row(row))).await?;
            let nodes = format!("SELECT {} FROM node ORDER BY hex", crate::rows::NODE_COLUMNS);
            send_rows(&tx, &nodes, &out, |row| Record::Node(graph::node_row(row, 0))).await?;
            let edges = format!("SELECT {} FROM edge e ORDER BY e.seq", crate::rows::EDGE_COLUMNS);
            send_rows(&tx, &edges, &out, |row| Record::Edge(graph::edge_row(row))).await?;
            send_rows(&tx, "SELECT target, grantee, level FROM grants ORDER BY target, grantee", &out, |row| {
                Record::Grant(GrantRow {
                    target: row.get(0),
                    grantee: row.get(1),
                    level: Level::from_i64(row.get::<_, i32>(2).into()),
                })
            })
            .await
        })
    }

    fn import(&self, rows: Vec<Record>) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(failed)?;
            for row in &rows {
                match row {
                    Record::User(user) => {
                        let sql =
                            "INSERT INTO users (id, email, password_hash, root_id, fields) VALUES ($1, $2, $3, $4, $5)";
                        let (id, email, hash, root, fields) =
                            (&user.id, &user.email, &user.password_hash, &user.root, &user.fields);
                        tx.execute(sql, &[id, email, hash, root, fields]).await
                    }
                    Record::Node(node) => {
                        let sql = "INSERT INTO node (hex, type, owner, ctx, ver, obj) VALUES ($1, $2, $3, $4, $5, $6)";
                        let (hex, type_name, owner, context) = (&node.hex, &node.type_name, &node.owner, &node.context);
                        tx.execute(sql, &[hex, type_name, owner, context, &node.version, &node.object]).await
                    }
                    Record::Edge(edge) => {
                        let sql = "INSERT INTO edge (hex, type, owner, src, dst, ctx, ver)
                                   VALUES ($1, $2, $3, $4, $5, $6, $7)";
                        let (hex, type_name, owner) = (&edge.hex, &edge.type_name, &edge.owner);
                        let (source, target, context) = (&edge.source, &edge.target, &edge.context);
                        tx.execute(sql, &[hex, type_name, owner, source, target, context, &edge.version]).await
                    }
                    Record::Grant(grant) => {
                        let sql = "INSERT INTO grants (target, grantee, level) VALUES ($1, $2, $3)";
                        tx.execute(sql, &[&grant.target, &grant.grantee, &(grant.level as i32)]).await
                    }
                }
                .map_err(failed)?;
            }
            for (root, delta) in usage_of(&rows) {
                graph::add_usage(&tx, &root, delta).await.map_err(failed)?;
            }
            tx.commit().await.map_err(failed)
        })
    }
}
