//! The scenarios, each bounded in count and in time.

mod attacks;
mod fanout;
mod graph;
mod hot_swap;
mod idle;
mod reload;
mod rest;
mod walker_rtt;

use crate::stats::Outcome;
use crate::{Scenario, Target};

pub async fn run(target: &Target, scenario: &Scenario) -> anyhow::Result<Outcome> {
    match scenario {
        Scenario::WalkerRtt { connections, requests, walker, context } => {
            let context = context.as_deref().map(serde_json::from_str).transpose()?;
            walker_rtt::run(target, *connections, *requests, walker, context).await
        }
        Scenario::Fanout { subscribers, messages, via, window, peer, rate } => {
            let pace = fanout::Pace { window: *window, rate: *rate };
            fanout::run(target, *subscribers, *messages, via, pace, peer.as_deref()).await
        }
        Scenario::Idle { connections } => idle::run(target, *connections).await,
        Scenario::Reload { walkers_dir, wasm, walker, rounds } => {
            reload::run(target, walkers_dir, wasm, walker, *rounds).await
        }
        Scenario::Rest { connections, requests, walker } => rest::run(target, *connections, *requests, walker).await,
        Scenario::Graph { op, via, connections, requests, items } => {
            graph::run(target, op, via, *connections, *requests, *items).await
        }
        Scenario::LoginFlood { connections } => attacks::login_flood(target, *connections).await,
        Scenario::EventFlood => attacks::event_flood(target).await,
        Scenario::HotSwap { walkers_dir, versions, walker, swaps, connections } => {
            let versions = [versions[0].as_path(), versions[1].as_path()];
            hot_swap::run(target, walkers_dir, versions, walker, *swaps, *connections).await
        }
    }
}

/// Opens `count` connections, at most `parallel` handshakes at a time, and reads each
/// one's connection frame. Returns the sockets and their frames.
pub async fn open_many(
    url: &str,
    count: usize,
    parallel: usize,
) -> anyhow::Result<Vec<(crate::client::Socket, serde_json::Value)>> {
    use futures_util::stream::{self, StreamExt, TryStreamExt};
    stream::iter(0..count)
        .map(|index| async move {
            let mut socket = crate::client::connect(url, index).await?;
            let hello = crate::client::next_json(&mut socket)
                .await
                .ok_or_else(|| anyhow::anyhow!("connection {index} closed before its connection frame"))?;
            anyhow::Ok((socket, hello))
        })
        .buffered(parallel)
        .try_collect()
        .await
}

/// How one closed-loop call went.
pub enum RoundTrip {
    /// Answered with status 200 (or a connection frame), after this many µs.
    Answered(u64),
    /// Answered with an error.
    Failed,
    /// The connection ended: the loop must stop.
    Closed,
}

/// Sends `event` and waits for the reply.
pub async fn round_trip(socket: &mut crate::client::Socket, event: &serde_json::Value) -> RoundTrip {
    let sent = std::time::Instant::now();
    if crate::client::send_json(socket, event).await.is_err() {
        return RoundTrip::Closed;
    }
    match crate::client::next_json(socket).await {
        Some(reply) if reply["status"] == 200 || reply["type"] == "connection" => {
            RoundTrip::Answered(sent.elapsed().as_micros() as u64)
        }
        Some(_) => RoundTrip::Failed,
        None => RoundTrip::Closed,
    }
}

/// Sums the per-task latencies and error counts of a closed-loop scenario.
pub async fn gather(
    scenario: String,
    started: std::time::Instant,
    tasks: Vec<tokio::task::JoinHandle<(Vec<u64>, u64)>>,
) -> anyhow::Result<Outcome> {
    let mut outcome = Outcome { scenario, ..Outcome::default() };
    for task in tasks {
        let (latencies, errors) = task.await?;
        outcome.ops += latencies.len() as u64;
        outcome.latencies_us.extend(latencies);
        outcome.errors += errors;
    }
    outcome.elapsed = started.elapsed();
    Ok(outcome)
}
