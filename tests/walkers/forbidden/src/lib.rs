//! A walker that reads a file: it imports `wasi:filesystem`, which the host refuses at load.

use walker_sdk::{Context, Result, Spec, Walker, export_walkers, walker};

walker! {
    pub struct ReadPasswd {}
}
impl Walker for ReadPasswd {
    const NAME: &'static str = "read_passwd";
    fn spec() -> Spec {
        Spec::new().public()
    }
    fn run(self, cx: &mut Context) -> Result {
        cx.report(std::fs::read_to_string("/etc/passwd")?);
        Ok(())
    }
}

export_walkers!(ReadPasswd);
