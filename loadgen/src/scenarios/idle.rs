//! Idle connections: the server's RSS growth per open, idle WebSocket.

use std::time::{Duration, Instant};

use crate::Target;
use crate::stats::{Outcome, rss_kib};

const PARALLEL_CONNECTS: usize = 256;
/// Time for the server to settle once every connection is open.
const SETTLE: Duration = Duration::from_secs(2);

pub async fn run(target: &Target, connections: usize) -> anyhow::Result<Outcome> {
    let pid = target.server_pid.ok_or_else(|| anyhow::anyhow!("idle needs --server-pid"))?;
    let before = rss_kib(pid).ok_or_else(|| anyhow::anyhow!("cannot read the server's RSS"))?;
    let started = Instant::now();
    let sockets = tokio::time::timeout(target.max, super::open_many(&target.ws, connections, PARALLEL_CONNECTS))
        .await
        .map_err(|_| anyhow::anyhow!("opening {connections} connections took longer than --max-secs"))??;
    let elapsed = started.elapsed();
    tokio::time::sleep(SETTLE).await;
    let after = rss_kib(pid).ok_or_else(|| anyhow::anyhow!("cannot read the server's RSS"))?;
    let per_connection = (after.saturating_sub(before)) as f64 * 1024.0 / connections as f64;
    drop(sockets);
    Ok(Outcome {
        scenario: "idle".into(),
        ops: connections as u64,
        elapsed,
        rss_per_connection_kb: Some(per_connection / 1000.0),
        notes: format!(
            "{connections} connections: {:.1} KB RSS each ({} → {} MiB)",
            per_connection / 1000.0,
            before / 1024,
            after / 1024
        ),
        ..Outcome::default()
    })
}
