//! walker-core: the words every other crate of walker-host shares, and nothing else:
//! jac-cloud's ids and roots (`ids`), access levels and store errors (`access`), token
//! buckets (`rate`), a semaphore that serves tenants in turn (`fair`), and metric
//! helpers (`metrics`), and the deduplication of notification targets (`targets`). It depends on no other crate of the workspace.

pub mod access;
pub mod fair;
pub mod ids;
pub mod metrics;
pub mod rate;
pub mod targets;

/// The name of the tenant that serves the top-level walkers at the root paths: what a
/// deployment without a tenants file runs as.
pub const DEFAULT_TENANT: &str = "default";

/// One fewer than the cores, and at least one: the default for work that must leave a
/// core to everything else (password hashing, long walker runs, a tenant's concurrent
/// runs).
pub fn all_cores_but_one() -> usize {
    std::thread::available_parallelism().map_or(1, |cores| cores.get().saturating_sub(1).max(1))
}
