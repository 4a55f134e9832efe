//! How a run answers over HTTP: its `{status, reports}` envelope (or custom report) once
//! it has ended and committed, a body of the walker's own content type, or a streamed
//! body that starts with the walker's first chunk while the run goes on (chunked HTTP).
//! A stream whose run then fails is cut off without its last chunk, so the client can
//! tell it from a complete one.

use std::sync::Arc;

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use walker_runtime::catalog::{CallError, Walker};
use walker_runtime::{Caller, Invocation, Reply, ReplyBody, Streamed, stream_channel};

use crate::{Shared, frames};

/// A run's outcome, as far as the HTTP response is concerned.
pub enum Answer {
    /// It started streaming: the response is under way, whatever the run does next.
    Streaming(Response),
    /// It ended without streaming.
    Done(Result<Reply, CallError>),
    /// Its task panicked.
    Lost,
}

/// What one HTTP call runs, owned: the run goes on in a task of its own, so that a
/// streamed response can be returned while the walker still runs.
pub struct HttpCall {
    pub walker: Walker,
    pub caller: Caller,
    pub account: Option<Arc<str>>,
    pub input: Map<String, Value>,
    pub entry: Option<String>,
}

/// Runs `call` and answers as soon as it is known how: at its first streamed chunk, or
/// at its end.
pub async fn run(shared: &Arc<Shared>, call: HttpCall) -> Answer {
    let (sink, mut chunks) = stream_channel(shared.settings.stream_buffer);
    let shared = shared.clone();
    let run = tokio::spawn(async move {
        let HttpCall { walker, caller, account, input, entry } = call;
        let invocation = Invocation { caller: &caller, account: account.as_ref(), stream: Some(&sink) };
        shared.catalog.call(&walker, invocation, &input, shared.notifier.clone(), entry.as_deref()).await
    });
    // Every sender of the stream goes with the run: `None` means it ended unstreamed.
    match chunks.recv().await {
        Some(Streamed::Start { content_type }) => Answer::Streaming(streamed(&content_type, chunks, run)),
        Some(Streamed::Chunk(_)) => unreachable!("a stream starts before its first chunk"),
        None => run.await.map_or(Answer::Lost, Answer::Done),
    }
}

/// Marks a response whose body is the walker's own, so that no layer rewrites it (an
/// error page stays HTML, as jac-cloud sends an `HTMLResponse`).
#[derive(Debug, Clone, Copy)]
pub struct WalkerBody;

/// A finished run's response.
pub fn finished(reply: &Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
    // These statuses carry no body (RFC 9110): nothing, not a body's length.
    if matches!(status, StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED) {
        return status.into_response();
    }
    match &reply.body {
        ReplyBody::Raw(raw) => {
            let headers = [(header::CONTENT_TYPE, with_charset(&raw.content_type))];
            (status, headers, Extension(WalkerBody), raw.body.clone()).into_response()
        }
        _ => (status, [(header::CONTENT_TYPE, "application/json".to_string())], frames::reply(reply, None))
            .into_response(),
    }
}

/// The chunks as they come, then the end: clean if the run succeeded, else an error
/// that makes the server cut the response off.
fn streamed(
    content_type: &str,
    chunks: mpsc::Receiver<Streamed>,
    run: JoinHandle<Result<Reply, CallError>>,
) -> Response {
    let body = futures_util::stream::unfold((chunks, Some(run)), |(mut chunks, run)| async move {
        loop {
            match chunks.recv().await {
                Some(Streamed::Chunk(chunk)) => return Some((Ok(Bytes::from(chunk)), (chunks, run))),
                Some(Streamed::Start { .. }) => continue,
                None => {
                    let succeeded = matches!(run?.await, Ok(Ok(_)));
                    let failed = std::io::Error::other("the walker failed after its reply started");
                    return (!succeeded).then_some((Err(failed), (chunks, None)));
                }
            }
        }
    });
    let headers = [(header::CONTENT_TYPE, with_charset(content_type)), (header::CACHE_CONTROL, "no-cache".into())];
    (StatusCode::OK, headers, Body::from_stream(body)).into_response()
}

/// A text type without a charset gets UTF-8's, as Starlette adds it (walkers' bodies are
/// strings).
fn with_charset(content_type: &str) -> String {
    if content_type.starts_with("text/") && !content_type.to_ascii_lowercase().contains("charset") {
        format!("{content_type}; charset=utf-8")
    } else {
        content_type.to_string()
    }
}
