//! Many calls in one crossing: the JS side sends the calls made in one loop iteration (16 at
//! most) as one JSON array.
//! Their first steps travel together as one pipeline (see [`super::call`]); calls that run on
//! their own ([`Op::Task`]: paging reads, `kv.clear`, retries) run beside it. One napi crossing,
//! one request on the connection and one callback per batch, instead of one of each per call, is
//! what lets many calls in flight approach Redis's speed. A call made alone is a batch of one.
//!
//! Input: `[[op, arg, …], …]`, the ops of the tiers' `OPS` tables (values as raw JSON).
//! Output: `[[1, result], [0, "CODE", "message"], …]`, in input order.

use super::args::Args;
use super::call::Call;
use super::{index, index_read, kv, stream, Store};
use crate::codec::scalar;
use crate::error::{Result, StoreError};
use futures_util::future::{join, join_all, BoxFuture};
use serde_json::value::RawValue;
use smallvec::SmallVec;

/// How an operation is carried out.
pub(super) enum Op {
  /// Its first step joins the batch's pipeline.
  Call(fn(&Store, &mut Args) -> Result<Call>),
  /// It runs on its own, as many round trips as it needs; the result is JSON.
  Task(for<'a> fn(&'a Store, Args<'a>) -> BoxFuture<'a, Result<String>>),
}

/// Every operation, by the name the JS facade sends.
fn op(name: &str) -> Option<&'static Op> {
  [kv::OPS, stream::OPS, index::OPS, index_read::OPS]
    .into_iter()
    .flatten()
    .find(|(n, _)| *n == name)
    .map(|(_, op)| op)
}

/// One call of a batch, ready to run.
enum Prepared<'a> {
  Call(Call),
  Task(BoxFuture<'a, Result<String>>),
  Failed(StoreError),
}

impl Store {
  /// Runs a batch of calls; see the module docs for the format.
  pub async fn batch(&self, ops_json: &str) -> Result<String> {
    // inline: a batch of one call with up to 6 arguments allocates nothing here
    let ops: SmallVec<[SmallVec<[&RawValue; 6]>; 1]> = serde_json::from_str(ops_json).map_err(|e| match e.to_string() {
      why if why.starts_with("recursion limit exceeded") => StoreError::invalid("the value is nested too deeply (the limit is 126 levels)"),
      why => StoreError::invalid(format!("malformed batch: {why}")),
    })?;
    if let [raw] = &ops[..] {
      // a call alone in its batch, as most are at a few thousand calls a second: none of the
      // vectors that place many calls' results
      let result = match self.prepare(raw) {
        Prepared::Call(call) => self.execute_alone(call).await,
        Prepared::Task(task) => task.await,
        Prepared::Failed(e) => Err(e),
      };
      let mut out = String::with_capacity(result.as_ref().map_or(64, |json| json.len()) + 8);
      out.push('[');
      push_outcome(result, &mut out);
      out.push(']');
      return Ok(out);
    }

    let mut results: Vec<Result<String>> = Vec::with_capacity(ops.len());
    let (mut calls, mut piped, mut tasks) = (Vec::new(), Vec::new(), Vec::new());
    for (i, raw) in ops.iter().enumerate() {
      results.push(Ok(String::new()));
      match self.prepare(raw) {
        Prepared::Call(call) => {
          calls.push(call);
          piped.push(i);
        }
        Prepared::Task(task) => tasks.push(async move { (i, task.await) }),
        Prepared::Failed(e) => results[i] = Err(e),
      }
    }
    let (piped_results, task_results) = join(self.execute(calls), join_all(tasks)).await;
    for (i, result) in piped.into_iter().zip(piped_results).chain(task_results) {
      results[i] = result;
    }

    let mut out = String::with_capacity(64 * results.len() + 2);
    out.push('[');
    for (i, result) in results.into_iter().enumerate() {
      if i > 0 {
        out.push(',');
      }
      push_outcome(result, &mut out);
    }
    out.push(']');
    Ok(out)
  }

  /// The call `raw` asks for (`[op, arg, …]`), or why it cannot be made.
  fn prepare<'a>(&'a self, raw: &'a [&'a RawValue]) -> Prepared<'a> {
    let mut args = Args::new(raw);
    let name = match args.str() {
      Ok(name) => name,
      Err(e) => return Prepared::Failed(e),
    };
    match op(&name) {
      Some(Op::Call(build)) => build(self, &mut args).map_or_else(Prepared::Failed, Prepared::Call),
      Some(Op::Task(run)) => Prepared::Task(run(self, args)),
      None => Prepared::Failed(StoreError::invalid(format!("unknown operation {name:?}"))),
    }
  }
}

/// A call's outcome in a batch's result: `[1, result]` or `[0, "CODE", "message"]`.
fn push_outcome(result: Result<String>, out: &mut String) {
  match result {
    Ok(json) => {
      out.push_str("[1,");
      out.push_str(&json);
    }
    Err(e) => {
      out.push_str("[0,\"");
      out.push_str(e.code.as_str());
      out.push_str("\",");
      scalar::push_json_string(&e.message, out);
    }
  }
  out.push(']');
}
