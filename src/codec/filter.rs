//! `index.read({ filter })`: which metadata objects match.
//!
//! A filter maps a key to the wanted value. The key may be a dotted path (`stats.status`), the
//! value may be an array of allowed values, or an object that filters one level down. Values
//! compare by type and value (`'1'` does not match `1`).

use super::{path, scalar};
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

/// Whether `filter` asks anything: `{}` and `{ stats: {} }` match every entry.
pub fn has_conditions(filter: &Map<String, Value>) -> bool {
  filter.values().any(|wanted| match wanted {
    Value::Object(inner) => has_conditions(inner),
    _ => true,
  })
}

/// One condition of a filter on a single hash field: the field and its allowed values.
#[derive(Debug, PartialEq)]
pub struct FieldCondition {
  pub field: String,
  pub allowed: Vec<Value>,
}

/// The filter as conditions on single hash fields, so entries can be checked by reading only
/// those fields. `None` when a wanted value is an object inside a list of allowed values, which
/// needs the whole metadata to compare.
pub fn field_conditions(filter: &Map<String, Value>) -> Option<Vec<FieldCondition>> {
  let mut out = Vec::new();
  collect(filter, "", &mut out)?;
  Some(out)
}

fn collect(filter: &Map<String, Value>, parent: &str, out: &mut Vec<FieldCondition>) -> Option<()> {
  for (key, wanted) in filter {
    let field = if parent.is_empty() {
      key.clone()
    } else {
      format!("{parent}.{key}")
    };
    match wanted {
      Value::Object(inner) => collect(inner, &field, out)?,
      Value::Array(allowed) if allowed.iter().any(Value::is_object) => return None,
      Value::Array(allowed) => out.push(FieldCondition {
        field,
        allowed: allowed.clone(),
      }),
      single => out.push(FieldCondition {
        field,
        allowed: vec![single.clone()],
      }),
    }
  }
  Some(())
}

impl FieldCondition {
  /// Whether the stored field value (as HMGET returns it) satisfies this condition.
  pub fn accepts(&self, stored: Option<&str>) -> bool {
    let Some(stored) = stored else { return false };
    match serde_json::from_str::<Value>(&scalar::decode(stored)) {
      Ok(value) => self.allowed.iter().any(|a| same(a, &value)),
      Err(_) => false,
    }
  }
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

  #[test]
  fn filters_without_conditions_are_recognised() {
    let filter = |v: Value| v.as_object().unwrap().clone();
    assert!(!has_conditions(&filter(serde_json::json!({}))));
    assert!(!has_conditions(&filter(serde_json::json!({ "stats": {}, "a": { "b": {} } }))));
    assert!(has_conditions(&filter(serde_json::json!({ "stats": { "n": 1 } }))));
    assert!(has_conditions(&filter(serde_json::json!({ "tags": [] }))));
  }
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
  fn filters_become_conditions_on_single_fields() {
    let f = json!({"status": ["running", "queued"], "stats": {"count": 2, "a.b": true}, r"x\.y": 1});
    let conds = field_conditions(f.as_object().unwrap()).unwrap();
    let fields: Vec<&str> = conds.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(fields, vec!["status", "stats.count", "stats.a.b", r"x\.y"]);
    assert!(conds[0].accepts(Some("queued")));
    assert!(!conds[0].accepts(Some("failed")));
    assert!(!conds[0].accepts(None));
    assert!(conds[1].accepts(Some("2")));
    assert!(!conds[1].accepts(Some("\"2\"")));
    assert!(field_conditions(json!({"stats": [{"count": 1}]}).as_object().unwrap()).is_none());
  }

  #[test]
  fn null_in_a_filter_matches_a_stored_null_only() {
    assert!(check(json!({"list": [null]}), json!({"list": [[null]]})));
    assert!(!check(json!({}), json!({"x": null})));
  }
}
