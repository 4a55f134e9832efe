//! Replies that are not the `{status, reports}` envelope (the WIT's `respond`): a body of
//! any content type, kept until the run ends, and a streamed body, whose chunks go to the
//! caller's transport while the walker runs, through a bounded channel: a client that
//! reads slowly makes the walker wait, never the host's memory grow.

use tokio::sync::mpsc;

use super::bindings::jac::walker::respond::Host;
use super::sandbox::RunState;

/// Bytes a content type may take.
const MAX_CONTENT_TYPE: usize = 256;

/// A body of the walker's own content type (`respond.body`).
#[derive(Debug, Clone)]
pub struct RawBody {
    pub content_type: String,
    pub body: String,
}

/// What a streamed reply sends, in order: its start, then its chunks.
#[derive(Debug)]
pub enum Streamed {
    Start { content_type: String },
    Chunk(String),
}

/// The run's end of a streamed reply; the transport holds the `Receiver`.
#[derive(Clone)]
pub struct StreamSink {
    sender: mpsc::Sender<Streamed>,
}

/// A streamed reply's two ends, the sending one buffering at most `buffer` chunks.
pub fn stream_channel(buffer: usize) -> (StreamSink, mpsc::Receiver<Streamed>) {
    let (sender, receiver) = mpsc::channel(buffer.max(1));
    (StreamSink { sender }, receiver)
}

/// One run's use of its stream: where it goes, and whether it has started.
pub struct RunStream {
    sink: StreamSink,
    started: bool,
}

impl RunStream {
    pub fn new(sink: StreamSink) -> Self {
        RunStream { sink, started: false }
    }

    pub fn started(&self) -> bool {
        self.started
    }
}

/// A content type the host can send as a header value: visible ASCII and spaces, bounded.
pub fn is_content_type(text: &str) -> bool {
    !text.is_empty() && text.len() <= MAX_CONTENT_TYPE && text.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
}

impl Host for RunState {
    async fn body(&mut self, content_type: String, body: String) {
        self.raw_body = Some(RawBody { content_type, body });
    }

    async fn stream(&mut self, content_type: String, chunk: String) -> Result<(), String> {
        let limit = self.limits.report_bytes;
        let Some(stream) = self.stream.as_mut() else { return Err("this call has no client to stream to".into()) };
        if chunk.len() > limit {
            return Err(format!("a chunk may take {limit} bytes"));
        }
        let gone = |_| "the client has gone".to_string();
        if !stream.started {
            if !is_content_type(&content_type) {
                return Err(format!("{content_type:?} is not a content type"));
            }
            stream.sink.sender.send(Streamed::Start { content_type }).await.map_err(gone)?;
            stream.started = true;
        }
        stream.sink.sender.send(Streamed::Chunk(chunk)).await.map_err(gone)
    }
}
