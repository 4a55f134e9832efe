//! `loadgen`: bounded load scenarios against any jac-cloud compatible server on
//! loopback, printing throughput, latency percentiles, errors and the server's CPU time
//! and memory (read from /proc when given its pid).
//!
//! Every loop is bounded in count and in time (`--max-secs`).

mod client;
mod scenarios;
mod stats;

use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Load scenarios for jac-cloud compatible servers")]
struct Args {
    /// Server base URL (loopback only).
    #[arg(long, global = true, default_value = "http://127.0.0.1:8000")]
    base: String,
    /// The server's pid, to report its CPU time and RSS.
    #[arg(long, global = true)]
    server_pid: Option<u32>,
    /// Upper bound on one scenario's duration.
    #[arg(long, global = true, default_value_t = 120)]
    max_secs: u64,
    /// Print one JSON object per result instead of a table row.
    #[arg(long, global = true)]
    json: bool,
    /// Client threads; 1 (the default) leaves the other cores to the server.
    #[arg(long, global = true, default_value_t = 1)]
    threads: usize,
    /// A label for the server under test, printed with each result.
    #[arg(long, global = true, default_value = "server")]
    label: String,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
pub enum Scenario {
    /// Walker events with `response: true`, each connection waiting for its reply.
    WalkerRtt {
        #[arg(long, default_value_t = 1)]
        connections: usize,
        /// Requests per connection.
        #[arg(long, default_value_t = 10_000)]
        requests: usize,
        /// Walker to call; `-` sends `connection` events instead (no walker: the protocol's floor).
        #[arg(long, default_value = "public_event")]
        walker: String,
        /// The walker's context, as JSON [default: `{"val": <request number>}`].
        #[arg(long)]
        context: Option<String>,
    },
    /// One channel event (sent by a client, or by the `public_group` walker) delivered to
    /// every subscriber.
    Fanout {
        #[arg(long, default_value_t = 1000)]
        subscribers: usize,
        #[arg(long, default_value_t = 200)]
        messages: usize,
        /// `client` (a channel event) or `walker` (`public_group` over the socket).
        #[arg(long, default_value = "client")]
        via: String,
        /// Messages the publisher may run ahead of the slowest delivery.
        #[arg(long, default_value_t = 16)]
        window: usize,
        /// Base URL of a second instance of a cluster: subscribers alternate between it
        /// (the first, and the only one of one) and `--base`, where the publisher is.
        #[arg(long)]
        peer: Option<String>,
        /// Messages per second, at most (a fixed rate, for latency); unset: as fast as
        /// the window allows.
        #[arg(long)]
        rate: Option<u32>,
    },
    /// Opens idle connections and reports the server's RSS per connection.
    Idle {
        #[arg(long, default_value_t = 10_000)]
        connections: usize,
    },
    /// Time from a `.wasm` renamed into the walkers directory to its first successful call.
    Reload {
        #[arg(long)]
        walkers_dir: std::path::PathBuf,
        #[arg(long)]
        wasm: std::path::PathBuf,
        /// The walker the file exports (called with POST and `{}`).
        #[arg(long)]
        walker: String,
        #[arg(long, default_value_t = 5)]
        rounds: usize,
    },
    /// Graph runs: `write` (one committed `make_item` per request, over `ws` or `rest`) or
    /// `read` (`list_items` of `items` items); each connection is its own user.
    Graph {
        #[arg(long, default_value = "write")]
        op: String,
        #[arg(long, default_value = "ws")]
        via: String,
        #[arg(long, default_value_t = 1)]
        connections: usize,
        /// Requests per connection.
        #[arg(long, default_value_t = 2_000)]
        requests: usize,
        /// Items each user has before the timed requests (made over REST, untimed).
        #[arg(long, default_value_t = 0)]
        items: usize,
    },
    /// Wrong passwords posted to `/user/login` by `connections` clients, as fast as answered.
    LoginFlood {
        #[arg(long, default_value_t = 32)]
        connections: usize,
    },
    /// One connection sending walker events without waiting for replies; reconnects when closed.
    EventFlood,
    /// `connections` connections call `walker` while its component is replaced `swaps`
    /// times, alternating the two `versions`.
    HotSwap {
        #[arg(long)]
        walkers_dir: std::path::PathBuf,
        #[arg(long, num_args = 2)]
        versions: Vec<std::path::PathBuf>,
        #[arg(long)]
        walker: String,
        #[arg(long, default_value_t = 100)]
        swaps: usize,
        #[arg(long, default_value_t = 64)]
        connections: usize,
    },
    /// REST walker calls, each connection sequential.
    Rest {
        #[arg(long, default_value_t = 16)]
        connections: usize,
        #[arg(long, default_value_t = 2_000)]
        requests: usize,
        #[arg(long, default_value = "public_event")]
        walker: String,
    },
}

fn is_loopback(base: &str) -> bool {
    base.starts_with("http://127.") || base.starts_with("http://localhost")
}

/// The WebSocket URL of the server at `base`.
pub fn websocket_url(base: &str) -> String {
    format!("{}/websocket", base.replacen("http", "ws", 1))
}

/// What every scenario needs besides its own arguments.
pub struct Target {
    pub base: String,
    pub ws: String,
    pub max: Duration,
    pub server_pid: Option<u32>,
    /// The server reading the scenario's CPU figure starts from; a scenario replaces it
    /// (`start_server_clock`) after untimed setup such as sign-ups' password hashing.
    server_before: std::sync::Mutex<Option<stats::ServerSample>>,
}

impl Target {
    pub fn start_server_clock(&self) {
        *self.server_before.lock().unwrap() = stats::ServerSample::take(self.server_pid);
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut runtime = match args.threads {
        1 => tokio::runtime::Builder::new_current_thread(),
        threads => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(threads);
            builder
        }
    };
    runtime.enable_all().build()?.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let peer = match &args.scenario {
        Scenario::Fanout { peer, .. } => peer.as_deref(),
        _ => None,
    };
    for base in std::iter::once(args.base.as_str()).chain(peer) {
        anyhow::ensure!(is_loopback(base), "loadgen only talks to loopback servers");
    }
    let target = Target {
        ws: websocket_url(&args.base),
        base: args.base,
        max: Duration::from_secs(args.max_secs),
        server_pid: args.server_pid,
        server_before: Default::default(),
    };
    target.start_server_clock();
    let mut result = scenarios::run(&target, &args.scenario).await?;
    let before = target.server_before.lock().unwrap().take();
    result.server = stats::ServerSample::usage(before.as_ref(), stats::ServerSample::take(target.server_pid));
    result.label = args.label;
    if args.json {
        println!("{}", result.json());
    } else {
        println!("{}", stats::Outcome::header());
        println!("{}", result.row());
    }
    Ok(())
}
