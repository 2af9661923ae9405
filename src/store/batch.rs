//! Many calls in one crossing: the JS side collects the calls made in one tick and sends them
//! here as one JSON array. The calls that are one Redis command each travel together as one
//! pipeline; the others (the index scripts) run concurrently beside it; all results go back as
//! one JSON array. One napi crossing, one request on the connection and one callback per batch,
//! instead of one of each per call, is what lets many calls in flight approach Redis's speed.
//!
//! Input: `[[op, arg, …], …]` with the ops and arguments of [`Store::plan`] (values as raw JSON).
//! Output: `[[1, result], [0, "CODE: message"], …]`, in input order.

use super::{kv, number_arg, stream, Single, Store};
use crate::codec::scalar;
use crate::error::{Result, StoreError};
use futures_util::future::{join, join_all, BoxFuture, FutureExt};
use serde_json::value::RawValue;

type Args<'a> = Vec<&'a RawValue>;

fn text(args: &Args, i: usize) -> Result<String> {
  args
    .get(i)
    .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok())
    .ok_or_else(|| StoreError::invalid(format!("argument {i} must be a string")))
}

fn number(args: &Args, i: usize) -> Result<f64> {
  args
    .get(i)
    .and_then(|raw| serde_json::from_str::<f64>(raw.get()).ok())
    .ok_or_else(|| StoreError::invalid(format!("argument {i} must be a number")))
}

fn optional_number(args: &Args, i: usize) -> Result<Option<f64>> {
  match args.get(i).map(|raw| raw.get()) {
    None | Some("null") => Ok(None),
    Some(_) => number(args, i).map(Some),
  }
}

/// Raw JSON text of an argument, `None` when it is missing or null.
fn json<'a>(args: &Args<'a>, i: usize) -> Option<&'a str> {
  args.get(i).map(|raw| raw.get()).filter(|text| *text != "null")
}

/// Raw JSON text of a required argument (which may be null).
fn value<'a>(args: &Args<'a>, i: usize) -> Result<&'a str> {
  args
    .get(i)
    .map(|raw| raw.get())
    .ok_or_else(|| StoreError::invalid(format!("argument {i} is missing")))
}

/// How one call of a batch is carried out.
enum Plan<'a> {
  /// One command, sent with the batch's other single commands as one pipeline.
  Single(Single),
  /// Anything else, run concurrently with the rest.
  Call(BoxFuture<'a, Result<String>>),
}

/// Where the result of one call will come from.
enum Slot {
  Single(usize),
  Call(usize),
  Failed(StoreError),
}

impl Store {
  /// Runs a batch of calls; see the module docs for the format.
  pub async fn batch(&self, ops_json: &str) -> Result<String> {
    let ops: Vec<Args> = serde_json::from_str(ops_json).map_err(|e| StoreError::invalid(format!("malformed batch: {e}")))?;
    let (mut singles, mut calls, mut slots) = (Vec::new(), Vec::new(), Vec::with_capacity(ops.len()));
    for args in &ops {
      slots.push(match self.plan(args) {
        Ok(Plan::Single(single)) => {
          singles.push(single);
          Slot::Single(singles.len() - 1)
        }
        Ok(Plan::Call(call)) => {
          calls.push(call);
          Slot::Call(calls.len() - 1)
        }
        Err(e) => Slot::Failed(e),
      });
    }
    let piped = async {
      if singles.is_empty() {
        Vec::new()
      } else {
        self.run_singles(&singles).await
      }
    };
    let (mut piped, mut called) = join(piped, join_all(calls)).await;

    let mut out = String::with_capacity(64 * slots.len() + 2);
    out.push('[');
    for (i, slot) in slots.into_iter().enumerate() {
      if i > 0 {
        out.push(',');
      }
      let result = match slot {
        Slot::Single(n) => std::mem::replace(&mut piped[n], Ok(String::new())),
        Slot::Call(n) => std::mem::replace(&mut called[n], Ok(String::new())),
        Slot::Failed(e) => Err(e),
      };
      match result {
        Ok(json) => {
          out.push_str("[1,");
          out.push_str(&json);
        }
        Err(e) => {
          out.push_str("[0,");
          scalar::push_json_string(&e.to_string(), &mut out);
        }
      }
      out.push(']');
    }
    out.push(']');
    Ok(out)
  }

  /// The ops a batch may hold, with their arguments.
  fn plan<'a>(&'a self, args: &'a Args<'a>) -> Result<Plan<'a>> {
    let op = text(args, 0)?;
    let single = |s: Single| Ok(Plan::Single(s));
    let call = |f: BoxFuture<'a, Result<String>>| Ok(Plan::Call(f));
    match op.as_str() {
      "kv.get" => single(kv::get(&text(args, 1)?)),
      "kv.set" => single(kv::set(&text(args, 1)?, value(args, 2)?, optional_number(args, 3)?)?),
      "kv.delete" => single(kv::delete(&text(args, 1)?)),
      "kv.increment" => single(kv::increment(&text(args, 1)?, number(args, 2)?)?),
      "stream.append" => single(stream::append(&text(args, 1)?, value(args, 2)?, self.trim)?),
      "stream.delete" => single(stream::delete(&text(args, 1)?)),
      "index.add" => {
        let (key, id, score) = (text(args, 1)?, text(args, 2)?, number(args, 3)?);
        call(async move { self.index_add(&key, &id, score, json(args, 4)).await.map(|()| "null".into()) }.boxed())
      }
      "index.get" => {
        let (key, id) = (text(args, 1)?, text(args, 2)?);
        call(async move { Ok(self.index_get(&key, &id).await?.unwrap_or_else(|| "null".into())) }.boxed())
      }
      "index.update" => {
        let (key, id, partial) = (text(args, 1)?, text(args, 2)?, value(args, 3)?);
        call(async move { self.index_update(&key, &id, partial).await.map(|b| b.to_string()) }.boxed())
      }
      "index.increment" => {
        let (key, id, field, by) = (text(args, 1)?, text(args, 2)?, text(args, 3)?, number(args, 4)?);
        call(async move { self.index_increment(&key, &id, &field, by).await.map(number_arg) }.boxed())
      }
      "index.delete" => {
        let (key, id) = (text(args, 1)?, text(args, 2)?);
        call(async move { self.index_delete(&key, &id).await.map(|b| b.to_string()) }.boxed())
      }
      other => Err(StoreError::invalid(format!("unknown batched operation {other:?}"))),
    }
  }
}
