//! conditional_writeback - the Slung documentation's "Advanced Patterns: Conditional Writeback" example, copied verbatim from
//! shared/seeds/000_810f5427c51ca171.txt between the BEGIN and END lines. Only what the
//! seed elides is added outside them. Build: sdk/build-examples.sh OUTDIR.

use slung::prelude::*;

// ---- BEGIN seed text ----
fn on_event(event: Event, _: ()) -> Result<()> {
    match event.tags.iter().find(|t| t.starts_with("severity=")) {
        Some(tag) if tag.contains("critical") => {
            // Critical: HTTP alert
            writeback_http(
                "https://pagerduty.example.com/alert",
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
// ---- END seed text ----

/// Entry point (the seed's fragment has none): the newest point of series `alerts`
/// carries the severity tag.
#[main]
fn main() -> Result<()> {
    let handle = query_live("MAX:alerts:[]")?;
    poll_handle(handle, on_event, ())?;
    Ok(())
}
