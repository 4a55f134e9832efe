//! Results: throughput, latency percentiles, and the server's CPU and RSS from /proc.

use std::time::Duration;

use serde_json::json;

/// One scenario's result.
#[derive(Default)]
pub struct Outcome {
    pub label: String,
    pub scenario: String,
    /// Completed operations (replies, deliveries, calls, connections, reloads).
    pub ops: u64,
    pub elapsed: Duration,
    pub latencies_us: Vec<u64>,
    pub errors: u64,
    pub server: Option<ServerUsage>,
    /// The server's RSS growth per connection, in KB (idle).
    pub rss_per_connection_kb: Option<f64>,
    /// Scenario-specific remarks.
    pub notes: String,
}

impl Outcome {
    pub fn per_second(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn percentile(&mut self, p: f64) -> Option<u64> {
        if self.latencies_us.is_empty() {
            return None;
        }
        self.latencies_us.sort_unstable();
        let index = ((self.latencies_us.len() - 1) as f64 * p).round() as usize;
        Some(self.latencies_us[index])
    }

    pub fn header() -> &'static str {
        "| server | scenario | ops | ops/s | p50 µs | p99 µs | errors | server CPU s | server RSS MiB | notes |\n|---|---|---|---|---|---|---|---|---|---|"
    }

    pub fn row(&mut self) -> String {
        let (p50, p99) = (self.percentile(0.5), self.percentile(0.99));
        let show = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_else(|| "-".into());
        let (cpu, rss) = match &self.server {
            Some(usage) => (format!("{:.2}", usage.cpu_seconds), format!("{:.1}", usage.rss_kib as f64 / 1024.0)),
            None => ("-".into(), "-".into()),
        };
        format!(
            "| {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {} |",
            self.label,
            self.scenario,
            self.ops,
            self.per_second(),
            show(p50),
            show(p99),
            self.errors,
            cpu,
            rss,
            self.notes
        )
    }

    pub fn json(&mut self) -> String {
        let (p50, p99) = (self.percentile(0.5), self.percentile(0.99));
        json!({
            "label": self.label,
            "scenario": self.scenario,
            "ops": self.ops,
            "seconds": self.elapsed.as_secs_f64(),
            "per_second": self.per_second(),
            "p50_us": p50,
            "p99_us": p99,
            "errors": self.errors,
            "server_cpu_s": self.server.as_ref().map(|s| s.cpu_seconds),
            "server_rss_kib": self.server.as_ref().map(|s| s.rss_kib),
            "rss_per_connection_kb": self.rss_per_connection_kb,
            "notes": self.notes,
        })
        .to_string()
    }
}

/// The server's CPU time used during the scenario and its RSS at the end.
pub struct ServerUsage {
    pub cpu_seconds: f64,
    pub rss_kib: u64,
}

/// A reading of /proc/<pid>.
pub struct ServerSample {
    pub cpu_ticks: u64,
    pub rss_kib: u64,
}

/// Linux reports CPU time in USER_HZ ticks, 100 per second on every common platform.
const TICKS_PER_SECOND: f64 = 100.0;

impl ServerSample {
    pub fn take(pid: Option<u32>) -> Option<ServerSample> {
        let pid = pid?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the parenthesized command name; utime and stime are the 14th and 15th.
        let after_name = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let cpu_ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        Some(ServerSample { cpu_ticks, rss_kib: rss_kib(pid)? })
    }

    /// The usage between `before` and `now`, when both readings exist.
    pub fn usage(before: Option<&ServerSample>, now: Option<ServerSample>) -> Option<ServerUsage> {
        let (now, before) = (now?, before?);
        Some(ServerUsage {
            cpu_seconds: now.cpu_ticks.saturating_sub(before.cpu_ticks) as f64 / TICKS_PER_SECOND,
            rss_kib: now.rss_kib,
        })
    }
}

pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
