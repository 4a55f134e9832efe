//! The sandbox's limits: what one walker run may use, and the error when it uses more.

use std::fmt;
use std::time::Duration;

/// Per-run limits, all configurable (see `Config`); the defaults are safe for untrusted walkers.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Linear memory one instance may grow to.
    pub memory_bytes: usize,
    /// Time one attempt of a run may take, instantiation included; a run run again after
    /// a conflict (up to `reruns` times) has this much again for each attempt.
    pub run_time: Duration,
    /// Notifications one run may send (each `notify-*` call counts once).
    pub notifications: u32,
    /// Size of one notification payload.
    pub notification_bytes: usize,
    /// Distinct users, channels or clients one notification (or client event) may name;
    /// a target named twice counts, and is sent, once.
    pub notify_targets: usize,
    /// Total size of one run's reports (or custom report).
    pub report_bytes: usize,
    /// Instances alive at once: the size of the instance pool; further runs wait.
    pub instances: u32,
    /// Long runs computing at once: the cores they may take (see `cores`).
    pub lanes: usize,
    /// How long a run waits for an instance slot before it is refused as busy.
    pub slot_wait: Duration,
    /// Idle warm instances kept per component (walkers with `warm-runs`).
    pub warm_idle: usize,
    /// How long an idle warm instance is kept.
    pub warm_ttl: Duration,
    /// Times a run whose graph writes conflicted, or met another run writing the same
    /// rows, is run again, when it has sent nothing. A re-run holds the locks of the
    /// roots that own those rows from its first graph call, so no other writer of them
    /// can make it lose again: one re-run is enough for runs of signed-in users. What
    /// can make a run lose more often is anonymous runs writing rows of the public root,
    /// which take no lock (see `graph`).
    pub reruns: u32,
    /// Size of one walker file; larger ones are not read.
    pub file_bytes: usize,
    /// Time compiling one component may take before its load fails. Compilation cannot
    /// be interrupted, so it finishes on its thread, still holding a place among the
    /// `compilations` that may run at once.
    pub compile_time: Duration,
    /// Components compiled at once; further loads wait for a place.
    pub compilations: usize,
}

impl Limits {
    pub const DEFAULT_MEMORY_BYTES: usize = 64 << 20;
    pub const DEFAULT_RUN_TIME: Duration = Duration::from_secs(1);
    pub const DEFAULT_NOTIFICATIONS: u32 = 1_000;
    pub const DEFAULT_NOTIFICATION_BYTES: usize = 64 << 10;
    pub const DEFAULT_NOTIFY_TARGETS: usize = 256;
    pub const DEFAULT_REPORT_BYTES: usize = 1 << 20;
    pub const DEFAULT_INSTANCES: u32 = 512;
    pub const DEFAULT_SLOT_WAIT: Duration = Duration::from_secs(1);
    pub const DEFAULT_WARM_IDLE: usize = 16;
    pub const DEFAULT_WARM_TTL: Duration = Duration::from_secs(60);
    pub const DEFAULT_RERUNS: u32 = 16;
    pub const DEFAULT_FILE_BYTES: usize = 256 << 20;
    pub const DEFAULT_COMPILE_TIME: Duration = Duration::from_secs(300);
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: Self::DEFAULT_MEMORY_BYTES,
            run_time: Self::DEFAULT_RUN_TIME,
            notifications: Self::DEFAULT_NOTIFICATIONS,
            notification_bytes: Self::DEFAULT_NOTIFICATION_BYTES,
            notify_targets: Self::DEFAULT_NOTIFY_TARGETS,
            report_bytes: Self::DEFAULT_REPORT_BYTES,
            instances: Self::DEFAULT_INSTANCES,
            lanes: walker_core::all_cores_but_one(),
            slot_wait: Self::DEFAULT_SLOT_WAIT,
            warm_idle: Self::DEFAULT_WARM_IDLE,
            warm_ttl: Self::DEFAULT_WARM_TTL,
            reruns: Self::DEFAULT_RERUNS,
            file_bytes: Self::DEFAULT_FILE_BYTES,
            compile_time: Self::DEFAULT_COMPILE_TIME,
            compilations: std::thread::available_parallelism().map_or(1, |cores| cores.get()),
        }
    }
}

/// A limit a run hit. Raised as a trap from inside the store, recovered by downcasting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitHit {
    Time(Duration),
    Memory(usize),
    /// Its tenant's instances together hold this much memory already.
    TenantMemory(usize),
    Notifications(u32),
    NotificationSize(usize),
    NotificationTargets(usize),
    ReportSize(usize),
    GraphCalls(u32),
    GraphWrites(u32),
    GraphWriteBytes(usize),
    ContextSize(usize),
}

impl LimitHit {
    /// Short machine-readable name, used as the error `type` on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            LimitHit::Time(_) => "time_limit",
            LimitHit::Memory(_) => "memory_limit",
            LimitHit::TenantMemory(_) => "quota_exceeded",
            LimitHit::Notifications(_) => "notification_limit",
            LimitHit::NotificationSize(_) => "notification_size_limit",
            LimitHit::NotificationTargets(_) => "notification_targets_limit",
            LimitHit::ReportSize(_) => "report_size_limit",
            LimitHit::GraphCalls(_) => "graph_call_limit",
            LimitHit::GraphWrites(_) => "graph_write_limit",
            LimitHit::GraphWriteBytes(_) => "graph_write_bytes_limit",
            LimitHit::ContextSize(_) => "context_size_limit",
        }
    }
}

impl fmt::Display for LimitHit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitHit::Time(limit) => write!(f, "time limit of {} ms", limit.as_millis()),
            LimitHit::Memory(limit) => write!(f, "memory limit of {} MiB", limit >> 20),
            LimitHit::TenantMemory(limit) => {
                write!(f, "tenant's memory quota of {} MiB, its instances together", limit >> 20)
            }
            LimitHit::Notifications(limit) => write!(f, "limit of {limit} notifications per run"),
            LimitHit::NotificationSize(limit) => {
                write!(f, "notification size limit of {limit} bytes")
            }
            LimitHit::NotificationTargets(limit) => write!(f, "limit of {limit} targets per notification"),
            LimitHit::ReportSize(limit) => write!(f, "report size limit of {limit} bytes"),
            LimitHit::GraphCalls(limit) => write!(f, "limit of {limit} graph calls per run"),
            LimitHit::GraphWrites(limit) => write!(f, "limit of {limit} graph writes per run"),
            LimitHit::GraphWriteBytes(limit) => write!(f, "limit of {limit} bytes written to the graph per run"),
            LimitHit::ContextSize(limit) => write!(f, "context size limit of {limit} bytes"),
        }
    }
}

impl std::error::Error for LimitHit {}
