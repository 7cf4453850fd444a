//! e2e_derive - uses the calls the seed's examples do not: `query_history` once for a
//! baseline, then for every event of `AVG:temp:[sensor=1]` writes the difference from
//! the baseline as a point of series `temp_delta` (tag sensor=1) with `write_event`.
//! After 3 events it frees the live query with `free_handle` and returns.

use slung::prelude::*;

#[main]
fn main() -> Result<()> {
    let baseline = query_history("AVG:temp:[sensor=1]")?;
    println!("baseline {}", baseline);
    let handle = query_live("AVG:temp:[sensor=1]")?;
    let mut seen = 0u32;
    let result = poll_handle(
        handle,
        |event: Event, baseline: f64| {
            write_event(event.timestamp, event.value - baseline, &["series=temp_delta", "sensor=1"])?;
            seen += 1;
            if seen == 3 {
                return Err(Error::msg("done"));
            }
            Ok(())
        },
        baseline,
    );
    free_handle(handle)?;
    match result {
        Err(Error::Msg(m)) if m == "done" => Ok(()),
        other => other,
    }
}
