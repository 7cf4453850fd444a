//! slung - guest SDK for Slung workflows.
//!
//! A workflow is a WebAssembly module the Slung runtime runs (shared/spec/workflows.md).
//! This crate gives it the API of the Slung documentation:
//!
//! ```ignore
//! use slung::prelude::*;
//!
//! #[main]
//! fn main() -> Result<()> {
//!     let handle = query_live("AVG:temp:[sensor=1]")?;
//!     poll_handle(handle, on_event, 100.0)?;
//!     Ok(())
//! }
//!
//! fn on_event(event: Event, threshold: f64) -> Result<()> {
//!     if event.value > threshold {
//!         for producer in event.producers {
//!             writeback_ws(producer, "ALERT: threshold exceeded")?;
//!         }
//!     }
//!     Ok(())
//! }
//! ```
//!
//! Build a workflow as a `cdylib` for `wasm32-wasi` (so `println!` reaches the
//! workflow's log) or `wasm32-unknown-unknown` (no output). The module then exports
//! `memory`, `allocate`, `deallocate` (region.rs) and `call` (made by `#[main]`), and
//! imports only the host functions of module `env` (host.rs) plus, on wasm32-wasi,
//! the WASI functions the Rust standard library uses.
//!
//! Files: api.rs (the functions), event.rs (Event and its JSON), error.rs (Error,
//! Result), region.rs (the memory protocol), host.rs (the raw imports).

#[cfg(target_arch = "wasm32")]
mod api;
mod error;
mod event;
mod host;
#[cfg(target_arch = "wasm32")]
mod region;

#[cfg(target_arch = "wasm32")]
pub use api::{
    free_handle, poll_handle, query_history, query_live, write_event, writeback_http,
    writeback_ws, WritebackMethod,
};
pub use error::{Error, Result};
pub use event::Event;
pub use slung_macros::main;

/// Everything a workflow needs: `use slung::prelude::*;`.
#[cfg(target_arch = "wasm32")]
pub mod prelude {
    pub use crate::{
        free_handle, main, poll_handle, query_history, query_live, write_event, writeback_http,
        writeback_ws, Error, Event, Result, WritebackMethod,
    };
}

/// Used by the code `#[main]` generates; not part of the API.
#[doc(hidden)]
pub mod __private {
    /// Runs the workflow's entry function and turns its result into `call`'s i32.
    pub fn run_main(f: fn() -> crate::Result<()>) -> i32 {
        match f() {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("workflow failed: {}", e);
                1
            }
        }
    }
}
