//! Reading Redis replies (the connection speaks RESP2: strings, integers, arrays).

use crate::error::{Code, Result, StoreError};
use redis::Value;

/// A string reply as text; bytes that are not UTF-8 (written by other clients) are replaced
/// rather than failing the whole read.
pub(super) fn string(value: Value) -> Option<String> {
  match value {
    Value::BulkString(bytes) => Some(String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())),
    Value::SimpleString(s) => Some(s),
    Value::Int(n) => Some(n.to_string()),
    _ => None,
  }
}

/// A flat `[field, value, field, value …]` reply as pairs.
pub(super) fn pairs(value: Value) -> Vec<(String, String)> {
  let Value::Array(items) = value else {
    return Vec::new();
  };
  let mut out = Vec::with_capacity(items.len() / 2);
  let mut it = items.into_iter();
  while let (Some(k), Some(v)) = (it.next(), it.next()) {
    if let (Some(k), Some(v)) = (string(k), string(v)) {
      out.push((k, v));
    }
  }
  out
}

/// A DEL-like reply as JSON: whether anything was deleted.
pub(super) fn deleted(reply: Value) -> Result<String> {
  Ok(matches!(reply, Value::Int(n) if n > 0).to_string())
}

/// A float reply (`"1.5"`, `"6"`, `"inf"`).
pub(super) fn number(s: &str) -> Result<f64> {
  s.parse::<f64>()
    .map_err(|_| StoreError::new(Code::Redis, format!("Redis answered {s:?} where a number was expected")))
}

/// The reply of a step that should have answered `what`, but answered something else.
pub(super) fn unexpected(what: &str) -> StoreError {
  StoreError::new(Code::Redis, format!("unexpected reply from {what}"))
}
