//! Walkers that attack the sandbox, each in one way, and one that behaves.

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

export_walkers!(Spin, MemoryBomb, Panic, Flood, HugeReport, Echo);
