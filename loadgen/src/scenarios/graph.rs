//! The persistent graph: `make_item` runs (each a committed write) over the WebSocket
//! (`ws_item`) or REST (`make_item`), and `list_items` reads of N items. Every
//! connection signs up as its own user first, as separate clients would.

use std::time::Instant;

use anyhow::Context as _;
use serde_json::{Value, json};

use crate::Target;
use crate::client::{Socket, connect, next_json, post, send_json};
use crate::stats::Outcome;

/// Registers and logs in a fresh user; returns its bearer token.
async fn sign_up(http: &reqwest::Client, base: &str, index: usize) -> anyhow::Result<String> {
    let nonce = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos();
    let credentials = json!({"email": format!("load-{nonce}-{index}@example.com"), "password": "load-password"});
    let registered = http.post(format!("{base}/user/register")).json(&credentials).send().await?;
    anyhow::ensure!(registered.status().is_success(), "register: {}", registered.status());
    let login: Value = http.post(format!("{base}/user/login")).json(&credentials).send().await?.json().await?;
    let token = login["token"].as_str().context("login returned no token")?;
    Ok(format!("Bearer {token}"))
}

/// A WebSocket signed in with `change_user` (which every jac-cloud client can send).
async fn signed_in_socket(target: &Target, index: usize, token: &str) -> anyhow::Result<Socket> {
    let mut socket = connect(&target.ws, index).await?;
    next_json(&mut socket).await.context("no connection frame")?;
    send_json(&mut socket, &json!({"type": "change_user", "token": token})).await?;
    next_json(&mut socket).await.context("no connection frame after change_user")?;
    Ok(socket)
}

/// Fills a user's root with `items` items over REST, untimed.
async fn populate(http: &reqwest::Client, base: &str, token: &str, items: usize) -> anyhow::Result<()> {
    let url = format!("{base}/walker/make_item");
    for n in 0..items {
        anyhow::ensure!(
            post(http, &url, Some(token), &json!({"name": format!("item {n}")})).await,
            "populating failed"
        );
    }
    Ok(())
}

/// `op`: `write` (make an item per request) or `read` (list `items` items per request);
/// `via`: `ws` or `rest`.
pub async fn run(
    target: &Target,
    op: &str,
    via: &str,
    connections: usize,
    requests: usize,
    items: usize,
) -> anyhow::Result<Outcome> {
    let http = reqwest::Client::new();
    let mut tokens = Vec::with_capacity(connections);
    for index in 0..connections {
        let token = sign_up(&http, &target.base, index).await?;
        if op == "read" || items > 0 {
            populate(&http, &target.base, &token, items).await?;
        }
        tokens.push(token);
    }
    let (walker, context) = match op {
        "write" if via == "ws" => ("ws_item", json!({"name": "w"})),
        "write" => ("make_item", json!({"name": "a"})),
        "read" => ("list_items", json!({})),
        other => anyhow::bail!("unknown graph op {other}: write or read"),
    };
    let mut sockets = Vec::new();
    if via == "ws" {
        for (index, token) in tokens.iter().enumerate() {
            sockets.push(Some(signed_in_socket(target, index, token).await?));
        }
    } else {
        sockets.resize_with(connections, || None);
    }

    target.start_server_clock();
    let started = Instant::now();
    let deadline = started + target.max;
    let url = format!("{}/walker/{walker}", target.base);
    let tasks: Vec<_> = tokens
        .into_iter()
        .zip(sockets)
        .map(|(token, socket)| {
            let (http, url, context) = (http.clone(), url.clone(), context.clone());
            tokio::spawn(async move {
                let (mut latencies, mut errors) = (Vec::with_capacity(requests), 0u64);
                let mut socket = socket;
                let event = json!({"type": "walker", "walker": walker, "context": context, "response": true});
                for _ in 0..requests {
                    if Instant::now() > deadline {
                        break;
                    }
                    let sent = Instant::now();
                    let ok = match socket.as_mut() {
                        Some(socket) => {
                            send_json(socket, &event).await.is_ok()
                                && next_json(socket).await.is_some_and(|reply| reply["status"] == 200)
                        }
                        None => post(&http, &url, Some(&token), &context).await,
                    };
                    if ok {
                        latencies.push(sent.elapsed().as_micros() as u64);
                    } else {
                        errors += 1;
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let name = match op {
        "read" => format!("list_items of {items} via {via} x{connections}"),
        _ if items > 0 => format!("make_item at {items} items via {via} x{connections}"),
        _ => format!("make_item via {via} x{connections}"),
    };
    super::gather(name, started, tasks).await
}
