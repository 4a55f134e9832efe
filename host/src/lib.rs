//! walker-host: a jac-cloud compatible real-time server whose walkers are WebAssembly
//! components, loaded from a directory, hot-reloaded and sandboxed.

pub mod catalog;
pub mod reload;
pub mod runtime;
