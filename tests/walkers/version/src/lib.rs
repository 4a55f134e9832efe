//! A walker whose behaviour depends on the build: `version` reports 1, or 2 with `--features v2`.

use walker_sdk::{Context, Method, Result, Spec, Walker, export_walkers, walker};

const VERSION: u32 = if cfg!(feature = "v2") { 2 } else { 1 };

walker! {
    pub struct Version {}
}
impl Walker for Version {
    const NAME: &'static str = "version";
    fn spec() -> Spec {
        Spec::new().methods([Method::Websocket, Method::Post]).public()
    }
    fn run(self, cx: &mut Context) -> Result {
        cx.report(VERSION);
        Ok(())
    }
}

export_walkers!();
