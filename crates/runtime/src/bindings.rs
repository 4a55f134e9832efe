//! Host bindings for the `jac:walker` WIT world (`wit/walker.wit`).
//!
//! Exports are async so calls run on a fiber that epoch interruption can pause and the
//! run deadline can cancel. `socket` and `graph` imports may trap: that is how per-run
//! limits stop a walker. `graph` imports are async: they may wait for the root's lock;
//! `respond`'s too: a streamed chunk waits while the client is behind.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "walkers",
    imports: {
        "jac:walker/socket": trappable,
        "jac:walker/graph": async | trappable,
        "jac:walker/respond": async,
    },
    exports: { default: async },
});

pub use jac::walker::log::Level;
pub use jac::walker::types::{EntryType, FieldType, Method, Transport};
