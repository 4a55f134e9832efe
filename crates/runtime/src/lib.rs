//! walker-runtime: compiles and checks components, then runs walkers, each call in a
//! fresh sandboxed instance; and serves them (`catalog`, kept in step with the walkers
//! directory by `reload`). Runs reach their tenant's graph only through the `Graph` and
//! `GraphRun` traits of `graph`, and send notifications only through `Notifier`: this
//! crate knows no store, hub or protocol. Depends on walker-core (and wasmtime).
//!
//! One `Engine` (pooling allocator, epoch interruption) and one `Linker` serve every
//! component. Loading a component yields an `InstancePre` and the walkers' specs; each run
//! gets a new `Store` and instance, dropped afterwards, so a trap or a leak never outlives
//! the call that caused it. Walkers that opt in (`warm-runs`) reuse an instance for the
//! same user's next runs instead (see `warm`).

mod bindings;
mod cache;
pub mod catalog;
mod cores;
mod declare;
mod engine;
mod error;
pub mod graph;
mod graph_host;
pub mod jac;
mod limits;
mod metrics;
mod quota;
pub mod reload;
mod respond;

pub use respond::{RawBody, StreamSink, Streamed, stream_channel};
mod sandbox;
mod share;
mod spec;
mod warm;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use serde_json::value::RawValue;
use warm::{Sandbox, WarmPool};
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::error::Context as _;
use wasmtime::{CallHook, Engine, Result, Store, Trap};

pub use bindings::{Caller, EntryType, FieldType, Method, Transport};
pub use cache::{CodeCache, Digest, Origin};
pub use error::{RunError, RunErrorKind, STORE_UNAVAILABLE};
pub use limits::{LimitHit, Limits};
pub use metrics::WalkerMetrics;
pub use quota::RunQuota;
pub use sandbox::{Nobody, Notifier, Target};
pub use share::Share;
pub use spec::{
    Docs, FieldError, FieldSpec, RESERVED_USER_FIELDS, WalkerSpec, is_user_field_name, is_var_name, path_params,
    validate_fields,
};

use bindings::{Walkers, WalkersPre};
use cores::{Cores, Slices};
use engine::EpochTicker;
use sandbox::{NotJson, Readable, RunState};
use walker_core::fair::{FairSemaphore, Party, Permit};

use walker_core::access::{CommitError, StoreError};
use walker_core::ids::{PUBLIC_ROOT, parse_root};

use crate::graph::{Contended, EntryGone, Graph, GraphRun};

/// Interfaces a walker may import: the walker WIT package, and WASI that an empty
/// context makes harmless. Filesystem, sockets and HTTP are refused at load.
const ALLOWED_IMPORTS: &[&str] = &["jac:walker/", "wasi:io/", "wasi:cli/", "wasi:clocks/", "wasi:random/"];

/// Extra time past the run limit before the host gives up waiting on a run; the epoch
/// deadline normally stops it first.
const DEADLINE_GRACE: std::time::Duration = std::time::Duration::from_millis(100);

pub struct Runtime {
    engine: Engine,
    linker: Linker<RunState>,
    limits: Arc<Limits>,
    /// Compiled code, shared by every catalog that brings no cache of its own.
    cache: Arc<CodeCache>,
    /// One permit per pooled instance slot: runs wait for a slot, up to `slot_wait`,
    /// tenants in turn.
    slots: Arc<FairSemaphore>,
    /// The lanes long runs take turns on.
    cores: Cores,
    /// Places for compilations (`Limits::compilations`); one that ran past its time
    /// keeps its place until its thread finishes.
    compiling: Arc<tokio::sync::Semaphore>,
    /// The share loading components runs in, to list their walkers.
    loading: Arc<Share>,
    /// Every loaded component's idle warm instances, to take a slot back from when a
    /// fresh run finds none free, and to sweep.
    warm_pools: Mutex<Vec<Weak<WarmPool>>>,
    /// Runs run again, by reason: `conflict` (lost at commit) or `contended` (stopped
    /// before writing rows whose owner another run held).
    pub reruns: prometheus::IntCounterVec,
    _ticker: EpochTicker,
}

/// A tenant's variables: settings and secrets its walkers may read, by name.
pub type Vars = std::collections::BTreeMap<String, String>;

/// What runs see of the tenant they run for: its graph, its variables, and its share of
/// the runtime (turns, CPU time, memory).
pub struct Environment {
    pub graph: Arc<dyn Graph>,
    pub vars: Arc<Vars>,
    pub share: Arc<Share>,
}

/// A compiled, checked component, ready to instantiate.
pub struct LoadedComponent {
    pre: WalkersPre<RunState>,
    /// The walkers it exports, in its own order.
    pub walkers: Vec<WalkerSpec>,
    /// The app's own user fields (see `declare`).
    pub user_fields: Vec<FieldSpec>,
    pub origin: Origin,
    /// Idle instances of walkers that allow reuse.
    warm: Arc<WarmPool>,
    /// By walker: whether its last run was long, so its next one starts on a lane.
    ran_long: HashMap<String, AtomicBool>,
}

/// How one execution of a run ended, short of failing.
// Made once per execution and matched at once: boxing the transaction would cost an
// allocation per run for nothing.
#[allow(clippy::large_enum_variant)]
enum Attempt {
    Ran {
        response: Result<bindings::Response, String>,
        raw_body: Option<RawBody>,
        graph: Box<dyn GraphRun>,
        notified: bool,
    },
    /// It stopped before writing rows whose owners' locks another run holds.
    Contended { owners: Vec<String>, notified: bool },
}

/// Who calls a walker, and how its reply may reach them.
#[derive(Clone, Copy)]
pub struct Invocation<'a> {
    pub caller: &'a Caller,
    /// JSON of the caller's account, as `jac:walker/account` gives it.
    pub account: Option<&'a Arc<str>>,
    /// Where a streamed reply goes, when the transport can stream (see `respond`).
    pub stream: Option<&'a StreamSink>,
}

impl<'a> Invocation<'a> {
    /// A call by `caller` with no account and no stream (tests, benchmarks, tools).
    pub fn of(caller: &'a Caller) -> Self {
        Invocation { caller, account: None, stream: None }
    }
}

/// A successful run's reply.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: ReplyBody,
}

impl Reply {
    /// The errors, when the walker refused its input (see `FieldError::refused_by_walker`).
    pub fn refused_input(&self) -> Option<Vec<FieldError>> {
        match &self.body {
            ReplyBody::Custom(custom) => FieldError::refused_by_walker(self.status, custom.get()),
            ReplyBody::Reports(_) | ReplyBody::Raw(_) => None,
        }
    }
}

#[derive(Debug)]
pub enum ReplyBody {
    /// `{"status": S, "reports": [...]}`
    Reports(Vec<Box<RawValue>>),
    /// A custom report, sent as it is.
    Custom(Box<RawValue>),
    /// A body of the walker's own content type (`respond.body`).
    Raw(RawBody),
}

impl Runtime {
    pub fn new(limits: Limits, cache_dir: PathBuf) -> Result<Self> {
        let engine = engine::new_engine(&limits)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        Walkers::add_to_linker::<_, HasSelf<RunState>>(&mut linker, |state| state)?;
        let cache = Arc::new(CodeCache::new(&engine, cache_dir)?);
        Ok(Runtime {
            _ticker: EpochTicker::start(engine.clone()),
            slots: FairSemaphore::new(limits.instances as usize),
            cores: Cores::new(limits.lanes),
            compiling: Arc::new(tokio::sync::Semaphore::new(limits.compilations.max(1))),
            loading: Arc::default(),
            warm_pools: Mutex::default(),
            reruns: prometheus::IntCounterVec::new(
                prometheus::Opts::new("walker_host_walker_reruns_total", "Walker runs run again, by reason"),
                &["reason"],
            )?,
            limits: Arc::new(limits),
            engine,
            linker,
            cache,
        })
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// A code cache of its own in `dir`, for a catalog whose compiled code must not be
    /// shared (see `tenancy`).
    pub fn code_cache(&self, dir: PathBuf) -> Result<Arc<CodeCache>> {
        Ok(Arc::new(CodeCache::new(&self.engine, dir)?))
    }

    /// Compiles (or loads from the shared cache) and checks a component: its imports are
    /// allowed, it links, and its walker specs are valid. Compilation runs on a blocking
    /// thread so other walkers keep running.
    pub async fn load(self: &Arc<Self>, wasm: Vec<u8>) -> Result<LoadedComponent> {
        self.load_with(wasm, None, None).await
    }

    /// `load`, with `cache` instead of the shared one when given, and the bytes' `digest`
    /// when the caller has it already (else it is computed with the compilation).
    pub async fn load_with(
        self: &Arc<Self>,
        wasm: Vec<u8>,
        digest: Option<Digest>,
        cache: Option<&Arc<CodeCache>>,
    ) -> Result<LoadedComponent> {
        let runtime = self.clone();
        let cache = cache.unwrap_or(&self.cache).clone();
        let place = self.compiling.clone().acquire_owned().await.context("compiling")?;
        let compile = tokio::task::spawn_blocking(move || {
            let _place = place;
            let digest = digest.unwrap_or_else(|| cache::digest(&wasm));
            cache.load(&runtime.engine, &wasm, &digest)
        });
        let limit = self.limits.compile_time;
        let (component, origin) = tokio::time::timeout(limit, compile)
            .await
            .map_err(|_| wasmtime::Error::msg(format!("compiling took longer than {} s", limit.as_secs_f64())))?
            .context("compiling")??;
        self.check_imports(&component)?;
        let pre = WalkersPre::new(self.linker.instantiate_pre(&component)?)?;
        let (walkers, user_fields) = self.read_specs(&pre).await?;
        let warm = Arc::new(WarmPool::new(self.limits.warm_idle, self.limits.warm_ttl));
        let mut pools = self.warm_pools.lock().unwrap_or_else(|p| p.into_inner());
        pools.retain(|pool| pool.strong_count() > 0);
        pools.push(Arc::downgrade(&warm));
        drop(pools);
        let ran_long = walkers.iter().map(|walker| (walker.name.clone(), AtomicBool::new(false))).collect();
        Ok(LoadedComponent { pre, walkers, user_fields, origin, warm, ran_long })
    }

    fn check_imports(&self, component: &Component) -> Result<()> {
        for (name, item) in component.component_type().imports(&self.engine) {
            let is_instance = matches!(item.ty, ComponentItem::ComponentInstance(_));
            if !is_instance || !ALLOWED_IMPORTS.iter().any(|allowed| name.starts_with(allowed)) {
                wasmtime::bail!("imports `{name}`, which walkers may not use");
            }
        }
        Ok(())
    }

    /// Its walkers' specs, and the app's user fields, as it declares them.
    async fn read_specs(&self, pre: &WalkersPre<RunState>) -> Result<(Vec<WalkerSpec>, Vec<FieldSpec>)> {
        let _slot = (self.acquire_slot(self.loading.party()).await)
            .map_err(|_| wasmtime::Error::msg("every instance slot is busy"))?;
        let mut store = self.new_store(self.slices(&self.loading));
        store.data_mut().declared = Some(declare::Declared::default());
        let specs = tokio::time::timeout(self.limits.run_time + DEADLINE_GRACE, async {
            let instance = pre.instantiate_async(&mut store).await?;
            instance.call_walkers(&mut store).await
        })
        .await
        .context("listing its walkers took too long")?
        .context("listing its walkers")?;
        let mut specs: Vec<WalkerSpec> = specs
            .into_iter()
            .map(|spec| WalkerSpec::from_wit(spec).map_err(wasmtime::Error::msg))
            .collect::<Result<_>>()?;
        let declared = store.data_mut().declared.take().unwrap_or_default();
        let user_fields = declared.apply(&mut specs).map_err(wasmtime::Error::msg)?;
        if let Some(twice) = specs.iter().enumerate().find(|(i, spec)| specs[..*i].iter().any(|s| s.name == spec.name))
        {
            wasmtime::bail!("declares walker {} twice", twice.1.name);
        }
        Ok((specs, user_fields))
    }

    /// A store with the sandbox's limits; `RunState::begin` prepares it for each run.
    fn new_store(&self, slices: Slices) -> Store<RunState> {
        let mut store = Store::new(&self.engine, RunState::new(self.limits.clone(), slices));
        store.limiter(|state| state);
        store.set_epoch_deadline(1);
        let run_time = self.limits.run_time;
        store.epoch_deadline_callback(move |mut store| {
            let state = store.data_mut();
            if Instant::now() >= state.slices.deadline() {
                return Err(LimitHit::Time(run_time).into());
            }
            Ok(state.slices.tick())
        });
        store.call_hook(|mut store, hook| {
            let slices = &mut store.data_mut().slices;
            match hook {
                CallHook::CallingHost => slices.enter_host(),
                CallHook::ReturningFromHost if slices.leave_host() => store.set_epoch_deadline(0),
                CallHook::ReturningFromHost => {}
                CallHook::CallingWasm => slices.enter_callback(),
                CallHook::ReturningFromWasm => slices.leave_callback(),
            }
            Ok(())
        });
        store
    }

    /// A new run's use of the cores, charged to `share`.
    fn slices(&self, share: &Arc<Share>) -> Slices {
        Slices::new(&self.cores, share.clone(), Instant::now() + self.limits.run_time)
    }

    /// Runs walker `spec` of `component` on `entry` (a node id the caller may read; its
    /// root when `None`) of `env`'s graph, then commits its writes: in a fresh instance,
    /// or in a warm one of the same caller when the walker allows reuse. `context` must
    /// be the output of `WalkerSpec::validate` for that walker. The reply is returned only
    /// once the writes are committed.
    // One run's inputs, each from a different owner: bundling them would only move the list.
    #[allow(clippy::too_many_arguments)]
    pub async fn run(
        &self,
        component: &LoadedComponent,
        spec: &WalkerSpec,
        call: Invocation<'_>,
        context: &str,
        notifier: Arc<dyn Notifier>,
        env: &Environment,
        entry: Option<&str>,
    ) -> Result<Reply, RunError> {
        let fail = |kind| RunError::new(&spec.name, kind);
        if let Some(debt) = env.share.debt() {
            return Err(fail(RunErrorKind::CpuQuota(debt)));
        }
        let root = parse_root(&call.caller.root_id).unwrap_or_else(|| PUBLIC_ROOT.to_string());
        let mut attempts = 0;
        let mut contended = Vec::new();
        loop {
            let entry = entry.map(str::to_string);
            let graph =
                env.graph.clone().begin(root.clone(), entry, std::mem::take(&mut contended), spec.access.clone());
            let (response, raw_body, graph, notified) =
                match self.attempt(component, spec, call, context, notifier.clone(), graph, env).await? {
                    Attempt::Ran { response, raw_body, graph, notified } => (response, raw_body, graph, notified),
                    Attempt::Contended { owners, notified } if !notified && attempts < self.limits.reruns => {
                        attempts += 1;
                        self.reruns.with_label_values(&["contended"]).inc();
                        contended = owners;
                        continue;
                    }
                    Attempt::Contended { .. } => return Err(fail(RunErrorKind::Conflict)),
                };
            // A reply the host cannot send commits nothing either.
            let response = response.map_err(|message| fail(RunErrorKind::Failed(message)))?;
            let reply = self.reply(response, raw_body).map_err(fail)?;
            let others = graph.others_written();
            match graph.commit().await {
                Ok(()) => return Ok(reply),
                Err(CommitError::Conflict) if !notified && attempts < self.limits.reruns => {
                    attempts += 1;
                    self.reruns.with_label_values(&["conflict"]).inc();
                    tracing::debug!(walker = spec.name, attempts, "its graph writes conflicted; running it again");
                    contended = others;
                }
                Err(CommitError::Conflict) => return Err(fail(RunErrorKind::Conflict)),
                Err(CommitError::Quota(quota)) => return Err(fail(RunErrorKind::Quota(quota))),
                Err(CommitError::Store(err)) => {
                    tracing::error!(walker = spec.name, "committing its graph writes: {err}");
                    return Err(fail(RunErrorKind::StoreUnavailable));
                }
            }
        }
    }

    /// One execution of a run: the walker's response, its graph transaction, and
    /// whether it notified anyone; or where it stopped to be run again.
    #[allow(clippy::too_many_arguments)] // `run`'s inputs, and this attempt's transaction
    async fn attempt(
        &self,
        component: &LoadedComponent,
        spec: &WalkerSpec,
        call: Invocation<'_>,
        context: &str,
        notifier: Arc<dyn Notifier>,
        graph: Box<dyn GraphRun>,
        env: &Environment,
    ) -> Result<Attempt, RunError> {
        let walker = spec.name.as_str();
        let fail = |kind| RunError::new(walker, kind);
        let warm_owner = warm::owner(call.caller).filter(|_| spec.warm_runs > 0);
        let warm = warm_owner.as_deref().and_then(|owner| component.warm.take(walker, owner));
        let mut sandbox = match warm {
            Some(sandbox) => sandbox,
            None => {
                let slot = self.acquire_slot(env.share.party()).await.map_err(fail)?;
                Sandbox { store: self.new_store(self.slices(&env.share)), walkers: None, runs: 0, _slot: slot }
            }
        };
        let readable = Readable { vars: env.vars.clone(), declared: spec.vars.clone(), account: call.account.cloned() };
        let state = sandbox.store.data_mut();
        state.begin(Arc::from(walker), call, notifier, graph, readable, self.slices(&env.share));
        let ran_long = &component.ran_long[walker];
        if ran_long.load(Ordering::Relaxed) {
            state.slices.start_long();
            sandbox.store.set_epoch_deadline(0);
        } else {
            sandbox.store.set_epoch_deadline(1);
        }
        let outcome = tokio::time::timeout(self.limits.run_time + DEADLINE_GRACE, async {
            let Sandbox { store, walkers, .. } = &mut sandbox;
            let instance = match walkers {
                Some(instance) => instance,
                None => walkers.insert(component.pre.instantiate_async(&mut *store).await?),
            };
            instance.call_run(store, walker, call.caller, context).await
        })
        .await;
        ran_long.store(sandbox.store.data_mut().slices.finish(), Ordering::Relaxed);
        let response = match outcome {
            Err(_elapsed) => return Err(fail(RunErrorKind::Limit(LimitHit::Time(self.limits.run_time)))),
            // A trap poisons the store: it is dropped here, with the run's writes.
            Ok(Err(err)) => {
                let notified = sandbox.store.data().has_notified();
                return match err.downcast::<Contended>() {
                    Ok(Contended { owners }) => Ok(Attempt::Contended { owners, notified }),
                    Err(err) => Err(fail(self.classify(walker, err))),
                };
            }
            Ok(Ok(response)) => response,
        };
        let state = sandbox.store.data_mut();
        let notified = state.has_notified();
        let graph = state.graph.take().expect("set by begin");
        let raw_body = state.raw_body.take();
        // The transport reads the stream until every sender is gone.
        state.stream = None;
        sandbox.runs += 1;
        if let Some(owner) = warm_owner.filter(|_| sandbox.runs < spec.warm_runs) {
            component.warm.put(walker, owner, sandbox);
        }
        Ok(Attempt::Ran { response, raw_body, graph, notified })
    }

    /// Instance slots taken now (running or warm instances).
    pub fn slots_in_use(&self) -> usize {
        self.slots.in_use()
    }

    /// Long runs computing now, each on one of the lanes (see `cores`).
    pub fn cores_in_use(&self) -> usize {
        self.cores.in_use()
    }

    /// A free instance slot: one at once, or one taken back from the oldest idle warm
    /// instance, or the first freed within `slot_wait`, in `party`'s turn; else the run
    /// is refused as busy.
    async fn acquire_slot(&self, party: Party) -> Result<Permit, RunErrorKind> {
        // A fresh run is a unit of work: it counts against the task's cooperative budget,
        // so a task calling walkers in a loop still lets others run.
        tokio::task::consume_budget().await;
        loop {
            match self.slots.try_acquire() {
                Some(slot) => return Ok(slot),
                None if self.evict_idle_warm() => continue,
                None => break,
            }
        }
        tokio::time::timeout(self.limits.slot_wait, self.slots.acquire(party))
            .await
            .map_err(|_elapsed| RunErrorKind::Busy(self.limits.slot_wait))
    }

    /// Drops the oldest idle warm instance of any component; false if none was idle.
    fn evict_idle_warm(&self) -> bool {
        let pools: Vec<Arc<WarmPool>> =
            self.warm_pools.lock().unwrap_or_else(|p| p.into_inner()).iter().filter_map(Weak::upgrade).collect();
        let oldest = pools.iter().filter_map(|pool| Some((pool.oldest()?, pool))).min_by_key(|(since, _)| *since);
        oldest.is_some_and(|(_, pool)| pool.evict_oldest())
    }

    /// Drops idle warm instances past their time every `period`, while the runtime lives,
    /// so instances nobody calls again give their slots back.
    pub fn sweep_warm_instances(self: &Arc<Self>, period: Duration) {
        let runtime = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(period);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let Some(runtime) = runtime.upgrade() else { return };
                let pools = runtime.warm_pools.lock().unwrap_or_else(|p| p.into_inner()).clone();
                for pool in pools.iter().filter_map(Weak::upgrade) {
                    pool.sweep();
                }
            }
        });
    }

    /// Turns a wasmtime error into what the caller may see; anything unexpected is logged.
    fn classify(&self, walker: &str, err: wasmtime::Error) -> RunErrorKind {
        if let Some(limit) = err.downcast_ref::<LimitHit>() {
            RunErrorKind::Limit(*limit)
        } else if err.is::<StoreError>() {
            RunErrorKind::StoreUnavailable
        } else if err.is::<EntryGone>() {
            RunErrorKind::Conflict
        } else if err.downcast_ref::<NotJson>().is_some() {
            RunErrorKind::InvalidOutput(NotJson.to_string())
        } else if let Some(trap) = err.downcast_ref::<Trap>() {
            tracing::debug!(walker, "trapped: {err:?}");
            RunErrorKind::Trapped(trap.to_string())
        } else {
            tracing::warn!(walker, "run failed: {err:?}");
            RunErrorKind::Internal
        }
    }

    fn reply(&self, response: bindings::Response, raw_body: Option<RawBody>) -> Result<Reply, RunErrorKind> {
        if !(200..=599).contains(&response.status) {
            let what = format!("HTTP status {}, outside 200-599", response.status);
            return Err(RunErrorKind::InvalidOutput(what));
        }
        let limit = self.limits.report_bytes;
        let too_big = || RunErrorKind::Limit(LimitHit::ReportSize(limit));
        let parse = |text: String| {
            RawValue::from_string(text).map_err(|_| RunErrorKind::InvalidOutput("a report that is not JSON".into()))
        };
        let body = match (raw_body, response.custom) {
            (Some(raw), _) if raw.body.len() > limit => return Err(too_big()),
            (Some(raw), _) if !respond::is_content_type(&raw.content_type) => {
                return Err(RunErrorKind::InvalidOutput(format!("{:?} is not a content type", raw.content_type)));
            }
            (Some(raw), _) => ReplyBody::Raw(raw),
            (None, Some(custom)) if custom.len() > limit => return Err(too_big()),
            (None, Some(custom)) => ReplyBody::Custom(parse(custom)?),
            (None, None) => {
                if response.reports.iter().map(String::len).sum::<usize>() > limit {
                    return Err(too_big());
                }
                ReplyBody::Reports(response.reports.into_iter().map(parse).collect::<Result<_, _>>()?)
            }
        };
        Ok(Reply { status: response.status, body })
    }
}
