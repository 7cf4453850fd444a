//! delete_resource - the Slung documentation's "Example: DELETE Resource" example, copied verbatim from
//! shared/seeds/000_810f5427c51ca171.txt between the BEGIN and END lines. Only what the
//! seed elides is added outside them. Build: sdk/build-examples.sh OUTDIR.

// ---- BEGIN seed text ----
use slung::prelude::*;

fn delete_stale_alert(alert_id: &str) -> Result<()> {
    let url = format!("https://api.example.com/alerts/{}", alert_id);
    
    writeback_http(&url, "", WritebackMethod::DELETE)?;
    
    Ok(())
}
// ---- END seed text ----

/// Entry point (the seed's fragment has none): delete one alert.
#[main]
fn main() -> Result<()> {
    delete_stale_alert("42")
}
