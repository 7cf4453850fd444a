//! dual_writeback - the Slung documentation's "Advanced Patterns: Dual Writeback" example, copied verbatim from
//! shared/seeds/000_810f5427c51ca171.txt between the BEGIN and END lines. Only what the
//! seed elides is added outside them. Build: sdk/build-examples.sh OUTDIR.

use slung::prelude::*;

// ---- BEGIN seed text ----
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
            "https://api.example.com/logs",
            &payload,
            WritebackMethod::POST
        )?;
    }
    
    Ok(())
}
// ---- END seed text ----

/// Entry point (the seed's fragment has none).
#[main]
fn main() -> Result<()> {
    let handle = query_live("AVG:temp:[sensor=1]")?;
    poll_handle(handle, on_event, 100.0)?;
    Ok(())
}
