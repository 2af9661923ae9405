//! Hash field names for nested metadata: the path of object keys joined with `.`.
//!
//! 0.5.15 joined keys with `.` and split on every `.` when reading, so a key that itself holds a
//! dot (`order.created`) came back as two levels. Here a `.` or `\` inside a key is escaped with
//! `\`, and only unescaped dots separate levels. Keys without `.` or `\` (nearly all of them) are
//! written exactly as 0.5.15 wrote them.

/// Appends `key`, escaped, to `out`.
pub fn push_segment(key: &str, out: &mut String) {
  if !key.contains(['.', '\\']) {
    out.push_str(key);
    return;
  }
  for c in key.chars() {
    if c == '.' || c == '\\' {
      out.push('\\');
    }
    out.push(c);
  }
}

/// The field name of a child `key` under the field `parent` (`""` for the top level).
pub fn child(parent: &str, key: &str) -> String {
  let mut out = String::with_capacity(parent.len() + key.len() + 1);
  if !parent.is_empty() {
    out.push_str(parent);
    out.push('.');
  }
  push_segment(key, &mut out);
  out
}

/// Splits a field name into its unescaped keys.
pub fn split(field: &str) -> Vec<String> {
  if !field.contains('\\') {
    return field.split('.').map(str::to_string).collect();
  }
  let mut keys = vec![String::new()];
  let mut chars = field.chars();
  while let Some(c) = chars.next() {
    match c {
      '\\' => match chars.next() {
        Some(next) => keys.last_mut().unwrap().push(next),
        None => keys.last_mut().unwrap().push('\\'),
      },
      '.' => keys.push(String::new()),
      _ => keys.last_mut().unwrap().push(c),
    }
  }
  keys
}

/// The field names of every strict ancestor of `field` (`a`, `a.b` for `a.b.c`).
pub fn ancestors(field: &str) -> Vec<&str> {
  let mut out = Vec::new();
  let bytes = field.as_bytes();
  let mut i = 0;
  while i < bytes.len() {
    match bytes[i] {
      b'\\' => i += 1,
      b'.' => out.push(&field[..i]),
      _ => {}
    }
    i += 1;
  }
  out
}

/// Parses a caller's dotted path (`stats.running`, `events.order\.created`) into a field name.
/// The path is already in field syntax; this only checks that no level is empty.
pub fn parse_dotted(path: &str) -> Option<String> {
  if split(path).iter().any(String::is_empty) {
    None
  } else {
    Some(path.to_string())
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn plain_keys_join_like_0_5_15() {
    assert_eq!(child("", "stats"), "stats");
    assert_eq!(child("stats", "total"), "stats.total");
    assert_eq!(split("stats.total"), vec!["stats", "total"]);
  }

  #[test]
  fn dots_and_backslashes_in_keys_are_escaped() {
    let f = child("emittedEvents", "order.created");
    assert_eq!(f, r"emittedEvents.order\.created");
    assert_eq!(split(&f), vec!["emittedEvents", "order.created"]);
    let g = child(&child("", r"a\"), "b");
    assert_eq!(g, r"a\\.b");
    assert_eq!(split(&g), vec![r"a\", "b"]);
  }

  #[test]
  fn ancestors_skip_escaped_dots() {
    assert_eq!(ancestors("a.b.c"), vec!["a", "a.b"]);
    assert_eq!(ancestors(r"a\.b.c"), vec![r"a\.b"]);
    assert_eq!(ancestors("a"), Vec::<&str>::new());
  }

  #[test]
  fn an_escaped_prefix_never_matches_a_sibling() {
    // `a\.b.` is the prefix of the children of key "a.b"; the field of path ["a\", "b", "c"]
    // must not start with it.
    let sibling = child(&child(&child("", r"a\"), "b"), "c");
    assert!(!sibling.starts_with(&format!("{}.", child("", "a.b"))));
  }

  #[test]
  fn dotted_paths_need_non_empty_levels() {
    assert_eq!(parse_dotted("stats.running").as_deref(), Some("stats.running"));
    assert_eq!(parse_dotted("stats..x"), None);
    assert_eq!(parse_dotted(""), None);
    assert_eq!(parse_dotted("a."), None);
  }
}
