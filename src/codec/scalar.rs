//! How one JSON value is written as one Redis string, and read back.
//!
//! The rule keeps the 0.5.15 layout: strings are stored as they are, everything else as JSON
//! text. The reader parses a stored string as JSON and falls back to the raw text. That is
//! ambiguous only for strings that happen to be valid JSON (`"123"`, `"true"`, `"[1]"`, `"{}"`);
//! those, and only those, are stored as JSON string literals (`"\"123\""`), which both this
//! reader and the 0.5.15 reader (`JSON.parse`, then fallback) turn back into the same string.

use serde_json::value::RawValue;
use serde_json::Value;

/// The stored form of a JSON value.
pub fn encode(value: &Value) -> String {
  match value {
    Value::String(s) => encode_str(s),
    other => other.to_string(),
  }
}

/// The stored form of the JSON text `json` (as `JSON.stringify` wrote it), without building
/// the value: only a string needs decoding; anything else is stored as the text itself.
/// `None` when `json` is not JSON.
pub fn encode_json(json: &str) -> Option<std::borrow::Cow<'_, str>> {
  let json = json.trim_matches(is_json_whitespace);
  if json.starts_with('"') {
    match serde_json::from_str::<&str>(json) {
      // without escapes: stored as it is written between its quotes, unless it reads as JSON
      Ok(s) if !is_json(s) => Some(s.into()),
      Ok(s) => Some(encode_str(s).into()),
      Err(_) => serde_json::from_str::<String>(json).ok().map(|s| encode_str(&s).into()),
    }
  } else {
    serde_json::from_str::<&RawValue>(json).ok().map(|_| json.into())
  }
}

/// The stored form of a kv value: as [`encode_json`], except that a string Redis would read as a
/// number without being one in JSON (`'007'`, `'0x1A'`, `'+5'`, `'.5'`, `'inf'`) is stored as a
/// JSON string literal too. INCRBYFLOAT then refuses it, as it refuses `'"7"'`, so `kv.increment`
/// never turns such a string into a number; both readers still return the string.
pub fn encode_kv_json(json: &str) -> Option<std::borrow::Cow<'_, str>> {
  let stored = encode_json(json)?;
  if json.trim_start_matches(is_json_whitespace).starts_with('"') && redis_reads_as_number(&stored) {
    return Some(serde_json::to_string(stored.as_ref()).expect("strings always serialise").into());
  }
  Some(stored)
}

/// Whether Redis's float parser (`strtold`, which takes hex, `inf`, leading zeros and signs)
/// may accept `s`. Generous: storing a string quoted only costs two bytes.
fn redis_reads_as_number(s: &str) -> bool {
  let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
  let hex = unsigned.strip_prefix("0x").or_else(|| unsigned.strip_prefix("0X"));
  match hex {
    Some(digits) => {
      !digits.is_empty()
        && digits
          .bytes()
          .all(|b| b.is_ascii_hexdigit() || matches!(b, b'.' | b'p' | b'P' | b'+' | b'-'))
    }
    None => !s.starts_with(is_json_whitespace) && s.parse::<f64>().is_ok(),
  }
}

/// Stores a JSON string value (already decoded).
pub fn encode_str(s: &str) -> String {
  if is_json(s) {
    serde_json::to_string(s).expect("strings always serialise")
  } else {
    s.to_string()
  }
}

/// Appends the JSON text of the value stored as `stored` to `out`.
pub fn decode_into(stored: &str, out: &mut String) {
  if is_json(stored) {
    out.push_str(stored.trim_matches(is_json_whitespace));
  } else {
    push_json_string(stored, out);
  }
}

/// The JSON text of the value stored as `stored`.
pub fn decode(stored: &str) -> String {
  let mut out = String::with_capacity(stored.len() + 2);
  decode_into(stored, &mut out);
  out
}

/// Whether `s` parses as a JSON value. Cheap for the common case of plain words.
pub fn is_json(s: &str) -> bool {
  match s.trim_start_matches(is_json_whitespace).as_bytes().first() {
    Some(b'"' | b'{' | b'[' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n') => serde_json::from_str::<&RawValue>(s).is_ok(),
    _ => false,
  }
}

fn is_json_whitespace(c: char) -> bool {
  matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// Appends `s` as a JSON string literal.
pub fn push_json_string(s: &str, out: &mut String) {
  out.push('"');
  let mut start = 0;
  for (i, b) in s.bytes().enumerate() {
    let escape = match b {
      b'"' => "\\\"",
      b'\\' => "\\\\",
      b'\n' => "\\n",
      b'\r' => "\\r",
      b'\t' => "\\t",
      0x00..=0x1f => "",
      _ => continue,
    };
    out.push_str(&s[start..i]);
    if escape.is_empty() {
      out.push_str(&format!("\\u{b:04x}"));
    } else {
      out.push_str(escape);
    }
    start = i + 1;
  }
  out.push_str(&s[start..]);
  out.push('"');
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn kv_strings_redis_would_count_are_quoted() {
    for s in ["007", "0x1A", "+5", ".5", "5.", "inf", "-Infinity", "nan", "1e5", "7"] {
      let json = serde_json::to_string(s).unwrap();
      let stored = encode_kv_json(&json).unwrap();
      assert_eq!(stored, json, "{s}");
      assert_eq!(decode(&stored), json, "{s}");
    }
    for s in ["word", "x7", "0xg", "", "1.2.3"] {
      assert_eq!(encode_kv_json(&serde_json::to_string(s).unwrap()).unwrap(), s, "{s:?}");
    }
    assert_eq!(encode_kv_json("7").unwrap(), "7");
  }

  fn raw(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
  }

  fn roundtrip(json: &str) -> String {
    decode(&encode(&raw(json)))
  }

  #[test]
  fn plain_strings_are_stored_bare_like_0_5_15() {
    assert_eq!(encode(&raw(r#""flow:started""#)), "flow:started");
    assert_eq!(encode(&raw(r#""""#)), "");
    assert_eq!(encode(&raw(r#""null-ish""#)), "null-ish");
  }

  #[test]
  fn strings_that_look_like_json_are_quoted() {
    for s in [
      r#""123""#,
      r#""true""#,
      r#""false""#,
      r#""null""#,
      r#""[1,2]""#,
      r#""{}""#,
      r#""\"quoted\"""#,
      r#"" 7""#,
      r#""-1.5e3""#,
    ] {
      let stored = encode(&raw(s));
      assert_eq!(stored, s, "{s} must be stored as a JSON literal");
      assert_eq!(decode(&stored), s);
    }
  }

  #[test]
  fn strings_that_merely_start_like_json_stay_bare() {
    assert_eq!(encode(&raw(r#""1abc""#)), "1abc");
    assert_eq!(encode(&raw(r#""{not json""#)), "{not json");
    assert_eq!(encode(&raw(r#""0x10""#)), "0x10");
  }

  #[test]
  fn non_strings_are_json() {
    for v in [
      "1795669463704",
      "1.5",
      "-0.25",
      "true",
      "false",
      "null",
      "[1,null,\"a\"]",
      "{\"a\":{}}",
    ] {
      assert_eq!(encode(&raw(v)), v);
      assert_eq!(roundtrip(v), v);
    }
  }

  #[test]
  fn legacy_values_decode_like_0_5_15() {
    assert_eq!(decode("123"), "123");
    assert_eq!(decode("true"), "true");
    assert_eq!(decode("[1,2]"), "[1,2]");
    assert_eq!(decode("hello world"), r#""hello world""#);
    assert_eq!(decode(""), r#""""#);
    assert_eq!(decode("0x10"), r#""0x10""#);
    assert_eq!(decode("NaN"), r#""NaN""#);
  }

  #[test]
  fn control_characters_and_quotes_are_escaped() {
    let s = "a\"b\\c\nd\u{1}é";
    let json = decode(s);
    let back: String = serde_json::from_str(&json).unwrap();
    assert_eq!(back, s);
  }

  #[test]
  fn encode_json_matches_encode() {
    for json in [r#""x""#, r#""123""#, "123", r#"{"a":[1,null]}"#, "null", "true", "\"\""] {
      assert_eq!(encode_json(json).unwrap(), encode(&raw(json)), "{json}");
    }
    assert_eq!(encode_json("{not json"), None);
  }

  #[test]
  fn encode_str_matches_encode() {
    for s in ["x", "123", "", "{}", "tru"] {
      let json = serde_json::to_string(s).unwrap();
      assert_eq!(encode_str(s), encode(&raw(&json)));
    }
  }
}
