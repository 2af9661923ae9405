//! An operation of the API as data: the commands it sends, and what their replies mean. Every
//! pipelined operation is defined once as a [`Call`]; [`Store::execute`] runs many together (one
//! pipeline for their first step) or one alone, the same way.
//!
//! A call's replies either finish it ([`Outcome::Done`]) or lead to a next step
//! ([`Outcome::Then`]), which runs on its own: a script call that Redis refused because it forgot
//! the script (NOSCRIPT) runs again after loading it.

use super::{Kind, Store};
use crate::error::{Result, StoreError};
use futures_util::future::join_all;
use redis::Value;

/// Which call a failure belongs to: `index.update("runs", "r1"): …`.
#[derive(Clone)]
pub(super) struct Origin {
  op: &'static str,
  target: String,
}

impl Origin {
  pub fn new(op: &'static str, parts: &[&str]) -> Origin {
    Origin { op, target: target(parts) }
  }

  /// Names the call in `e`'s message.
  pub fn fail(&self, e: StoreError) -> StoreError {
    e.context(self.op, &self.target)
  }

  /// An argument this call cannot accept.
  pub fn invalid(&self, why: impl Into<String>) -> StoreError {
    self.fail(StoreError::invalid(why))
  }

  /// A step of this call: `cmds`, then `finish` on their replies (Redis refusals excluded: the
  /// first one fails the call).
  pub fn call(
    &self,
    kind: Kind,
    cmds: Vec<redis::Cmd>,
    finish: impl FnOnce(&Origin, Vec<Value>) -> Result<Outcome> + Send + 'static,
  ) -> Call {
    Call {
      origin: self.clone(),
      kind,
      cmds,
      finish: Box::new(finish),
      refine: |e| e,
    }
  }

  /// A step of one command whose reply is the result.
  pub fn one(&self, kind: Kind, cmd: redis::Cmd, finish: fn(Value) -> Result<String>) -> Call {
    self.call(kind, vec![cmd], move |_, mut replies| {
      finish(replies.swap_remove(0)).map(Outcome::Done)
    })
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

pub(super) enum Outcome {
  /// The call's result, as JSON.
  Done(String),
  /// The call goes on with this step.
  Then(Call),
}

type Finish = Box<dyn FnOnce(&Origin, Vec<Value>) -> Result<Outcome> + Send>;

/// One step of an operation: see the module docs.
pub(super) struct Call {
  origin: Origin,
  kind: Kind,
  cmds: Vec<redis::Cmd>,
  finish: Finish,
  /// Turns a Redis refusal into the error callers should see.
  refine: fn(StoreError) -> StoreError,
}

impl Call {
  pub fn refining(self, refine: fn(StoreError) -> StoreError) -> Call {
    Call { refine, ..self }
  }

  fn fail(&self, e: StoreError) -> StoreError {
    self.origin.fail((self.refine)(e))
  }
}

impl Store {
  /// Runs `calls`, their first steps as one pipeline (on the reads' connection only when all
  /// are reads), each later step on its own; returns each call's result, in order.
  pub(super) async fn execute(&self, calls: Vec<Call>) -> Vec<Result<String>> {
    let mut results: Vec<Result<String>> = Vec::with_capacity(calls.len());
    let mut later = Vec::new();
    for (i, outcome) in self.step(calls).await.into_iter().enumerate() {
      results.push(match outcome {
        Ok(Outcome::Done(json)) => Ok(json),
        Ok(Outcome::Then(next)) => {
          later.push((i, next));
          Ok(String::new())
        }
        Err(e) => Err(e),
      });
    }
    for (i, result) in join_all(later.into_iter().map(|(i, next)| async move { (i, self.finish(next).await) })).await {
      results[i] = result;
    }
    results
  }

  /// Runs one call to its end, step by step.
  pub(super) async fn finish(&self, mut call: Call) -> Result<String> {
    loop {
      match self.step(vec![call]).await.pop().expect("one outcome per call")? {
        Outcome::Done(json) => return Ok(json),
        Outcome::Then(next) => call = next,
      }
    }
  }

  /// One step of each call, in one pipeline.
  async fn step(&self, mut calls: Vec<Call>) -> Vec<Result<Outcome>> {
    if calls.is_empty() {
      return Vec::new();
    }
    let kind = if calls.iter().all(|c| c.kind == Kind::Read) {
      Kind::Read
    } else {
      Kind::Write
    };
    let mut pipe = redis::pipe();
    let mut counts = Vec::with_capacity(calls.len());
    for call in &mut calls {
      counts.push(call.cmds.len());
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
    let mut at = 0;
    calls
      .into_iter()
      .zip(counts)
      .map(|(call, count)| {
        let first = at;
        at += count;
        let values: Vec<Value> = replies.by_ref().take(count).collect();
        if values.iter().any(is_noscript) {
          // not run: Redis lost its scripts (SCRIPT FLUSH, a restart); load them, then run again
          let cmds = pipe.cmd_iter().skip(first).take(count).cloned().collect();
          return Ok(Outcome::Then(call.reloading(cmds)));
        }
        let values = values.into_iter().map(Value::extract_error).collect::<redis::RedisResult<Vec<_>>>();
        match values {
          Ok(values) => (call.finish)(&call.origin, values).map_err(|e| call.origin.fail(e)),
          Err(e) => Err(call.fail(StoreError::from_redis(&e, true))),
        }
      })
      .collect()
  }
}

impl Call {
  /// This call again, after loading every script.
  fn reloading(self, cmds: Vec<redis::Cmd>) -> Call {
    let loads = crate::scripts::loads();
    let skip = loads.len();
    let finish = self.finish;
    Call {
      cmds: loads.into_iter().chain(cmds).collect(),
      finish: Box::new(move |origin, replies| finish(origin, replies.into_iter().skip(skip).collect())),
      ..self
    }
  }
}

fn is_noscript(reply: &Value) -> bool {
  matches!(reply, Value::ServerError(e) if e.code() == "NOSCRIPT")
}
