//! Hostile load, for measuring what it costs everyone else: a flood of wrong passwords,
//! and a flood of events on one connection. Each runs until `--max-secs`.

use std::collections::BTreeMap;
use std::time::Instant;

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::Target;
use crate::client::{connect, next_json};
use crate::stats::Outcome;

/// `connections` clients posting wrong passwords to `/user/login`, each as fast as it is
/// answered; the notes count the answers by status.
pub async fn login_flood(target: &Target, connections: usize) -> anyhow::Result<Outcome> {
    let url = format!("{}/user/login", target.base);
    let started = Instant::now();
    let deadline = started + target.max;
    let tasks: Vec<_> = (0..connections)
        .map(|client| {
            let (http, url) = (reqwest::Client::new(), url.clone());
            tokio::spawn(async move {
                let mut statuses = BTreeMap::<u16, u64>::new();
                for attempt in 0u64.. {
                    if Instant::now() > deadline {
                        break;
                    }
                    let body =
                        json!({"email": format!("victim{client}@example.com"), "password": format!("guess{attempt}")});
                    let status = http.post(&url).json(&body).send().await.map_or(0, |r| r.status().as_u16());
                    *statuses.entry(status).or_default() += 1;
                }
                statuses
            })
        })
        .collect();
    let mut statuses = BTreeMap::<u16, u64>::new();
    for task in tasks {
        for (status, count) in task.await? {
            *statuses.entry(status).or_default() += count;
        }
    }
    let ops = statuses.values().sum();
    let notes = statuses.iter().map(|(status, count)| format!("{count}x {status}")).collect::<Vec<_>>().join(", ");
    Ok(Outcome {
        scenario: format!("login-flood x{connections}"),
        ops,
        elapsed: started.elapsed(),
        notes,
        ..Outcome::default()
    })
}

/// One connection sending walker events as fast as it can, never waiting for replies
/// (read and dropped); when the server closes it, it connects again. The notes count
/// events sent, refusals and closes.
pub async fn event_flood(target: &Target) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let deadline = started + target.max;
    let event = Message::text(json!({"type": "walker", "walker": "public_event", "context": {"val": 1}}).to_string());
    let (mut sent, mut refused, mut closes) = (0u64, 0u64, 0u64);
    while Instant::now() < deadline {
        let Ok(mut socket) = connect(&target.ws, 0).await else {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            continue;
        };
        if next_json(&mut socket).await.is_none() {
            continue;
        }
        let (mut sink, mut stream) = socket.split();
        let reader = tokio::spawn(async move {
            let mut refused = 0u64;
            while let Some(Ok(message)) = stream.next().await {
                if let Message::Text(text) = message
                    && text.contains("rate_limited")
                {
                    refused += 1;
                }
            }
            refused
        });
        while Instant::now() < deadline && sink.send(event.clone()).await.is_ok() {
            sent += 1;
        }
        closes += 1;
        drop(sink);
        reader.abort();
        refused += reader.await.unwrap_or(0);
    }
    Ok(Outcome {
        scenario: "event-flood x1".into(),
        ops: sent,
        elapsed: started.elapsed(),
        notes: format!("{refused} refused, {closes} connections closed"),
        ..Outcome::default()
    })
}
