//! Replies that are not the `{status, reports}` envelope (the WIT's `respond`): a body of
//! any content type, kept until the run ends, and a streamed body, whose chunks go to the
//! caller's transport while the walker runs, through a bounded channel: a client that
//! reads slowly makes the walker wait, never the host's memory grow.

use tokio::sync::mpsc;

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

    /// Sends `chunk` (at most `limit` bytes), starting the reply as `content_type` first
    /// if it has not started; waits while the buffer is full.
    pub async fn send(&mut self, content_type: String, chunk: String, limit: usize) -> Result<(), String> {
        if chunk.len() > limit {
            return Err(format!("a chunk may take {limit} bytes"));
        }
        let gone = |_| "the client has gone".to_string();
        if !self.started {
            if !is_content_type(&content_type) {
                return Err(format!("{content_type:?} is not a content type"));
            }
            self.sink.sender.send(Streamed::Start { content_type }).await.map_err(gone)?;
            self.started = true;
        }
        self.sink.sender.send(Streamed::Chunk(chunk)).await.map_err(gone)
    }
}

/// A content type the host can send as a header value: visible ASCII and spaces, bounded.
pub fn is_content_type(text: &str) -> bool {
    !text.is_empty() && text.len() <= MAX_CONTENT_TYPE && text.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
}
