//! e2e_conditional_writeback - the seed's "Conditional Writeback" example (shared/seeds/000_810f5427c51ca171.txt)
//! with one change: URLs are built from base_url() instead of https://api.example.com,
//! so an end-to-end test can point them at its loopback HTTP server.

use slung::prelude::*;

fn on_event(event: Event, _: ()) -> Result<()> {
    match event.tags.iter().find(|t| t.starts_with("severity=")) {
        Some(tag) if tag.contains("critical") => {
            // Critical: HTTP alert
            writeback_http(
                &format!("{}/alert", base_url()),
                &format!(r#"{{"value":{}}}"#, event.value),
                WritebackMethod::POST
            )?;
        }
        Some(tag) if tag.contains("warning") => {
            // Warning: WebSocket notification
            for producer in event.producers {
                writeback_ws(producer, "Warning level reached")?;
            }
        }
        _ => {
            // Info: no action
        }
    }

    Ok(())
}

#[main]
fn main() -> Result<()> {
    let handle = query_live("MAX:alerts:[]")?;
    poll_handle(handle, on_event, ())?;
    Ok(())
}

/// Base of every URL: the workflow's environment variable SLUNG_EXAMPLE_BASE_URL if the
/// host passes one (WASI environ), else the same variable at build time, else
/// http://127.0.0.1:8080. Tests point it at their loopback HTTP server.
fn base_url() -> String {
    if let Ok(url) = std::env::var("SLUNG_EXAMPLE_BASE_URL") {
        return url;
    }
    match option_env!("SLUNG_EXAMPLE_BASE_URL") {
        Some(url) => url.to_string(),
        None => "http://127.0.0.1:8080".to_string(),
    }
}
