//! e2e_post_alert - the seed's "POST Alert" example (shared/seeds/000_810f5427c51ca171.txt)
//! with one change: URLs are built from base_url() instead of https://api.example.com,
//! so an end-to-end test can point them at its loopback HTTP server.

use slung::prelude::*;

#[main]
fn main() -> Result<()> {
    let handle = query_live("AVG:cpu:[host=prod]:[5min]")?;
    poll_handle(handle, on_event, 80.0)?;
    Ok(())
}

fn on_event(event: Event, threshold: f64) -> Result<()> {
    if event.value > threshold {
        let payload = format!(
            r#"{{"timestamp":{},"value":{},"threshold":{}}}"#,
            event.timestamp, event.value, threshold
        );

        let response = writeback_http(
            &format!("{}/alerts", base_url()),
            &payload,
            WritebackMethod::POST
        )?;

        if let Some(body) = response {
            println!("Alert sent, response: {:?}", String::from_utf8_lossy(&body));
        } else {
            println!("Alert sent, no response body");
        }
    }

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
