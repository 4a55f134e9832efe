//! Configuration: every flag has an environment variable, a safe default and a range,
//! so `walker-host` with no arguments serves `walkers/` on 127.0.0.1:8000, and a value
//! that would overflow or make no sense is refused at start with a clear message.
//! A TOML file (`--config`) may set any of them: flags win over environment variables,
//! which win over the file, which wins over the defaults.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::builder::RangedU64ValueParser;
use clap::{CommandFactory, FromArgMatches, Parser};
use serde::Serialize;

use walker_cluster::ClusterConfig;
pub use walker_core::all_cores_but_one;
use walker_graph::GraphLimits;
pub use walker_protocol::ClientEvents;
use walker_protocol::Settings;
use walker_runtime::Limits;
use walker_store::{Quota, Quotas, StoreConfig};

/// A topic prefix: 1 to 64 letters, digits, `-`, `_` or `.`.
fn topic_prefix(text: &str) -> Result<String, String> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
    if (1..=64).contains(&text.len()) && text.bytes().all(allowed) {
        Ok(text.to_string())
    } else {
        Err("1 to 64 letters, digits, '-', '_' or '.'".into())
    }
}

/// A `--user-fields` entry, checked (`walker_protocol::user_fields::parse` reads it).
fn user_field(text: &str) -> Result<String, String> {
    walker_protocol::user_fields::parse(text).map(|_| text.to_string())
}

/// A `usize` flag's parser, limited to `range`.
fn usize_in(range: std::ops::RangeInclusive<u64>) -> RangedU64ValueParser<usize> {
    RangedU64ValueParser::new().range(range)
}

const SECS_PER_DAY: u64 = 86_400;

#[derive(Debug, Clone, Parser, Serialize)]
#[command(name = "walker-host", version, about = "A jac-cloud compatible real-time server for WebAssembly walkers")]
pub struct Config {
    #[command(subcommand)]
    #[serde(skip)]
    pub command: Option<Command>,

    /// A TOML file of settings (`walker_time_ms = 500`, keys as the flags' names with `_`
    /// or `-`); flags and environment variables win over it.
    #[arg(long, env = "JAC_CONFIG", global = true)]
    pub config: Option<PathBuf>,

    /// Address to listen on.
    #[arg(long, env = "JAC_LISTEN", default_value = "127.0.0.1:8000")]
    pub listen: SocketAddr,

    /// Directory of walker components (`*.wasm`) and Jac apps (`*.jac`), watched for changes.
    #[arg(long, env = "JAC_WALKERS_DIR", default_value = "walkers")]
    pub walkers_dir: PathBuf,

    /// Directory for the account database, the token secret and compiled code.
    #[arg(long, env = "JAC_DATA_DIR", default_value = "data", global = true)]
    pub data_dir: PathBuf,

    /// Directory for compiled walker code and `.jac` builds [default: <data-dir>/compiled].
    #[arg(long, env = "JAC_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,

    /// The Jac toolchain's build command (`<app.jac> <out.wasm>`), which turns a `.jac`
    /// file in a walkers directory into a component [default: scripts/build-jac.sh, when
    /// started from the repository].
    #[arg(long, env = "JAC_JAC_BUILD")]
    pub jac_build: Option<PathBuf>,

    /// Time one `.jac` build may take, in seconds.
    #[arg(long, env = "JAC_JAC_BUILD_SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub jac_build_secs: u64,

    /// PostgreSQL URL (`postgres://user:password@host/db?sslmode=require`) for accounts and
    /// the graph; without it they live in SQLite in the data directory.
    #[arg(long, env = "JAC_DATABASE_URL", hide_env_values = true, global = true)]
    #[serde(serialize_with = "redacted")]
    pub database: Option<Secret>,

    /// PostgreSQL connections kept open.
    #[arg(long, env = "JAC_DATABASE_POOL", default_value_t = 16, value_parser = usize_in(1..=1_000))]
    pub database_pool: usize,

    /// How long one database operation may take, waiting for a connection included; on
    /// SQLite, how long a run waits for its commit before it answers `storage_unavailable`.
    #[arg(long, env = "JAC_DATABASE_TIMEOUT_MS", default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(10..=600_000))]
    pub database_timeout_ms: u64,

    /// A TOML file declaring tenants (`[tenants.<name>]`, see the README), watched for
    /// changes; without it the server has only the default tenant.
    #[arg(long, env = "JAC_TENANTS_FILE")]
    pub tenants_file: Option<PathBuf>,

    /// Secret for signing tokens (each tenant signs with a key derived from it); generated
    /// once per tenant and kept in its data directory when unset.
    /// At least 32 bytes.
    #[arg(long, env = "JAC_TOKEN_SECRET", hide_env_values = true, value_parser = token_secret)]
    #[serde(skip)]
    pub token_secret: Option<Secret>,

    /// How long a login token stays valid, in seconds (jac-cloud: 12 hours).
    #[arg(long, env = "JAC_TOKEN_TTL_SECS", default_value_t = 12 * 3600, value_parser = clap::value_parser!(u64).range(60..=365 * SECS_PER_DAY))]
    pub token_ttl_secs: u64,

    /// Redis URL (`redis://host:6379`, `redis+unix:///path/redis.sock`) of the bus that
    /// makes this instance one of a cluster: notifications reach sockets on every
    /// instance (jac-cloud's `SOCKET_REDIS_HOST` is read too). Several, comma-separated,
    /// spread the topics over independent Redis servers (every instance must list the
    /// same, in the same order). Unset: one instance.
    #[arg(long, env = "JAC_REDIS_URL", hide_env_values = true)]
    #[serde(serialize_with = "redacted")]
    pub redis: Option<Secret>,

    /// How long a user's or channel's subscription outlives its last socket here, so
    /// that reconnecting clients cost no subscription churn.
    #[arg(long, env = "JAC_CLUSTER_LINGER_MS", default_value_t = 3_000, value_parser = clap::value_parser!(u64).range(0..=3_600_000))]
    pub cluster_linger_ms: u64,

    /// How long a new connection (or `change_user`) waits for its subscriptions before
    /// its connection frame; past it, it may miss messages from other instances until
    /// they are confirmed.
    #[arg(long, env = "JAC_CLUSTER_SUBSCRIBE_WAIT_MS", default_value_t = 50, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub cluster_subscribe_wait_ms: u64,

    /// Messages waiting to be published to other instances, at most; more are dropped
    /// (counted in `walker_host_cluster_publish_dropped_total`).
    #[arg(long, env = "JAC_CLUSTER_PUBLISH_QUEUE", default_value_t = 1 << 16, value_parser = usize_in(1..=1 << 24))]
    pub cluster_publish_queue: usize,

    /// Seconds without a message from the bus after which the subscription is probed (a
    /// message to this instance); no echo within as long again reconnects it.
    #[arg(long, env = "JAC_CLUSTER_PROBE_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub cluster_probe_secs: u64,

    /// Starts the name of every topic this deployment uses on Redis. Deployments that
    /// share a Redis must differ here: pub/sub ignores the database number in the URL.
    #[arg(long, env = "JAC_CLUSTER_PREFIX", default_value = "wh", value_parser = topic_prefix)]
    pub cluster_prefix: String,

    /// Who may send `user`, `channel` and `client` events over the WebSocket.
    #[arg(long, env = "JAC_CLIENT_EVENTS", value_enum, default_value_t = ClientEvents::Open)]
    pub client_events: ClientEvents,

    /// Quiet time after a change in the walkers directory before reloading. A rename is one
    /// event; a file written in place with longer pauses may be tried half-written, which
    /// fails harmlessly and is retried when the write completes.
    #[arg(long, env = "JAC_RELOAD_DEBOUNCE_MS", default_value_t = 50, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub reload_debounce_ms: u64,

    /// WebSocket connections one client address may open per second (a burst of twice
    /// that), over every tenant; more are answered 429 with Retry-After.
    #[arg(long, env = "JAC_ADDRESS_CONNECTIONS_PER_SECOND", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub address_connections_per_second: u32,

    /// WebSocket connections one client address may hold open, over every tenant; more
    /// are answered 429 with Retry-After.
    #[arg(long, env = "JAC_ADDRESS_CONNECTIONS", default_value_t = 1_000, value_parser = usize_in(1..=10_000_000))]
    pub address_connections: usize,

    /// Client events one WebSocket may send per second (a burst of twice that). An event
    /// over it is refused with a `rate_limited` error frame; a connection that keeps
    /// sending over it (refusals past a tenth of the rate per second) is closed with 1008.
    #[arg(long, env = "JAC_WS_EVENTS_PER_SECOND", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(10..=10_000_000))]
    pub ws_events_per_second: u32,

    /// Largest WebSocket message a client may send; larger ones close the connection (1009).
    #[arg(long, env = "JAC_MAX_MESSAGE_BYTES", default_value_t = 64 << 10, value_parser = usize_in(256..=64 << 20))]
    pub max_message_bytes: usize,

    /// Origins browsers may call the HTTP routes from (CORS), comma-separated; `*` is any
    /// origin, as jac-cloud's default.
    #[arg(long, env = "JAC_CORS_ORIGINS", value_delimiter = ',', default_value = "*")]
    pub cors_origins: Vec<String>,

    /// Methods allowed cross-origin, comma-separated; `*` allows what a preflight asks.
    #[arg(long, env = "JAC_CORS_METHODS", value_delimiter = ',', default_value = "*")]
    pub cors_methods: Vec<String>,

    /// Request headers allowed cross-origin, comma-separated; `*` allows what a preflight
    /// asks (`Authorization` included, which a literal `*` would not cover).
    #[arg(long, env = "JAC_CORS_HEADERS", value_delimiter = ',', default_value = "*")]
    pub cors_headers: Vec<String>,

    /// Origins a browser may open a WebSocket from, comma-separated (protection against
    /// cross-site WebSocket hijacking). Unset: any, as jac-cloud. Clients that send no
    /// `Origin` (not browsers) are always let in.
    #[arg(long, env = "JAC_WS_ORIGINS", value_delimiter = ',')]
    pub ws_origins: Option<Vec<String>>,

    /// A bearer token `GET /metrics` requires; open when unset (bind to loopback, or
    /// set one, before exposing the server).
    #[arg(long, env = "JAC_METRICS_TOKEN", hide_env_values = true)]
    #[serde(serialize_with = "redacted")]
    pub metrics_token: Option<Secret>,

    /// Largest HTTP request body.
    #[arg(long, env = "JAC_MAX_BODY_BYTES", default_value_t = 1 << 20, value_parser = usize_in(256..=1 << 30))]
    pub max_body_bytes: usize,

    /// Chunks of a walker's streamed reply held for a client that reads slowly; past
    /// it the walker waits for the client. Over a WebSocket the chunks also wait while
    /// the connection's own frames fill its queue limits (--queue-messages, --queue-bytes).
    #[arg(long, env = "JAC_STREAM_BUFFER", default_value_t = 16, value_parser = usize_in(1..=4_096))]
    pub stream_buffer: usize,

    /// Bytes queued for one connection before it is cut off as a slow consumer (close 4008).
    #[arg(long, env = "JAC_QUEUE_BYTES", default_value_t = 1 << 20, value_parser = usize_in(1 << 10..=1 << 30))]
    pub queue_bytes: usize,

    /// Messages queued for one connection before it is cut off as a slow consumer.
    #[arg(long, env = "JAC_QUEUE_MESSAGES", default_value_t = 1024, value_parser = usize_in(1..=1 << 20))]
    pub queue_messages: usize,

    /// Time one write to a client may take before the connection is dropped.
    #[arg(long, env = "JAC_WRITE_TIMEOUT_MS", default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub write_timeout_ms: u64,

    /// Interval between server pings.
    #[arg(long, env = "JAC_PING_INTERVAL_SECS", default_value_t = 25, value_parser = clap::value_parser!(u64).range(1..=SECS_PER_DAY))]
    pub ping_interval_secs: u64,

    /// A connection silent (no frame, no pong) for this long is closed.
    #[arg(long, env = "JAC_PING_TIMEOUT_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=SECS_PER_DAY))]
    pub ping_timeout_secs: u64,

    /// Linear memory one walker instance may use, in MiB.
    #[arg(long, env = "JAC_WALKER_MEMORY_MIB", default_value_t = Limits::DEFAULT_MEMORY_BYTES >> 20, value_parser = usize_in(1..=4096))]
    pub walker_memory_mib: usize,

    /// Time one walker run may take, in milliseconds.
    #[arg(long, env = "JAC_WALKER_TIME_MS", default_value_t = Limits::DEFAULT_RUN_TIME.as_millis() as u64, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub walker_time_ms: u64,

    /// Notifications one walker run may send.
    #[arg(long, env = "JAC_WALKER_NOTIFICATIONS", default_value_t = Limits::DEFAULT_NOTIFICATIONS, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub walker_notifications: u32,

    /// Size of one notification a walker sends, in bytes.
    #[arg(long, env = "JAC_WALKER_NOTIFICATION_BYTES", default_value_t = Limits::DEFAULT_NOTIFICATION_BYTES, value_parser = usize_in(2..=16 << 20))]
    pub walker_notification_bytes: usize,

    /// Times a run whose graph writes conflicted with another run's is run again (only
    /// while it has sent no notification); past it the call fails with `conflict`.
    #[arg(long, env = "JAC_WALKER_RERUNS", default_value_t = Limits::DEFAULT_RERUNS, value_parser = clap::value_parser!(u32).range(0..=1_000))]
    pub walker_reruns: u32,

    /// Largest walker file that is read, in MiB; larger files are refused.
    #[arg(long, env = "JAC_WALKER_FILE_MIB", default_value_t = Limits::DEFAULT_FILE_BYTES >> 20, value_parser = usize_in(1..=4096))]
    pub walker_file_mib: usize,

    /// Time compiling one walker component may take, in seconds; past it the load fails
    /// and the previous version keeps serving.
    #[arg(long, env = "JAC_WALKER_COMPILE_SECS", default_value_t = Limits::DEFAULT_COMPILE_TIME.as_secs(), value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub walker_compile_secs: u64,

    /// Distinct users, channels or clients that one notification of a walker, or one
    /// `user`, `channel` or `client` event, may name. Repeated ids count once.
    #[arg(long, env = "JAC_NOTIFY_TARGETS", default_value_t = Limits::DEFAULT_NOTIFY_TARGETS, value_parser = usize_in(1..=1 << 20))]
    pub notify_targets: usize,

    /// Total size of one walker run's reports, in bytes.
    #[arg(long, env = "JAC_WALKER_REPORT_BYTES", default_value_t = Limits::DEFAULT_REPORT_BYTES, value_parser = usize_in(2..=256 << 20))]
    pub walker_report_bytes: usize,

    /// Walker instances alive at once (the instance pool); further runs wait for a slot.
    #[arg(long, env = "JAC_WALKER_INSTANCES", default_value_t = Limits::DEFAULT_INSTANCES, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub walker_instances: u32,

    /// How long a walker run waits for a free instance before it is refused as busy
    /// (WebSocket `busy` error, HTTP 503), in milliseconds.
    #[arg(long, env = "JAC_WALKER_SLOT_WAIT_MS", default_value_t = Limits::DEFAULT_SLOT_WAIT.as_millis() as u64, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub walker_slot_wait_ms: u64,

    /// Cores that long walker runs (past their first 2 ms of CPU) may take at once, by
    /// every tenant together, in turn; the default, one fewer than the cores, keeps a
    /// core for socket I/O, client events and short walkers.
    #[arg(long, env = "JAC_WALKER_CORES", default_value_t = all_cores_but_one(), value_parser = usize_in(1..=1024))]
    pub walker_cores: usize,

    /// Password hashes computed at once (registration and login), by every tenant
    /// together; each takes ~19 MiB and a core for tens of milliseconds. The default,
    /// one fewer than the cores, leaves a core to everything else.
    #[arg(long, env = "JAC_HASH_CONCURRENCY", default_value_t = all_cores_but_one(), value_parser = usize_in(1..=256))]
    pub hash_concurrency: usize,

    /// Failed logins an account, or a client address, may make before each further
    /// failure doubles the wait before the next attempt (429 with Retry-After).
    #[arg(long, env = "JAC_LOGIN_FREE_FAILURES", default_value_t = 5, value_parser = clap::value_parser!(u32).range(0..=1_000))]
    pub login_free_failures: u32,

    /// The longest wait after failed logins, in seconds; a key that fails nothing for
    /// this long starts over.
    #[arg(long, env = "JAC_LOGIN_MAX_BACKOFF_SECS", default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..=SECS_PER_DAY))]
    pub login_max_backoff_secs: u64,

    /// Login attempts of one tenant held at once while their wait runs (each holds its
    /// request open for up to a second); past it, one that must wait is refused at once.
    #[arg(long, env = "JAC_LOGIN_TARPIT_PLACES", default_value_t = 1024, value_parser = usize_in(0..=100_000))]
    pub login_tarpit_places: usize,

    /// Registrations and logins waiting for a hash, at most; past it they are answered
    /// 503 with Retry-After at once instead of queueing without end.
    #[arg(long, env = "JAC_HASH_QUEUE", default_value_t = 64, value_parser = usize_in(0..=100_000))]
    pub hash_queue: usize,

    /// Characters a password needs at registration (jac-cloud: any, even none).
    #[arg(long, env = "JAC_MIN_PASSWORD_LENGTH", default_value_t = 8, value_parser = usize_in(0..=1_024))]
    pub min_password_length: usize,

    /// The app's own user fields, as a jac-cloud app's `User` subclass declares them:
    /// comma-separated `name:type` (str, int, float, bool, list, dict, any), `name:type?`
    /// (may be omitted: null) or `name:type=<JSON default>` (no commas in it); required at
    /// registration, returned at login and carried in the token; `import --from-jac-cloud`
    /// keeps a jac-cloud user's keys only as these declare them.
    #[arg(long, env = "JAC_USER_FIELDS", value_delimiter = ',', value_parser = user_field, global = true)]
    pub user_fields: Vec<String>,

    /// Bytes of JSON one account's user fields may take (they ride in every token).
    #[arg(long, env = "JAC_USER_FIELDS_BYTES", default_value_t = 4096, value_parser = usize_in(2..=65_536), global = true)]
    pub user_fields_bytes: usize,

    /// Registrations one client address may make a minute, by every tenant together (a
    /// burst of as many); past it, 429 with Retry-After before any hashing.
    #[arg(long, env = "JAC_REGISTRATIONS_PER_MINUTE", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub registrations_per_minute: u32,

    /// Graph calls one walker run may make.
    #[arg(long, env = "JAC_GRAPH_CALLS", default_value_t = GraphLimits::default().calls, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub graph_calls: u32,

    /// Graph writes (create, connect, update, delete, grant…) one walker run may make.
    #[arg(long, env = "JAC_GRAPH_WRITES", default_value_t = GraphLimits::default().writes, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub graph_writes: u32,

    /// Context bytes one walker run may write to the graph.
    #[arg(long, env = "JAC_GRAPH_WRITE_BYTES", default_value_t = GraphLimits::default().write_bytes, value_parser = usize_in(1 << 10..=1 << 30))]
    pub graph_write_bytes: usize,

    /// Size of one node's or edge's context, in bytes.
    #[arg(long, env = "JAC_CONTEXT_BYTES", default_value_t = GraphLimits::default().context_bytes, value_parser = usize_in(64..=64 << 20))]
    pub context_bytes: usize,

    /// Neighbours one graph call returns, at most (a page).
    #[arg(long, env = "JAC_GRAPH_PAGE", default_value_t = GraphLimits::default().page, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub graph_page: u32,

    /// Stored edges one neighbours call reads, at most: a filtered call that reads this
    /// many without filling its page returns what it found and a cursor to go on from.
    #[arg(long, env = "JAC_GRAPH_SCAN", default_value_t = GraphLimits::default().scan, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub graph_scan: u32,

    /// Nodes a user's root may own.
    #[arg(long, env = "JAC_QUOTA_NODES", default_value_t = Quotas::default().user.nodes, value_parser = clap::value_parser!(i64).range(0..=1 << 40))]
    pub quota_nodes: i64,

    /// Edges a user's root may own.
    #[arg(long, env = "JAC_QUOTA_EDGES", default_value_t = Quotas::default().user.edges, value_parser = clap::value_parser!(i64).range(0..=1 << 40))]
    pub quota_edges: i64,

    /// Bytes (contexts, types and row overhead) a user's root may own.
    #[arg(long, env = "JAC_QUOTA_BYTES", default_value_t = Quotas::default().user.bytes, value_parser = clap::value_parser!(i64).range(0..=1 << 50))]
    pub quota_bytes: i64,

    /// Nodes the public root, shared by every anonymous caller, may own.
    #[arg(long, env = "JAC_PUBLIC_QUOTA_NODES", default_value_t = Quotas::default().public.nodes, value_parser = clap::value_parser!(i64).range(0..=1 << 40))]
    pub public_quota_nodes: i64,

    /// Edges the public root may own.
    #[arg(long, env = "JAC_PUBLIC_QUOTA_EDGES", default_value_t = Quotas::default().public.edges, value_parser = clap::value_parser!(i64).range(0..=1 << 40))]
    pub public_quota_edges: i64,

    /// Bytes the public root may own.
    #[arg(long, env = "JAC_PUBLIC_QUOTA_BYTES", default_value_t = Quotas::default().public.bytes, value_parser = clap::value_parser!(i64).range(0..=1 << 50))]
    pub public_quota_bytes: i64,

    /// Print the configuration in effect (flags, environment and defaults) as JSON, then exit.
    #[arg(long)]
    #[serde(skip)]
    pub print_config: bool,

    /// Idle warm instances kept per component, for walkers that allow reuse (`warm-runs`).
    #[arg(long, env = "JAC_WARM_IDLE", default_value_t = Limits::DEFAULT_WARM_IDLE, value_parser = usize_in(0..=100_000))]
    pub warm_idle: usize,

    /// Seconds an idle warm instance is kept.
    #[arg(long, env = "JAC_WARM_TTL_SECS", default_value_t = Limits::DEFAULT_WARM_TTL.as_secs(), value_parser = clap::value_parser!(u64).range(0..=SECS_PER_DAY))]
    pub warm_ttl_secs: u64,
}

/// What to do instead of serving.
#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
pub enum Command {
    /// Write every account, node, edge and grant of the configured store to standard
    /// output, as JSON lines.
    Export {
        /// A declared tenant's store instead of the default tenant's.
        #[arg(long, value_name = "NAME")]
        tenant: Option<String>,
    },
    /// Read `export`'s JSON lines from standard input into the configured store.
    Import {
        /// Read a jac-cloud deployment instead: a directory with its MongoDB `user`,
        /// `node` and `edge` collections as `mongoexport` writes them (`user.json`…).
        #[arg(long, value_name = "DIR")]
        from_jac_cloud: Option<PathBuf>,
        /// A declared tenant's store instead of the default tenant's.
        #[arg(long, value_name = "NAME")]
        tenant: Option<String>,
    },
}

/// A file value as a flag's text: lists become comma-separated.
fn file_value(value: &toml::Value) -> anyhow::Result<String> {
    Ok(match value {
        toml::Value::String(text) => text.clone(),
        toml::Value::Integer(number) => number.to_string(),
        toml::Value::Float(number) => number.to_string(),
        toml::Value::Boolean(flag) => flag.to_string(),
        toml::Value::Array(items) => items.iter().map(file_value).collect::<anyhow::Result<Vec<_>>>()?.join(","),
        other => anyhow::bail!("{} is not a setting's value", other.type_str()),
    })
}

/// A secret in printed configuration: whether one is set, never its value.
fn redacted<S: serde::Serializer>(secret: &Option<Secret>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(if secret.is_some() { "(set)" } else { "" })
}

/// A setting that is never shown: a token secret, or a URL that may hold a password.
/// Its `Debug` says only that it is set, so no log or panic message can print it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl From<String> for Secret {
    fn from(secret: String) -> Self {
        Secret(secret)
    }
}

impl From<&str> for Secret {
    fn from(secret: &str) -> Self {
        Secret(secret.to_string())
    }
}

/// `--token-secret`: long enough to sign with (`auth::MIN_TOKEN_SECRET_BYTES`).
fn token_secret(text: &str) -> Result<Secret, String> {
    walker_accounts::auth::check_token_secret(text).map(|()| Secret::from(text))
}

/// Settings a file may not hold: they select the file, or are actions.
const NOT_IN_FILE: &[&str] = &["config", "print_config", "help", "version"];

impl Config {
    /// The configuration in effect: flags, then environment variables, then the
    /// `--config` file, then defaults. Invalid values end the process with clap's message.
    pub fn load() -> anyhow::Result<Config> {
        Self::load_from(std::env::args_os())
    }

    pub fn load_from(args: impl IntoIterator<Item = std::ffi::OsString>) -> anyhow::Result<Config> {
        let args: Vec<_> = args.into_iter().collect();
        let matches = Config::command().get_matches_from(args.clone());
        let Some(path) = matches.get_one::<PathBuf>("config") else {
            return Ok(Config::from_arg_matches(&matches)?.with_jac_cloud_redis());
        };
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let table: toml::Table = toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        // The file's values become the defaults, so flags and environment variables win.
        let mut command = Config::command();
        let mut unknown = Vec::new();
        for (key, value) in table {
            let id = key.replace('-', "_");
            if NOT_IN_FILE.contains(&id.as_str()) || !command.get_arguments().any(|arg| arg.get_id() == id.as_str()) {
                unknown.push(key);
                continue;
            }
            let value = file_value(&value).with_context(|| format!("{}: {key}", path.display()))?;
            command = command.mut_arg(id, |arg| arg.default_value(value));
        }
        if !unknown.is_empty() {
            anyhow::bail!("{}: unknown settings: {}", path.display(), unknown.join(", "));
        }
        Ok(Config::from_arg_matches(&command.get_matches_from(args))?.with_jac_cloud_redis())
    }

    /// jac-cloud's `SOCKET_REDIS_HOST`, when nothing else sets the bus.
    fn with_jac_cloud_redis(mut self) -> Config {
        if self.redis.is_none() {
            self.redis = std::env::var("SOCKET_REDIS_HOST").ok().filter(|url| !url.is_empty()).map(Secret::from);
        }
        self
    }

    /// The cluster's settings, in cluster mode.
    pub fn cluster(&self) -> Option<ClusterConfig> {
        Some(ClusterConfig {
            urls: self.redis.as_ref()?.expose().split(',').map(|url| url.trim().to_string()).collect(),
            linger: Duration::from_millis(self.cluster_linger_ms),
            subscribe_wait: Duration::from_millis(self.cluster_subscribe_wait_ms),
            publish_queue: self.cluster_publish_queue,
            probe: Duration::from_secs(self.cluster_probe_secs),
            prefix: self.cluster_prefix.clone(),
        })
    }

    /// The defaults, for embedding and tests: unlike `parse`, no `JAC_*` environment
    /// variable changes them.
    pub fn with_dirs(walkers_dir: PathBuf, data_dir: PathBuf) -> Self {
        let command = Config::command().mut_args(|arg| arg.env(None));
        let matches = command.get_matches_from(["walker-host"]);
        let mut config = Config::from_arg_matches(&matches).expect("the defaults parse");
        config.walkers_dir = walkers_dir;
        config.data_dir = data_dir;
        config
    }

    pub fn store(&self) -> StoreConfig<'_> {
        StoreConfig {
            data_dir: &self.data_dir,
            database_url: self.database.as_ref().map(Secret::expose),
            schema: None,
            pool_size: self.database_pool,
            timeout: Duration::from_millis(self.database_timeout_ms),
            quotas: self.quotas(),
        }
    }

    /// The wire protocol's settings.
    pub fn settings(&self) -> Settings {
        Settings {
            max_message_bytes: self.max_message_bytes,
            max_body_bytes: self.max_body_bytes,
            stream_buffer: self.stream_buffer,
            queue_messages: self.queue_messages,
            queue_bytes: self.queue_bytes,
            write_timeout: Duration::from_millis(self.write_timeout_ms),
            ping_interval: Duration::from_secs(self.ping_interval_secs.max(1)),
            silence_limit: Duration::from_secs(self.ping_timeout_secs.max(1)),
            ws_events_per_second: self.ws_events_per_second,
            notify_targets: self.notify_targets,
            client_events: self.client_events,
            min_password_length: self.min_password_length,
            user_fields: (self.user_fields.iter())
                .map(|field| walker_protocol::user_fields::parse(field).expect("checked by its parser"))
                .collect(),
            user_fields_bytes: self.user_fields_bytes,
            cors_origins: self.cors_origins.clone(),
            cors_methods: self.cors_methods.clone(),
            cors_headers: self.cors_headers.clone(),
            ws_origins: self.ws_origins.clone(),
        }
    }

    pub fn graph_limits(&self) -> GraphLimits {
        GraphLimits {
            calls: self.graph_calls,
            writes: self.graph_writes,
            write_bytes: self.graph_write_bytes,
            context_bytes: self.context_bytes,
            page: self.graph_page,
            scan: self.graph_scan,
        }
    }

    pub fn quotas(&self) -> Quotas {
        Quotas {
            user: Quota { nodes: self.quota_nodes, edges: self.quota_edges, bytes: self.quota_bytes },
            public: Quota {
                nodes: self.public_quota_nodes,
                edges: self.public_quota_edges,
                bytes: self.public_quota_bytes,
            },
            store: None,
        }
    }

    /// The `.jac` build command: `--jac-build`, else the repository's script when the
    /// server was started from the repository; `None` without either.
    pub fn jac_toolchain(&self) -> Option<PathBuf> {
        let found = || std::fs::canonicalize("scripts/build-jac.sh").ok().filter(|script| script.is_file());
        self.jac_build.clone().or_else(found)
    }

    pub fn limits(&self) -> Limits {
        Limits {
            memory_bytes: self.walker_memory_mib << 20,
            run_time: Duration::from_millis(self.walker_time_ms),
            notifications: self.walker_notifications,
            notification_bytes: self.walker_notification_bytes,
            notify_targets: self.notify_targets,
            report_bytes: self.walker_report_bytes,
            instances: self.walker_instances,
            lanes: self.walker_cores,
            slot_wait: Duration::from_millis(self.walker_slot_wait_ms),
            warm_idle: self.warm_idle,
            warm_ttl: Duration::from_secs(self.warm_ttl_secs),
            reruns: self.walker_reruns,
            file_bytes: self.walker_file_mib << 20,
            compile_time: Duration::from_secs(self.walker_compile_secs),
            ..Limits::default()
        }
    }
}
