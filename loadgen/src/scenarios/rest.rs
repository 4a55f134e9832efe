//! REST walker calls: `connections` keep-alive clients, each sequential.

use std::time::Instant;

use serde_json::json;

use crate::Target;
use crate::client::post;
use crate::stats::Outcome;

pub async fn run(target: &Target, connections: usize, requests: usize, walker: &str) -> anyhow::Result<Outcome> {
    let url = format!("{}/walker/{walker}", target.base);
    let started = Instant::now();
    let deadline = started + target.max;
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            // One client per task: its own keep-alive connection.
            let (http, url) = (reqwest::Client::new(), url.clone());
            tokio::spawn(async move {
                let (mut latencies, mut errors) = (Vec::with_capacity(requests), 0u64);
                for i in 0..requests {
                    if Instant::now() > deadline {
                        break;
                    }
                    let sent = Instant::now();
                    if post(&http, &url, None, &json!({"val": i})).await {
                        latencies.push(sent.elapsed().as_micros() as u64);
                    } else {
                        errors += 1;
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    super::gather(format!("rest x{connections}"), started, tasks).await
}
