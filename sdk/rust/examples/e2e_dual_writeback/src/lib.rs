//! e2e_dual_writeback - the seed's "Dual Writeback" example (shared/seeds/000_810f5427c51ca171.txt)
//! with one change: URLs are built from base_url() instead of https://api.example.com,
//! so an end-to-end test can point them at its loopback HTTP server.

use slung::prelude::*;

fn on_event(event: Event, threshold: f64) -> Result<()> {
    if event.value > threshold {
        let message = format!("Alert: value {} exceeds threshold {}", event.value, threshold);

        // Notify connected clients
        for producer in &event.producers {
            writeback_ws(*producer, &message)?;
        }

        // Log to external system
        let payload = format!(
            r#"{{"timestamp":{},"value":{},"producers":{}}}"#,
            event.timestamp, event.value, event.producers.len()
        );
        writeback_http(
            &format!("{}/logs", base_url()),
            &payload,
            WritebackMethod::POST
        )?;
    }

    Ok(())
}

#[main]
fn main() -> Result<()> {
    let handle = query_live("AVG:temp:[sensor=1]")?;
    poll_handle(handle, on_event, 100.0)?;
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
