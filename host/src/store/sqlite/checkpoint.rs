//! Background checkpoints: a thread of each store copies committed WAL pages back into
//! the database file, off the commit path, so no run's reply waits for one.
//!
//! SQLite checkpoints in the committing connection by default, every 1 000 WAL pages.
//! Under load that writes hot pages (the newest leaves, the usage rows) back many times
//! a second and stalls whichever commit crossed the mark. Here a passive checkpoint runs
//! every `CHECKPOINT_INTERVAL` after commits, on a connection of its own, while writers
//! go on. A passive checkpoint never finishes while writes keep coming, so the write
//! connection keeps SQLite's own checkpoint at a higher mark (`WAL_BOUND_PAGES`): with
//! the background having copied almost everything, that one is short, and the WAL
//! starts over after it.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

/// How often the background copies committed pages back, while commits arrive.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(100);
/// WAL pages (4 KiB) past which a commit checkpoints in its own connection: the WAL's
/// bound when the background cannot keep up, about 80 MiB.
pub const WAL_BOUND_PAGES: i64 = 20_000;

/// What the store and its checkpoint thread share.
#[derive(Default)]
struct Signals {
    /// Set by each commit, cleared by the checkpoint that follows it.
    committed: AtomicBool,
    stop: AtomicBool,
}

/// The store's checkpoint thread; stopped and joined on drop.
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
                while !signals.stop.load(Ordering::Acquire) {
                    std::thread::park_timeout(CHECKPOINT_INTERVAL);
                    if signals.committed.swap(false, Ordering::AcqRel)
                        && let Err(err) = db.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    {
                        tracing::warn!(database = path, "checkpointing: {err}");
                    }
                }
            }
        })?;
        Ok(Checkpointer { signals, thread: Some(thread) })
    }

    /// Notes a commit: the next checkpoint has pages to copy.
    pub fn committed(&self) {
        self.signals.committed.store(true, Ordering::Release);
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.signals.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}
