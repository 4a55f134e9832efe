//! walker-host: a jac-cloud compatible real-time server whose walkers are WebAssembly
//! components, loaded from a directory, hot-reloaded and sandboxed.
//!
//! This crate assembles the others: its settings (`config`), its tenants and routing
//! (`tenancy`), the server and its graceful shutdown (`server`), and the metrics
//! exposition (`metrics`). The crates it assembles, one per concern, are re-exported
//! under their concern's name, so that an embedder (and the tests) need this one:
//!
//! - `core`: ids, access levels, store errors, token buckets, fair turns;
//! - `store`: persistence (SQLite, PostgreSQL), export and import;
//! - `graph`: jac-cloud's access rules and one transaction per run, over a store;
//! - `runtime` (with `catalog` and `reload`): compiling, checking and running walker
//!   components in a sandbox, and which walkers are served;
//! - `hub` and `cluster`: connections, fan-out, and other instances through Redis;
//! - `accounts`: users, tokens, login throttling;
//! - `protocol`: jac-cloud's wire protocol (WebSocket, REST, OpenAPI, CORS).

pub mod config;
pub mod metrics;
pub mod server;
pub mod tenancy;

pub use walker_accounts as accounts;
pub use walker_cluster as cluster;
pub use walker_core as core;
pub use walker_graph as graph;
pub use walker_hub as hub;
pub use walker_protocol as protocol;
pub use walker_runtime as runtime;
pub use walker_runtime::{catalog, reload};
pub use walker_store as store;
