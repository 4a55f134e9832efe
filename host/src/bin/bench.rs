//! Runtime benchmark: for the example walkers of each language, compile time, cached load
//! time, and per-run cost with a fresh instance per run (Store + instance + call + drop)
//! and with a reused warm instance. Prints figures; asserts nothing.
//!
//! `cargo run --release --bin bench -- [--runs N]` (after `scripts/build-walkers.sh`)

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use serde_json::{Map, Value, json};
use walker_host::catalog::Catalog;
use walker_host::runtime::{Caller, Invocation, Limits, Nobody, Runtime, Transport, WalkerSpec};

/// (language, component in walkers/, walker, fresh runs relative to `--runs`)
const EXAMPLES: [(&str, &str, &str, usize); 4] = [
    ("Rust", "chat.wasm", "report_context", 1),
    ("C", "c-chat.wasm", "c_report_context", 1),
    ("Python", "python-chat.wasm", "py_report_context", 40),
    ("JavaScript", "js-chat.wasm", "js_report_context", 40),
];

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut runs = 20_000;
    while let Some(arg) = args.next() {
        if arg == "--runs" {
            runs = args.next().and_then(|n| n.parse().ok()).unwrap_or(runs);
        }
    }
    println!("| language | .wasm | compile | cached load | fresh instance p50 / p99 | warm instance p50 / p99 |");
    println!("|---|---|---|---|---|---|");
    for (language, file, walker, divisor) in EXAMPLES {
        let path = Path::new("walkers").join(file);
        if !path.exists() {
            println!("| {language} | {} missing: run scripts/build-walkers.sh | | | | |", path.display());
            continue;
        }
        bench(language, &path, walker, (runs / divisor).max(100)).await?;
    }
    Ok(())
}

async fn bench(language: &str, path: &Path, walker: &str, runs: usize) -> anyhow::Result<()> {
    let wasm = std::fs::read(path)?;
    let cache = tempfile::tempdir()?;
    let graph = walker_host::graph::GraphService::open_sqlite(cache.path())?;
    let new_runtime = || Runtime::new(Limits::default(), cache.path().to_path_buf()).map(Arc::new);
    let runtime = new_runtime().map_err(|e| anyhow!("{e:#}"))?;
    let started = Instant::now();
    runtime.load(wasm.clone()).await.map_err(|e| anyhow!("{e:#}"))?;
    let compile = started.elapsed();
    drop(runtime);

    let runtime = new_runtime().map_err(|e| anyhow!("{e:#}"))?;
    let started = Instant::now();
    runtime.load(wasm.clone()).await.map_err(|e| anyhow!("{e:#}"))?;
    let cached = started.elapsed();

    let catalog = Catalog::new(runtime, graph);
    catalog.load_file(path).await?;
    let found = catalog.walker(walker).ok_or_else(|| anyhow!("{walker} is not in {}", path.display()))?;
    let input = json!({"name": "bench", "count": 3});
    let Value::Object(input) = input else { unreachable!() };
    let fresh = time_runs(&catalog, &found, &input, runs, 0).await?;
    let warm = time_runs(&catalog, &found, &input, runs, u32::MAX).await?;
    println!(
        "| {language} | {} KiB | {:.0} ms | {:.1} ms | {} | {} |",
        wasm.len() >> 10,
        ms(compile),
        ms(cached),
        fresh,
        warm
    );
    Ok(())
}

/// Median and 99th percentile of `runs` calls, with `warm_runs` instance reuse.
async fn time_runs(
    catalog: &Catalog,
    walker: &walker_host::catalog::Walker,
    input: &Map<String, Value>,
    runs: usize,
    warm_runs: u32,
) -> anyhow::Result<String> {
    // One connection's calls: an anonymous caller's instance is reused only on its own connection.
    let caller = Caller {
        client_id: Some("bench".into()),
        root_id: "n::000000000000000000000001".into(),
        channel_id: None,
        authenticated: false,
        transport: Transport::Websocket,
    };
    // The same walker, with instance reuse set for the measurement.
    let spec = WalkerSpec { warm_runs, ..walker.spec().clone() };
    let context = Value::Object(spec.validate(input).map_err(|e| anyhow!("{e:?}"))?).to_string();
    let nobody = Arc::new(Nobody);
    let mut samples = Vec::with_capacity(runs);
    for i in 0..runs + runs / 10 {
        let started = Instant::now();
        catalog
            .runtime()
            .run(walker.component(), &spec, Invocation::of(&caller), &context, nobody.clone(), catalog.env(), None)
            .await?;
        if i >= runs / 10 {
            samples.push(started.elapsed());
        }
    }
    samples.sort();
    let pct = |p: f64| samples[((samples.len() - 1) as f64 * p) as usize];
    Ok(format!("{:.1} / {:.1} µs", us(pct(0.5)), us(pct(0.99))))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
