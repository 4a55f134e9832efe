//! Walkers that reach outside the sandbox; the host refuses each at load. Built three
//! times: by default it imports `wasi:filesystem`, with `sockets` `wasi:sockets`, with
//! `http` `wasi:http`.

use walker_sdk::{Context, Result, Spec, Walker, export_walkers, walker};

walker! {
    pub struct Escape {}
}
impl Walker for Escape {
    const NAME: &'static str = "escape";
    fn spec() -> Spec {
        Spec::new().public()
    }
    #[cfg(not(any(feature = "sockets", feature = "http")))]
    fn run(self, cx: &mut Context) -> Result {
        cx.report(std::fs::read_to_string("/etc/passwd")?);
        Ok(())
    }
    #[cfg(feature = "sockets")]
    fn run(self, cx: &mut Context) -> Result {
        let stream = std::net::TcpStream::connect("127.0.0.1:6379")?;
        cx.report(stream.peer_addr()?.to_string());
        Ok(())
    }
    #[cfg(feature = "http")]
    fn run(self, cx: &mut Context) -> Result {
        cx.report(http::wasi::http::outgoing_handler::handle("http://127.0.0.1/"));
        Ok(())
    }
}

/// Only the name matters: the host refuses any `wasi:http` import before linking.
#[cfg(feature = "http")]
mod http {
    wit_bindgen::generate!({
        inline: "package wasi:http@1.0.0;
                 interface outgoing-handler { handle: func(url: string) -> string; }
                 world fetch { import outgoing-handler; }",
        world: "fetch",
    });
}

export_walkers!();
