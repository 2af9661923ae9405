//! Many calls in one crossing: the JS side collects the calls made in one tick and sends them
//! here as one JSON array. Their commands travel together as one pipeline (the index scripts by
//! SHA); a call the pipeline cannot finish — a script Redis has not cached, an entry without a
//! metadata hash yet — then runs the regular way. All results go back as one JSON array. One napi crossing, one request on the connection and one callback per batch,
//! instead of one of each per call, is what lets many calls in flight approach Redis's speed.
//!
//! Input: `[[op, arg, …], …]` with the ops and arguments of [`Store::plan`] (values as raw JSON).
//! Output: `[[1, result], [0, "CODE: message"], …]`, in input order.

use super::{index, kv, number_arg, stream, Piped, Store};
use crate::codec::scalar;
use crate::error::{Code, Result, StoreError};
use futures_util::future::{join_all, BoxFuture, FutureExt};
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

/// How one call of a batch is carried out: its commands go in the batch's pipeline; `regular`,
/// when the call has one, runs it the usual way if the pipelined attempt asks for that.
struct Plan<'a> {
  piped: Piped,
  regular: Option<BoxFuture<'a, Result<String>>>,
}

impl Store {
  /// Runs a batch of calls; see the module docs for the format.
  pub async fn batch(&self, ops_json: &str) -> Result<String> {
    let ops: Vec<Args> = serde_json::from_str(ops_json).map_err(|e| match e.to_string() {
      why if why.starts_with("recursion limit exceeded") => StoreError::invalid("the value is nested too deeply (the limit is 126 levels)"),
      why => StoreError::invalid(format!("malformed batch: {why}")),
    })?;
    let mut piped = Vec::with_capacity(ops.len());
    // per call: its place in the pipeline and its regular path, or why it was refused
    let mut slots = Vec::with_capacity(ops.len());
    for args in &ops {
      slots.push(self.plan(args).map(|plan| {
        piped.push(plan.piped);
        (piped.len() - 1, plan.regular)
      }));
    }
    let mut results = if piped.is_empty() {
      Vec::new()
    } else {
      self.run_piped(piped).await
    };

    // calls the pipeline handed back run the regular way, together
    let again = slots.iter_mut().filter_map(|slot| match slot {
      Ok((n, regular)) if matches!(results[*n], Ok(None)) => {
        let n = *n;
        let regular = regular.take();
        Some(async move {
          let result = match regular {
            Some(call) => call.await,
            None => Err(StoreError::new(Code::Redis, "a one-command call was handed back")),
          };
          (n, result)
        })
      }
      _ => None,
    });
    for (n, result) in join_all(again).await {
      results[n] = result.map(Some);
    }

    let mut out = String::with_capacity(64 * slots.len() + 2);
    out.push('[');
    for (i, slot) in slots.into_iter().enumerate() {
      if i > 0 {
        out.push(',');
      }
      let result = slot.and_then(|(n, _)| std::mem::replace(&mut results[n], Ok(None)).map(Option::unwrap_or_default));
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
    let piped = |piped: Piped, regular: BoxFuture<'a, Result<String>>| {
      Ok(Plan {
        piped,
        regular: Some(regular),
      })
    };
    let single = |piped: Piped| Ok(Plan { piped, regular: None });
    match op.as_str() {
      "kv.get" => single(kv::get(&text(args, 1)?)),
      "kv.set" => single(kv::set(&text(args, 1)?, value(args, 2)?, optional_number(args, 3)?)?),
      "kv.delete" => single(kv::delete(&text(args, 1)?)),
      "kv.increment" => single(kv::increment(&text(args, 1)?, number(args, 2)?)?),
      "stream.append" => single(stream::append(&text(args, 1)?, value(args, 2)?, self.trim)?),
      "stream.delete" => single(stream::delete(&text(args, 1)?)),
      "index.add" => {
        let (key, id, score) = (text(args, 1)?, text(args, 2)?, number(args, 3)?);
        let meta = json(args, 4);
        let first = index::add_piped(&key, &id, score, meta)?;
        piped(
          first,
          async move { self.index_add(&key, &id, score, meta).await.map(|()| "null".into()) }.boxed(),
        )
      }
      "index.get" => {
        let (key, id) = (text(args, 1)?, text(args, 2)?);
        single(index::get_piped(&key, &id))
      }
      "index.update" => {
        let (key, id, partial) = (text(args, 1)?, text(args, 2)?, value(args, 3)?);
        let first = index::update_piped(&key, &id, partial)?;
        piped(
          first,
          async move { self.index_update(&key, &id, partial).await.map(|b| b.to_string()) }.boxed(),
        )
      }
      "index.increment" => {
        let (key, id, field, by) = (text(args, 1)?, text(args, 2)?, text(args, 3)?, number(args, 4)?);
        let first = index::increment_piped(&key, &id, &field, by)?;
        piped(
          first,
          async move { self.index_increment(&key, &id, &field, by).await.map(number_arg) }.boxed(),
        )
      }
      "index.delete" => {
        let (key, id) = (text(args, 1)?, text(args, 2)?);
        let first = index::delete_piped(&key, &id);
        piped(
          first,
          async move { self.index_delete(&key, &id).await.map(|b| b.to_string()) }.boxed(),
        )
      }
      other => Err(StoreError::invalid(format!("unknown batched operation {other:?}"))),
    }
  }
}
