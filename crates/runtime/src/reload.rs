//! Hot reload: watches the walkers directory and keeps the catalog in step with it.
//!
//! Events are debounced, then handled one file at a time on one task, so reloads of a
//! file apply in the order they happened. Deploy by writing elsewhere and renaming into
//! the directory: the watcher then never sees a half-written file.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use notify::RecursiveMode;
use notify::event::{AccessKind, AccessMode, EventKind, ModifyKind};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};
use tokio::sync::mpsc;

use crate::catalog::{Catalog, is_walker_file};

/// Whether an event may change what a file holds. Reads (our own, when loading) and
/// metadata changes do not, and must not trigger a reload.
fn changes_content(kind: &EventKind) -> bool {
    match kind {
        EventKind::Create(_) | EventKind::Remove(_) => true,
        EventKind::Modify(ModifyKind::Metadata(_)) => false,
        EventKind::Modify(_) => true,
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        _ => false,
    }
}

/// Keeps watching while alive.
pub struct Watcher {
    _debouncer: Debouncer<notify::RecommendedWatcher, RecommendedCache>,
}

/// Starts watching `dir` and loads what is already there, in the background: the server
/// listens at once, and a walker is served as soon as its file is loaded (`/readyz`
/// tells when all are). Changes that happen while the initial load runs are picked up
/// after it.
pub async fn watch_and_load(catalog: Arc<Catalog>, dir: &Path, debounce: Duration) -> anyhow::Result<Watcher> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<PathBuf>>();
    let mut debouncer = new_debouncer(debounce, None, move |result: DebounceEventResult| match result {
        Ok(events) => {
            let paths: Vec<PathBuf> = events
                .into_iter()
                .filter(|event| changes_content(&event.kind))
                .flat_map(|event| event.event.paths)
                .collect();
            if !paths.is_empty() {
                let _ = tx.send(paths);
            }
        }
        Err(errors) => {
            for error in errors {
                tracing::warn!("watching walkers: {error}");
            }
        }
    })
    .context("starting the file watcher")?;
    debouncer.watch(dir, RecursiveMode::NonRecursive).with_context(|| format!("watching {}", dir.display()))?;

    // Listed now, so that readiness names every file as loading from the first request.
    let files = catalog.list_dir(dir)?;
    tokio::spawn(async move {
        catalog.load_files(files).await;
        while let Some(mut paths) = rx.recv().await {
            // Coalesce whatever else arrived meanwhile; each file is handled once.
            while let Ok(more) = rx.try_recv() {
                paths.extend(more);
            }
            let changed: BTreeSet<PathBuf> = paths.into_iter().filter(|path| is_walker_file(path)).collect();
            for path in changed {
                if path.exists() {
                    catalog.load_file_logged(&path).await;
                } else {
                    catalog.remove_file(&path).await;
                }
            }
        }
    });
    Ok(Watcher { _debouncer: debouncer })
}
