//! Background checkpoints: a thread of each store copies committed WAL pages back into
//! the database file, off the commit path, so no run's reply waits for one.
//!
//! SQLite checkpoints in the committing connection by default, every 1 000 WAL pages.
//! Under load that writes hot pages (the newest leaves, the usage rows) back many times
//! a second and stalls whichever commit crossed the mark. Here a passive checkpoint runs
//! `CHECKPOINT_INTERVAL` after the first commit since the last one, on a connection of
//! its own, while writers go on; with nothing committed the thread sleeps. A passive
//! checkpoint never finishes while writes keep coming, so the write connection keeps
//! SQLite's own checkpoint at a higher mark (`WAL_BOUND_PAGES`): with the background
//! having copied almost everything, that one is short, and the WAL starts over after it.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use rusqlite::Connection;

/// How long commits gather after the first one before the background copies them back.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(100);
/// WAL pages (4 KiB) past which a commit checkpoints in its own connection: the WAL's
/// bound when the background cannot keep up, about 80 MiB.
pub const WAL_BOUND_PAGES: i64 = 20_000;

/// What the store and its checkpoint thread share.
#[derive(Default)]
struct Signals {
    /// Set by the first commit since the last checkpoint, which wakes the thread.
    committed: AtomicBool,
    stop: AtomicBool,
}

/// The store's checkpoint thread, asleep while nothing is committed; stopped and joined
/// on drop.
pub struct Checkpointer {
    signals: Arc<Signals>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts checkpointing the database at `path`, with `db`, a connection of its own.
    pub fn start(db: Connection, path: &Path) -> std::io::Result<Self> {
        let signals = Arc::new(Signals::default());
        let path = path.display().to_string();
        let thread = std::thread::Builder::new().name("sqlite-checkpoint".into()).spawn({
            let signals = signals.clone();
            move || {
                while signals.wait_for_commits() {
                    if let Err(err) = db.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                        tracing::warn!(database = path, "checkpointing: {err}");
                    }
                }
            }
        })?;
        Ok(Checkpointer { signals, thread: Some(thread) })
    }

    /// Notes a commit: the first since the last checkpoint wakes the thread.
    pub fn committed(&self) {
        if !self.signals.committed.swap(true, Ordering::AcqRel) {
            self.thread().unpark();
        }
    }

    fn thread(&self) -> &Thread {
        self.thread.as_ref().expect("joined only on drop").thread()
    }
}

impl Signals {
    /// Sleeps until a commit, then `CHECKPOINT_INTERVAL` more so commits gather; false
    /// when the store is closing.
    fn wait_for_commits(&self) -> bool {
        while !self.committed.load(Ordering::Acquire) && !self.stopping() {
            std::thread::park();
        }
        // A deadline, not one park: a wake-up left over from before returns at once.
        let deadline = Instant::now() + CHECKPOINT_INTERVAL;
        while let Some(left) = deadline.checked_duration_since(Instant::now()).filter(|_| !self.stopping()) {
            std::thread::park_timeout(left);
        }
        self.committed.store(false, Ordering::Release);
        !self.stopping()
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.signals.stop.store(true, Ordering::Release);
        self.thread().unpark();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
