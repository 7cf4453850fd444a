//! event.rs - the event a live query delivers and its JSON form (shared/spec/query.md,
//! "Live queries"):
//!   {"timestamp":1709481600000000000,"value":23.5,"tags":["sensor=1"],"producers":[3,7]}
//! `value` may be `null` (NaN or infinity on the host side): it becomes NaN here.
//! Unknown extra fields are ignored so a newer host stays compatible; a missing or
//! mistyped field is an `Error::BadEvent` naming it.

use crate::error::{Error, Result};
use serde_json::Value;

/// One event of a live query.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Event time in nanoseconds since the Unix epoch (of the newest point folded in).
    pub timestamp: i64,
    /// The query's aggregate; NaN when the host sent `null`.
    pub value: f64,
    /// Tags (`key=value`) of the newest point folded in.
    pub tags: Vec<String>,
    /// WebSocket connection ids that contributed (0 for points from `write_event`).
    pub producers: Vec<u64>,
}

impl Event {
    /// Parses the host's event JSON.
    pub fn from_json(bytes: &[u8]) -> Result<Event> {
        let v: Value =
            serde_json::from_slice(bytes).map_err(|e| Error::BadEvent(format!("{}", e)))?;
        let obj = v.as_object().ok_or_else(|| bad("event is not a JSON object"))?;
        let timestamp = obj
            .get("timestamp")
            .and_then(Value::as_i64)
            .ok_or_else(|| bad("\"timestamp\" is missing or not an integer"))?;
        let value = match obj.get("value") {
            Some(Value::Null) => f64::NAN,
            Some(x) => x.as_f64().ok_or_else(|| bad("\"value\" is not a number"))?,
            None => return Err(bad("\"value\" is missing")),
        };
        let tags = obj
            .get("tags")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("\"tags\" is missing or not an array"))?
            .iter()
            .map(|t| t.as_str().map(str::to_string))
            .collect::<Option<Vec<String>>>()
            .ok_or_else(|| bad("\"tags\" holds a non-string"))?;
        let producers = obj
            .get("producers")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("\"producers\" is missing or not an array"))?
            .iter()
            .map(Value::as_u64)
            .collect::<Option<Vec<u64>>>()
            .ok_or_else(|| bad("\"producers\" holds a non-integer"))?;
        Ok(Event { timestamp, value, tags, producers })
    }
}

fn bad(why: &str) -> Error {
    Error::BadEvent(why.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_json_of_the_query_spec_parses_into_all_four_fields() {
        let e = Event::from_json(
            br#"{"timestamp":1709481600000000000,"value":23.5,"tags":["sensor=1","unit=c"],"producers":[3,7]}"#,
        )
        .unwrap();
        assert_eq!(e.timestamp, 1709481600000000000);
        assert_eq!(e.value, 23.5);
        assert_eq!(e.tags, vec!["sensor=1".to_string(), "unit=c".to_string()]);
        assert_eq!(e.producers, vec![3, 7]);
    }

    #[test]
    fn null_value_becomes_nan() {
        let e = Event::from_json(br#"{"timestamp":-5,"value":null,"tags":[],"producers":[0]}"#)
            .unwrap();
        assert!(e.value.is_nan());
        assert_eq!(e.timestamp, -5);
    }

    #[test]
    fn missing_or_mistyped_fields_are_errors_naming_the_field() {
        let cases: [(&[u8], &str); 5] = [
            (br#"{"value":1,"tags":[],"producers":[]}"#, "timestamp"),
            (br#"{"timestamp":1,"tags":[],"producers":[]}"#, "value"),
            (br#"{"timestamp":1,"value":1,"tags":[1],"producers":[]}"#, "tags"),
            (br#"{"timestamp":1,"value":1,"tags":[],"producers":[-1]}"#, "producers"),
            (br#"[1,2]"#, "object"),
        ];
        for (json, field) in cases.iter() {
            let msg = Event::from_json(json).unwrap_err().to_string();
            assert!(msg.contains(field), "{} does not name {}", msg, field);
        }
        assert!(Event::from_json(b"{\"timestamp\":").is_err());
    }
}
