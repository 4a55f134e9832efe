//! Walker round trips: each connection sends a walker event with `response: true` and
//! waits for the reply before sending the next.

use std::time::Instant;

use serde_json::json;

use super::{RoundTrip, round_trip};
use crate::Target;
use crate::client::{connect, next_json};
use crate::stats::Outcome;

pub async fn run(
    target: &Target,
    connections: usize,
    requests: usize,
    walker: &str,
    context: Option<serde_json::Value>,
) -> anyhow::Result<Outcome> {
    let mut sockets = Vec::with_capacity(connections);
    for index in 0..connections {
        let mut socket = connect(&target.ws, index).await?;
        next_json(&mut socket).await.ok_or_else(|| anyhow::anyhow!("no connection frame"))?;
        sockets.push(socket);
    }
    let started = Instant::now();
    let deadline = started + target.max;
    let tasks: Vec<_> = sockets
        .into_iter()
        .map(|mut socket| {
            let (walker, context) = (walker.to_string(), context.clone());
            tokio::spawn(async move {
                let (mut latencies, mut errors) = (Vec::with_capacity(requests), 0u64);
                for i in 0..requests {
                    if Instant::now() > deadline {
                        break;
                    }
                    let event = match walker.as_str() {
                        "-" => json!({"type": "connection"}),
                        _ => {
                            let context = context.clone().unwrap_or_else(|| json!({"val": i}));
                            json!({"type": "walker", "walker": walker, "context": context, "response": true})
                        }
                    };
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
    let name = if walker == "-" { "connection-rtt" } else { "walker-rtt" };
    super::gather(format!("{name} x{connections}"), started, tasks).await
}
