//! Index metadata ⇄ the fields of its `{key}:meta:{id}` hash.
//!
//! Nested objects are flattened into dotted field names (see [`super::path`]), leaves are stored
//! with [`super::scalar`], arrays as JSON. Two additions keep a round trip exact where 0.5.15
//! lost data: an empty object is stored as the field value `{}`, and `version` is the store's
//! own counter, never taken from the caller.

use super::{path, scalar};
use serde_json::{Map, Value};

/// The hash field that holds the entry's version.
pub const VERSION_FIELD: &str = "version";

/// What one metadata object (or update partial) asks of the hash.
#[derive(Debug, Default, PartialEq)]
pub struct Flat {
  /// Leaves to write: field name and stored value.
  pub sets: Vec<(String, String)>,
  /// Fields (with everything below them) to delete: the partial's `null`s.
  pub deletes: Vec<String>,
  /// Fields that hold an empty object.
  pub empties: Vec<String>,
}

impl Flat {
  /// Every strict ancestor of a written field, once each. An update deletes them, because a
  /// leaf there would hide the object being written below it.
  pub fn ancestors(&self) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for field in self.sets.iter().map(|(f, _)| f).chain(&self.empties) {
      for a in path::ancestors(field) {
        if !out.iter().any(|o| o == a) {
          out.push(a.to_string());
        }
      }
    }
    out
  }
}

/// Flattens `metadata`. A top-level `version` is ignored: the store manages it.
pub fn flatten(metadata: &Map<String, Value>) -> Flat {
  let mut flat = Flat::default();
  for (key, value) in metadata {
    if key == VERSION_FIELD {
      continue;
    }
    flatten_into(&path::child("", key), value, &mut flat);
  }
  flat
}

fn flatten_into(field: &str, value: &Value, flat: &mut Flat) {
  match value {
    Value::Null => flat.deletes.push(field.to_string()),
    Value::Object(map) if map.is_empty() => flat.empties.push(field.to_string()),
    Value::Object(map) => {
      for (key, child) in map {
        flatten_into(&path::child(field, key), child, flat);
      }
    }
    leaf => flat.sets.push((field.to_string(), scalar::encode(leaf))),
  }
}

/// The JSON text of the metadata object stored in `fields` (as HGETALL returns them).
///
/// When a field is both a leaf and the parent of other fields (0.5.15 left such pairs behind
/// when a value changed between a number and an object), the object wins.
pub fn expand<K: AsRef<str>, V: AsRef<str>>(fields: &[(K, V)]) -> String {
  let mut out = String::new();
  expand_into(fields, &mut out);
  out
}

/// [`expand`], appending to `out`.
pub fn expand_into<K: AsRef<str>, V: AsRef<str>>(fields: &[(K, V)], out: &mut String) {
  let mut entries: Vec<(Vec<String>, &str)> = fields.iter().map(|(f, v)| (path::split(f.as_ref()), v.as_ref())).collect();
  entries.sort_by(|a, b| a.0.cmp(&b.0));
  out.reserve(fields.iter().map(|(f, v)| f.as_ref().len() + v.as_ref().len() + 4).sum::<usize>() + 2);
  write_object(&entries, 0, out);
}

fn write_object(entries: &[(Vec<String>, &str)], depth: usize, out: &mut String) {
  out.push('{');
  let mut i = 0;
  while i < entries.len() {
    let key = &entries[i].0[depth];
    let end = i + entries[i..].iter().take_while(|e| e.0[depth] == *key).count();
    let group = &entries[i..end];
    if i > 0 {
      out.push(',');
    }
    scalar::push_json_string(key, out);
    out.push(':');
    // Sorting puts the leaf (the shorter path) before the fields nested below it.
    match group.iter().position(|e| e.0.len() > depth + 1) {
      Some(first_nested) => write_object(&group[first_nested..], depth + 1, out),
      None => scalar::decode_into(group[group.len() - 1].1, out),
    }
    i = end;
  }
  out.push('}');
}

#[cfg(test)]
mod tests {
  use super::*;
  use serde_json::json;

  fn obj(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
  }

  fn roundtrip(v: Value) -> Value {
    let flat = flatten(&obj(v));
    let mut fields = flat.sets.clone();
    fields.extend(flat.empties.iter().map(|f| (f.clone(), "{}".to_string())));
    serde_json::from_str(&expand(&fields)).unwrap()
  }

  #[test]
  fn nested_objects_flatten_to_dotted_fields() {
    let flat = flatten(&obj(
      json!({"cron": "0 * * * *", "enabled": true, "stats": {"totalFires": 0, "lastFire": null}}),
    ));
    assert_eq!(
      flat.sets,
      vec![
        ("cron".into(), "0 * * * *".into()),
        ("enabled".into(), "true".into()),
        ("stats.totalFires".into(), "0".into())
      ]
    );
    assert_eq!(flat.deletes, vec!["stats.lastFire".to_string()]);
  }

  #[test]
  fn values_round_trip_with_their_types() {
    let v = json!({
      "s": "123", "b": "true", "n": 123, "f": 1.5, "t": true, "e": "", "arr": [1, null, "x", {"a": 1}],
      "dotted": {"order.created": {"completed": 2}}, "empty": {}, "nested": {"empty": {}},
      "big": 1795669463704_u64, "neg": -3, "json": "{\"a\":1}", "str_null": "null"
    });
    assert_eq!(roundtrip(v.clone()), v);
  }

  #[test]
  fn version_is_never_taken_from_the_caller() {
    let flat = flatten(&obj(json!({"version": 99, "a": {"version": 1}})));
    assert_eq!(flat.sets, vec![("a.version".into(), "1".into())]);
  }

  #[test]
  fn ancestors_of_written_fields() {
    let flat = flatten(&obj(json!({"a": {"b": {"c": 1, "d": {}}}, "x": null, "y": 2})));
    assert_eq!(flat.ancestors(), vec!["a".to_string(), "a.b".to_string()]);
  }

  #[test]
  fn legacy_hashes_expand_like_0_5_15_reads_them() {
    let fields: Vec<(String, String)> = vec![
      ("version".into(), "3".into()),
      ("status".into(), "running".into()),
      ("stats.total".into(), "5".into()),
      ("tags".into(), "[\"a\",\"b\"]".into()),
    ];
    let v: Value = serde_json::from_str(&expand(&fields)).unwrap();
    assert_eq!(
      v,
      json!({"version": 3, "status": "running", "stats": {"total": 5}, "tags": ["a", "b"]})
    );
  }

  #[test]
  fn an_object_wins_over_a_stale_leaf() {
    let fields: Vec<(String, String)> = vec![("stats".into(), "5".into()), ("stats.a".into(), "1".into())];
    let v: Value = serde_json::from_str(&expand(&fields)).unwrap();
    assert_eq!(v, json!({"stats": {"a": 1}}));
  }

  #[test]
  fn prototype_keys_are_plain_data() {
    let v = json!({"__proto__": {"polluted": 1}, "constructor": {"prototype": {"x": 1}}});
    assert_eq!(roundtrip(v.clone()), v);
  }

  #[test]
  fn empty_hash_is_an_empty_object() {
    assert_eq!(expand::<&str, &str>(&[]), "{}");
  }
}
