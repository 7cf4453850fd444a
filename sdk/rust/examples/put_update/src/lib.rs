//! put_update - the Slung documentation's "Example: PUT Update" example, copied verbatim from
//! shared/seeds/000_810f5427c51ca171.txt between the BEGIN and END lines. Only what the
//! seed elides is added outside them. Build: sdk/build-examples.sh OUTDIR.

// ---- BEGIN seed text ----
use slung::prelude::*;

fn update_metric(metric_id: &str, value: f64) -> Result<()> {
    let url = format!("https://api.example.com/metrics/{}", metric_id);
    let payload = format!(r#"{{"value":{}}}"#, value);
    
    writeback_http(&url, &payload, WritebackMethod::PUT)?;
    
    Ok(())
}
// ---- END seed text ----

/// Entry point (the seed's fragment has none): publish the historical CPU average.
#[main]
fn main() -> Result<()> {
    let value = query_history("AVG:cpu:[host=prod]")?;
    update_metric("cpu-prod", value)
}
