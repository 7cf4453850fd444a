//! alert_system - the Slung documentation's "Example: Alert System" example, copied verbatim from
//! shared/seeds/000_810f5427c51ca171.txt between the BEGIN and END lines. Only what the
//! seed elides is added outside them. Build: sdk/build-examples.sh OUTDIR.

// ---- BEGIN seed text ----
use slung::prelude::*;

#[main]
fn main() -> Result<()> {
    let handle = query_live("AVG:temp:[sensor=1]")?;
    poll_handle(handle, on_event, 100.0)?;
    Ok(())
}

fn on_event(event: Event, alert_threshold: f64) -> Result<()> {
    if event.value > alert_threshold {
        println!("event timestamp={} value={}", event.timestamp, event.value);
        for producer in event.producers {
            writeback_ws(producer, "ALERT: threshold exceeded")?;
        }
    }
    Ok(())
}
// ---- END seed text ----
