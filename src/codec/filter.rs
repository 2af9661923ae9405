//! `index.read({ filter })`: which metadata objects match.
//!
//! A filter maps a key to the wanted value. The key may be a dotted path (`stats.status`), the
//! value may be an array of allowed values, or an object that filters one level down. Values
//! compare by type and value (`'1'` does not match `1`).

use super::path;
use serde_json::{Map, Value};

/// Whether `metadata` (absent for an entry without metadata) satisfies `filter`.
pub fn matches(metadata: Option<&Value>, filter: &Map<String, Value>) -> bool {
  filter.iter().all(|(key, wanted)| {
    let found = metadata.and_then(|m| path::split(key).iter().try_fold(m, |node, k| node.get(k)));
    match wanted {
      Value::Array(allowed) => found.is_some_and(|v| allowed.iter().any(|a| same(a, v))),
      Value::Object(inner) => matches(found, inner),
      single => found.is_some_and(|v| same(single, v)),
    }
  })
}

/// JSON equality where numbers compare by value (`1` equals `1.0`).
fn same(a: &Value, b: &Value) -> bool {
  match (a, b) {
    (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
    (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q)),
    (Value::Object(x), Value::Object(y)) => x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w))),
    _ => a == b,
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use serde_json::json;

  fn check(meta: Value, filter: Value) -> bool {
    matches(Some(&meta), filter.as_object().unwrap())
  }

  #[test]
  fn top_level_values_and_lists() {
    let m = json!({"status": "running", "n": 1});
    assert!(check(m.clone(), json!({"status": "running"})));
    assert!(check(m.clone(), json!({"status": ["queued", "running"]})));
    assert!(!check(m.clone(), json!({"status": ["queued"]})));
    assert!(check(m.clone(), json!({"n": 1.0})));
    assert!(!check(m, json!({"n": "1"})));
  }

  #[test]
  fn nested_fields_by_path_or_object() {
    let m = json!({"stats": {"status": "ok", "count": 3}, "a.b": 1});
    assert!(check(m.clone(), json!({"stats.status": "ok"})));
    assert!(check(m.clone(), json!({"stats": {"count": [2, 3]}})));
    assert!(!check(m.clone(), json!({"stats.count": 4})));
    assert!(check(m.clone(), json!({r"a\.b": 1})));
    assert!(!check(m, json!({"missing.x": 1})));
  }

  #[test]
  fn entries_without_metadata_match_only_the_empty_filter() {
    assert!(matches(None, &Map::new()));
    assert!(!matches(None, json!({"status": "x"}).as_object().unwrap()));
  }

  #[test]
  fn null_in_a_filter_matches_a_stored_null_only() {
    assert!(check(json!({"list": [null]}), json!({"list": [[null]]})));
    assert!(!check(json!({}), json!({"x": null})));
  }
}
