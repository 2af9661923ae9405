//! The one error type of the store, with the stable codes JS callers match on.
//!
//! Every failure that reaches JS carries one of [`Code`]'s names as `err.code`, and a message
//! that names the operation and the key. Messages never include connection settings, so a
//! password cannot leak through them.

use std::fmt;

/// Stable error codes. Their `as_str()` names are part of the public API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
  /// The caller passed something the store cannot accept; nothing was written.
  InvalidArgument,
  /// The entry the operation needs does not exist; nothing was written.
  NotFound,
  /// The store was closed; it never reconnects on its own.
  Closed,
  /// Redis did not answer within the command timeout; a write may or may not have been applied.
  Timeout,
  /// The command was not sent: no connection to Redis could be had.
  Unavailable,
  /// The command was sent but the connection broke before the reply: the outcome is unknown.
  Uncertain,
  /// Redis refused the command (WRONGTYPE, OOM, NOPERM, READONLY, …).
  Redis,
}

impl Code {
  pub fn as_str(self) -> &'static str {
    match self {
      Code::InvalidArgument => "INVALID_ARGUMENT",
      Code::NotFound => "NOT_FOUND",
      Code::Closed => "CLOSED",
      Code::Timeout => "TIMEOUT",
      Code::Unavailable => "UNAVAILABLE",
      Code::Uncertain => "UNCERTAIN",
      Code::Redis => "REDIS",
    }
  }
}

impl Code {
  /// The code named `name` (see [`Code::as_str`]).
  pub fn parse(name: &str) -> Option<Code> {
    use Code::*;
    [InvalidArgument, NotFound, Closed, Timeout, Unavailable, Uncertain, Redis]
      .into_iter()
      .find(|code| code.as_str() == name)
  }
}

impl AsRef<str> for Code {
  fn as_ref(&self) -> &str {
    self.as_str()
  }
}

/// A failed store operation: a code and a human-readable message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreError {
  pub code: Code,
  pub message: String,
}

pub type Result<T> = std::result::Result<T, StoreError>;

impl StoreError {
  pub fn new(code: Code, message: impl Into<String>) -> Self {
    StoreError {
      code,
      message: message.into(),
    }
  }

  pub fn invalid(message: impl Into<String>) -> Self {
    Self::new(Code::InvalidArgument, message)
  }

  /// This failure, of a call some earlier step of which was applied: its outcome is UNCERTAIN.
  pub fn partly_applied(self) -> Self {
    StoreError::new(
      Code::Uncertain,
      format!("{} (after an earlier step of the call was applied)", self.message),
    )
  }

  /// Prefixes the message with the operation and key, e.g. `index.update("runs", "r1"): …`.
  pub fn context(mut self, op: &str, target: &str) -> Self {
    self.message = format!("{op}({target}): {}", self.message);
    self
  }

  /// Classifies a redis-rs error. `sent` says whether the command may have reached the
  /// server, which decides between UNAVAILABLE and UNCERTAIN for a broken connection.
  pub fn from_redis(err: &redis::RedisError, sent: bool) -> Self {
    match err.code() {
      // The server cannot take the command now and did not run it: a failover demoted it, it
      // is loading its data, or it lost its primary. The connection is replaced (wire.rs).
      Some(code @ ("READONLY" | "LOADING" | "MASTERDOWN")) => {
        return StoreError::new(
          Code::Unavailable,
          format!("Redis answered {code} (a failover or restart is under way); not applied"),
        )
      }
      // min-replicas-to-write: the primary lost touch with its replicas (a failover may be on)
      Some("NOREPLICAS") => {
        return StoreError::new(
          Code::Unavailable,
          "Redis refused the write: too few replicas acknowledge it (min-replicas-to-write); not applied",
        )
      }
      Some("OOM") => {
        return StoreError::new(
          Code::Redis,
          "Redis is out of memory (maxmemory reached, and its policy evicts nothing); not applied",
        )
      }
      _ => {}
    }
    let code = if err.is_timeout() {
      Code::Timeout
    } else if err.is_connection_refusal() {
      Code::Unavailable
    } else if err.is_io_error() || err.is_connection_dropped() {
      if sent {
        Code::Uncertain
      } else {
        Code::Unavailable
      }
    } else if err.code().is_some() || err.kind() == redis::ErrorKind::UnexpectedReturnType {
      Code::Redis
    } else if err.is_unrecoverable_error() {
      if sent {
        Code::Uncertain
      } else {
        Code::Unavailable
      }
    } else {
      Code::Redis
    };
    StoreError::new(code, redact(&err.to_string()))
  }
}

/// redis-rs never prints credentials, but a URL can reach an error text through a DNS or
/// TLS message; drop anything that looks like `user:secret@`.
fn redact(text: &str) -> String {
  match (text.find("://"), text.rfind('@')) {
    (Some(scheme), Some(at)) if at > scheme => {
      format!("{}://***{}", &text[..scheme], &text[at..])
    }
    _ => text.to_string(),
  }
}

impl fmt::Display for StoreError {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    write!(f, "{}: {}", self.code.as_str(), self.message)
  }
}

impl std::error::Error for StoreError {}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn display_puts_the_code_first() {
    let e = StoreError::invalid("ttl must be positive").context("kv.set", "\"k\"");
    assert_eq!(e.to_string(), "INVALID_ARGUMENT: kv.set(\"k\"): ttl must be positive");
  }

  #[test]
  fn server_errors_are_redis_errors() {
    let e = redis::RedisError::from((
      redis::ErrorKind::Server(redis::ServerErrorKind::ResponseError),
      "WRONGTYPE",
      "Operation against a key".to_string(),
    ));
    assert_eq!(StoreError::from_redis(&e, true).code, Code::Redis);
  }

  #[test]
  fn io_errors_depend_on_whether_the_command_was_sent() {
    let io = || redis::RedisError::from(std::io::Error::new(std::io::ErrorKind::BrokenPipe, "broken pipe"));
    assert_eq!(StoreError::from_redis(&io(), true).code, Code::Uncertain);
    assert_eq!(StoreError::from_redis(&io(), false).code, Code::Unavailable);
  }

  #[test]
  fn failover_replies_are_unavailable_and_oom_says_so() {
    let reply = |line: &str| redis::parse_redis_value(line.as_bytes()).unwrap().extract_error().unwrap_err();
    let readonly = StoreError::from_redis(&reply("-READONLY You can't write against a read only replica.\r\n"), true);
    assert_eq!(readonly.code, Code::Unavailable);
    let no_replicas = StoreError::from_redis(&reply("-NOREPLICAS Not enough good replicas to write.\r\n"), true);
    assert_eq!(no_replicas.code, Code::Unavailable);
    let oom = StoreError::from_redis(&reply("-OOM command not allowed when used memory > 'maxmemory'.\r\n"), true);
    assert_eq!(oom.code, Code::Redis);
    assert!(oom.message.contains("out of memory"), "{}", oom.message);
  }

  #[test]
  fn urls_with_credentials_are_redacted() {
    assert_eq!(redact("bad url redis://u:S3cret@host:1"), "bad url redis://***@host:1");
    assert_eq!(redact("plain"), "plain");
  }
}
