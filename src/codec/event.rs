//! Stream entries: an event object ⇄ the field/value pairs of one XADD.
//!
//! Every top-level event property becomes one field, stored with [`super::scalar`] (so `type`,
//! `runId` … stay bare strings as in 0.5.15, and `data` is JSON). Reading turns every field back
//! into a property, unknown ones included, with the stream entry id as `id`.

use super::scalar;
use serde_json::value::RawValue;
use serde_json::Value;

/// The field/value pairs to XADD for the event object `json` (as `JSON.stringify` wrote it),
/// in its property order. `id` is the stream's own and is not stored. Values are stored from
/// their JSON text, without building them (`data` payloads can be large).
pub fn to_fields(json: &str) -> Result<Vec<(String, String)>, String> {
  let Properties(properties) = serde_json::from_str(json).map_err(|e| format!("the event must be a plain object ({e})"))?;
  let mut fields = Vec::with_capacity(properties.len());
  for (name, raw) in properties {
    if name == "id" {
      continue;
    }
    let value = scalar::encode_json(raw.get()).ok_or("the event is not JSON")?;
    fields.push((name.into_owned(), value.into_owned()));
  }
  Ok(fields)
}

/// A JSON object's properties in order, values left as JSON text.
struct Properties<'a>(Vec<(std::borrow::Cow<'a, str>, &'a RawValue)>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for Properties<'a> {
  fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
    struct Visit<'a>(std::marker::PhantomData<&'a ()>);
    impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visit<'a> {
      type Value = Properties<'a>;
      fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
      }
      fn visit_map<M: serde::de::MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let mut properties = Vec::new();
        while let Some(entry) = map.next_entry::<std::borrow::Cow<'de, str>, &'de RawValue>()? {
          properties.push(entry);
        }
        Ok(Properties(properties))
      }
    }
    deserializer.deserialize_map(Visit(std::marker::PhantomData))
  }
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
    let fields = to_fields(&event.to_string()).unwrap();
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
    let fields = to_fields(&json!({"id": "x", "type": "t"}).to_string()).unwrap();
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
    let fields = to_fields(&json!({"type": "42"}).to_string()).unwrap();
    assert_eq!(event_type(&fields).as_deref(), Some("42"));
  }
}
