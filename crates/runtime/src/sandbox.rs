//! The state of one walker run: its empty WASI context, its limits, its graph
//! transaction, and the host functions it imports (`socket`, `log`, `config`,
//! `account`, `declare`, `respond`; `graph` is in `graph_host`). A fresh `RunState` lives in a fresh `Store`
//! per run, so nothing leaks between runs or users.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, Result};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::{Level, jac::walker};
use crate::cores::Slices;
use crate::declare::Declared;
use crate::graph::GraphRun;
use crate::limits::{LimitHit, Limits};
use crate::respond::{RawBody, RunStream};
use crate::share::Share;

/// Who a notification goes to.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// The calling connection itself (`notify-self`): bounded by the run's limits, not
    /// by its outgoing queue's (see `outbox`).
    Caller(&'a str),
    Clients(&'a [String]),
    Users(&'a [String]),
    Channels(&'a [String]),
}

/// Delivers the notifications walkers send. The server's connection hub implements it;
/// payloads are validated JSON text and reach clients as they are.
pub trait Notifier: Send + Sync {
    fn notify(&self, target: Target<'_>, payload: String);
}

/// A notifier that drops everything, for runs with nobody to notify (spec reading).
pub struct Nobody;

impl Notifier for Nobody {
    fn notify(&self, _: Target<'_>, _: String) {}
}

/// Log lines a walker may write per run, and their length; the rest are dropped.
const LOG_LINES_PER_RUN: u32 = 100;
const LOG_LINE_BYTES: usize = 1024;

/// What a running walker may read beyond its context: the tenant variables its spec
/// declares, and its caller's account.
#[derive(Default)]
pub struct Readable {
    pub vars: Arc<super::Vars>,
    pub declared: Arc<[String]>,
    /// JSON of the caller's account (`jac:walker/account`); none for anonymous callers.
    pub account: Option<Arc<str>>,
}

pub struct RunState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(super) limits: Arc<Limits>,
    /// The walker's name, for logs.
    walker: Arc<str>,
    /// The caller's connection, for `notify-self`.
    client_id: Option<String>,
    notifier: Arc<dyn Notifier>,
    notifications_sent: u32,
    log_lines: u32,
    /// The run's graph transaction; none while a component lists its walkers.
    pub(super) graph: Option<Box<dyn GraphRun>>,
    /// What the component declares while it lists its walkers; none during runs, whose
    /// declarations are ignored.
    pub(super) declared: Option<Declared>,
    /// The tenant variables the running walker may read.
    readable: Readable,
    /// The body the walker set in place of its reports (`respond.body`).
    pub(super) raw_body: Option<RawBody>,
    /// Where its streamed reply goes, when the call can stream.
    pub(super) stream: Option<RunStream>,
    /// Its share of the cores, driven by the epoch ticks, and when it must end.
    pub(super) slices: Slices,
    /// The share its instance's memory is held against (the tenant it was made for),
    /// and how much it holds: given back when the store is dropped.
    memory: (Arc<Share>, usize),
}

impl Drop for RunState {
    fn drop(&mut self) {
        self.memory.0.release_memory(self.memory.1);
    }
}

impl RunState {
    pub fn new(limits: Arc<Limits>, slices: Slices) -> Self {
        RunState {
            // No preopens, env, args or network: the walker sees nothing of the host.
            wasi: WasiCtx::builder().allow_tcp(false).allow_udp(false).allow_ip_name_lookup(false).build(),
            table: ResourceTable::new(),
            memory: (slices.share().clone(), 0),
            slices,
            limits,
            walker: Arc::from("-"),
            client_id: None,
            notifier: Arc::new(Nobody),
            notifications_sent: 0,
            log_lines: 0,
            graph: None,
            declared: None,
            readable: Readable::default(),
            raw_body: None,
            stream: None,
        }
    }

    /// Prepares the state for a run (a warm instance's store serves several).
    pub fn begin(
        &mut self,
        walker: Arc<str>,
        call: super::Invocation<'_>,
        notifier: Arc<dyn Notifier>,
        graph: Box<dyn GraphRun>,
        readable: Readable,
        slices: Slices,
    ) {
        self.walker = walker;
        self.graph = Some(graph);
        self.readable = readable;
        self.client_id.clone_from(&call.caller.client_id);
        self.notifier = notifier;
        self.notifications_sent = 0;
        self.raw_body = None;
        self.stream = call.stream.cloned().map(RunStream::new);
        self.log_lines = 0;
        self.slices = slices;
    }

    /// Whether the run has sent a notification or a streamed chunk: then it must never
    /// run again.
    pub fn has_notified(&self) -> bool {
        self.notifications_sent > 0 || self.stream.as_ref().is_some_and(|stream| stream.started())
    }

    /// A notification's targets, each once, within the limit on targets.
    fn distinct(&self, ids: Vec<String>, key: impl Fn(&str) -> String) -> Result<Vec<String>> {
        let max = self.limits.notify_targets;
        walker_core::targets::distinct_targets(ids, key, max).map_err(|_| LimitHit::NotificationTargets(max).into())
    }

    fn send(&mut self, target: Target<'_>, payload: String) -> Result<()> {
        if self.notifications_sent >= self.limits.notifications {
            return Err(LimitHit::Notifications(self.limits.notifications).into());
        }
        if payload.len() > self.limits.notification_bytes {
            return Err(LimitHit::NotificationSize(self.limits.notification_bytes).into());
        }
        if serde_json::from_str::<serde::de::IgnoredAny>(&payload).is_err() {
            wasmtime::bail!(NotJson);
        }
        self.notifications_sent += 1;
        // Fan-out is the host's work for the run: charged to it and its tenant.
        let started = std::time::Instant::now();
        self.notifier.notify(target, payload);
        self.slices.charge_host(started.elapsed());
        Ok(())
    }
}

/// A walker sent a notification that is not JSON text.
#[derive(Debug)]
pub struct NotJson;

impl std::fmt::Display for NotJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a notification that is not JSON")
    }
}

impl std::error::Error for NotJson {}

impl walker::socket::Host for RunState {
    fn notify_self(&mut self, payload: String) -> Result<()> {
        match self.client_id.take() {
            Some(client) => {
                let result = self.send(Target::Caller(&client), payload);
                self.client_id = Some(client);
                result
            }
            // Over HTTP there is no connection to notify; it still counts as a notification.
            None => self.send(Target::Clients(&[]), payload),
        }
    }

    fn notify_users(&mut self, root_ids: Vec<String>, payload: String) -> Result<()> {
        let root_ids = self.distinct(root_ids, walker_core::targets::user_key)?;
        self.send(Target::Users(&root_ids), payload)
    }

    fn notify_channels(&mut self, channel_ids: Vec<String>, payload: String) -> Result<()> {
        let channel_ids = self.distinct(channel_ids, str::to_string)?;
        self.send(Target::Channels(&channel_ids), payload)
    }

    fn notify_clients(&mut self, client_ids: Vec<String>, payload: String) -> Result<()> {
        let client_ids = self.distinct(client_ids, str::to_string)?;
        self.send(Target::Clients(&client_ids), payload)
    }
}

impl walker::log::Host for RunState {
    fn log(&mut self, level: Level, mut message: String) {
        self.log_lines += 1;
        if self.log_lines > LOG_LINES_PER_RUN {
            return;
        }
        if message.len() > LOG_LINE_BYTES {
            let cut = (0..=LOG_LINE_BYTES).rev().find(|&i| message.is_char_boundary(i)).unwrap_or(0);
            message.truncate(cut);
        }
        let walker = &*self.walker;
        match level {
            Level::Debug => tracing::debug!(target: "walker", walker, "{message}"),
            Level::Info => tracing::info!(target: "walker", walker, "{message}"),
            Level::Warn => tracing::warn!(target: "walker", walker, "{message}"),
            Level::Error => tracing::error!(target: "walker", walker, "{message}"),
        }
    }
}

impl walker::types::Host for RunState {}

impl WasiView for RunState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// Caps linear memory; a refused growth traps with `LimitHit::Memory` so every
/// language's walker fails the same, recognizable way.
impl ResourceLimiter for RunState {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> Result<bool> {
        if desired > self.limits.memory_bytes {
            return Err(LimitHit::Memory(self.limits.memory_bytes).into());
        }
        let (share, held) = &mut self.memory;
        let growth = desired.saturating_sub(current);
        share.hold_memory(growth).map_err(LimitHit::TenantMemory)?;
        *held += growth;
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

/// Table elements per table: generous for real programs, small next to the memory cap.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl walker::config::Host for RunState {
    fn get(&mut self, name: String) -> Result<String, walker::config::Error> {
        use walker::config::Error;
        if !self.readable.declared.contains(&name) {
            return Err(Error::Denied(format!("walker {} does not declare variable {name}", self.walker)));
        }
        self.readable.vars.get(&name).cloned().ok_or_else(|| Error::Undefined(format!("variable {name} is not set")))
    }
}

impl walker::account::Host for RunState {
    fn current(&mut self) -> Option<String> {
        self.readable.account.as_deref().map(str::to_string)
    }
}

/// Recorded only while the component lists its walkers at load; ignored in runs.
impl walker::declare::Host for RunState {
    fn jac_cloud_access(&mut self, walkers: Vec<String>, computed: Vec<walker::declare::ComputedAccess>) {
        if let Some(declared) = self.declared.as_mut() {
            declared.add(walkers, computed);
        }
    }

    fn field_schemas(&mut self, walker: String, schemas: Vec<walker::declare::FieldSchema>) {
        if let Some(declared) = self.declared.as_mut() {
            declared.add_schemas(walker, schemas);
        }
    }

    fn spec_options(&mut self, options: walker::declare::WalkerOptions) {
        if let Some(declared) = self.declared.as_mut() {
            declared.add_options(options);
        }
    }

    fn user_fields(&mut self, fields: Vec<walker::types::Field>) {
        if let Some(declared) = self.declared.as_mut() {
            declared.add_user_fields(fields);
        }
    }

    fn public_root(&mut self, walkers: Vec<String>) {
        if let Some(declared) = self.declared.as_mut() {
            declared.add_public_root(walkers);
        }
    }
}

impl walker::respond::Host for RunState {
    async fn body(&mut self, content_type: String, body: String) {
        self.raw_body = Some(RawBody { content_type, body });
    }

    async fn stream(&mut self, content_type: String, chunk: String) -> Result<(), String> {
        let limit = self.limits.report_bytes;
        match self.stream.as_mut() {
            Some(stream) => stream.send(content_type, chunk, limit).await,
            None => Err("this call has no client to stream to".into()),
        }
    }
}
