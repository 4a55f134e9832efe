//! Compiled-code cache: `.cwasm` artifacts on disk, keyed by the wasm's SHA-256 and the
//! engine's compatibility hash (wasmtime version and configuration), so a restart with
//! unchanged walkers compiles nothing.
//!
//! Artifacts are memory-mapped while loaded, so they are never rewritten in place:
//! each is written to a temporary file and renamed into place.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest as _, Sha256};
use wasmtime::component::Component;
use wasmtime::error::Context as _;
use wasmtime::{Engine, Result};

/// A walker file's SHA-256: the cache's key, and how the catalog tells a changed file
/// from one written again with the same bytes.
pub type Digest = [u8; 32];

/// `wasm`'s digest (slow for large components: off the async runtime).
pub fn digest(wasm: &[u8]) -> Digest {
    Sha256::digest(wasm).into()
}

/// Where a component's compiled code came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Compiled,
    Cached,
}

pub struct CodeCache {
    dir: PathBuf,
    /// The engine's compatibility hash: artifacts of another engine config never load.
    engine_key: u64,
}

impl CodeCache {
    pub fn new(engine: &Engine, dir: PathBuf) -> Result<Self> {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating the code cache {}", dir.display()))?;
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(CodeCache { dir, engine_key: hasher.finish() })
    }

    /// The compiled component for `wasm`, whose `digest` it is, from the cache or compiled
    /// now (slow: run it off the async runtime).
    pub fn load(&self, engine: &Engine, wasm: &[u8], digest: &Digest) -> Result<(Component, Origin)> {
        let path = self.dir.join(format!("{}-{:016x}.cwasm", hex::encode(digest), self.engine_key));
        if path.exists() {
            // SAFETY: files in the cache directory are written only by `store` below, from
            // `Engine::precompile_component`, and never modified once renamed into place.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => return Ok((component, Origin::Cached)),
                Err(err) => {
                    tracing::warn!(path = %path.display(), "discarding unusable cached code: {err}")
                }
            }
        }
        let artifact = engine.precompile_component(wasm)?;
        self.store(&path, &artifact)?;
        // SAFETY: as above; the artifact was just produced by this engine.
        let component = unsafe { Component::deserialize_file(engine, &path)? };
        Ok((component, Origin::Compiled))
    }

    fn store(&self, path: &Path, artifact: &[u8]) -> Result<()> {
        static WRITES: AtomicU64 = AtomicU64::new(0);
        let tmp = self.dir.join(format!(
            ".{}.{}-{}.tmp",
            path.file_name().and_then(|n| n.to_str()).unwrap_or("artifact"),
            std::process::id(),
            WRITES.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&tmp, artifact).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("renaming into {}", path.display()))?;
        Ok(())
    }
}
