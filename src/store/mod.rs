//! The store: the stream, index and kv tiers over one Redis connection. No napi in here.
//!
//! Values cross in and out as JSON text, so the JS side can use the engine's own
//! `JSON.stringify`/`JSON.parse`, and this side never walks JS objects.

mod batch;
pub mod config;
mod conn;
mod index;
mod kv;
mod resp;
mod stream;
mod wire;

pub use index::ReadOptions as IndexReadOptions;
pub use stream::ReadOptions as StreamReadOptions;

use crate::error::{Code, Result, StoreError};
use conn::Connector;
use std::future::Future;
use std::sync::Arc;
use wire::Connection;

/// A Redis-backed nvent store. Cheap to share: clone the `Arc`.
///
/// Writes and reads travel on two multiplexed connections, each opened on first use. Redis
/// runs one connection's commands in order, so while it pauses writes (as during a failover) a
/// read queued behind a write would wait too; on its own connection it keeps answering. A read
/// that must see a write still in flight goes on the writes' connection instead (see
/// [`Store::ordered`]).
#[derive(Clone)]
pub struct Store {
  writes: Arc<Connector>,
  reads: Arc<Connector>,
  trim: Option<Trim>,
  command_timeout: std::time::Duration,
  /// Reads go on the writes' connection (see [`Store::ordered`]).
  ordered: bool,
}

#[derive(Clone, Copy)]
struct Trim {
  max_len: u64,
  approx: bool,
}

/// Whether a failed command may simply be sent again.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
  /// Reads have no effect, so one that lost its connection is retried once.
  Read,
  /// Writes are never re-sent: a lost reply means the outcome is UNCERTAIN.
  Write,
}

impl Store {
  /// Checks the options and prepares the client; does no I/O.
  pub fn new(options: &config::Options) -> Result<Store> {
    let setup = options.build()?;
    let trim = options.trim_max_len.filter(|n| *n > 0).map(|max_len| Trim {
      max_len,
      approx: options.trim_approx,
    });
    let command_timeout = setup.endpoint.command_timeout;
    let endpoint = Arc::new(setup.endpoint);
    let refusal = Arc::new(conn::Refusal::default());
    Ok(Store {
      // only writes run scripts
      writes: Connector::new(
        &setup.address,
        setup.connect_timeout,
        endpoint.clone(),
        refusal.clone(),
        crate::scripts::loads(),
      ),
      reads: Connector::new(&setup.address, setup.connect_timeout, endpoint, refusal, Vec::new()),
      trim,
      command_timeout,
      ordered: false,
    })
  }

  /// This store with its reads on the writes' connection, behind the writes made before them
  /// (Redis answers one connection's commands in order).
  pub fn ordered(&self) -> Store {
    Store {
      ordered: true,
      ..self.clone()
    }
  }

  /// Runs one call of the API within the command timeout, all its steps included.
  pub fn bounded<T>(&self, call: impl Future<Output = Result<T>>) -> impl Future<Output = Result<T>> {
    conn::bounded(self.command_timeout, call)
  }

  /// Drops the connections; every later call fails with CLOSED. Closing twice is harmless.
  pub fn close(&self) {
    self.writes.close();
    self.reads.close();
  }

  pub fn is_closed(&self) -> bool {
    self.writes.is_closed()
  }

  /// `host:port` of the server (never the credentials).
  pub fn address(&self) -> &str {
    self.writes.address()
  }

  /// Runs `command` on the connection for its kind and classifies its failure.
  async fn run<T, F, Fut>(&self, kind: Kind, command: F) -> Result<T>
  where
    F: Fn(Connection) -> Fut,
    Fut: Future<Output = Result<T>>,
  {
    let (conn, mut retries) = match kind {
      Kind::Read if !self.ordered => (&self.reads, 1),
      Kind::Read => (&self.writes, 1),
      Kind::Write => (&self.writes, 0),
    };
    loop {
      let lease = conn.lease().await?;
      let outcome = command(lease.conn.clone()).await;
      if lease.conn.is_stale() {
        // the server stopped being a primary (READONLY …): both connections find the new one
        self.writes.retire_any();
        self.reads.retire_any();
      }
      let failure = match outcome {
        Ok(value) => return Ok(value),
        Err(e) => e,
      };
      if matches!(failure.code, Code::Timeout | Code::Uncertain | Code::Unavailable) {
        conn.retire(&lease);
      }
      match (kind, failure.code) {
        (Kind::Read, Code::Uncertain | Code::Unavailable) if retries > 0 => retries -= 1,
        (Kind::Read, Code::Uncertain) => {
          return Err(StoreError {
            code: Code::Unavailable,
            ..failure
          })
        }
        _ => return Err(failure),
      }
    }
  }
}

/// How a pipelined call's replies become its JSON result; `None` asks for the call to be run
/// the regular way instead (its script was not cached, or its entry needs the slow path).
type Finish = Box<dyn FnOnce(Vec<redis::Value>) -> Result<Option<String>> + Send>;

/// A call whose commands can travel in a pipeline with other calls' (see [`batch`]).
pub(crate) struct Piped {
  op: &'static str,
  target: String,
  kind: Kind,
  cmds: Vec<redis::Cmd>,
  finish: Finish,
  /// Turns a Redis refusal into the error callers should see (identity by default).
  refine: fn(StoreError) -> StoreError,
}

impl Piped {
  fn new(kind: Kind, op: &'static str, target: String, cmds: Vec<redis::Cmd>, finish: Finish) -> Piped {
    Piped {
      op,
      target,
      kind,
      cmds,
      finish,
      refine: |e| e,
    }
  }

  /// A read of one command.
  fn read(op: &'static str, target: String, cmd: redis::Cmd, finish: fn(redis::Value) -> Result<String>) -> Piped {
    Piped::new(
      Kind::Read,
      op,
      target,
      vec![cmd],
      Box::new(move |mut replies| finish(replies.remove(0)).map(Some)),
    )
  }

  /// A write of one command.
  fn write(op: &'static str, target: String, cmd: redis::Cmd, finish: fn(redis::Value) -> Result<String>) -> Piped {
    Piped {
      kind: Kind::Write,
      ..Piped::read(op, target, cmd, finish)
    }
  }

  fn fail(&self, e: StoreError) -> StoreError {
    (self.refine)(e).context(self.op, &self.target)
  }
}

impl Store {
  /// Sends the commands of `calls` as one pipeline (one request on the connection of their
  /// kind; reads only when all are reads) and returns each call's result, in order.
  async fn run_piped(&self, calls: Vec<Piped>) -> Vec<Result<Option<String>>> {
    let kind = if calls.iter().all(|c| c.kind == Kind::Read) {
      Kind::Read
    } else {
      Kind::Write
    };
    let mut calls = calls;
    let mut pipe = redis::pipe();
    let counts: Vec<usize> = calls.iter().map(|c| c.cmds.len()).collect();
    for call in &mut calls {
      for cmd in call.cmds.drain(..) {
        pipe.add_command(cmd);
      }
    }
    let replies = self
      .run(kind, |c| {
        let pipe = &pipe;
        async move { c.query_each(pipe).await }
      })
      .await;
    let mut replies = match replies {
      Ok(replies) => replies.into_iter(),
      Err(e) => return calls.iter().map(|call| Err(call.fail(e.clone()))).collect(),
    };
    calls
      .into_iter()
      .zip(counts)
      .map(|(call, count)| {
        let Piped {
          op,
          target,
          finish,
          refine,
          ..
        } = call;
        let fail = |e: StoreError| refine(e).context(op, &target);
        let mut values = Vec::with_capacity(count);
        let mut failure = None;
        for reply in replies.by_ref().take(count) {
          match reply.extract_error() {
            Ok(value) => values.push(value),
            // not run: the regular path loads the script and runs the call again
            Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => failure = failure.or(Some(None)),
            Err(e) => failure = Some(Some(e)),
          }
        }
        match failure {
          Some(Some(e)) => Err(fail(StoreError::from_redis(&e, true))),
          Some(None) => Ok(None),
          None => finish(values).map_err(fail),
        }
      })
      .collect()
  }

  /// Runs one script call the regular way (loading the script again when Redis forgot it).
  async fn run_script<T: redis::FromRedisValue>(&self, kind: Kind, call: &crate::scripts::ScriptCall) -> Result<T> {
    let evalsha = call.evalsha();
    self
      .run(kind, |c| async move {
        match c.reply(evalsha).await?.extract_error() {
          Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
            let mut again = redis::pipe();
            again.add_command(call.script.load()).add_command(evalsha.clone());
            let (_sha, reply): (String, T) = c.query_pipe(&again).await?;
            Ok(reply)
          }
          Err(e) => Err(StoreError::from_redis(&e, true)),
          Ok(reply) => wire::convert(reply),
        }
      })
      .await
  }
}

/// `"key"` or `"key", "id"`, for error messages.
fn target(parts: &[&str]) -> String {
  // built for every call (it travels with the call in case it fails): one string, no temporaries
  use std::fmt::Write;
  let mut out = String::with_capacity(parts.iter().map(|p| p.len() + 4).sum());
  for (i, part) in parts.iter().enumerate() {
    let _ = write!(out, "{}{part:?}", if i > 0 { ", " } else { "" });
  }
  out
}

fn parse_json_object(json: &str, what: &str) -> Result<serde_json::Map<String, serde_json::Value>> {
  match serde_json::from_str(json) {
    Ok(serde_json::Value::Object(map)) => Ok(map),
    Ok(_) => Err(StoreError::invalid(format!("{what} must be a plain object"))),
    Err(e) => Err(StoreError::invalid(format!("{what} cannot be stored: {e}"))),
  }
}

/// A Redis string reply as text; bytes that are not UTF-8 (written by other clients) are
/// replaced rather than failing the whole read.
fn text(value: redis::Value) -> Option<String> {
  match value {
    redis::Value::BulkString(bytes) => {
      Some(String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }
    redis::Value::SimpleString(s) => Some(s),
    redis::Value::Int(n) => Some(n.to_string()),
    _ => None,
  }
}

/// A flat `[field, value, field, value …]` reply as pairs (the connection speaks RESP2, so
/// there are no map replies).
fn pairs(value: redis::Value) -> Vec<(String, String)> {
  let redis::Value::Array(items) = value else {
    return Vec::new();
  };
  let mut out = Vec::with_capacity(items.len() / 2);
  let mut it = items.into_iter();
  while let (Some(k), Some(v)) = (it.next(), it.next()) {
    if let (Some(k), Some(v)) = (text(k), text(v)) {
      out.push((k, v));
    }
  }
  out
}

/// A JS number as a Redis argument: integers without a fraction, others in full precision.
fn number_arg(n: f64) -> String {
  if n == 0.0 {
    "0".to_string()
  } else {
    format!("{n}")
  }
}

/// Parses a Redis float reply (`"1.5"`, `"6"`, `"inf"`).
fn parse_number(s: &str) -> Result<f64> {
  s.parse::<f64>()
    .map_err(|_| StoreError::new(Code::Redis, format!("Redis answered {s:?} where a number was expected")))
}
