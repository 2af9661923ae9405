//! Stream entries: an event object ⇄ the field/value pairs of one XADD.
//!
//! Every top-level event property becomes one field, stored with [`super::scalar`] (so `type`,
//! `runId` … stay bare strings as in 0.5.15, and `data` is JSON). Reading turns every field back
//! into a property, unknown ones included, with the stream entry id as `id`.

use super::scalar;
use serde_json::value::RawValue;
use serde_json::Value;
use std::borrow::Cow;

/// A field of a stream entry and its stored value, borrowed from the event's JSON text where
/// they need no unescaping.
pub type Field<'a> = (Cow<'a, str>, Cow<'a, str>);

/// The field/value pairs to XADD for the event object `json` (as `JSON.stringify` wrote it),
/// in its property order. `id` is the stream's own and is not stored. Values are stored from
/// their JSON text, without building them (`data` payloads can be large).
pub fn to_fields(json: &str) -> Result<Vec<Field<'_>>, String> {
  let Properties(properties) = serde_json::from_str(json).map_err(|e| format!("the event must be a plain object ({e})"))?;
  let mut fields = Vec::with_capacity(properties.len());
  for (name, raw) in properties {
    if name == "id" {
      continue;
    }
    let value = scalar::encode_json(raw.get()).ok_or("the event is not JSON")?;
    fields.push((name, value));
  }
  Ok(fields)
}

/// Whether the fields hold a `type` that is a non-empty string, without decoding it.
pub fn has_type(fields: &[Field]) -> bool {
  fields.iter().find(|(name, _)| name == "type").is_some_and(|(_, stored)| {
    if scalar::is_json(stored) {
      // stored as a JSON literal only when it is a string that reads as JSON: never empty
      stored.starts_with('"')
    } else {
      !stored.is_empty()
    }
  })
}

/// A JSON object's properties in order, values left as JSON text.
struct Properties<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

/// A property name, borrowed from the JSON text unless it has escapes (a bare `Cow` field
/// always copies).
#[derive(serde::Deserialize)]
struct Name<'a>(#[serde(borrow)] Cow<'a, str>);

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
        while let Some((Name(name), value)) = map.next_entry::<Name<'de>, &'de RawValue>()? {
          properties.push((name, value));
        }
        Ok(Properties(properties))
      }
    }
    deserializer.deserialize_map(Visit(std::marker::PhantomData))
  }
}

/// Appends the JSON object of one stream entry to `out`.
pub fn push_record<S: AsRef<str>>(id: &str, fields: &[(S, S)], out: &mut String) {
  out.push_str("{\"id\":");
  scalar::push_json_string(id, out);
  for (name, value) in fields {
    let name = name.as_ref();
    if name == "id" {
      continue;
    }
    out.push(',');
    scalar::push_json_string(name, out);
    out.push(':');
    scalar::decode_into(value.as_ref(), out);
  }
  out.push('}');
}

/// The event type of an entry, decoded, if it has one.
pub fn event_type<S: AsRef<str>>(fields: &[(S, S)]) -> Option<String> {
  let stored = fields.iter().find(|(k, _)| k.as_ref() == "type")?.1.as_ref();
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
    let json = event.to_string();
    let fields = to_fields(&json).unwrap();
    assert_eq!(fields[0], ("type".into(), "flow:started".into()));
    assert_eq!(fields[1], ("runId".into(), "\"123\"".into()));
    assert!(fields.iter().all(|(name, _)| matches!(name, Cow::Borrowed(_))));
    assert!(matches!(fields[0].1, Cow::Borrowed(_)));
    assert!(has_type(&fields));
    let mut out = String::new();
    push_record("1-0", &fields, &mut out);
    let mut expected = event.clone();
    expected.as_object_mut().unwrap().insert("id".into(), json!("1-0"));
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), expected);
  }

  #[test]
  fn a_caller_id_is_not_stored() {
    let json = json!({"id": "x", "type": "t"}).to_string();
    let fields = to_fields(&json).unwrap();
    assert_eq!(fields, vec![("type".into(), "t".into())]);
  }

  #[test]
  fn legacy_entries_read_like_0_5_15() {
    let fields: Vec<(String, String)> = vec![
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
    let json = json!({"type": "42"}).to_string();
    let fields = to_fields(&json).unwrap();
    assert_eq!(event_type(&fields).as_deref(), Some("42"));
    assert!(has_type(&fields));
  }

  #[test]
  fn a_type_is_a_non_empty_string() {
    for (event, typed) in [
      (json!({"type": "t"}), true),
      (json!({"type": "{}"}), true),
      (json!({"type": "\"quoted\""}), true),
      (json!({"type": ""}), false),
      (json!({"type": 5}), false),
      (json!({"type": null}), false),
      (json!({"type": {"a": 1}}), false),
      (json!({"kind": "t"}), false),
    ] {
      let json = event.to_string();
      let fields = to_fields(&json).unwrap();
      assert_eq!(has_type(&fields), typed, "{event}");
      assert_eq!(has_type(&fields), event_type(&fields).is_some_and(|t| !t.is_empty()), "{event}");
    }
  }

  #[test]
  fn escaped_names_and_values_are_decoded() {
    let fields = to_fields(r#"{"ty\u0070e":"a\"b","n":1}"#).unwrap();
    assert_eq!(fields[0], ("type".into(), "a\"b".into()));
    assert_eq!(event_type(&fields).as_deref(), Some("a\"b"));
  }
}
