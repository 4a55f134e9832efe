//! Walkers that attack the sandbox, each in one way, one that behaves, and one that
//! reads its tenant's variables.

use walker_sdk::{Context, Method, Result, Spec, Walker, export_walkers, json, walker};

fn public() -> Spec {
    Spec::new().methods([Method::Websocket, Method::Post]).public()
}

walker! {
    /// Never returns.
    pub struct Spin {}
}
impl Walker for Spin {
    const NAME: &'static str = "spin";
    fn spec() -> Spec {
        public()
    }
    fn run(self, _cx: &mut Context) -> Result {
        let mut n: u64 = 0;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
}

walker! {
    /// Allocates `mib` MiB and touches every page.
    pub struct MemoryBomb { mib: usize = 512 }
}
impl Walker for MemoryBomb {
    const NAME: &'static str = "memory_bomb";
    fn spec() -> Spec {
        public()
    }
    fn run(self, cx: &mut Context) -> Result {
        let block = vec![1u8; self.mib << 20];
        cx.report(std::hint::black_box(&block).len());
        Ok(())
    }
}

walker! {
    /// Panics (a trap: Rust guests abort on panic).
    pub struct Panic {}
}
impl Walker for Panic {
    const NAME: &'static str = "panic";
    fn spec() -> Spec {
        public()
    }
    fn run(self, _cx: &mut Context) -> Result {
        panic!("walker gave up")
    }
}

walker! {
    /// Sends `count` notifications to one channel.
    pub struct Flood { channel_id: String, count: u32 = 1_000_000 }
}
impl Walker for Flood {
    const NAME: &'static str = "flood";
    fn spec() -> Spec {
        public()
    }
    fn run(self, cx: &mut Context) -> Result {
        for i in 0..self.count {
            cx.notify_channels([&self.channel_id], json!({"flood": i}));
        }
        Ok(())
    }
}

walker! {
    /// Reports `mib` MiB of text.
    pub struct HugeReport { mib: usize = 8 }
}
impl Walker for HugeReport {
    const NAME: &'static str = "huge_report";
    fn spec() -> Spec {
        public()
    }
    fn run(self, cx: &mut Context) -> Result {
        cx.report("x".repeat(self.mib << 20));
        Ok(())
    }
}

walker! {
    /// Behaves: echoes its context back, to show the host still serves.
    pub struct Echo { value: walker_sdk::Value = walker_sdk::Value::Null }
}
impl Walker for Echo {
    const NAME: &'static str = "echo";
    fn spec() -> Spec {
        public()
    }
    fn run(self, cx: &mut Context) -> Result {
        cx.report(self.value);
        Ok(())
    }
}

walker! {
    /// Sends `count` notifications of `bytes` bytes to its own connection.
    pub struct SelfFlood { count: u32, bytes: usize }
}
impl Walker for SelfFlood {
    const NAME: &'static str = "self_flood";
    fn spec() -> Spec {
        public()
    }
    fn run(self, cx: &mut Context) -> Result {
        // A JSON string of exactly `bytes` bytes, quotes included.
        let payload = "x".repeat(self.bytes.saturating_sub(2));
        for _ in 0..self.count {
            cx.notify_self(&payload);
        }
        cx.report(self.count);
        Ok(())
    }
}

walker! {
    /// Reports one string whose JSON text is exactly `bytes` bytes, as a report or as a
    /// custom report.
    pub struct SizedReport { bytes: usize, custom: bool = false }
}
impl Walker for SizedReport {
    const NAME: &'static str = "sized_report";
    fn spec() -> Spec {
        public()
    }
    fn run(self, cx: &mut Context) -> Result {
        let text = "x".repeat(self.bytes.saturating_sub(2));
        if self.custom {
            cx.custom_report(text)
        } else {
            cx.report(text)
        }
        Ok(())
    }
}

walker! {
    /// Replies with HTTP status `status`, whatever it is.
    pub struct AnyStatus { status: u16 }
}
impl Walker for AnyStatus {
    const NAME: &'static str = "any_status";
    fn spec() -> Spec {
        public()
    }
    fn run(self, cx: &mut Context) -> Result {
        cx.set_status(self.status);
        cx.report("done");
        Ok(())
    }
}

walker! {
    /// Sends a notification that is not JSON, past the SDK's checks.
    pub struct NotJson {}
}
impl Walker for NotJson {
    const NAME: &'static str = "not_json";
    fn spec() -> Spec {
        public()
    }
    fn run(self, _cx: &mut Context) -> Result {
        walker_sdk::bindings::jac::walker::socket::notify_self("{not json");
        Ok(())
    }
}

walker! {
    /// Writes `lines` log lines of `bytes` bytes each, numbered.
    pub struct Chatty { lines: u32, bytes: usize = 10 }
}
impl Walker for Chatty {
    const NAME: &'static str = "chatty";
    fn spec() -> Spec {
        public()
    }
    fn run(self, _cx: &mut Context) -> Result {
        for line in 0..self.lines {
            let text = format!("line {line} ");
            walker_sdk::log::info(&format!("{text}{}", "y".repeat(self.bytes.saturating_sub(text.len()))));
        }
        Ok(())
    }
}

walker! {
    /// Served over PUT, PATCH and DELETE: reports its input back, and whether it came over HTTP.
    pub struct Methods { value: i64 }
}
impl Walker for Methods {
    const NAME: &'static str = "methods";
    fn spec() -> Spec {
        Spec::new().methods([Method::Put, Method::Patch, Method::Delete]).public()
    }
    fn run(self, cx: &mut Context) -> Result {
        cx.report(
            json!({"value": self.value, "transport": matches!(cx.caller().transport, walker_sdk::Transport::Http)}),
        );
        Ok(())
    }
}

walker! {
    /// Sleeps `ms` milliseconds without using the CPU (a WASI clock wait), holding its instance.
    pub struct Nap { ms: u64 }
}
impl Walker for Nap {
    const NAME: &'static str = "nap";
    fn spec() -> Spec {
        public()
    }
    fn run(self, cx: &mut Context) -> Result {
        std::thread::sleep(std::time::Duration::from_millis(self.ms));
        cx.report(self.ms);
        Ok(())
    }
}

walker! {
    /// Reads tenant variable `name`; declares `greeting` and `api_key` only.
    pub struct ReadVar { name: String }
}
impl Walker for ReadVar {
    const NAME: &'static str = "read_var";
    fn spec() -> Spec {
        public().vars(["greeting", "api_key"])
    }
    fn run(self, cx: &mut Context) -> Result {
        use walker_sdk::config::{Error, get};
        cx.report(match get(&self.name) {
            Ok(value) => json!({"value": value}),
            Err(Error::Denied(message)) => json!({"denied": message}),
            Err(Error::Undefined(message)) => json!({"undefined": message}),
        });
        Ok(())
    }
}

walker! {
    /// Computes for `compute_ms`, then sleeps `sleep_ms` (a WASI clock wait): a long run
    /// that then waits.
    pub struct ComputeThenSleep { compute_ms: u64, sleep_ms: u64 }
}
impl Walker for ComputeThenSleep {
    const NAME: &'static str = "compute_then_sleep";
    fn spec() -> Spec {
        public()
    }
    fn run(self, cx: &mut Context) -> Result {
        let until = std::time::Instant::now() + std::time::Duration::from_millis(self.compute_ms);
        let mut n: u64 = 0;
        while std::time::Instant::now() < until {
            n = std::hint::black_box(n.wrapping_add(1));
        }
        std::thread::sleep(std::time::Duration::from_millis(self.sleep_ms));
        cx.report(self.sleep_ms);
        Ok(())
    }
}

walker! {
    /// Notifies every user and every channel listed, repeats and all, in one call each.
    pub struct NotifyMany { users: Vec<String>, channels: Vec<String> }
}
impl Walker for NotifyMany {
    const NAME: &'static str = "notify_many";
    fn spec() -> Spec {
        public()
    }
    fn run(self, cx: &mut Context) -> Result {
        if !self.users.is_empty() {
            cx.notify_users(self.users, json!({"from": "walker"}));
        }
        if !self.channels.is_empty() {
            cx.notify_channels(self.channels, json!({"from": "walker"}));
        }
        Ok(())
    }
}

/// Built only into `hostile-declare.wasm`: its listing declares one field schema a
/// thousand times under a 48 MiB walker name, so a host that kept the name once per
/// schema would hold 48 GB. The host must refuse the component and live.
#[cfg(feature = "declare-bomb")]
mod declare_bomb {
    use super::*;
    use walker_sdk::bindings::jac::walker::declare::{FieldSchema, field_schemas};

    walker! {
        pub struct DeclareBomb {}
    }
    impl Walker for DeclareBomb {
        const NAME: &'static str = "declare_bomb";
        fn spec() -> Spec {
            let name = "w".repeat(48 << 20);
            let schema = FieldSchema { field: "f".into(), schema: "{}".into() };
            field_schemas(&name, &vec![schema; 1000]);
            public()
        }
        fn run(self, _cx: &mut Context) -> Result {
            Ok(())
        }
    }
}

export_walkers!();
