//! walker-host: a jac-cloud compatible real-time server whose walkers are WebAssembly
//! components, loaded from a directory, hot-reloaded and sandboxed.
//!
//! - `runtime`: compiling, checking and running walker components in a sandbox;
//! - `catalog` and `reload`: which walkers are served, kept in step with `walkers/`;
//! - `server`, `ws`, `rest`, `frames`: the jac-cloud wire protocol;
//! - `hub` and `outbox`: who is connected, notification fan-out, per-connection queues;
//! - `cluster`: several instances reaching each other's sockets through Redis;
//! - `accounts`, `auth` and `throttle`: users, roots, tokens, and failed-login backoff;
//! - `addresses`: per client address limits on WebSocket connections;
//! - `graph` and `store`: the walkers' persistent graph, its access rules and transactions,
//!   and its storage backends (SQLite, PostgreSQL), export and import;
//! - `tenancy`: isolated tenants on one server, and routing requests to them;
//! - `rate` and `fair`: token buckets, for quotas and rate limits, and a semaphore
//!   that grants its permits to tenants in turn;
//! - `config`, `cors`, `metrics`, `openapi`: operating it: settings, browser origins,
//!   Prometheus, the API's description.

pub mod accounts;
pub mod addresses;
pub mod auth;
pub mod catalog;
pub mod cluster;
pub mod config;
pub mod cors;
pub mod fair;
pub mod frames;
pub mod graph;
pub mod hub;
pub mod metrics;
pub mod openapi;
pub mod outbox;
pub mod rate;
pub mod reload;
pub mod rest;
pub mod runtime;
pub mod server;
pub mod store;
pub mod tenancy;
pub mod throttle;
pub mod ws;
