//! Stream entries: an event object ⇄ the field/value pairs of one XADD.
//!
//! Every top-level event property becomes one field, stored with [`super::scalar`] (so `type`,
//! `runId` … stay bare strings as in 0.5.15, and `data` is JSON). Reading turns every field back
//! into a property, unknown ones included, with the stream entry id as `id`.

use super::scalar;
use serde_json::{Map, Value};

/// The field/value pairs to XADD for `event`. `id` is the stream's own and is not stored.
pub fn to_fields(event: &Map<String, Value>) -> Vec<(String, String)> {
  event
    .iter()
    .filter(|(k, _)| k.as_str() != "id")
    .map(|(k, v)| (k.clone(), scalar::encode(v)))
    .collect()
}

/// Appends the JSON object of one stream entry to `out`.
pub fn push_record(id: &str, fields: &[(String, String)], out: &mut String) {
  out.push_str("{\"id\":");
  scalar::push_json_string(id, out);
  for (name, value) in fields {
    if name == "id" {
      continue;
    }
    out.push(',');
    scalar::push_json_string(name, out);
    out.push(':');
    scalar::decode_into(value, out);
  }
  out.push('}');
}

/// The event type of an entry, decoded, if it has one.
pub fn event_type(fields: &[(String, String)]) -> Option<String> {
  let stored = &fields.iter().find(|(k, _)| k == "type")?.1;
  match serde_json::from_str::<Value>(&scalar::decode(stored)) {
    Ok(Value::String(s)) => Some(s),
    _ => None,
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use serde_json::json;

  #[test]
  fn events_round_trip_with_their_types() {
    let event =
      json!({"type": "flow:started", "runId": "123", "attempt": 2, "data": {"x": [1, null]}, "extra": "true", "ts": 1795669463704_u64});
    let fields = to_fields(event.as_object().unwrap());
    assert_eq!(fields[0], ("type".to_string(), "flow:started".to_string()));
    assert_eq!(fields[1], ("runId".to_string(), "\"123\"".to_string()));
    let mut out = String::new();
    push_record("1-0", &fields, &mut out);
    let mut expected = event.clone();
    expected.as_object_mut().unwrap().insert("id".into(), json!("1-0"));
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), expected);
  }

  #[test]
  fn a_caller_id_is_not_stored() {
    let fields = to_fields(json!({"id": "x", "type": "t"}).as_object().unwrap());
    assert_eq!(fields, vec![("type".to_string(), "t".to_string())]);
  }

  #[test]
  fn legacy_entries_read_like_0_5_15() {
    let fields = vec![
      ("type".into(), "step:done".into()),
      ("ts".into(), "17".into()),
      ("data".into(), "{\"a\":1}".into()),
    ];
    let mut out = String::new();
    push_record("17-0", &fields, &mut out);
    assert_eq!(
      serde_json::from_str::<Value>(&out).unwrap(),
      json!({"id": "17-0", "type": "step:done", "ts": 17, "data": {"a": 1}})
    );
    assert_eq!(event_type(&fields).as_deref(), Some("step:done"));
  }

  #[test]
  fn type_that_looks_like_json_is_still_its_string() {
    let fields = to_fields(json!({"type": "42"}).as_object().unwrap());
    assert_eq!(event_type(&fields).as_deref(), Some("42"));
  }
}
