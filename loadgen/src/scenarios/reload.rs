//! Hot reload: time from a component renamed into the walkers directory to the first
//! successful call of its walker; then it is removed and its absence awaited.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::Target;
use crate::stats::Outcome;

const POLL: Duration = Duration::from_millis(1);

pub async fn run(
    target: &Target,
    walkers_dir: &Path,
    wasm: &Path,
    walker: &str,
    rounds: usize,
) -> anyhow::Result<Outcome> {
    let http = reqwest::Client::new();
    let url = format!("{}/walker/{walker}", target.base);
    let status = |http: reqwest::Client, url: String| async move {
        http.post(&url).json(&serde_json::json!({})).send().await.map(|r| r.status().as_u16()).unwrap_or(0)
    };
    anyhow::ensure!(status(http.clone(), url.clone()).await == 404, "walker {walker} is already loaded");
    let bytes = tokio::fs::read(wasm).await?;
    let mut outcome = Outcome { scenario: "reload".into(), ..Outcome::default() };
    let started = Instant::now();
    for round in 0..rounds {
        let name = format!("loadgen-reload-{}-{round}.wasm", std::process::id());
        let (tmp, file) = (walkers_dir.join(format!(".{name}.tmp")), walkers_dir.join(&name));
        tokio::fs::write(&tmp, &bytes).await?;
        let deadline = Instant::now() + target.max;
        let renamed = Instant::now();
        tokio::fs::rename(&tmp, &file).await?;
        while status(http.clone(), url.clone()).await != 200 {
            anyhow::ensure!(Instant::now() < deadline, "the walker never became callable");
            tokio::time::sleep(POLL).await;
        }
        outcome.latencies_us.push(renamed.elapsed().as_micros() as u64);
        outcome.ops += 1;
        tokio::fs::remove_file(&file).await?;
        while status(http.clone(), url.clone()).await != 404 {
            anyhow::ensure!(Instant::now() < deadline, "the walker never went away");
            tokio::time::sleep(POLL).await;
        }
    }
    outcome.elapsed = started.elapsed();
    outcome.notes = format!(
        "first (compiled) {:.0} ms; latency = rename → first call",
        outcome.latencies_us.first().copied().unwrap_or(0) as f64 / 1000.0
    );
    Ok(outcome)
}
