//! e2e_http_methods - the seed's "GET External Data, PUT Update and DELETE Resource" example (shared/seeds/000_810f5427c51ca171.txt)
//! with one change: URLs are built from base_url() instead of https://api.example.com,
//! so an end-to-end test can point them at its loopback HTTP server.

use slung::prelude::*;

fn fetch_config() -> Result<Option<String>> {
    let response = writeback_http(
        &format!("{}/config", base_url()),
        "",
        WritebackMethod::GET
    )?;

    match response {
        Some(body) => Ok(Some(String::from_utf8_lossy(&body).to_string())),
        None => Ok(None),
    }
}

fn update_metric(metric_id: &str, value: f64) -> Result<()> {
    let url = format!("{}/metrics/{}", base_url(), metric_id);
    let payload = format!(r#"{{"value":{}}}"#, value);

    writeback_http(&url, &payload, WritebackMethod::PUT)?;

    Ok(())
}

fn delete_stale_alert(alert_id: &str) -> Result<()> {
    let url = format!("{}/alerts/{}", base_url(), alert_id);

    writeback_http(&url, "", WritebackMethod::DELETE)?;

    Ok(())
}

/// GET the configuration and print it, PUT the historical CPU average, DELETE alert 42:
/// one request of each method, in that order.
#[main]
fn main() -> Result<()> {
    match fetch_config()? {
        Some(config) => println!("config: {}", config),
        None => println!("no config"),
    }
    update_metric("cpu-prod", query_history("AVG:cpu:[host=prod]")?)?;
    delete_stale_alert("42")
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
