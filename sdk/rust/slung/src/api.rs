//! api.rs - the workflow API of the Slung documentation, over the raw host functions
//! of host.rs (shared/spec/workflows.md "Host functions", shared/spec/query.md).
//! Text goes to the host as Regions on our stack that describe the caller's bytes
//! (region.rs `Region::of`); what the host returns is copied out and freed
//! (`take_region`).
//! Threads: one; every call blocks until the host answers.

use crate::error::{Error, Result};
use crate::event::Event;
use crate::host;
use crate::region::{take_region, Region};

/// HTTP method of `writeback_http`; the discriminant is the wire value of the spec.
#[allow(clippy::upper_case_acronyms)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WritebackMethod {
    GET = 0,
    POST = 1,
    PUT = 2,
    DELETE = 3,
}

/// Registers a live query (e.g. `"AVG:temp:[sensor=1]"`) and returns its handle (>= 1).
pub fn query_live(filter: &str) -> Result<u64> {
    let r = Region::of(filter.as_bytes())?;
    // SAFETY: r and the bytes it describes outlive the call.
    let h = unsafe { host::u_query_live(r.addr()) };
    if h <= 0 {
        return Err(Error::QueryLive(filter.to_string()));
    }
    Ok(h as u64)
}

/// Evaluates a historical aggregate. The host answers 0.0 both for a failed query and
/// for a real zero; the ABI cannot tell them apart (query.md, "Historical queries").
pub fn query_history(filter: &str) -> Result<f64> {
    let r = Region::of(filter.as_bytes())?;
    // SAFETY: as in query_live.
    Ok(unsafe { host::u_query_history(r.addr()) })
}

/// Delivers the events of `handle` to `callback(event, arg.clone())`, for as long as the
/// workflow runs. `u_poll_handle` answering 0 means no event yet: it is asked again (the
/// host waits a bounded time on its side, so this does not spin). Returns only on an
/// error: the first `Err` the callback returns, or a malformed event from the host.
pub fn poll_handle<A, F>(handle: u64, mut callback: F, arg: A) -> Result<()>
where
    A: Clone,
    F: FnMut(Event, A) -> Result<()>,
{
    loop {
        // SAFETY: plain integer call; the result is a Region we now own, or 0.
        let r = unsafe { host::u_poll_handle(handle as i64) };
        if let Some(bytes) = take_region(r) {
            let event = Event::from_json(&bytes)?;
            callback(event, arg.clone())?;
        }
    }
}

/// Removes a live query and its pending event.
pub fn free_handle(handle: u64) -> Result<()> {
    // SAFETY: plain integer call.
    match unsafe { host::u_free_handle(handle as i64) } {
        0 => Ok(()),
        _ => Err(Error::FreeHandle(handle)),
    }
}

/// Writes one point through the ingest path (producer 0). `tags` are `key=value`
/// strings; a `series=NAME` tag names the series (default `temp`). `timestamp` is in
/// nanoseconds since the Unix epoch.
pub fn write_event<S: AsRef<str>>(timestamp: i64, value: f64, tags: &[S]) -> Result<()> {
    let ts = timestamp.to_string();
    let val = value.to_string();
    let joined = tags.iter().map(|t| t.as_ref()).collect::<Vec<&str>>().join(",");
    let rt = Region::of(ts.as_bytes())?;
    let rv = Region::of(val.as_bytes())?;
    let rg = Region::of(joined.as_bytes())?;
    // SAFETY: the three Regions and the strings they describe outlive the call.
    let rc = unsafe { host::u_write_event(rt.addr(), rv.addr(), rg.addr()) };
    match rc {
        0 => Ok(()),
        _ => Err(Error::WriteEvent(rc)),
    }
}

/// Sends `data` as a text message to the WebSocket connection `destination` (a
/// producer id from `Event::producers`).
pub fn writeback_ws(destination: u64, data: &str) -> Result<()> {
    let r = Region::of(data.as_bytes())?;
    // SAFETY: r and `data` outlive the call.
    match unsafe { host::u_writeback_ws(destination as i64, r.addr()) } {
        0 => Ok(()),
        _ => Err(Error::WritebackWs(destination)),
    }
}

/// Sends an HTTP request. `Ok(Some(body))` is the response body; `Ok(None)` means no
/// body or a failed request: the ABI does not distinguish them (workflows.md).
pub fn writeback_http(
    destination: &str,
    data: &str,
    method: WritebackMethod,
) -> Result<Option<Vec<u8>>> {
    let ru = Region::of(destination.as_bytes())?;
    let rb = Region::of(data.as_bytes())?;
    // SAFETY: both Regions and the strings they describe outlive the call.
    let r = unsafe { host::u_writeback_http(ru.addr(), rb.addr(), method as i32) };
    Ok(take_region(r))
}
