//! Host bindings for the `jac:walker` WIT world (`wit/walker.wit`).
//!
//! Exports are async so calls run on a fiber that epoch interruption can pause and the
//! run deadline can cancel. `socket` imports may trap: that is how the per-run
//! notification limits stop a walker.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "walkers",
    imports: { "jac:walker/socket": trappable },
    exports: { default: async },
});

pub use jac::walker::log::Level;
pub use jac::walker::types::{FieldType, Method, Transport};
