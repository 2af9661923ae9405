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

impl Store {
  /// Runs a batch of calls; see the module docs for the format.
  pub async fn batch(&self, ops_json: &str) -> Result<String> {
    let ops: Vec<Vec<&RawValue>> = serde_json::from_str(ops_json).map_err(|e| match e.to_string() {
      why if why.starts_with("recursion limit exceeded") => StoreError::invalid("the value is nested too deeply (the limit is 126 levels)"),
      why => StoreError::invalid(format!("malformed batch: {why}")),
    })?;
    let mut results: Vec<Result<String>> = Vec::with_capacity(ops.len());
    let (mut calls, mut piped) = (Vec::new(), Vec::new());
    let mut tasks = Vec::new();
    for (i, raw) in ops.iter().enumerate() {
      let mut args = Args::new(raw);
      results.push(Ok(String::new()));
      let name = match args.string() {
        Ok(name) => name,
        Err(e) => {
          results[i] = Err(e);
          continue;
        }
      };
      match op(&name) {
        Some(Op::Call(build)) => match build(self, &mut args) {
          Ok(call) => {
            calls.push(call);
            piped.push(i);
          }
          Err(e) => results[i] = Err(e),
        },
        Some(Op::Task(run)) => tasks.push(async move { (i, run(self, args).await) }),
        None => results[i] = Err(StoreError::invalid(format!("unknown operation {name:?}"))),
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
      match result {
        Ok(json) => {
          out.push_str("[1,");
          out.push_str(&json);
        }
        Err(e) => {
          out.push_str("[0,\"");
          out.push_str(e.code.as_str());
          out.push_str("\",");
          scalar::push_json_string(&e.message, &mut out);
        }
      }
      out.push(']');
    }
    out.push(']');
    Ok(out)
  }
}
