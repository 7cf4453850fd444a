//! get_config - the Slung documentation's "Example: GET External Data" example, copied verbatim from
//! shared/seeds/000_810f5427c51ca171.txt between the BEGIN and END lines. Only what the
//! seed elides is added outside them. Build: sdk/build-examples.sh OUTDIR.

// ---- BEGIN seed text ----
use slung::prelude::*;

fn fetch_config() -> Result<Option<String>> {
    let response = writeback_http(
        "https://api.example.com/config",
        "",
        WritebackMethod::GET
    )?;
    
    match response {
        Some(body) => Ok(Some(String::from_utf8_lossy(&body).to_string())),
        None => Ok(None),
    }
}
// ---- END seed text ----

/// Entry point (the seed's fragment has none): fetch the configuration once.
#[main]
fn main() -> Result<()> {
    match fetch_config()? {
        Some(config) => println!("config: {}", config),
        None => println!("no config"),
    }
    Ok(())
}
