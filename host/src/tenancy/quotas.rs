//! What one declared tenant may take of the shared server: open connections, walker runs
//! per second (a token bucket with a burst of twice the rate), runs at once (its share of
//! the instance slots), CPU time per second (charged by the runtime's `cores`), linear
//! memory of its instances together (held against its `Share`), client
//! events read per second (by reading its sockets more slowly), and notifications
//! delivered per second (a bucket its hub keeps). The default tenant has no quotas.
//!
//! Fairness between tenants is the runtime's: instance slots and the cores long runs take
//! turns on are granted to tenants in turn, so no tenant waits behind another's backlog,
//! and long runs never hold the last core.

use serde::Deserialize;

/// Quotas as the tenants file sets them: `[defaults]` for every declared tenant, then
/// `[tenants.<name>.quotas]`; what neither sets takes the built-in default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaSettings {
    /// Open WebSocket connections.
    pub connections: Option<usize>,
    /// Walker runs started per second, over REST and WebSocket together.
    pub runs_per_second: Option<u32>,
    /// Walker runs at once; further runs wait (up to `--walker-slot-wait-ms`, then `busy`).
    pub concurrent_runs: Option<usize>,
    /// CPU time its walkers may use per second, in milliseconds (a burst of twice that);
    /// once spent, its long runs wait and its new runs are refused (`quota_exceeded`).
    pub cpu_ms_per_second: Option<u32>,
    /// Linear memory its walker instances (running and warm) may hold together, in MiB;
    /// a run whose instance would grow past it fails with `quota_exceeded`.
    pub memory_mib: Option<usize>,
    /// Graph storage of all its roots together, in MiB (as `--quota-bytes` counts it),
    /// checked with each commit: one that would grow past it fails with `storage_quota`
    /// and writes nothing. Unlimited by default: on PostgreSQL, a tenant with this quota
    /// commits one run at a time (every commit updates its one total row).
    pub storage_mib: Option<u64>,
    /// WebSocket client events read per second from all its connections together; over
    /// it, its connections are read more slowly (TCP pushes back on the senders), so a
    /// flood costs the server no more than this rate.
    pub events_per_second: Option<u32>,
    /// Notifications queued for its connections per second (fan-out to other connections:
    /// `user`, `channel` and `client` events and walkers' `notify_*`); a notification
    /// that would exceed it is dropped for every recipient, and counted.
    pub deliveries_per_second: Option<u32>,
}

/// A tenant's quotas in effect.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TenantQuotas {
    pub connections: usize,
    pub runs_per_second: u32,
    pub concurrent_runs: usize,
    pub cpu_ms_per_second: u32,
    pub memory_mib: usize,
    pub storage_mib: Option<u64>,
    pub events_per_second: u32,
    pub deliveries_per_second: u32,
}

impl TenantQuotas {
    pub const DEFAULT_CONNECTIONS: usize = 10_000;
    pub const DEFAULT_RUNS_PER_SECOND: u32 = 2_000;
    pub const DEFAULT_CONCURRENT_RUNS: usize = 64;
    pub const DEFAULT_MEMORY_MIB: usize = 2048;
    /// Per core that long runs may take (cores − 1), like the CPU time: a tenant's floods
    /// must leave the machine to the others. Measured on 2 cores, another tenant's p99
    /// under a flood of failing calls from 32 sockets: 1.9× at 10 000 events/s, 1.2× at
    /// 3 000; under a fan-out flood to 1 000 sockets: 5.9× at 50 000 deliveries/s,
    /// 1.8–3.2× at 20 000, 1.5–1.85× at 10 000.
    pub const DEFAULT_EVENTS_PER_SECOND_PER_CORE: u32 = 5_000;
    pub const DEFAULT_DELIVERIES_PER_SECOND_PER_CORE: u32 = 10_000;

    /// `tenant`'s settings over `defaults` over the built-in defaults.
    pub fn resolve(defaults: &QuotaSettings, tenant: &QuotaSettings) -> anyhow::Result<TenantQuotas> {
        let per_core = |rate: u32| rate.saturating_mul(walker_core::all_cores_but_one() as u32);
        let quotas = TenantQuotas {
            connections: tenant.connections.or(defaults.connections).unwrap_or(Self::DEFAULT_CONNECTIONS),
            runs_per_second: (tenant.runs_per_second.or(defaults.runs_per_second))
                .unwrap_or(Self::DEFAULT_RUNS_PER_SECOND),
            concurrent_runs: (tenant.concurrent_runs.or(defaults.concurrent_runs))
                .unwrap_or(Self::DEFAULT_CONCURRENT_RUNS),
            // Alone, a tenant may use every core long runs may take.
            cpu_ms_per_second: (tenant.cpu_ms_per_second.or(defaults.cpu_ms_per_second))
                .unwrap_or_else(|| per_core(1000)),
            memory_mib: tenant.memory_mib.or(defaults.memory_mib).unwrap_or(Self::DEFAULT_MEMORY_MIB),
            storage_mib: tenant.storage_mib.or(defaults.storage_mib),
            events_per_second: (tenant.events_per_second.or(defaults.events_per_second))
                .unwrap_or_else(|| per_core(Self::DEFAULT_EVENTS_PER_SECOND_PER_CORE)),
            deliveries_per_second: (tenant.deliveries_per_second.or(defaults.deliveries_per_second))
                .unwrap_or_else(|| per_core(Self::DEFAULT_DELIVERIES_PER_SECOND_PER_CORE)),
        };
        anyhow::ensure!(quotas.runs_per_second > 0, "runs_per_second must be at least 1");
        anyhow::ensure!(quotas.concurrent_runs > 0, "concurrent_runs must be at least 1");
        anyhow::ensure!(quotas.cpu_ms_per_second > 0, "cpu_ms_per_second must be at least 1");
        anyhow::ensure!(quotas.memory_mib > 0, "memory_mib must be at least 1");
        anyhow::ensure!(quotas.storage_mib != Some(0), "storage_mib must be at least 1");
        anyhow::ensure!(quotas.events_per_second > 0, "events_per_second must be at least 1");
        anyhow::ensure!(quotas.deliveries_per_second > 0, "deliveries_per_second must be at least 1");
        Ok(quotas)
    }
}
