//! json_response - the Slung documentation's "Example: JSON Response" example, copied verbatim from
//! shared/seeds/000_810f5427c51ca171.txt between the BEGIN and END lines. Only what the
//! seed elides is added outside them. Build: sdk/build-examples.sh OUTDIR.

// ---- BEGIN seed text ----
use slung::prelude::*;
use serde_json::json;

fn on_event(event: Event, _: ()) -> Result<()> {
    let response = json!({
        "timestamp": event.timestamp,
        "value": event.value,
        "status": if event.value > 100.0 { "high" } else { "normal" }
    });
    
    for producer in event.producers {
        writeback_ws(producer, &response.to_string())?;
    }
    
    Ok(())
}
// ---- END seed text ----

/// Entry point (the seed's fragment has none): every event of the live query gets the
/// JSON response.
#[main]
fn main() -> Result<()> {
    let handle = query_live("AVG:temp:[sensor=1]")?;
    poll_handle(handle, on_event, ())?;
    Ok(())
}
