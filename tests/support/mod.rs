//! Shared helpers for tests: built walker files, a runtime on a temporary cache, and a
//! notifier that records what walkers send.

#![allow(dead_code)]

pub mod browser;
pub mod postgres;
pub mod redis;
pub mod server;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use walker_host::catalog::{CallError, Catalog};
use walker_host::runtime::{Caller, Invocation, Limits, Notifier, Reply, ReplyBody, Runtime, Target, Transport};

/// Each named test (an `async fn(Backend)`), once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                super::$test($crate::support::server::Backend::sqlite()).await
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                super::$test($crate::support::server::Backend::postgres().await).await
            })*
        }
    };
}

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(1).unwrap().to_path_buf()
}

/// A walker built by `scripts/build-walkers.sh`, which must be newer than every source
/// it may be built from: a stale build would test old code silently.
fn built(path: PathBuf, sources: &[&str]) -> PathBuf {
    let fix = "run ./scripts/test.sh, or scripts/build-walkers.sh --with-tests";
    let built_at = std::fs::metadata(&path)
        .and_then(|meta| meta.modified())
        .unwrap_or_else(|_| panic!("{} is missing: {fix}", path.display()));
    for source in ["wit"].iter().chain(sources) {
        if let Some(newer) = newer_file(&repo().join(source), built_at) {
            panic!("{} is older than {}: {fix}", path.display(), newer.display());
        }
    }
    path
}

/// A source file under `dir` modified after `time` (dependencies excluded).
fn newer_file(dir: &Path, time: std::time::SystemTime) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            if !["node_modules", "__pycache__"].contains(&entry.file_name().to_str().unwrap_or_default())
                && let Some(newer) = newer_file(&path, time)
            {
                return Some(newer);
            }
        } else if meta.modified().is_ok_and(|modified| modified > time) && path.extension().is_none_or(|e| e != "wasm")
        {
            return Some(path);
        }
    }
    None
}

pub fn chat_wasm() -> PathBuf {
    built(repo().join("walkers/chat.wasm"), &["walker-sdk/src", "walker-sdk-derive/src", "walkers/examples/src"])
}

/// An example component of another language: `python-chat.wasm`, `js-chat.wasm`, `c-chat.wasm`.
pub fn example_wasm(name: &str) -> PathBuf {
    let language = name.split('-').next().unwrap_or_default();
    built(repo().join("walkers").join(name), &[&format!("walkers/{language}")])
}

/// A test walker; `python-chat-v2.wasm` is built from the Python example.
pub fn fixture(name: &str) -> PathBuf {
    let sources: &[&str] = if name.starts_with("python") {
        &["walkers/python"]
    } else if name.starts_with("jac-") {
        &["walkers/jac", "tests/walkers/jac"]
    } else {
        &["walker-sdk/src", "walker-sdk-derive/src", "tests/walkers"]
    };
    built(repo().join("target/test-walkers").join(name), sources)
}

/// Tight limits so hostile walkers are stopped quickly.
pub fn test_limits() -> Limits {
    Limits {
        memory_bytes: 32 << 20,
        run_time: Duration::from_millis(300),
        notifications: 100,
        instances: 64,
        ..Limits::default()
    }
}

pub fn runtime_with_cache(cache: &Path) -> Arc<Runtime> {
    runtime_with_limits(test_limits(), cache)
}

/// A runtime with `limits`, its compiled code in `dir`.
pub fn runtime_with_limits(limits: Limits, dir: &Path) -> Arc<Runtime> {
    Arc::new(Runtime::new(limits, dir.to_path_buf()).unwrap())
}

/// A catalog on `runtime`, its graph in `dir`.
pub fn catalog(runtime: Arc<Runtime>, dir: &Path) -> Catalog {
    Catalog::new(runtime, walker_host::graph::GraphService::open_sqlite(dir).unwrap())
}

pub fn new_runtime() -> (Arc<Runtime>, tempfile::TempDir) {
    let cache = tempfile::tempdir().unwrap();
    (runtime_with_cache(cache.path()), cache)
}

pub fn public_caller(client_id: Option<&str>) -> Caller {
    Caller {
        client_id: client_id.map(str::to_string),
        root_id: "n::000000000000000000000001".into(),
        channel_id: client_id.map(|_| "channel".to_string()),
        authenticated: false,
        transport: if client_id.is_some() { Transport::Websocket } else { Transport::Http },
    }
}

/// A notification as sent: target kind, ids, payload.
pub type Sent = (String, Vec<String>, Value);

/// Records notifications in order.
#[derive(Default)]
pub struct Recorder(Mutex<Vec<Sent>>);

impl Notifier for Recorder {
    fn notify(&self, target: Target<'_>, payload: String) {
        let caller;
        let (kind, ids) = match target {
            Target::Caller(id) => {
                caller = [id.to_string()];
                ("clients", &caller[..])
            }
            Target::Clients(ids) => ("clients", ids),
            Target::Users(ids) => ("users", ids),
            Target::Channels(ids) => ("channels", ids),
        };
        let payload = serde_json::from_str(&payload).expect("payloads are JSON");
        self.0.lock().unwrap().push((kind.to_string(), ids.to_vec(), payload));
    }
}

/// Why `run_json` got no reply.
#[derive(Debug)]
pub enum RunFailure {
    UnknownWalker,
    Call(CallError),
}

/// Calls walker `name` with `input`; the reply and the notifications it sent.
pub async fn run_json(
    catalog: &Catalog,
    name: &str,
    caller: &Caller,
    input: Value,
) -> Result<(Reply, Vec<Sent>), RunFailure> {
    let recorder = Arc::new(Recorder::default());
    let Value::Object(input) = input else { panic!("input must be an object") };
    let walker = catalog.walker(name).ok_or(RunFailure::UnknownWalker)?;
    let reply = catalog
        .call(&walker, Invocation::of(caller), &input, recorder.clone(), None)
        .await
        .map_err(RunFailure::Call)?;
    let sent = std::mem::take(&mut *recorder.0.lock().unwrap());
    Ok((reply, sent))
}

pub fn reports(reply: &Reply) -> Vec<Value> {
    match &reply.body {
        ReplyBody::Reports(reports) => reports.iter().map(|r| serde_json::from_str(r.get()).unwrap()).collect(),
        ReplyBody::Custom(custom) => panic!("unexpected custom report {custom}"),
        ReplyBody::Raw(raw) => panic!("unexpected body {raw:?}"),
    }
}

/// The `version` test walker's answer, or `None` when it is not loaded.
pub async fn version(catalog: &Catalog, caller: &Caller) -> Option<u64> {
    match run_json(catalog, "version", caller, json!({})).await {
        Ok((reply, _)) => reports(&reply)[0].as_u64(),
        Err(RunFailure::UnknownWalker) => None,
        Err(err) => panic!("version failed: {err:?}"),
    }
}

/// Deploys by rename, as the README recommends.
pub fn deploy(source: &Path, destination: &Path) {
    deploy_bytes(&std::fs::read(source).unwrap(), destination);
}

pub fn deploy_bytes(bytes: &[u8], destination: &Path) {
    let tmp = destination.with_file_name(format!(".{}.tmp", destination.file_name().unwrap().to_str().unwrap()));
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, destination).unwrap();
}

/// Waits for `condition`, re-checking after each catalog change; fails after 20 s.
pub async fn wait_until<F, Fut>(catalog: &Catalog, condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    wait_until_within(catalog, Duration::from_secs(20), condition).await
}

/// Waits for `condition`, polling, for at most `limit`.
pub async fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    eventually_async(limit, || std::future::ready(condition())).await
}

/// `eventually`, for a condition that must wait to be known (a request, a connection).
pub async fn eventually_async<F: std::future::Future<Output = bool>>(
    limit: Duration,
    mut condition: impl FnMut() -> F,
) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while !condition().await {
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    true
}

/// `wait_until` with another limit: compiling a Python or JavaScript walker takes seconds.
pub async fn wait_until_within<F, Fut>(catalog: &Catalog, limit: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let mut changes = catalog.subscribe();
    let deadline = tokio::time::Instant::now() + limit;
    while !condition().await {
        let wait = tokio::time::timeout_at(deadline, changes.changed()).await;
        assert!(wait.is_ok(), "condition not reached in time");
    }
}

/// The value of one sample, `name{labels}` as exposed, in a Prometheus `/metrics` text.
pub fn metric(text: &str, sample: &str) -> f64 {
    let line = text.lines().find(|line| line.strip_prefix(sample).is_some_and(|rest| rest.starts_with(' ')));
    let value = line.and_then(|line| line.rsplit(' ').next()).and_then(|value| value.parse().ok());
    value.unwrap_or_else(|| panic!("no sample {sample} in:\n{text}"))
}
