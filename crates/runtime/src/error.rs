//! Why a walker run failed, in terms a caller may see: never a path or a backtrace.

use std::fmt;

use super::limits::LimitHit;

/// The error type of a run, or an entry check, that found the graph store unreachable.
pub const STORE_UNAVAILABLE: &str = "storage_unavailable";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunError {
    pub walker: String,
    pub kind: RunErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunErrorKind {
    /// The walker returned an error (jac: an exception).
    Failed(String),
    /// The sandbox stopped it.
    Limit(LimitHit),
    /// It trapped: a panic, `unreachable`, an out-of-bounds access…
    Trapped(String),
    /// It returned something the host cannot use, such as a report that is not JSON.
    InvalidOutput(String),
    /// Its graph writes conflicted with another run's, and it could not be re-run
    /// (it had already sent notifications, or conflicted again).
    Conflict,
    /// Committing its graph writes would take a root past a storage quota.
    Quota(String),
    /// The graph store could not be reached; nothing was written.
    StoreUnavailable,
    /// Every instance slot (or every place its tenant may run in) stayed taken for this
    /// long: the server, or the tenant's share of it, is at capacity.
    Busy(std::time::Duration),
    /// Its tenant's runs per second are used up; it was not started.
    RateLimited,
    /// Its tenant has spent its CPU time per second; it was not started. Repaid in this long.
    CpuQuota(std::time::Duration),
    /// The host could not run it (instantiation failed); details are in the log.
    Internal,
}

impl RunError {
    pub fn new(walker: &str, kind: RunErrorKind) -> Self {
        RunError { walker: walker.to_string(), kind }
    }

    /// Short machine-readable name, used as the error `type` on the wire.
    pub fn kind_name(&self) -> &'static str {
        match &self.kind {
            RunErrorKind::Failed(_) => "walker_error",
            RunErrorKind::Limit(limit) => limit.kind(),
            RunErrorKind::Trapped(_) => "walker_trap",
            RunErrorKind::InvalidOutput(_) => "invalid_output",
            RunErrorKind::Busy(_) => "busy",
            RunErrorKind::RateLimited => "rate_limited",
            RunErrorKind::CpuQuota(_) => "quota_exceeded",
            RunErrorKind::StoreUnavailable => STORE_UNAVAILABLE,
            RunErrorKind::Conflict => "conflict",
            RunErrorKind::Quota(_) => "storage_quota",
            RunErrorKind::Internal => "internal_error",
        }
    }
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let walker = &self.walker;
        match &self.kind {
            RunErrorKind::Failed(message) => write!(f, "walker {walker} failed: {message}"),
            RunErrorKind::Limit(limit) => write!(f, "walker {walker} exceeded its {limit}"),
            RunErrorKind::Trapped(trap) => write!(f, "walker {walker} trapped: {trap}"),
            RunErrorKind::InvalidOutput(what) => write!(f, "walker {walker} returned {what}"),
            RunErrorKind::Conflict => {
                write!(f, "walker {walker} conflicted with a concurrent change to the graph; nothing was written")
            }
            RunErrorKind::Quota(quota) => write!(f, "walker {walker} exceeded the {quota}; nothing was written"),
            RunErrorKind::Busy(waited) => {
                write!(f, "walker {walker} could not start: every instance was busy for {} ms", waited.as_millis())
            }
            RunErrorKind::RateLimited => write!(f, "walker {walker} was not run: too many runs per second"),
            RunErrorKind::CpuQuota(_) => write!(f, "walker {walker} was not run: its CPU time per second is used up"),
            RunErrorKind::StoreUnavailable => {
                write!(f, "walker {walker} could not reach the graph store; nothing was written")
            }
            RunErrorKind::Internal => write!(f, "walker {walker} could not be run"),
        }
    }
}

impl std::error::Error for RunError {}
