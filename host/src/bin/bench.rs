//! Runtime benchmark: compile time, cached load time and per-run cost (fresh Store and
//! instance, call, drop) of the example walkers. Prints figures; asserts nothing.
//!
//! `cargo run --release --bin bench -- [--runs N] [walkers/chat.wasm]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use walker_host::catalog::Catalog;
use walker_host::runtime::{Caller, Limits, Nobody, Runtime, Transport};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut runs = 20_000;
    let mut wasm = "walkers/chat.wasm".to_string();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => runs = args.next().and_then(|n| n.parse().ok()).unwrap_or(runs),
            path => wasm = path.to_string(),
        }
    }
    let bytes = std::fs::read(&wasm)?;
    let cache = tempfile::tempdir()?;
    println!("{wasm}: {} KiB, {runs} runs per walker", bytes.len() >> 10);

    let runtime =
        Arc::new(Runtime::new(Limits::default(), cache.path().to_path_buf()).map_err(|e| anyhow::anyhow!("{e:#}"))?);
    let started = Instant::now();
    runtime.load(bytes.clone()).await.map_err(|e| anyhow::anyhow!("{e:#}"))?;
    println!("compile (and check)         {:>10.1} ms", ms(started.elapsed()));
    drop(runtime);

    let runtime =
        Arc::new(Runtime::new(Limits::default(), cache.path().to_path_buf()).map_err(|e| anyhow::anyhow!("{e:#}"))?);
    let started = Instant::now();
    runtime.load(bytes).await.map_err(|e| anyhow::anyhow!("{e:#}"))?;
    println!("cached load (and check)     {:>10.1} ms", ms(started.elapsed()));

    let catalog = Catalog::new(runtime);
    catalog.load_file(std::path::Path::new(&wasm)).await?;
    let caller = Caller {
        client_id: None,
        root_id: "n::000000000000000000000001".into(),
        channel_id: None,
        authenticated: false,
        transport: Transport::Http,
    };
    for (walker, input) in [("no_specs_default", json!({})), ("public_event", json!({"val": 7}))] {
        let Value::Object(input): Value = input else { unreachable!() };
        let mut samples = time_runs(&catalog, walker, &caller, &input, runs).await?;
        samples.sort();
        let pct = |p: f64| samples[((samples.len() - 1) as f64 * p) as usize];
        println!(
            "run {walker:<22}  p50 {:>7.1} µs  p90 {:>7.1} µs  p99 {:>7.1} µs",
            us(pct(0.5)),
            us(pct(0.9)),
            us(pct(0.99))
        );
    }
    Ok(())
}

async fn time_runs(
    catalog: &Catalog,
    walker: &str,
    caller: &Caller,
    input: &Map<String, Value>,
    runs: usize,
) -> anyhow::Result<Vec<Duration>> {
    let walker = catalog.walker(walker).expect("walker loaded");
    let nobody = Arc::new(Nobody);
    for _ in 0..runs / 10 {
        catalog.call(&walker, caller, input, nobody.clone()).await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
    }
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        catalog.call(&walker, caller, input, nobody.clone()).await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
        samples.push(started.elapsed());
    }
    Ok(samples)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
