//! error.rs - the SDK's error type. Every failed host call becomes an `Error` that
//! says which call failed and with what input, so `println!("{}", e)` is useful in a
//! workflow's log. Workflows may also build their own with `Error::msg` or `?` on a
//! `String`/`&str`.

use std::fmt;

/// What went wrong in a call to the Slung host (or in the workflow, via `Error::msg`).
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// `u_query_live` returned 0: the filter does not parse or the registry is full.
    QueryLive(String),
    /// `u_free_handle` returned non-zero: the handle is unknown.
    FreeHandle(u64),
    /// `u_poll_handle` returned an event that is not the JSON of shared/spec/query.md.
    BadEvent(String),
    /// `u_write_event` returned the non-zero status.
    WriteEvent(i32),
    /// `u_writeback_ws` returned non-zero: the producer is unknown or its connection closed.
    WritebackWs(u64),
    /// A buffer is larger than the 32-bit guest address space can describe.
    TooLarge(usize),
    /// A message from the workflow itself.
    Msg(String),
}

/// The result of every SDK call; `Result<T>` is `std::result::Result<T, slung::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error carrying the workflow's own message.
    pub fn msg(m: impl Into<String>) -> Error {
        Error::Msg(m.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::QueryLive(q) => write!(f, "live query {:?} was refused by the host", q),
            Error::FreeHandle(h) => write!(f, "handle {} is unknown to the host", h),
            Error::BadEvent(why) => write!(f, "host sent a malformed event: {}", why),
            Error::WriteEvent(rc) => write!(f, "write_event failed with status {}", rc),
            Error::WritebackWs(p) => {
                write!(f, "producer {} is unknown or its connection is closed", p)
            }
            Error::TooLarge(n) => write!(f, "buffer of {} bytes is too large for a Region", n),
            Error::Msg(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

impl From<String> for Error {
    fn from(m: String) -> Error {
        Error::Msg(m)
    }
}

impl From<&str> for Error {
    fn from(m: &str) -> Error {
        Error::Msg(m.to_string())
    }
}
