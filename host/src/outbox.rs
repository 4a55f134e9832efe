//! A connection's bounded outgoing queue, by message count and by bytes. Pushing never
//! blocks: a push that would overflow it closes the connection as a slow consumer.
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

use crate::frames::close;

pub struct Outbox {
    queue: Mutex<Queue>,
    max_messages: usize,
    max_bytes: usize,
    /// The session task, while it waits for frames.
    waker: AtomicWaker,
    /// Cancelled when the connection must close; `close_code` says why.
    closed: CancellationToken,
    close_code: AtomicU16,
}

#[derive(Default)]
struct Queue {
    frames: VecDeque<Utf8Bytes>,
    bytes: usize,
}

impl Outbox {
    pub fn new(max_messages: usize, max_bytes: usize) -> Self {
        Outbox {
            queue: Mutex::default(),
            max_messages: max_messages.max(1),
            max_bytes,
            waker: AtomicWaker::new(),
            closed: CancellationToken::new(),
            close_code: AtomicU16::new(0),
        }
    }

    /// Queues a text frame. Returns false if the connection is closing or just overflowed.
    pub fn push(&self, text: Utf8Bytes) -> bool {
        if self.closed.is_cancelled() {
            return false;
        }
        {
            let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            if queue.frames.len() >= self.max_messages || queue.bytes + text.len() > self.max_bytes {
                drop(queue);
                self.close(close::SLOW_CONSUMER);
                return false;
            }
            queue.bytes += text.len();
            queue.frames.push_back(text);
        }
        self.waker.wake();
        true
    }

    /// Disarms the waker: the session calls it before doing work that queues frames
    /// for itself, and drains them on its next wait anyway.
    pub fn quiesce(&self) {
        self.waker.take();
    }

    /// Waits for frames and moves up to `max` of them into `batch`.
    pub async fn next_batch(&self, batch: &mut Vec<Utf8Bytes>, max: usize) {
        poll_fn(|cx| {
            if self.drain(batch, max) {
                return Poll::Ready(());
            }
            self.waker.register(cx.waker());
            // A push between the check and the registration must not be missed.
            if self.drain(batch, max) { Poll::Ready(()) } else { Poll::Pending }
        })
        .await
    }

    fn drain(&self, batch: &mut Vec<Utf8Bytes>, max: usize) -> bool {
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        let Queue { frames, bytes } = &mut *queue;
        let count = frames.len().min(max);
        for frame in frames.drain(..count) {
            *bytes -= frame.len();
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

    /// Why the connection was asked to close, if it was.
    pub fn close_code(&self) -> Option<u16> {
        match self.close_code.load(Ordering::Relaxed) {
            0 => None,
            code => Some(code),
        }
    }
}
