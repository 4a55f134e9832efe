//! Hot swaps under load: `connections` connections call `walker` in a closed loop while
//! the component that exports it is replaced `swaps` times, alternating two versions
//! (written beside it, then renamed over it, as a deployer would). Every call must
//! succeed, whichever version answers it.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use super::{RoundTrip, round_trip};
use crate::Target;
use crate::stats::Outcome;

/// Time between swaps: reloads overlap calls, not each other.
const SWAP_EVERY: Duration = Duration::from_millis(50);

pub async fn run(
    target: &Target,
    walkers_dir: &Path,
    versions: [&Path; 2],
    walker: &str,
    swaps: usize,
    connections: usize,
) -> anyhow::Result<Outcome> {
    let versions = [tokio::fs::read(versions[0]).await?, tokio::fs::read(versions[1]).await?];
    let file = walkers_dir.join(format!("loadgen-swap-{}.wasm", std::process::id()));
    let temporary = walkers_dir.join(format!(".loadgen-swap-{}.tmp", std::process::id()));
    tokio::fs::write(&file, &versions[0]).await?;
    let sockets = super::open_many(&target.ws, connections, 64).await?;
    // Calls start once the first version answers.
    let http = reqwest::Client::new();
    let url = format!("{}/walker/{walker}", target.base);
    let ready = Instant::now() + target.max;
    while http.post(&url).json(&json!({})).send().await.map_or(true, |r| !r.status().is_success()) {
        anyhow::ensure!(Instant::now() < ready, "walker {walker} never became callable");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let done = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let tasks: Vec<_> = sockets
        .into_iter()
        .map(|(mut socket, _)| {
            let (done, walker) = (done.clone(), walker.to_string());
            tokio::spawn(async move {
                let (mut latencies, mut errors) = (Vec::new(), 0u64);
                let event = json!({"type": "walker", "walker": walker, "context": {}, "response": true});
                while !done.load(Ordering::Relaxed) {
                    match round_trip(&mut socket, &event).await {
                        RoundTrip::Answered(micros) => latencies.push(micros),
                        RoundTrip::Failed => errors += 1,
                        RoundTrip::Closed => {
                            errors += 1;
                            break;
                        }
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    for swap in 1..=swaps {
        tokio::time::sleep(SWAP_EVERY).await;
        tokio::fs::write(&temporary, &versions[swap % 2]).await?;
        tokio::fs::rename(&temporary, &file).await?;
    }
    tokio::time::sleep(SWAP_EVERY).await;
    done.store(true, Ordering::Relaxed);
    let mut outcome = super::gather(format!("hot-swap x{connections}"), started, tasks).await?;
    outcome.notes = format!("{swaps} swaps; errors = failed calls");
    tokio::fs::remove_file(&file).await?;
    Ok(outcome)
}
