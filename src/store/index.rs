//! The index tier's entries: a sorted set at `key` (member = id), and per entry a metadata hash
//! at `{key}:meta:{id}` (see [`crate::codec::hash`] for its fields). Reads of many entries are in
//! `index_read.rs`.
//!
//! Every write to an entry is one Lua script, one round trip. `add` and `delete` write the sorted
//! set and the hash together, so an entry and its metadata appear and vanish together; `update`
//! and `increment` write the hash and read the sorted set (an entry added without metadata has
//! no hash until its first update).

use super::args::{self, Args};
use super::batch::Op;
use super::call::{Call, Origin};
use super::{reply, Kind, Store};
use crate::codec::hash;
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
fn add(store: &Store, a: &mut Args) -> Result<Call> {
  let (key, id, score, metadata) = (a.string()?, a.string()?, a.number()?, a.optional_json());
  let origin = Origin::new("index.add", &[&key, &id]);
  if !score.is_finite() {
    return Err(origin.invalid("score must be a finite number"));
  }
  let meta = meta_key(&key, &id);
  let together = store.together(&[&meta, &key]);
  let keys = [meta.as_str(), key.as_str()];
  let mut call = ScriptCall::new(&scripts::INDEX_ADD, if together { &keys } else { &keys[..1] });
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
  if together {
    return Ok(origin.one(Kind::Write, call.into_evalsha(), |_| Ok("null".into())));
  }
  // The member after its metadata: an entry is never listed without it. First a read of the
  // index, which Redis refuses when the key holds another type: then nothing is written.
  let (mut check, mut member) = (redis::cmd("ZSCORE"), redis::cmd("ZADD"));
  check.arg(&key).arg(&id);
  member.arg(&key).arg(args::number(score)).arg(&id);
  let steps = store.in_steps(1, vec![check, call.into_evalsha(), member], |_| Ok("null".into()));
  Ok(origin.steps(Kind::Write, &meta, steps))
}

/// `index.get(key, id)`: the entry, or null.
fn get(_: &Store, a: &mut Args) -> Result<Call> {
  let (key, id) = (a.str()?, a.string()?);
  let mut score = args::command("ZSCORE", 2, key.len() + id.len());
  score.arg(&*key).arg(&id);
  let meta = meta_key(&key, &id);
  let mut fields = args::command("HGETALL", 1, meta.len());
  fields.arg(meta);
  Ok(
    Origin::new("index.get", &[&key, &id]).call(Kind::Read, vec![score, fields], move |replies| {
      let mut replies = replies.into_iter();
      let Some(score) = replies.next().and_then(reply::string) else {
        return Ok("null".into());
      };
      let mut out = String::new();
      push_entry(
        &id,
        reply::number(&score)?,
        &reply::pairs(replies.next().unwrap_or(Value::Nil)),
        &mut out,
      );
      Ok(out)
    }),
  )
}

/// `index.update(key, id, partial)`: deep-merges `partial` into the entry's metadata; false when
/// the entry does not exist.
fn update(store: &Store, a: &mut Args) -> Result<Call> {
  update_call(store, a.string()?, a.string()?, a.json()?)
}

fn update_call(store: &Store, key: String, id: String, partial: &str) -> Result<Call> {
  let origin = Origin::new("index.update", &[&key, &id]);
  let flat = hash::flatten(&args::json_object(partial, "the update").map_err(|e| origin.fail(e))?);
  let ancestors = flat.ancestors();
  let script = |keys: &[&str], listed: &str| {
    let mut call = ScriptCall::new(&scripts::INDEX_UPDATE, keys);
    call
      .arg(&id)
      .arg(listed)
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
    call.into_evalsha()
  };
  let updated = |reply: Value| match reply {
    // the new version, or -1: no such entry
    Value::Int(version) if version >= -1 => Ok((version >= 0).to_string()),
    _ => Err(reply::unexpected("the update script")),
  };
  let meta = meta_key(&key, &id);
  if store.together(&[&meta, &key]) {
    return Ok(origin.one(Kind::Write, script(&[&meta, &key], ""), updated));
  }
  let (unsure, sure) = (script(&[&meta], ""), script(&[&meta], "1"));
  let must_look = |reply: &Value| matches!(reply, Value::Int(-4));
  let steps = store.in_index_slot(key, id, [unsure, sure], must_look, Value::Int(-1), updated);
  Ok(origin.steps(Kind::Write, &meta, steps))
}

/// `index.increment(key, id, field, by)`: adds `by` to the number at the dotted path `field`;
/// the new value.
fn increment(store: &Store, a: &mut Args) -> Result<Call> {
  let (key, id, field, by) = (a.string()?, a.string()?, a.string()?, a.number()?);
  let origin = Origin::new("index.increment", &[&key, &id, &field]);
  let field = path::parse_dotted(&field).ok_or_else(|| origin.invalid("field must be a dotted path with no empty part"))?;
  if field == hash::VERSION_FIELD {
    return Err(origin.invalid("version is managed by the store"));
  }
  if !by.is_finite() {
    return Err(origin.invalid("the amount must be a finite number"));
  }
  let script = |keys: &[&str], listed: &str| {
    let mut call = ScriptCall::new(&scripts::INDEX_INCREMENT, keys);
    call.arg(&id).arg(listed).arg(&field).arg(args::number(by));
    for ancestor in path::ancestors(&field) {
      call.arg(ancestor);
    }
    call.into_evalsha()
  };
  let meta = meta_key(&key, &id);
  if store.together(&[&meta, &key]) {
    return Ok(origin.one(Kind::Write, script(&[&meta, &key], ""), increment_reply));
  }
  let (unsure, sure) = (script(&[&meta], ""), script(&[&meta], "1"));
  let must_look = |reply: &Value| matches!(reply, Value::Array(status) if status.first() == Some(&Value::Int(-4)));
  let unlisted = Value::Array(vec![Value::Int(-1)]);
  let steps = store.in_index_slot(key, id, [unsure, sure], must_look, unlisted, increment_reply);
  Ok(origin.steps(Kind::Write, &meta, steps))
}

/// The increment script's reply (see its header).
fn increment_reply(reply: Value) -> Result<String> {
  let Value::Array(reply) = reply else {
    return Err(reply::unexpected("the increment script"));
  };
  let mut reply = reply.into_iter();
  let Some(Value::Int(status)) = reply.next() else {
    return Err(reply::unexpected("the increment script"));
  };
  let detail = reply.next().and_then(reply::string).unwrap_or_default();
  match status {
    0 => Ok(args::number(reply::number(&detail)?)),
    -1 => Err(StoreError::new(Code::NotFound, "no such entry")),
    -2 => Err(StoreError::invalid(format!(
      "{:?} is not an object, so it has no field below it",
      path::split(&detail).join(".")
    ))),
    _ => Err(StoreError::invalid("the field holds a value that is not a number")),
  }
}

/// `index.delete(key, id)`: removes the entry and its metadata; true when it existed.
fn delete(store: &Store, a: &mut Args) -> Result<Call> {
  let (key, id) = (a.string()?, a.string()?);
  let origin = Origin::new("index.delete", &[&key, &id]);
  let meta = meta_key(&key, &id);
  if store.together(&[&key, &meta]) {
    let mut call = ScriptCall::new(&scripts::INDEX_DELETE, &[&key, &meta]);
    call.arg(&id);
    return Ok(origin.one(Kind::Write, call.into_evalsha(), reply::deleted));
  }
  // the member before its metadata: an entry is never listed without it
  let (mut member, mut metadata) = (redis::cmd("ZREM"), redis::cmd("DEL"));
  member.arg(&key).arg(&id);
  metadata.arg(&meta);
  let steps = store.in_steps(0, vec![member, metadata], |mut replies| reply::deleted(replies.swap_remove(0)));
  Ok(origin.steps(Kind::Write, &meta, steps))
}

impl Store {
  /// On a cluster where an entry's metadata and index lie in different slots: runs the script
  /// `unsure` on the metadata alone; when it answers that it must know whether the entry is
  /// listed (`must_look`: it has no metadata yet), looks in the index and runs `sure` if it is,
  /// or takes `unlisted` as the script's reply.
  fn in_index_slot(
    &self,
    key: String,
    id: String,
    [unsure, sure]: [redis::Cmd; 2],
    must_look: fn(&Value) -> bool,
    unlisted: Value,
    finish: fn(Value) -> Result<String>,
  ) -> BoxFuture<'static, Result<String>> {
    let store = self.clone();
    async move {
      let reply = store
        .write_alone(&unsure)
        .await?
        .extract_error()
        .map_err(|e| StoreError::from_redis(&e, true))?;
      if !must_look(&reply) {
        return finish(reply);
      }
      let mut score = redis::cmd("ZSCORE");
      score.arg(&key).arg(&id);
      if store.query::<Option<String>>(Kind::Write, &score).await?.is_none() {
        return finish(unlisted);
      }
      let reply = store
        .write_alone(&sure)
        .await?
        .extract_error()
        .map_err(|e| StoreError::from_redis(&e, true))?;
      finish(reply)
    }
    .boxed()
  }
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
      let update = update_call(store, key.clone(), id.clone(), partial)?;
      match store.execute(vec![update]).await.swap_remove(0) {
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
