//! The RESP2 reply format: finding where replies end, and turning them into `redis::Value`s.
//!
//! Pure (no I/O). redis-rs's own parser is built from generic parser combinators; on the large
//! pipelined replies of index reads it took about half of the addon's CPU time (README,
//! Performance), so replies are framed and decoded here in one plain pass each.
//!
//! A large reply arrives in many reads. [`Framer`] remembers how far it has checked, so every
//! byte is scanned once however the reply is split; only a complete reply is decoded.

use redis::Value;

/// Deeper nesting than Redis ever sends is treated as a broken stream, not recursed into.
const MAX_DEPTH: usize = 64;

#[derive(Debug, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl std::fmt::Display for ProtocolError {
  fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    write!(f, "Redis sent a malformed reply: {}", self.0)
  }
}

/// Finds the end of the next complete reply in a buffer that grows at its end.
#[derive(Default)]
pub struct Framer {
  /// Where checking resumes: the start of the first element not yet known to be complete.
  pos: usize,
  /// For each open array, how many elements it still needs.
  open: Vec<u64>,
}

impl Framer {
  /// The length of the first complete reply in `buf`, or `None` until more bytes arrive.
  /// After `Some(n)` the caller removes those `n` bytes from the front of `buf`.
  pub fn next_reply(&mut self, buf: &[u8]) -> Result<Option<usize>, ProtocolError> {
    loop {
      let Some(Line {
        kind,
        text: line,
        next: after_line,
      }) = line_at(buf, self.pos)?
      else {
        return Ok(None);
      };
      let element_end = match kind {
        b'+' | b'-' | b':' => after_line,
        b'$' => match int(line)? {
          -1 => after_line,
          n if n >= 0 => {
            let end = after_line.saturating_add(n as usize).saturating_add(2);
            if buf.len() < end {
              return Ok(None);
            }
            end
          }
          n => return Err(ProtocolError(format!("bulk length {n}"))),
        },
        b'*' => match int(line)? {
          -1 | 0 => after_line,
          n if n > 0 => {
            if self.open.len() == MAX_DEPTH {
              return Err(ProtocolError("arrays nested too deeply".into()));
            }
            self.open.push(n as u64);
            self.pos = after_line;
            continue;
          }
          n => return Err(ProtocolError(format!("array length {n}"))),
        },
        other => return Err(ProtocolError(format!("unknown type byte {:?}", other as char))),
      };
      self.pos = element_end;
      // one element is complete: close every array it completes
      while let Some(left) = self.open.last_mut() {
        *left -= 1;
        if *left > 0 {
          break;
        }
        self.open.pop();
      }
      if self.open.is_empty() {
        self.pos = 0;
        return Ok(Some(element_end));
      }
    }
  }
}

/// One line of the protocol: its type byte, the rest of it, and where the next line starts.
struct Line<'a> {
  kind: u8,
  text: &'a [u8],
  next: usize,
}

fn line_at(buf: &[u8], pos: usize) -> Result<Option<Line<'_>>, ProtocolError> {
  let Some(rest) = buf.get(pos..).filter(|r| !r.is_empty()) else {
    return Ok(None);
  };
  let Some(nl) = memchr::memchr(b'\n', rest) else {
    return Ok(None);
  };
  if nl == 0 || rest[nl - 1] != b'\r' {
    return Err(ProtocolError("a line does not end in CRLF".into()));
  }
  if nl == 1 {
    return Err(ProtocolError("an empty line where a reply was expected".into()));
  }
  Ok(Some(Line {
    kind: rest[0],
    text: &rest[1..nl - 1],
    next: pos + nl + 1,
  }))
}

fn int(digits: &[u8]) -> Result<i64, ProtocolError> {
  std::str::from_utf8(digits)
    .ok()
    .and_then(|s| s.parse().ok())
    .ok_or_else(|| ProtocolError(format!("{:?} is not an integer", String::from_utf8_lossy(digits))))
}

/// Decodes one complete reply, as found by [`Framer`]. Error replies become
/// `Value::ServerError`, as redis-rs makes them.
pub fn decode(reply: &[u8]) -> Result<Value, ProtocolError> {
  let (value, end) = value_at(reply, 0, 0)?;
  if end != reply.len() {
    return Err(ProtocolError("bytes after the reply".into()));
  }
  Ok(value)
}

fn value_at(buf: &[u8], pos: usize, depth: usize) -> Result<(Value, usize), ProtocolError> {
  let incomplete = || ProtocolError("the reply ends early".into());
  let Line { kind, text: line, next } = line_at(buf, pos)?.ok_or_else(incomplete)?;
  Ok(match kind {
    b'$' => match int(line)? {
      -1 => (Value::Nil, next),
      n if n >= 0 => {
        let bytes = next
          .checked_add(n as usize)
          .and_then(|end| buf.get(next..end))
          .ok_or_else(incomplete)?;
        if buf.get(next + bytes.len()..next + bytes.len() + 2) != Some(b"\r\n") {
          return Err(ProtocolError("a bulk string does not end in CRLF".into()));
        }
        (Value::BulkString(bytes.to_vec()), next + bytes.len() + 2)
      }
      n => return Err(ProtocolError(format!("bulk length {n}"))),
    },
    b'*' => match int(line)? {
      -1 => (Value::Nil, next),
      _ if depth == MAX_DEPTH => return Err(ProtocolError("arrays nested too deeply".into())),
      n if n >= 0 => {
        // no more elements than bytes left: a length is not trusted before they arrive
        let mut items = Vec::with_capacity((n as usize).min(buf.len() - next));
        let mut at = next;
        for _ in 0..n {
          let (item, after) = value_at(buf, at, depth + 1)?;
          items.push(item);
          at = after;
        }
        (Value::Array(items), at)
      }
      n => return Err(ProtocolError(format!("array length {n}"))),
    },
    b':' => (Value::Int(int(line)?), next),
    b'+' if line == b"OK" => (Value::Okay, next),
    b'+' => (Value::SimpleString(String::from_utf8_lossy(line).into_owned()), next),
    // rare, and redis-rs knows how to classify them (NOSCRIPT, WRONGTYPE, …)
    b'-' => match redis::parse_redis_value(&buf[pos..next]) {
      Ok(value) => (value, next),
      Err(e) => return Err(ProtocolError(e.to_string())),
    },
    other => return Err(ProtocolError(format!("unknown type byte {:?}", other as char))),
  })
}

/// Appends `value` as RESP2, as a server would have sent it: the cluster connection hands back
/// decoded replies, and the readers that take raw replies ([`Reader`]) then read these.
pub fn encode(value: &Value, out: &mut Vec<u8>) {
  let mut head = |kind: u8, n: &dyn std::fmt::Display| {
    out.push(kind);
    out.extend_from_slice(n.to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
  };
  match value {
    Value::Nil => head(b'$', &-1),
    Value::Int(n) => head(b':', n),
    Value::Okay => head(b'+', &"OK"),
    Value::SimpleString(s) => head(b'+', s),
    Value::BulkString(bytes) => {
      head(b'$', &bytes.len());
      out.extend_from_slice(bytes);
      out.extend_from_slice(b"\r\n");
    }
    Value::Array(items) => {
      head(b'*', &items.len());
      for item in items {
        encode(item, out);
      }
    }
    Value::ServerError(e) => head(b'-', &format!("{} {}", e.code(), e.details().unwrap_or_default())),
    // RESP3 kinds: this addon speaks RESP2, so no server sends them
    other => head(b'-', &format!("ERR unexpected reply {other:?}")),
  }
}

/// Reads replies kept as received, borrowing their text instead of building `Value`s: index
/// reads fetch thousands of small hashes, and one allocation per field was most of their cost.
pub struct Reader<'a> {
  buf: &'a [u8],
  pos: usize,
}

/// Text of a reply, borrowed unless it is not UTF-8 (then lossily converted, as `text` does).
pub type Text<'a> = std::borrow::Cow<'a, str>;

impl<'a> Reader<'a> {
  pub fn new(buf: &'a [u8]) -> Self {
    Reader { buf, pos: 0 }
  }

  /// The next reply, a flat array (HGETALL, ZRANGE … WITHSCORES), as pairs appended to `out`.
  /// An error reply becomes the `RedisError` redis-rs would have made of it.
  pub fn pairs(&mut self, out: &mut Vec<(Text<'a>, Text<'a>)>) -> redis::RedisResult<()> {
    let start = self.pos;
    let line = self.line()?;
    let n = match line.kind {
      b'*' => int(line.text).map_err(broken)?.max(0),
      b'-' => return Err(error_reply(&self.buf[start..line.next])),
      _ => return Err(broken(ProtocolError("expected an array".into()))),
    };
    out.reserve((n as usize / 2).min(self.buf.len() - self.pos));
    for _ in 0..n / 2 {
      let field = self.next_string()?;
      let value = self.next_string()?;
      out.push((field, value));
    }
    if n % 2 == 1 {
      self.next_string()?;
    }
    Ok(())
  }

  fn line(&mut self) -> redis::RedisResult<Line<'a>> {
    let line = line_at(self.buf, self.pos)
      .map_err(broken)?
      .ok_or_else(|| broken(ProtocolError("the reply ends early".into())))?;
    self.pos = line.next;
    Ok(line)
  }

  fn next_string(&mut self) -> redis::RedisResult<Text<'a>> {
    let line = self.line()?;
    let bytes = match line.kind {
      b'$' => {
        // index reads fetch hashes and sorted sets, which hold no null elements
        let n =
          usize::try_from(int(line.text).map_err(broken)?).map_err(|_| broken(ProtocolError("expected a string, not null".into())))?;
        let bytes = line
          .next
          .checked_add(n)
          .and_then(|end| self.buf.get(line.next..end))
          .ok_or_else(|| broken(ProtocolError("the reply ends early".into())))?;
        self.pos = line.next + n + 2;
        bytes
      }
      b'+' | b':' => line.text,
      _ => return Err(broken(ProtocolError("expected a string".into()))),
    };
    Ok(String::from_utf8_lossy(bytes))
  }
}

fn error_reply(line: &[u8]) -> redis::RedisError {
  match redis::parse_redis_value(line).and_then(Value::extract_error) {
    Err(e) => e,
    Ok(_) => broken(ProtocolError("an error reply that is not one".into())),
  }
}

fn broken(e: ProtocolError) -> redis::RedisError {
  std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()).into()
}

#[cfg(test)]
mod tests {
  use super::*;
  use proptest::prelude::*;

  #[test]
  fn encode_gives_back_what_decode_read() {
    let wire: &[u8] = b"*6\r\n$3\r\nabc\r\n$-1\r\n:-7\r\n+OK\r\n+QUEUED\r\n*1\r\n-NOSCRIPT No matching script\r\n";
    let value = decode(wire).unwrap();
    let mut out = Vec::new();
    encode(&value, &mut out);
    assert_eq!(out, wire);
  }

  fn frames(chunks: &[&[u8]]) -> Vec<Value> {
    let mut framer = Framer::default();
    let mut buf = Vec::new();
    let mut out = Vec::new();
    for chunk in chunks {
      buf.extend_from_slice(chunk);
      while let Some(n) = framer.next_reply(&buf).unwrap() {
        out.push(decode(&buf[..n]).unwrap());
        buf.drain(..n);
      }
    }
    assert!(buf.is_empty(), "left over: {:?}", String::from_utf8_lossy(&buf));
    out
  }

  fn bulk(s: &str) -> Value {
    Value::BulkString(s.as_bytes().to_vec())
  }

  #[test]
  fn every_reply_type_of_resp2() {
    let replies = frames(&[b"+OK\r\n+QUEUED\r\n:-42\r\n$5\r\nhe\r\no\r\n$0\r\n\r\n$-1\r\n*-1\r\n*0\r\n*2\r\n$1\r\na\r\n*1\r\n:1\r\n"]);
    assert_eq!(
      replies,
      vec![
        Value::Okay,
        Value::SimpleString("QUEUED".into()),
        Value::Int(-42),
        bulk("he\r\no"),
        bulk(""),
        Value::Nil,
        Value::Nil,
        Value::Array(vec![]),
        Value::Array(vec![bulk("a"), Value::Array(vec![Value::Int(1)])]),
      ]
    );
  }

  #[test]
  fn error_replies_keep_their_code() {
    let replies = frames(&[b"-NOSCRIPT No matching script.\r\n-WRONGTYPE Operation against a key\r\n"]);
    let errors: Vec<_> = replies.into_iter().map(|v| v.extract_error().unwrap_err()).collect();
    assert_eq!(errors[0].kind(), redis::ErrorKind::Server(redis::ServerErrorKind::NoScript));
    assert_eq!(errors[1].code(), Some("WRONGTYPE"));
  }

  #[test]
  fn a_reply_split_at_every_byte_is_found_once_whole() {
    let wire = b"*3\r\n$3\r\nfoo\r\n*2\r\n:7\r\n$-1\r\n+OK\r\n:5\r\n";
    let whole = frames(&[wire]);
    let chunks: Vec<&[u8]> = wire.chunks(1).collect();
    assert_eq!(frames(&chunks), whole);
    assert_eq!(whole.len(), 2);
  }

  #[test]
  fn an_incomplete_reply_waits_for_more_bytes() {
    let mut framer = Framer::default();
    assert_eq!(framer.next_reply(b"*2\r\n$3\r\nab").unwrap(), None);
    assert_eq!(framer.next_reply(b"*2\r\n$3\r\nabc\r\n").unwrap(), None);
    assert_eq!(framer.next_reply(b"*2\r\n$3\r\nabc\r\n:1\r\n").unwrap(), Some(17));
  }

  #[test]
  fn broken_streams_are_errors_not_panics() {
    for wire in [&b"?x\r\n"[..], b"$abc\r\n", b"*-2\r\n", b"+no cr\n", b"$-5\r\n"] {
      assert!(Framer::default().next_reply(wire).is_err(), "{:?}", String::from_utf8_lossy(wire));
    }
    let deep = "*1\r\n".repeat(MAX_DEPTH + 1);
    assert!(Framer::default().next_reply(deep.as_bytes()).is_err());
    assert!(decode(b"$5\r\nab\r\n").is_err());
  }

  #[test]
  fn the_reader_borrows_pairs_and_reports_error_replies() {
    let wire = b"*4\r\n$6\r\nstatus\r\n$7\r\nrunning\r\n$1\r\nn\r\n:3\r\n*0\r\n-WRONGTYPE Operation against a key\r\n";
    let mut reader = Reader::new(wire);
    let mut pairs = Vec::new();
    reader.pairs(&mut pairs).unwrap();
    assert_eq!(pairs, vec![("status".into(), "running".into()), ("n".into(), "3".into())]);
    assert!(matches!(pairs[0].0, Text::Borrowed(_)));
    pairs.clear();
    reader.pairs(&mut pairs).unwrap();
    assert!(pairs.is_empty());
    assert_eq!(reader.pairs(&mut pairs).unwrap_err().code(), Some("WRONGTYPE"));
  }

  #[test]
  fn the_reader_replaces_bytes_that_are_not_utf8() {
    let mut pairs = Vec::new();
    Reader::new(b"*2\r\n$1\r\nk\r\n$2\r\n\xff\xfe\r\n").pairs(&mut pairs).unwrap();
    assert_eq!(pairs[0].1, "\u{fffd}\u{fffd}");
  }

  /// Pieces that RESP is made of, so that random sequences of them come close to replies and
  /// reach the edge cases (lengths that lie, nulls, nesting, lines without CRLF).
  const PIECES: &[&[u8]] = &[
    b"*",
    b"$",
    b"+",
    b"-",
    b":",
    b"\r\n",
    b"\r",
    b"\n",
    b"0",
    b"1",
    b"2",
    b"3",
    b"-1",
    b"-2",
    b"OK",
    b"ERR x",
    b"99999999999999999999",
    b"9223372036854775807",
    b"abc",
    b"\xff",
  ];

  fn resp_like() -> impl Strategy<Value = Vec<u8>> {
    let piece = proptest::sample::select(PIECES).prop_map(<[u8]>::to_vec);
    let byte = any::<u8>().prop_map(|b| vec![b]);
    proptest::collection::vec(prop_oneof![4 => piece, 1 => byte], 0..64).prop_map(|parts| parts.concat())
  }

  /// Everything the connection does with bytes from the server: frame them as they arrive in
  /// chunks, decode each framed reply, and read replies raw.
  fn consume(bytes: &[u8], chunk: usize) {
    let mut framer = Framer::default();
    let mut buf = Vec::new();
    'chunks: for piece in bytes.chunks(chunk.max(1)) {
      buf.extend_from_slice(piece);
      loop {
        match framer.next_reply(&buf) {
          Ok(Some(n)) => {
            let _ = decode(&buf[..n]);
            buf.drain(..n);
          }
          Ok(None) => break,
          Err(_) => break 'chunks,
        }
      }
    }
    let _ = decode(bytes);
    let mut reader = Reader::new(bytes);
    let mut pairs = Vec::new();
    while reader.pairs(&mut pairs).is_ok() && reader.pos < bytes.len() {}
  }

  proptest! {
    #![proptest_config(ProptestConfig { cases: 20_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn resp_like_bytes_never_panic(bytes in resp_like(), chunk in 1usize..16) {
      consume(&bytes, chunk);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256), chunk in 1usize..64) {
      consume(&bytes, chunk);
    }
  }

  #[test]
  fn the_edge_cases_found_so_far_are_errors() {
    for wire in [
      &b"\r\n"[..],
      b"*1\r\n\r\n",
      b"$99999999999999999999\r\n",
      b"*9223372036854775807\r\n:1\r\n",
    ] {
      consume(wire, 1);
      assert!(decode(wire).is_err(), "{:?}", String::from_utf8_lossy(wire));
    }
    let mut pairs = Vec::new();
    assert!(Reader::new(b"*2\r\n$-1\r\n$1\r\na\r\n").pairs(&mut pairs).is_err());
    assert!(Reader::new(b"*9223372036854775807\r\n").pairs(&mut pairs).is_err());
  }
}
