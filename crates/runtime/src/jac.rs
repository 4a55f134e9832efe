//! `.jac` files in a walkers directory: built into components by the Jac toolchain
//! (`scripts/build-jac.sh`: jaclang's `jac2py`, then componentize-py with the Jac
//! runtime) in a child process bounded in time, memory and output, at most one per core,
//! and cached by the SHA-256 of the source and the toolchain's fingerprint, so a restart
//! serves an unchanged file without building it again, and a new toolchain rebuilds it.
//! A build that fails says why in the compiler's words, without the host's paths.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncReadExt as _;
use tokio::sync::{OnceCell, Semaphore};

/// Bytes of a `.jac` source; larger ones are not built.
pub const MAX_SOURCE_BYTES: usize = 4 << 20;

/// Bytes of the build's messages kept (of each pipe), and of the reason a failed build
/// gives.
const MAX_OUTPUT_BYTES: usize = 64 << 10;
const MAX_REASON_BYTES: usize = 2 << 10;

/// Virtual memory one build may map: Python, jaclang and componentize-py (which runs
/// the app once, in wasmtime, to snapshot it) together.
const MAX_BUILD_MEMORY: u64 = 16 << 30;

/// Builds `.jac` sources, or finds their earlier builds.
pub struct JacBuilder {
    /// `build-jac.sh <app.jac> <out.wasm>`; `None` when the toolchain was not found, so
    /// that a `.jac` file fails with what to install.
    command: Option<PathBuf>,
    /// Built components, as `<sha256 of the fingerprint and the source>.wasm`.
    cache_dir: PathBuf,
    /// One build per core: each takes a core for seconds.
    places: Semaphore,
    /// Time one build may take before it is killed.
    time: Duration,
    /// The toolchain's `--fingerprint`, asked once: part of every cache key, so that a
    /// new toolchain or Jac runtime builds again what an older one built.
    fingerprint: OnceCell<String>,
}

const NO_TOOLCHAIN: &str = "building .jac files needs the Jac toolchain: run ./scripts/build-walkers.sh in the \
     repository, and start walker-host from it or pass --jac-build <repository>/scripts/build-jac.sh";

impl JacBuilder {
    pub fn new(command: Option<PathBuf>, cache_dir: PathBuf, time: Duration) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get());
        JacBuilder { command, cache_dir, places: Semaphore::new(cores), time, fingerprint: OnceCell::new() }
    }

    /// The component built from `source` (the text of `name`): an earlier build of the
    /// same text by the same toolchain, or a new one.
    pub async fn build(&self, name: &str, source: &[u8]) -> anyhow::Result<Vec<u8>> {
        let Some(command) = &self.command else { bail!("{NO_TOOLCHAIN}") };
        let fingerprint = self.fingerprint.get_or_try_init(|| self.fingerprint(command)).await?;
        let key = Sha256::new().chain_update(fingerprint).chain_update([0]).chain_update(source).finalize();
        let cached = self.cache_dir.join(format!("{}.wasm", hex::encode(key)));
        if let Ok(wasm) = tokio::fs::read(&cached).await {
            return Ok(wasm);
        }
        let _place = self.places.acquire().await.context("building")?;
        tokio::fs::create_dir_all(&self.cache_dir).await.context("making the Jac build cache")?;
        // Beside the cache, so that the build renames into it whole.
        let work = tempfile::tempdir_in(&self.cache_dir).context("making a build directory")?;
        // Under its own name, so that the compiler's messages name it.
        let (app, out) = (work.path().join(name), work.path().join("app.wasm"));
        tokio::fs::write(&app, source).await.context("writing the source to build")?;
        let started = std::time::Instant::now();
        let (built, said) = self.run(command, &[app.as_os_str(), out.as_os_str()]).await?;
        if !built {
            let toolchain = command.parent().and_then(Path::parent).unwrap_or(Path::new("/"));
            bail!("{name} does not build: {}", reason(&said, &[work.path(), toolchain]));
        }
        let wasm = tokio::fs::read(&out).await.context("reading the built component")?;
        tokio::fs::rename(&out, &cached).await.context("caching the build")?;
        tracing::info!(file = name, ms = started.elapsed().as_millis() as u64, "built");
        Ok(wasm)
    }

    /// What the toolchain's builds depend on besides the source (`--fingerprint`).
    async fn fingerprint(&self, command: &Path) -> anyhow::Result<String> {
        match self.run(command, &["--fingerprint".as_ref()]).await? {
            (true, said) if !said.trim().is_empty() => Ok(said.trim().to_string()),
            _ => bail!("{NO_TOOLCHAIN}"),
        }
    }

    /// Runs the toolchain with `args`; whether it succeeded, and what it said (at most
    /// `MAX_OUTPUT_BYTES` of each pipe, the rest dropped).
    async fn run(&self, command: &Path, args: &[&OsStr]) -> anyhow::Result<(bool, String)> {
        let mut build = tokio::process::Command::new(command);
        build.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        build.kill_on_drop(true).process_group(0);
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            build.pre_exec(|| {
                let limit = libc::rlimit { rlim_cur: MAX_BUILD_MEMORY, rlim_max: MAX_BUILD_MEMORY };
                if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = build.spawn().with_context(|| format!("starting the Jac toolchain {}", command.display()))?;
        let (stdout, stderr) = (child.stdout.take().expect("piped"), child.stderr.take().expect("piped"));
        let said = async {
            let (mut said, errors) = tokio::join!(kept_output(stdout), kept_output(stderr));
            said.extend(errors);
            said
        };
        let ended = tokio::time::timeout(self.time, async { tokio::join!(child.wait(), said) }).await;
        match ended {
            Ok((status, said)) => Ok((status?.success(), String::from_utf8_lossy(&said).into_owned())),
            Err(_) => {
                // The whole group: the script's children (Python, componentize-py) too.
                if let Some(id) = child.id() {
                    unsafe { libc::kill(-(id as i32), libc::SIGKILL) };
                }
                bail!("the build took more than {} s", self.time.as_secs())
            }
        }
    }
}

/// What a build writes to one of its pipes, at most `MAX_OUTPUT_BYTES` of it: the rest
/// is read and dropped, so the build never waits on a full pipe.
async fn kept_output(mut from: impl tokio::io::AsyncRead + Unpin) -> Vec<u8> {
    let (mut kept, mut chunk) = (Vec::new(), [0u8; 8192]);
    loop {
        match from.read(&mut chunk).await {
            Ok(0) | Err(_) => return kept,
            Ok(read) => {
                let room = MAX_OUTPUT_BYTES.saturating_sub(kept.len());
                kept.extend_from_slice(&chunk[..read.min(room)]);
            }
        }
    }
}

/// Why a build failed, from what it said: its last lines, without the host's paths
/// (`hidden`: the build directory, the toolchain's), at most `MAX_REASON_BYTES`.
fn reason(said: &str, hidden: &[&Path]) -> String {
    let said = hidden.iter().fold(said.to_string(), |said, path| said.replace(&format!("{}/", path.display()), ""));
    let lines: Vec<&str> = said.lines().filter(|line| !line.trim().is_empty()).collect();
    let mut reason = String::new();
    for line in lines.iter().rev() {
        if reason.len() + line.len() + 1 > MAX_REASON_BYTES {
            break;
        }
        reason.insert_str(0, &format!("{line}\n"));
    }
    reason.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_reason_keeps_the_last_lines_without_host_paths() {
        let said = "noise\n".repeat(2000) + "/tmp/build.X1/shop.jac:3: Syntax error\n/repo/target/tools/x.py failed\n";
        let reason = reason(&said, &[Path::new("/tmp/build.X1"), Path::new("/repo")]);
        assert!(reason.ends_with("shop.jac:3: Syntax error\ntarget/tools/x.py failed"), "{reason}");
        assert!(reason.len() <= MAX_REASON_BYTES && !reason.contains("/tmp") && !reason.contains("/repo"));
    }
}
