//! post_alert - the Slung documentation's "Example: POST Alert" example, copied verbatim from
//! shared/seeds/000_810f5427c51ca171.txt between the BEGIN and END lines. Only what the
//! seed elides is added outside them. Build: sdk/build-examples.sh OUTDIR.

// ---- BEGIN seed text ----
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
            "https://api.example.com/alerts",
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
// ---- END seed text ----
