//! Fan-out: one publisher outside the channel, `subscribers` connections on it. Each message carries
//! its send time; each subscriber records the delivery latency. The publisher stays at
//! most `window` messages ahead of the slowest subscriber, so a bounded server queue
//! measures throughput rather than cutting subscribers off, and at most `rate` a second
//! when given. Across a cluster (`peer`), subscribers alternate between the peer and the
//! publisher's instance: with one subscriber, every message crosses instances.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::Notify;

use crate::Target;
use crate::client::{next_json, next_text, send_json};
use crate::stats::Outcome;

/// Handshakes in flight at once while subscribing.
const PARALLEL_CONNECTS: usize = 256;
/// Pause between subscribing and publishing: jac-cloud registers a connection's channel
/// a moment after sending its connection frame, and drops walker notifications until then.
const SETTLE: Duration = Duration::from_millis(500);

/// How fast the publisher sends.
pub struct Pace {
    /// Messages it may run ahead of the slowest delivery.
    pub window: usize,
    /// Messages per second, at most.
    pub rate: Option<u32>,
}

pub async fn run(
    target: &Target,
    subscribers: usize,
    messages: usize,
    via: &str,
    pace: Pace,
    peer: Option<&str>,
) -> anyhow::Result<Outcome> {
    let channel = format!("fanout-{}", std::process::id());
    let query = format!("?channel_id={channel}");
    // The publisher is not a subscriber: it sends, and reads nothing.
    let mut publisher = crate::client::connect(&target.ws, subscribers).await?;
    next_json(&mut publisher).await.ok_or_else(|| anyhow::anyhow!("no connection frame"))?;
    let here = format!("{}{query}", target.ws);
    let mut sockets = Vec::with_capacity(subscribers);
    match peer {
        None => sockets.extend(super::open_many(&here, subscribers, PARALLEL_CONNECTS).await?),
        Some(peer) => {
            let there = format!("{}{query}", crate::websocket_url(peer));
            sockets.extend(super::open_many(&there, subscribers.div_ceil(2), PARALLEL_CONNECTS).await?);
            sockets.extend(super::open_many(&here, subscribers / 2, PARALLEL_CONNECTS).await?);
        }
    }
    let sockets = sockets.into_iter().map(|(socket, _)| socket);

    let origin = Instant::now();
    let deadline = origin + target.max;
    // Messages fully received by every subscriber = min over subscribers; tracked as the
    // per-subscriber counts' sum and a notification on every delivery batch.
    let received: Arc<Vec<AtomicU64>> = Arc::new((0..subscribers).map(|_| AtomicU64::new(0)).collect());
    let progress = Arc::new(Notify::new());
    let tasks: Vec<_> = sockets
        .enumerate()
        .map(|(index, mut socket)| {
            let (received, progress) = (received.clone(), progress.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(messages);
                let mut last = None;
                while latencies.len() < messages {
                    let Ok(Some(text)) = tokio::time::timeout_at(deadline.into(), next_text(&mut socket)).await else {
                        break;
                    };
                    let Some(sent_at) = sent_at(&text) else { continue };
                    let now = origin.elapsed().as_micros() as u64;
                    latencies.push(now.saturating_sub(sent_at));
                    last = Some(now);
                    received[index].store(latencies.len() as u64, Ordering::Relaxed);
                    progress.notify_one();
                }
                (latencies, last)
            })
        })
        .collect();

    tokio::time::sleep(SETTLE).await;
    let started = Instant::now();
    let slowest = || received.iter().map(|count| count.load(Ordering::Relaxed)).min().unwrap_or(0) as usize;
    let mut ticks = pace.rate.map(|rate| tokio::time::interval(Duration::from_secs(1) / rate.max(1)));
    for i in 0..messages {
        if let Some(ticks) = &mut ticks {
            ticks.tick().await;
        }
        while slowest() + pace.window < i && Instant::now() < deadline {
            let _ = tokio::time::timeout(Duration::from_millis(5), progress.notified()).await;
        }
        let t = origin.elapsed().as_micros() as u64;
        let event = match via {
            "walker" => json!({"type": "walker", "walker": "public_group",
                               "context": {"channel_id": channel, "msg": t.to_string()}}),
            _ => json!({"type": "channel", "channel_ids": [channel], "data": {"t": t, "i": i}}),
        };
        send_json(&mut publisher, &event).await?;
    }

    let mut scenario = format!("fanout via {via} to {subscribers}");
    if peer.is_some() {
        scenario += " over 2 instances";
    }
    if let Some(rate) = pace.rate {
        scenario += &format!(" at {rate}/s");
    }
    let mut outcome = Outcome { scenario, ..Outcome::default() };
    let mut last_delivery = 0;
    for task in tasks {
        let (latencies, last) = task.await?;
        outcome.errors += (messages - latencies.len()) as u64;
        outcome.ops += latencies.len() as u64;
        outcome.latencies_us.extend(latencies);
        last_delivery = last_delivery.max(last.unwrap_or(0));
    }
    // Throughput up to the last delivery: lost messages count as errors, not as waiting.
    let first_send = started.duration_since(origin).as_micros() as u64;
    outcome.elapsed = Duration::from_micros(last_delivery.saturating_sub(first_send).max(1));
    outcome.notes = "ops = deliveries".into();
    Ok(outcome)
}

/// The send time carried by a delivery: `"t":<µs>` in a client channel event, or the
/// `public_group` chat message `"message":"<µs>"`. Scanned, not parsed: at a million
/// deliveries a second the load generator must stay cheaper than the server.
fn sent_at(text: &str) -> Option<u64> {
    let digits =
        |rest: &str| rest.bytes().take_while(u8::is_ascii_digit).fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    if let Some(at) = text.find("\"t\":") {
        return Some(digits(&text[at + 4..]));
    }
    let at = text.find("\"message\":\"")?;
    Some(digits(&text[at + 11..]))
}
