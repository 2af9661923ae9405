//! Arguments: a call's, as the JS side sent them (raw JSON), and the ones the store sends Redis.

use crate::error::{Result, StoreError};
use serde_json::value::RawValue;
use std::borrow::Cow;

/// The arguments of one call, read in order. The JS facade has checked their types; a mismatch
/// here is a fault of the facade, reported as INVALID_ARGUMENT.
pub(super) struct Args<'a> {
  values: std::slice::Iter<'a, &'a RawValue>,
  at: usize,
}

impl<'a> Args<'a> {
  pub fn new(values: &'a [&'a RawValue]) -> Args<'a> {
    Args {
      values: values.iter(),
      at: 0,
    }
  }

  /// The next argument's raw JSON text; `None` when there is none.
  fn next_json(&mut self) -> Option<&'a str> {
    self.at += 1;
    self.values.next().map(|raw| raw.get())
  }

  fn bad(&self, what: &str) -> StoreError {
    StoreError::invalid(format!("argument {} must be {what}", self.at))
  }

  fn parse<T: serde::Deserialize<'a>>(&mut self, what: &str) -> Result<T> {
    let json = self.next_json();
    json.and_then(|json| serde_json::from_str(json).ok()).ok_or_else(|| self.bad(what))
  }

  pub fn string(&mut self) -> Result<String> {
    self.str().map(Cow::into_owned)
  }

  /// A string, borrowed from the batch's text unless it has escapes (no allocation for a
  /// call's name and, mostly, its key).
  pub fn str(&mut self) -> Result<Cow<'a, str>> {
    let json = self.next_json();
    let borrowed = json.and_then(|json| serde_json::from_str::<&'a str>(json).ok());
    match borrowed {
      Some(text) => Ok(Cow::Borrowed(text)),
      None => json
        .and_then(|json| serde_json::from_str::<String>(json).ok())
        .map(Cow::Owned)
        .ok_or_else(|| self.bad("a string")),
    }
  }

  pub fn number(&mut self) -> Result<f64> {
    self.parse("a number")
  }

  /// A number, or `None` for null or a missing argument.
  pub fn optional_number(&mut self) -> Result<Option<f64>> {
    match self.next_json() {
      None | Some("null") => Ok(None),
      Some(json) => serde_json::from_str(json).map(Some).map_err(|_| self.bad("a number or null")),
    }
  }

  /// A JSON value as text (null included), to be stored.
  pub fn json(&mut self) -> Result<&'a str> {
    self.next_json().ok_or_else(|| self.bad("a JSON value"))
  }

  /// A JSON value as text; `None` for null or a missing argument.
  pub fn optional_json(&mut self) -> Option<&'a str> {
    self.next_json().filter(|json| *json != "null")
  }

  /// An options object (see the `ReadOptions` of each tier).
  pub fn options<T: serde::de::DeserializeOwned + Default>(&mut self) -> Result<T> {
    match self.next_json() {
      None | Some("null") => Ok(T::default()),
      Some(json) => serde_json::from_str(json).map_err(|e| StoreError::invalid(format!("options: {e}"))),
    }
  }
}

/// A command sized for its arguments: `args` more after its name, about `bytes` of them in all.
/// (Built by `redis::cmd`, a command grows its two buffers as arguments come: two or three
/// allocations more for each call.)
pub(super) fn command(name: &str, args: usize, bytes: usize) -> redis::Cmd {
  let mut cmd = redis::Cmd::with_capacity(1 + args, name.len() + bytes);
  cmd.arg(name);
  cmd
}

/// A JS number as a Redis argument: integers without a fraction, others in full precision.
pub(super) fn number(n: f64) -> String {
  if n == 0.0 {
    "0".to_string()
  } else {
    format!("{n}")
  }
}

/// A count (`limit`, `offset`): a whole number ≥ 0, `default` when not given.
pub(super) fn count(value: Option<f64>, default: u64, name: &str) -> Result<u64> {
  match value {
    None => Ok(default),
    Some(n) if n.is_finite() && n >= 0.0 && n.fract() == 0.0 => Ok(n.min(u64::MAX as f64) as u64),
    Some(_) => Err(StoreError::invalid(format!("{name} must be a whole number ≥ 0"))),
  }
}

pub(super) fn json_object(json: &str, what: &str) -> Result<serde_json::Map<String, serde_json::Value>> {
  match serde_json::from_str(json) {
    Ok(serde_json::Value::Object(map)) => Ok(map),
    Ok(_) => Err(StoreError::invalid(format!("{what} must be a plain object"))),
    Err(e) => Err(StoreError::invalid(format!("{what} cannot be stored: {e}"))),
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn counts_are_whole_numbers() {
    assert_eq!(count(None, 1000, "limit").unwrap(), 1000);
    assert_eq!(count(Some(0.0), 1000, "limit").unwrap(), 0);
    assert!(count(Some(-1.0), 1000, "limit").is_err());
    assert_eq!(
      count(Some(1.5), 1000, "offset").unwrap_err().message,
      "offset must be a whole number ≥ 0"
    );
  }

  #[test]
  fn arguments_are_read_in_order_and_named_by_position() {
    let raw: Vec<&RawValue> = serde_json::from_str(r#"["k", 1.5, null, {"a":1}]"#).unwrap();
    let mut args = Args::new(&raw);
    assert_eq!(args.string().unwrap(), "k");
    assert_eq!(args.number().unwrap(), 1.5);
    assert_eq!(args.optional_number().unwrap(), None);
    assert_eq!(args.string().unwrap_err().message, "argument 4 must be a string");
    assert_eq!(args.optional_json(), None);
  }

  #[test]
  fn strings_are_borrowed_unless_escaped() {
    let raw: Vec<&RawValue> = serde_json::from_str(r#"["plain", "with \"quotes\" and \u00e9", 1]"#).unwrap();
    let mut args = Args::new(&raw);
    assert!(matches!(args.str().unwrap(), Cow::Borrowed("plain")));
    assert!(matches!(args.str().unwrap(), Cow::Owned(s) if s == "with \"quotes\" and é"));
    assert_eq!(args.str().unwrap_err().message, "argument 3 must be a string");
  }
}
