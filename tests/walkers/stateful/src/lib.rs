//! A walker with a global, reused warm for 3 runs: it shows what persists between runs
//! of a warm instance, and when a fresh one takes over.

use std::sync::atomic::{AtomicU32, Ordering};

use walker_sdk::{Context, Method, Result, Spec, Walker, export_walkers, walker};

static RUNS: AtomicU32 = AtomicU32::new(0);

walker! {
    /// Reports how many runs this instance has served, this one included; traps on request.
    pub struct Count { trap: bool = false }
}
impl Walker for Count {
    const NAME: &'static str = "count";
    fn spec() -> Spec {
        Spec::new().methods([Method::Websocket, Method::Post]).public().warm(3)
    }
    fn run(self, cx: &mut Context) -> Result {
        let runs = RUNS.fetch_add(1, Ordering::Relaxed) + 1;
        if self.trap {
            panic!("trap requested");
        }
        cx.report(runs);
        Ok(())
    }
}

export_walkers!();
