//! The walkers being served: which component each `.wasm` file (or `.jac` file, built
//! by `jac`) in the walkers directory loaded, and which component owns each walker name.
//!
//! Readers take a lock-free snapshot (`ArcSwap`). A reload builds a new snapshot and
//! swaps it in atomically: calls already running finish on the version they started
//! with, new calls get the new one.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use arc_swap::ArcSwap;
use futures_util::StreamExt;
use serde_json::{Map, Value};
use tokio::sync::{Mutex, watch};

use crate::graph::Graph;
use crate::jac::{self, JacBuilder};
use crate::{
    CodeCache, Digest, Environment, FieldError, FieldSpec, Invocation, LoadedComponent, Notifier, Reply, RunError,
    RunErrorKind, RunQuota, Runtime, Share, Vars, WalkerMetrics, WalkerSpec,
};

pub struct Catalog {
    runtime: Arc<Runtime>,
    /// What its walkers' runs see of their tenant: the graph and the variables.
    env: Environment,
    /// The tenant it serves, for logs.
    tenant: Arc<str>,
    /// Its own compiled-code cache, or `None` for the runtime's shared one.
    code_cache: Option<Arc<CodeCache>>,
    /// Builds its `.jac` files; `None`: it serves only components.
    jac: Option<Arc<JacBuilder>>,
    /// Its tenant's rate and concurrency of runs, when it has quotas.
    run_quota: Option<RunQuota>,
    current: ArcSwap<Snapshot>,
    /// Serializes updates, each built on the snapshot before it; holds the next load number.
    updates: Mutex<u64>,
    /// Bumped after every swap and every finished load, for whoever waits on reloads.
    generation: watch::Sender<u64>,
    /// Loads that failed (the previous version kept serving), for tests and operators.
    failed_loads: AtomicU64,
    metrics: WalkerMetrics,
    /// What `/readyz` reports: files being loaded, files whose last load failed, and
    /// whether the first load of the directory is done.
    progress: std::sync::Mutex<Progress>,
}

#[derive(Default)]
struct Progress {
    loading: BTreeSet<String>,
    /// By file, why its last load failed.
    failed: BTreeMap<String, String>,
    started: bool,
}

/// Bytes of the reason a failed load gives in `/readyz`.
const MAX_FAILURE_BYTES: usize = 2 << 10;

/// Which walker files are served, loading, or failed (their previous version, if any,
/// still serving).
#[derive(Debug, serde::Serialize)]
pub struct Readiness {
    /// The first load of the directory is done and nothing is loading.
    pub ready: bool,
    pub loaded: Vec<String>,
    pub loading: Vec<String>,
    pub failed: Vec<String>,
    /// By failed file, why (a `.jac` file's compiler messages, say).
    pub errors: BTreeMap<String, String>,
}

/// An immutable view of what is loaded.
#[derive(Default)]
pub struct Snapshot {
    /// By file name.
    files: BTreeMap<String, Arc<FileEntry>>,
    walkers: HashMap<String, Walker>,
    /// Those with a custom path, by name, which routing tries one by one.
    custom_paths: Vec<Walker>,
}

struct FileEntry {
    /// When the file was first loaded: on a name conflict the earlier file keeps the name,
    /// and a replaced file keeps its place.
    load_order: u64,
    component: Arc<LoadedComponent>,
    /// SHA-256 of the file's bytes: a change event for the same bytes (a touch, an
    /// editor's save, a deploy tool's duplicate events) reloads nothing, so the version
    /// that serves keeps its warm instances.
    digest: Digest,
}

/// A walker file as read: its name, its bytes and their SHA-256.
struct WalkerFile {
    name: String,
    wasm: Vec<u8>,
    digest: Digest,
}

/// A walker file compiled, ready to serve.
struct Compiled {
    name: String,
    digest: Digest,
    component: LoadedComponent,
}

/// A walker and the component version that runs it.
#[derive(Clone)]
pub struct Walker {
    component: Arc<LoadedComponent>,
    index: usize,
}

impl Walker {
    pub fn spec(&self) -> &WalkerSpec {
        &self.component.walkers[self.index]
    }

    /// The component version that runs it.
    pub fn component(&self) -> &Arc<LoadedComponent> {
        &self.component
    }
}

/// Why a call did not produce a reply.
#[derive(Debug)]
pub enum CallError {
    Invalid(Vec<FieldError>),
    Run(RunError),
}

impl Snapshot {
    pub fn walker(&self, name: &str) -> Option<&Walker> {
        self.walkers.get(name)
    }

    /// The user fields its components declare, each name once: the earliest-loaded
    /// file's declaration wins.
    pub fn user_fields(&self) -> Vec<FieldSpec> {
        let mut files: Vec<&Arc<FileEntry>> = self.files.values().collect();
        files.sort_by_key(|entry| entry.load_order);
        let mut fields: Vec<FieldSpec> = Vec::new();
        for field in files.iter().flat_map(|entry| &entry.component.user_fields) {
            if !fields.iter().any(|known| known.name == field.name) {
                fields.push(field.clone());
            }
        }
        fields
    }

    /// The loaded files' names, sorted.
    pub fn files(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    pub fn walkers(&self) -> impl Iterator<Item = &Walker> {
        self.walkers.values()
    }

    /// The walkers with a custom path, by name.
    pub fn with_custom_paths(&self) -> &[Walker] {
        &self.custom_paths
    }

    /// Builds the name table: files in load order, first claim wins.
    fn with_files(files: BTreeMap<String, Arc<FileEntry>>, changed: Option<&str>) -> Snapshot {
        let mut ordered: Vec<(&String, &Arc<FileEntry>)> = files.iter().collect();
        ordered.sort_by_key(|(_, entry)| entry.load_order);
        let mut walkers = HashMap::new();
        let mut owners: HashMap<&str, &str> = HashMap::new();
        for (file, entry) in ordered {
            for (index, spec) in entry.component.walkers.iter().enumerate() {
                if let Some(owner) = owners.get(spec.name.as_str()) {
                    if changed == Some(file.as_str()) || changed == Some(*owner) {
                        tracing::warn!(walker = spec.name, file, owner, "walker name already taken; {owner} keeps it");
                    }
                    continue;
                }
                owners.insert(&spec.name, file);
                walkers.insert(spec.name.clone(), Walker { component: entry.component.clone(), index });
            }
        }
        let mut custom_paths: Vec<Walker> =
            walkers.values().filter(|walker| walker.spec().path.is_some()).cloned().collect();
        custom_paths.sort_by(|a, b| a.spec().name.cmp(&b.spec().name));
        Snapshot { files, walkers, custom_paths }
    }
}

impl Catalog {
    pub fn new(runtime: Arc<Runtime>, graph: Arc<dyn Graph>) -> Self {
        Catalog {
            runtime,
            env: Environment { graph, vars: Arc::default(), share: Arc::default() },
            tenant: Arc::from(walker_core::DEFAULT_TENANT),
            code_cache: None,
            jac: None,
            run_quota: None,
            current: ArcSwap::from_pointee(Snapshot::default()),
            updates: Mutex::new(0),
            generation: watch::Sender::new(0),
            failed_loads: AtomicU64::new(0),
            metrics: WalkerMetrics::default(),
            progress: Default::default(),
        }
    }

    fn progress(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn readiness(&self) -> Readiness {
        let progress = self.progress();
        Readiness {
            ready: progress.started && progress.loading.is_empty(),
            loaded: self.current.load().files.keys().cloned().collect(),
            loading: progress.loading.iter().cloned().collect(),
            failed: progress.failed.keys().cloned().collect(),
            errors: progress.failed.clone(),
        }
    }

    /// Serves `tenant` (named in its logs).
    pub fn with_tenant(mut self, tenant: &str) -> Self {
        self.tenant = Arc::from(tenant);
        self
    }

    /// Compiles and caches its walkers in `cache` instead of the runtime's shared one.
    pub fn with_code_cache(mut self, cache: Arc<CodeCache>) -> Self {
        self.code_cache = Some(cache);
        self
    }

    /// Builds `.jac` files with `builder`.
    pub fn with_jac_builder(mut self, builder: Arc<JacBuilder>) -> Self {
        self.jac = Some(builder);
        self
    }

    /// Admits its runs through `quota` first.
    pub fn with_run_quota(mut self, quota: RunQuota) -> Self {
        self.run_quota = Some(quota);
        self
    }

    /// Its runs share the cores as `share` (one per tenant).
    pub fn with_share(mut self, share: Share) -> Self {
        self.env.share = Arc::new(share);
        self
    }

    /// Its walkers read `vars` through the `config` import, each the names it declares.
    pub fn with_vars(mut self, vars: Vars) -> Self {
        self.env.vars = Arc::new(vars);
        self
    }

    /// What its runs see of their tenant: its graph and its variables.
    pub fn env(&self) -> &Environment {
        &self.env
    }

    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    pub fn walker(&self, name: &str) -> Option<Walker> {
        self.current.load().walker(name).cloned()
    }

    /// How many loads have failed since start.
    pub fn failed_loads(&self) -> u64 {
        self.failed_loads.load(Ordering::Relaxed)
    }

    /// Notified after every change to the catalog, and after every load, failed or not.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }

    /// The walker files of `dir`, in name order, marked as loading: readiness lists them
    /// from this moment, before `load_files` starts on them.
    pub fn list_dir(&self, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .with_context(|| format!("reading the walkers directory {}", dir.display()))?
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| is_walker_file(path))
            .collect();
        files.sort();
        let mut progress = self.progress();
        progress.loading.extend(files.iter().filter_map(|path| file_name(path).map(str::to_string)));
        progress.started = true;
        Ok(files)
    }

    /// Loads the files `list_dir` listed, several at once (one per core): each is served
    /// as soon as it is ready. They are installed in name order whatever order
    /// they finish in, so a walker name two files define goes to the same one every time.
    pub async fn load_files(&self, files: Vec<PathBuf>) {
        let parallel = std::thread::available_parallelism().map_or(1, |cores| cores.get());
        let mut compiled = futures_util::stream::iter(files)
            .map(|path| async move {
                let started = std::time::Instant::now();
                let compiled = async { self.compile(self.read(&path).await?).await }.await;
                (path, started, compiled)
            })
            .buffered(parallel);
        while let Some((path, started, compiled)) = compiled.next().await {
            let loaded = match compiled {
                Ok(compiled) => self.install(compiled).await,
                Err(err) => Err(err),
            };
            self.finish_load(&path, started, loaded);
        }
    }

    /// Loads (or reloads) one file; on failure the previous version keeps serving.
    pub async fn load_file_logged(&self, path: &Path) {
        if let Some(name) = file_name(path) {
            self.progress().loading.insert(name.to_string());
        }
        let started = std::time::Instant::now();
        let loaded = self.load_file(path).await;
        self.finish_load(path, started, loaded);
    }

    /// Records how a load ended: metrics, readiness, and the log for a failure.
    fn finish_load(&self, path: &Path, started: std::time::Instant, loaded: anyhow::Result<()>) {
        self.metrics.load_seconds.observe(started.elapsed().as_secs_f64());
        self.metrics.loads.with_label_values(&[if loaded.is_ok() { "loaded" } else { "failed" }]).inc();
        if let Some(name) = file_name(path) {
            let mut progress = self.progress();
            progress.loading.remove(name);
            match &loaded {
                Ok(()) => progress.failed.remove(name),
                Err(err) => progress.failed.insert(name.to_string(), bounded(format!("{err:#}"), MAX_FAILURE_BYTES)),
            };
        }
        if let Err(err) = loaded {
            tracing::error!(file = %path.display(), "not loaded, previous version (if any) keeps serving: {err:#}");
            self.failed_loads.fetch_add(1, Ordering::Relaxed);
        }
        self.generation.send_modify(|generation| *generation += 1);
    }

    pub async fn load_file(&self, path: &Path) -> anyhow::Result<()> {
        let file = self.read(path).await?;
        if self.current.load().files.get(&file.name).is_some_and(|entry| entry.digest == file.digest) {
            tracing::debug!(file = file.name, "unchanged: not reloaded");
            return Ok(());
        }
        self.install(self.compile(file).await?).await
    }

    /// Reads one walker file, off the async workers; a `.jac` file's component is its
    /// build.
    async fn read(&self, path: &Path) -> anyhow::Result<WalkerFile> {
        let name = file_name(path).context("not a walker file")?.to_string();
        let is_jac = name.ends_with(".jac");
        let max = if is_jac { jac::MAX_SOURCE_BYTES } else { self.runtime.limits().file_bytes };
        let path = path.to_path_buf();
        let bytes = tokio::task::spawn_blocking(move || read_walker_file(&path, max)).await.context("reading")??;
        let wasm = match (is_jac, &self.jac) {
            (false, _) => bytes,
            (true, Some(builder)) => builder.build(&name, &bytes).await?,
            (true, None) => anyhow::bail!("this server builds no .jac files"),
        };
        let hash = move || (crate::cache::digest(&wasm), wasm);
        let (digest, wasm) = tokio::task::spawn_blocking(hash).await.context("hashing")?;
        Ok(WalkerFile { name, wasm, digest })
    }

    /// Compiles (or loads from the code cache) one walker file.
    async fn compile(&self, file: WalkerFile) -> anyhow::Result<Compiled> {
        let WalkerFile { name, wasm, digest } = file;
        let started = std::time::Instant::now();
        let loaded = self.runtime.load_with(wasm, Some(digest), self.code_cache.as_ref()).await;
        let component = loaded.map_err(|err| anyhow::anyhow!("{err:#}"))?;
        let walkers: Vec<&str> = component.walkers.iter().map(|w| w.name.as_str()).collect();
        tracing::info!(
            file = name,
            origin = ?component.origin,
            ms = started.elapsed().as_millis() as u64,
            "loaded walkers {}",
            walkers.join(", ")
        );
        Ok(Compiled { name, digest, component })
    }

    /// Serves a loaded file's walkers, replacing its previous version.
    async fn install(&self, compiled: Compiled) -> anyhow::Result<()> {
        let Compiled { name, digest, component } = compiled;
        let name = name.as_str();
        let mut next_order = self.updates.lock().await;
        let current = self.current.load();
        let load_order = current.files.get(name).map(|entry| entry.load_order).unwrap_or_else(|| {
            *next_order += 1;
            *next_order
        });
        let mut files = current.files.clone();
        files.insert(name.to_string(), Arc::new(FileEntry { load_order, component: Arc::new(component), digest }));
        self.swap(Snapshot::with_files(files, Some(name)));
        Ok(())
    }

    /// Forgets a deleted file's walkers.
    pub async fn remove_file(&self, path: &Path) {
        let Some(name) = file_name(path) else { return };
        let _guard = self.updates.lock().await;
        let current = self.current.load();
        if !current.files.contains_key(name) {
            return;
        }
        let mut files = current.files.clone();
        files.remove(name);
        self.swap(Snapshot::with_files(files, Some(name)));
        tracing::info!(file = name, "unloaded");
    }

    fn swap(&self, snapshot: Snapshot) {
        self.current.store(Arc::new(snapshot));
        self.generation.send_modify(|generation| *generation += 1);
    }

    /// Validates `input` against the walker's fields and runs it on `entry` (a node
    /// the caller may read, checked by the caller; its root when `None`), as `call`.
    pub async fn call(
        &self,
        walker: &Walker,
        call: Invocation<'_>,
        input: &Map<String, Value>,
        notifier: Arc<dyn Notifier>,
        entry: Option<&str>,
    ) -> Result<Reply, CallError> {
        let spec = walker.spec();
        let runs = |outcome: &str| self.metrics.runs.with_label_values(&[spec.name.as_str(), outcome]).inc();
        let context = match spec.validate(input) {
            Ok(context) => Value::Object(context).to_string(),
            Err(errors) => {
                runs("invalid");
                return Err(CallError::Invalid(errors));
            }
        };
        let _admitted = match &self.run_quota {
            Some(quota) => Some(quota.admit().await.map_err(|kind| {
                let refused = RunError::new(&spec.name, kind);
                runs(refused.kind_name());
                CallError::Run(refused)
            })?),
            None => None,
        };
        let started = std::time::Instant::now();
        let result = self.runtime.run(&walker.component, spec, call, &context, notifier, &self.env, entry).await;
        self.metrics.run_seconds.with_label_values(&[spec.name.as_str()]).observe(started.elapsed().as_secs_f64());
        if let Some(errors) = result.as_ref().ok().and_then(Reply::refused_input) {
            runs("invalid");
            return Err(CallError::Invalid(errors));
        }
        runs(result.as_ref().map_or_else(RunError::kind_name, |_| "ok"));
        if let Err(err) = &result {
            // Once per failed run, without its input or output, which are the caller's.
            tracing::info!(tenant = %self.tenant, walker = spec.name, error = err.kind_name(), "run failed");
        }
        result.map_err(CallError::Run)
    }

    /// Admits a read of the tenant's graph that the server makes for a client
    /// (`/util/traverse`) as it admits a walker run: within the tenant's run quota (its
    /// rate, and one of its places, held with the admission) and only while its CPU
    /// budget is not spent. It holds no instance: it runs no walker.
    pub async fn admit_read(&self) -> Result<ReadAdmission, RunErrorKind> {
        if let Some(debt) = self.env.share.debt() {
            return Err(RunErrorKind::CpuQuota(debt));
        }
        let place = match &self.run_quota {
            Some(quota) => Some(quota.admit().await?),
            None => None,
        };
        Ok(ReadAdmission { _place: place, share: self.env.share.clone() })
    }

    /// Counters of runs and loads, for `/metrics`.
    pub fn metrics(&self) -> &WalkerMetrics {
        &self.metrics
    }
}

/// A read admitted by `Catalog::admit_read`.
pub struct ReadAdmission {
    /// One of the tenant's places to run in, when it has a run quota.
    _place: Option<tokio::sync::OwnedSemaphorePermit>,
    share: Arc<Share>,
}

impl ReadAdmission {
    /// Runs `read`, charging the time spent polling it (the host's own work, as a run's
    /// CPU time is charged) to the tenant, also when it is dropped before it ends.
    pub async fn charged<F: std::future::Future>(&self, read: F) -> F::Output {
        struct Meter<'a> {
            share: &'a Share,
            used: Duration,
        }
        impl Drop for Meter<'_> {
            fn drop(&mut self) {
                self.share.charge_cpu(self.used);
            }
        }
        let mut meter = Meter { share: &self.share, used: Duration::ZERO };
        let mut read = std::pin::pin!(read);
        std::future::poll_fn(|cx| {
            let started = std::time::Instant::now();
            let poll = read.as_mut().poll(cx);
            meter.used += started.elapsed();
            poll
        })
        .await
    }
}

/// A walker file's bytes, if it is a regular file of at most `max` bytes. Whoever writes
/// the walkers directory (a tenant) controls what is there: a symbolic link could load
/// another tenant's walkers or read `/dev/zero` without end, and a FIFO would block the
/// read forever. The file is opened without following a link and without blocking, and
/// checked on the opened handle, so it cannot be swapped between the check and the read.
fn read_walker_file(path: &Path, max: usize) -> anyhow::Result<Vec<u8>> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let file =
        std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(path).map_err(
            |err| match err.raw_os_error() {
                Some(libc::ELOOP) => anyhow::anyhow!("a symbolic link, which walker files may not be"),
                _ => anyhow::Error::new(err).context("opening"),
            },
        )?;
    let metadata = file.metadata().context("reading its metadata")?;
    anyhow::ensure!(metadata.is_file(), "not a regular file");
    let too_large = || anyhow::anyhow!("larger than the limit of {} MiB per walker file", max >> 20);
    anyhow::ensure!(metadata.len() <= max as u64, too_large());
    let mut wasm = Vec::with_capacity(metadata.len() as usize);
    // `take`: a file that grows after the check is still read only up to the limit.
    file.take(max as u64 + 1).read_to_end(&mut wasm).context("reading")?;
    anyhow::ensure!(wasm.len() <= max, too_large());
    Ok(wasm)
}

/// `*.wasm` or `*.jac`, not hidden: editors' and deployers' temporary files are never
/// loaded.
pub fn is_walker_file(path: &Path) -> bool {
    file_name(path).is_some()
}

fn file_name(path: &Path) -> Option<&str> {
    let name = path.file_name()?.to_str()?;
    ((name.ends_with(".wasm") || name.ends_with(".jac")) && !name.starts_with('.')).then_some(name)
}

/// `text` cut to at most `max` bytes, on a character boundary.
fn bounded(mut text: String, max: usize) -> String {
    if text.len() > max {
        let cut = (0..=max).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
        text.truncate(cut);
    }
    text
}
