//! A connection's bounded outgoing queue, by message count and by bytes. Pushing never
//! blocks: a push that would overflow it closes the connection as a slow consumer.
//!
//! The connection's own frames (its walkers' replies and `notify_self`) are bounded
//! differently: they are always admitted, and while they hold more than the limits the
//! session stops reading the client's next event. A client that does not read its own
//! replies is thus slowed down, not cut off; a reply within the report limit always
//! arrives, whatever the queue limits; others' fan-out still cuts a slow reader.
//!
//! The queue is drained by the connection's own session task. Its waker is armed only
//! while that task waits: frames the session queues for itself while it runs (replies,
//! `notify_self`) do not wake it again, which would reschedule it through the runtime's
//! queue and wake an idle worker thread on every round trip.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU16, Ordering};
use std::task::Poll;

use axum::extract::ws::Utf8Bytes;
use futures_util::task::AtomicWaker;
use tokio_util::sync::CancellationToken;

use crate::close;

pub struct Outbox {
    queue: Mutex<Queue>,
    max_messages: usize,
    max_bytes: usize,
    /// The session task, while it waits for frames.
    waker: AtomicWaker,
    /// Cancelled when the connection must close; `close_code` says why.
    closed: CancellationToken,
    /// Cancelled when the server stops: the session reads no further event, finishes
    /// the one it runs, sends what is queued, then closes with 1001.
    draining: CancellationToken,
    close_code: AtomicU16,
}

#[derive(Default)]
struct Queue {
    /// Each frame, and whether it is the connection's own.
    frames: VecDeque<(Utf8Bytes, bool)>,
    /// Queued fan-out from others, checked against the limits on push.
    others: Usage,
    /// Queued own frames, checked before the session reads the next event.
    own: Usage,
}

#[derive(Default)]
struct Usage {
    messages: usize,
    bytes: usize,
}

impl Usage {
    fn add(&mut self, frame: &Utf8Bytes) {
        self.messages += 1;
        self.bytes += frame.len();
    }

    fn remove(&mut self, frame: &Utf8Bytes) {
        self.messages -= 1;
        self.bytes -= frame.len();
    }
}

impl Outbox {
    pub fn new(max_messages: usize, max_bytes: usize) -> Self {
        Outbox {
            queue: Mutex::default(),
            max_messages: max_messages.max(1),
            max_bytes,
            waker: AtomicWaker::new(),
            closed: CancellationToken::new(),
            draining: CancellationToken::new(),
            close_code: AtomicU16::new(0),
        }
    }

    /// Queues a frame from someone else (fan-out). Returns false if the connection is
    /// closing or just overflowed.
    pub fn push(&self, text: Utf8Bytes) -> bool {
        if self.closed.is_cancelled() {
            return false;
        }
        {
            let mut queue = self.lock();
            if queue.others.messages >= self.max_messages || queue.others.bytes + text.len() > self.max_bytes {
                drop(queue);
                self.close(close::SLOW_CONSUMER);
                return false;
            }
            queue.others.add(&text);
            queue.frames.push_back((text, false));
        }
        self.waker.wake();
        true
    }

    /// Queues one of the connection's own frames: a reply, an error, `notify_self`.
    pub fn push_own(&self, text: Utf8Bytes) {
        if self.closed.is_cancelled() {
            return;
        }
        {
            let mut queue = self.lock();
            queue.own.add(&text);
            queue.frames.push_back((text, true));
        }
        self.waker.wake();
    }

    /// Whether the connection's own frames fill the limits: the session then reads no
    /// further event until the client has read them.
    pub fn own_backlog(&self) -> bool {
        let queue = self.lock();
        queue.own.messages >= self.max_messages || queue.own.bytes >= self.max_bytes
    }

    /// Bytes queued, its own frames and others' together.
    pub fn queued_bytes(&self) -> usize {
        let queue = self.lock();
        queue.own.bytes + queue.others.bytes
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Disarms the waker: the session calls it before doing work that queues frames
    /// for itself, and drains them on its next wait anyway.
    pub fn quiesce(&self) {
        self.waker.take();
    }

    /// Waits for frames and moves up to `max` of them into `batch`.
    pub async fn next_batch(&self, batch: &mut Vec<Utf8Bytes>, max: usize) {
        poll_fn(|cx| {
            if self.take_batch(batch, max) {
                return Poll::Ready(());
            }
            self.waker.register(cx.waker());
            // A push between the check and the registration must not be missed.
            if self.take_batch(batch, max) { Poll::Ready(()) } else { Poll::Pending }
        })
        .await
    }

    fn take_batch(&self, batch: &mut Vec<Utf8Bytes>, max: usize) -> bool {
        let mut queue = self.lock();
        let Queue { frames, others, own } = &mut *queue;
        let count = frames.len().min(max);
        for (frame, is_own) in frames.drain(..count) {
            if is_own {
                own.remove(&frame)
            } else {
                others.remove(&frame)
            }
            batch.push(frame);
        }
        count > 0
    }

    /// Asks the connection to close with `code`; the first reason wins.
    pub fn close(&self, code: u16) {
        let _ = self.close_code.compare_exchange(0, code, Ordering::Relaxed, Ordering::Relaxed);
        self.closed.cancel();
    }

    pub fn closed(&self) -> &CancellationToken {
        &self.closed
    }

    /// Asks the connection to finish what it is doing, then close (server shutdown).
    pub fn drain(&self) {
        self.draining.cancel();
    }

    pub fn draining(&self) -> &CancellationToken {
        &self.draining
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.lock().frames.is_empty()
    }

    /// Why the connection was asked to close, if it was.
    pub fn close_code(&self) -> Option<u16> {
        match self.close_code.load(Ordering::Relaxed) {
            0 => None,
            code => Some(code),
        }
    }
}
