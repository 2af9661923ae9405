//! The index tier's entries: a sorted set at `key` (member = id), and per entry a metadata hash
//! at `{key}:meta:{id}` (see [`crate::codec::hash`] for its fields). Reads of many entries are in
//! `index_read.rs`.
//!
//! Writes to one entry's metadata are single-key Lua scripts. `add` and `delete` also touch the
//! sorted set, in the same script, so an entry and its metadata appear and vanish together; these
//! two are the only multi-key steps.

use super::args::{self, Args};
use super::batch::Op;
use super::call::{Call, Origin, Outcome};
use super::{reply, Kind, Store};
use crate::codec::hash::{self, Flat};
use crate::codec::{path, scalar};
use crate::error::{Code, Result, StoreError};
use crate::scripts::{self, ScriptCall};
use futures_util::future::{BoxFuture, FutureExt};
use redis::Value;
use std::time::Duration;

pub(super) const OPS: &[(&str, Op)] = &[
  ("index.add", Op::Call(add)),
  ("index.get", Op::Call(get)),
  ("index.update", Op::Call(update)),
  ("index.increment", Op::Call(increment)),
  ("index.delete", Op::Call(delete)),
  ("index.updateWithRetry", Op::Task(update_with_retry)),
];

pub(super) fn meta_key(key: &str, id: &str) -> String {
  format!("{key}:meta:{id}")
}

/// A score as JSON; ±Infinity (possible only in data written by other clients) as ±1e999.
fn push_number(n: f64, out: &mut String) {
  if n.is_finite() {
    // any JSON spelling of the number will do (JS parses it); ryu's is the cheapest to make
    out.push_str(ryu::Buffer::new().format_finite(n));
  } else {
    out.push_str(if n > 0.0 { "1e999" } else { "-1e999" });
  }
}

/// An entry as the JSON object callers get: `{ id, score, metadata? }`.
pub(super) fn push_entry<K: AsRef<str>, V: AsRef<str>>(id: &str, score: f64, meta: &[(K, V)], out: &mut String) {
  out.push_str("{\"id\":");
  scalar::push_json_string(id, out);
  out.push_str(",\"score\":");
  push_number(score, out);
  if !meta.is_empty() {
    out.push_str(",\"metadata\":");
    hash::expand_into(meta, out);
  }
  out.push('}');
}

/// `index.add(key, id, score, metadata?)`: adds or replaces an entry.
fn add(_: &Store, a: &mut Args) -> Result<Call> {
  let (key, id, score, metadata) = (a.string()?, a.string()?, a.number()?, a.optional_json());
  let origin = Origin::new("index.add", &[&key, &id]);
  if !score.is_finite() {
    return Err(origin.invalid("score must be a finite number"));
  }
  let mut call = ScriptCall::new(&scripts::INDEX_ADD, &[&key, &meta_key(&key, &id)]);
  call.arg(args::number(score)).arg(&id);
  match metadata {
    Some(json) => {
      let flat = hash::flatten(&args::json_object(json, "metadata").map_err(|e| origin.fail(e))?);
      call.arg("1");
      for (field, value) in &flat.sets {
        call.arg(field).arg(value);
      }
      for field in &flat.empties {
        call.arg(field).arg("{}");
      }
    }
    None => {
      call.arg("0");
    }
  }
  Ok(origin.one(Kind::Write, call.into_evalsha(), |_| Ok("null".into())))
}

/// `index.get(key, id)`: the entry, or null.
fn get(_: &Store, a: &mut Args) -> Result<Call> {
  let (key, id) = (a.string()?, a.string()?);
  let mut score = redis::cmd("ZSCORE");
  score.arg(&key).arg(&id);
  let mut fields = redis::cmd("HGETALL");
  fields.arg(meta_key(&key, &id));
  Ok(
    Origin::new("index.get", &[&key, &id]).call(Kind::Read, vec![score, fields], move |_, replies| {
      let mut replies = replies.into_iter();
      let Some(score) = replies.next().and_then(reply::string) else {
        return Ok(Outcome::Done("null".into()));
      };
      let mut out = String::new();
      push_entry(
        &id,
        reply::number(&score)?,
        &reply::pairs(replies.next().unwrap_or(Value::Nil)),
        &mut out,
      );
      Ok(Outcome::Done(out))
    }),
  )
}

/// `index.update(key, id, partial)`: deep-merges `partial` into the entry's metadata; false when
/// the entry does not exist.
fn update(_: &Store, a: &mut Args) -> Result<Call> {
  update_call(a.string()?, a.string()?, a.json()?)
}

fn update_call(key: String, id: String, partial: &str) -> Result<Call> {
  let origin = Origin::new("index.update", &[&key, &id]);
  let flat = hash::flatten(&args::json_object(partial, "the update").map_err(|e| origin.fail(e))?);
  Ok(on_entry(origin, key, id, Ok("false".into()), move |meta, create| {
    let script = update_script(meta, &flat, create);
    (script, |reply| match reply {
      Value::Int(version) if version >= 0 => Ok(Some("true".into())),
      Value::Int(_) => Ok(None),
      _ => Err(reply::unexpected("the update script")),
    })
  }))
}

fn update_script(meta: &str, flat: &Flat, create: bool) -> ScriptCall {
  let ancestors = flat.ancestors();
  let mut call = ScriptCall::new(&scripts::INDEX_UPDATE, &[meta]);
  call.arg(if create { "1" } else { "0" });
  call
    .arg(flat.sets.len())
    .arg(flat.deletes.len())
    .arg(flat.empties.len())
    .arg(ancestors.len());
  for (field, value) in &flat.sets {
    call.arg(field).arg(value);
  }
  for field in &flat.deletes {
    call.arg(field).arg(path::ancestors(field).last().copied().unwrap_or(""));
  }
  for field in flat.empties.iter().chain(&ancestors) {
    call.arg(field);
  }
  call
}

/// `index.increment(key, id, field, by)`: adds `by` to the number at the dotted path `field`;
/// the new value.
fn increment(_: &Store, a: &mut Args) -> Result<Call> {
  let (key, id, field, by) = (a.string()?, a.string()?, a.string()?, a.number()?);
  let origin = Origin::new("index.increment", &[&key, &id, &field]);
  let field = path::parse_dotted(&field).ok_or_else(|| origin.invalid("field must be a dotted path with no empty part"))?;
  if field == hash::VERSION_FIELD {
    return Err(origin.invalid("version is managed by the store"));
  }
  if !by.is_finite() {
    return Err(origin.invalid("the amount must be a finite number"));
  }
  let by = args::number(by);
  let missing = Err(StoreError::new(Code::NotFound, "no such entry"));
  Ok(on_entry(origin, key, id, missing, move |meta, create| {
    let mut call = ScriptCall::new(&scripts::INDEX_INCREMENT, &[meta]);
    call.arg(if create { "1" } else { "0" }).arg(&field).arg(&by);
    for ancestor in path::ancestors(&field) {
      call.arg(ancestor);
    }
    (call, increment_reply)
  }))
}

/// The increment script's reply (see its header); `None` when the hash is missing.
fn increment_reply(reply: Value) -> Result<Option<String>> {
  let Value::Array(reply) = reply else {
    return Err(reply::unexpected("the increment script"));
  };
  let mut reply = reply.into_iter();
  let Some(Value::Int(status)) = reply.next() else {
    return Err(reply::unexpected("the increment script"));
  };
  let detail = reply.next().and_then(reply::string).unwrap_or_default();
  match status {
    0 => Ok(Some(args::number(reply::number(&detail)?))),
    -1 => Ok(None),
    -2 => Err(StoreError::invalid(format!(
      "{:?} is not an object, so it has no field below it",
      path::split(&detail).join(".")
    ))),
    _ => Err(StoreError::invalid("the field holds a value that is not a number")),
  }
}

/// `index.delete(key, id)`: removes the entry and its metadata; true when it existed.
fn delete(_: &Store, a: &mut Args) -> Result<Call> {
  let (key, id) = (a.string()?, a.string()?);
  let mut call = ScriptCall::new(&scripts::INDEX_DELETE, &[&key, &meta_key(&key, &id)]);
  call.arg(&id);
  Ok(Origin::new("index.delete", &[&key, &id]).one(Kind::Write, call.into_evalsha(), reply::deleted))
}

/// How a metadata script's reply reads: the result, or `None` when the hash is missing.
type ScriptReply = fn(Value) -> Result<Option<String>>;

/// A metadata script that reports a missing hash (`script(meta, create)`). An entry added without
/// metadata has no hash, so then the sorted set decides: if the id is there, the script runs
/// again with leave to create the hash; if not, the call ends with `missing`.
fn on_entry(
  origin: Origin,
  key: String,
  id: String,
  missing: Result<String>,
  script: impl Fn(&str, bool) -> (ScriptCall, ScriptReply) + Send + 'static,
) -> Call {
  let meta = meta_key(&key, &id);
  let (first, read) = script(&meta, false);
  origin.call(Kind::Write, vec![first.into_evalsha()], move |origin, mut replies| {
    if let Some(done) = read(replies.swap_remove(0))? {
      return Ok(Outcome::Done(done));
    }
    let mut score = redis::cmd("ZSCORE");
    score.arg(&key).arg(&id);
    Ok(Outcome::Then(origin.call(Kind::Read, vec![score], move |origin, replies| {
      if replies[0] == Value::Nil {
        return missing.map(Outcome::Done);
      }
      let (again, read) = script(&meta, true);
      Ok(Outcome::Then(origin.call(
        Kind::Write,
        vec![again.into_evalsha()],
        move |_, mut replies| match read(replies.swap_remove(0))? {
          Some(done) => Ok(Outcome::Done(done)),
          None => missing.map(Outcome::Done),
        },
      )))
    })))
  })
}

/// `index.updateWithRetry(key, id, partial, maxRetries)`: `index.update`, tried up to
/// `maxRetries` times with exponential backoff (10 ms, 20 ms …) while the entry is missing or
/// Redis is unavailable.
fn update_with_retry<'a>(store: &'a Store, mut a: Args<'a>) -> BoxFuture<'a, Result<String>> {
  async move {
    let (key, id, partial, max_retries) = (a.string()?, a.string()?, a.json()?, a.number()?);
    let origin = Origin::new("index.updateWithRetry", &[&key, &id]);
    let mut last = StoreError::invalid("maxRetries must be at least 1");
    let deadline = super::conn::deadline(store.command_timeout);
    for attempt in 0..max_retries as u32 {
      if attempt > 0 {
        let wake = tokio::time::Instant::now() + Duration::from_millis(10 << (attempt - 1).min(10));
        // the command timeout bounds the whole call: no try that could not finish in it
        if wake >= deadline {
          break;
        }
        tokio::time::sleep_until(wake).await;
      }
      match store.finish(update_call(key.clone(), id.clone(), partial)?).await {
        Ok(updated) if updated == "true" => return Ok("null".into()),
        Ok(_) => last = StoreError::new(Code::NotFound, format!("no entry after {} tries", attempt + 1)),
        Err(e) if e.code == Code::Unavailable => last = e,
        Err(e) => return Err(e),
      }
    }
    Err(origin.fail(last))
  }
  .boxed()
}
