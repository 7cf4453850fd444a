//! host.rs - the raw host functions, imported from module `env` with exactly the wasm
//! types of shared/spec/workflows.md ("Host functions"). A `u32` argument or result is
//! the address of a Region in guest memory (0 = none); i32 on the wire.
//! Only compiled for wasm32: elsewhere there is no Slung host to import from.

#[cfg(target_arch = "wasm32")]
#[link(wasm_import_module = "env")]
extern "C" {
    pub fn u_query_live(filter: u32) -> i64;
    pub fn u_query_history(filter: u32) -> f64;
    pub fn u_poll_handle(handle: i64) -> u32;
    pub fn u_free_handle(handle: i64) -> i32;
    pub fn u_write_event(ts: u32, value: u32, tags: u32) -> i32;
    pub fn u_writeback_ws(producer: i64, data: u32) -> i32;
    pub fn u_writeback_http(url: u32, body: u32, method: i32) -> u32;
}
