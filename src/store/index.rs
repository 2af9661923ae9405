//! The index tier: a sorted set at `key` (member = id), and per entry a metadata hash at
//! `{key}:meta:{id}` (see [`crate::codec::hash`] for its fields).
//!
//! Writes to one entry's metadata are single-key Lua scripts. `add` and `delete` also touch
//! the sorted set, in the same script, so an entry and its metadata appear and vanish together;
//! these two are the only multi-key steps.

use super::stream::limit;
use super::{number_arg, pairs, parse_json_object, parse_number, resp, target, text, Kind, Piped, Store};
use crate::codec::filter::{self, FieldCondition};
use crate::codec::hash::{self, Flat};
use crate::codec::{path, scalar};
use crate::error::{Code, Result, StoreError};
use crate::scripts::{self, ScriptCall};
use bytes::Bytes;
use std::time::Duration;

/// `index.read` options, as the JS layer passed them.
#[derive(Default, Debug)]
pub struct ReadOptions {
  pub offset: Option<f64>,
  pub limit: Option<f64>,
  /// A JSON object; see [`crate::codec::filter`].
  pub filter_json: Option<String>,
}

const DEFAULT_LIMIT: u64 = 50;
/// Entries checked per round trip while filtering: the first page, doubling up to the last.
const FIRST_FILTER_PAGE: u64 = 250;
const MAX_FILTER_PAGE: u64 = 2000;

pub fn meta_key(key: &str, id: &str) -> String {
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

fn push_entry<K: AsRef<str>, V: AsRef<str>>(id: &str, score: f64, meta: &[(K, V)], out: &mut String) {
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

enum ScriptOutcome<T> {
  Done(T),
  /// The metadata hash does not exist.
  Missing,
}

// ---------------------------------------------------------------- script calls

fn add_call(key: &str, id: &str, score: f64, metadata_json: Option<&str>) -> Result<ScriptCall> {
  if !score.is_finite() {
    return Err(StoreError::invalid("score must be a finite number"));
  }
  let mut call = ScriptCall::new(&scripts::INDEX_ADD, &[key, &meta_key(key, id)]);
  call.arg(number_arg(score)).arg(id);
  match metadata_json {
    Some(json) => {
      let flat = hash::flatten(&parse_json_object(json, "metadata")?);
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
  Ok(call)
}

fn update_call(meta: &str, flat: &Flat, create: bool) -> ScriptCall {
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

/// The update script's reply: the new version, or -1 when the hash is missing.
fn update_outcome(version: i64) -> ScriptOutcome<()> {
  if version < 0 {
    ScriptOutcome::Missing
  } else {
    ScriptOutcome::Done(())
  }
}

/// Checks `index.increment`'s field and amount; returns them as script arguments.
fn increment_args(field: &str, by: f64) -> Result<(String, String)> {
  let field = path::parse_dotted(field).ok_or_else(|| StoreError::invalid("field must be a dotted path with no empty part"))?;
  if field == hash::VERSION_FIELD {
    return Err(StoreError::invalid("version is managed by the store"));
  }
  if !by.is_finite() {
    return Err(StoreError::invalid("the amount must be a finite number"));
  }
  Ok((field, number_arg(by)))
}

fn increment_call(meta: &str, field: &str, by: &str, create: bool) -> ScriptCall {
  let mut call = ScriptCall::new(&scripts::INDEX_INCREMENT, &[meta]);
  call.arg(if create { "1" } else { "0" }).arg(field).arg(by);
  for ancestor in path::ancestors(field) {
    call.arg(ancestor);
  }
  call
}

/// The increment script's reply (see its header).
fn increment_outcome(reply: Vec<redis::Value>) -> Result<ScriptOutcome<f64>> {
  let mut reply = reply.into_iter();
  let status = match reply.next() {
    Some(redis::Value::Int(n)) => n,
    _ => return Err(StoreError::new(Code::Redis, "unexpected reply from the increment script")),
  };
  let detail = reply.next().and_then(text).unwrap_or_default();
  match status {
    0 => Ok(ScriptOutcome::Done(parse_number(&detail)?)),
    -1 => Ok(ScriptOutcome::Missing),
    -2 => Err(StoreError::invalid(format!(
      "{:?} is not an object, so it has no field below it",
      path::split(&detail).join(".")
    ))),
    _ => Err(StoreError::invalid("the field holds a value that is not a number")),
  }
}

fn delete_call(key: &str, id: &str) -> ScriptCall {
  let mut call = ScriptCall::new(&scripts::INDEX_DELETE, &[key, &meta_key(key, id)]);
  call.arg(id);
  call
}

// ---------------------------------------------------------------- pipelined calls (batch.rs)
// Each answers `None` when the call must run the regular way: the script was not cached, or
// the entry has no metadata hash yet (see `Store::with_entry`).

fn script_reply(replies: Vec<redis::Value>) -> redis::Value {
  replies.into_iter().next().unwrap_or(redis::Value::Nil)
}

pub(super) fn add_piped(key: &str, id: &str, score: f64, metadata_json: Option<&str>) -> Result<Piped> {
  let target = target(&[key, id]);
  let call = add_call(key, id, score, metadata_json).map_err(|e| e.context("index.add", &target))?;
  Ok(Piped::new(
    Kind::Write,
    "index.add",
    target,
    vec![call.into_evalsha()],
    Box::new(|_| Ok(Some("null".into()))),
  ))
}

pub(super) fn get_piped(key: &str, id: &str) -> Piped {
  let mut score = redis::cmd("ZSCORE");
  score.arg(key).arg(id);
  let mut fields = redis::cmd("HGETALL");
  fields.arg(meta_key(key, id));
  let id = id.to_string();
  Piped::new(
    Kind::Read,
    "index.get",
    target(&[key, &id]),
    vec![score, fields],
    Box::new(move |replies| {
      let mut replies = replies.into_iter();
      let Some(score) = replies.next().and_then(text) else {
        return Ok(Some("null".into()));
      };
      let mut out = String::new();
      push_entry(
        &id,
        parse_number(&score)?,
        &pairs(replies.next().unwrap_or(redis::Value::Nil)),
        &mut out,
      );
      Ok(Some(out))
    }),
  )
}

pub(super) fn update_piped(key: &str, id: &str, partial_json: &str) -> Result<Piped> {
  let target = target(&[key, id]);
  let flat = hash::flatten(&parse_json_object(partial_json, "the update").map_err(|e| e.context("index.update", &target))?);
  let call = update_call(&meta_key(key, id), &flat, false);
  Ok(Piped::new(
    Kind::Write,
    "index.update",
    target,
    vec![call.into_evalsha()],
    Box::new(|replies| match script_reply(replies) {
      redis::Value::Int(version) => Ok(match update_outcome(version) {
        ScriptOutcome::Done(()) => Some("true".into()),
        ScriptOutcome::Missing => None,
      }),
      _ => Err(StoreError::new(Code::Redis, "unexpected reply from the update script")),
    }),
  ))
}

pub(super) fn increment_piped(key: &str, id: &str, field: &str, by: f64) -> Result<Piped> {
  let target = target(&[key, id, field]);
  let (field, by) = increment_args(field, by).map_err(|e| e.context("index.increment", &target))?;
  let call = increment_call(&meta_key(key, id), &field, &by, false);
  Ok(Piped::new(
    Kind::Write,
    "index.increment",
    target,
    vec![call.into_evalsha()],
    Box::new(|replies| {
      let reply = match script_reply(replies) {
        redis::Value::Array(items) => items,
        _ => return Err(StoreError::new(Code::Redis, "unexpected reply from the increment script")),
      };
      Ok(match increment_outcome(reply)? {
        ScriptOutcome::Done(value) => Some(number_arg(value)),
        ScriptOutcome::Missing => None,
      })
    }),
  ))
}

pub(super) fn delete_piped(key: &str, id: &str) -> Piped {
  Piped::new(
    Kind::Write,
    "index.delete",
    target(&[key, id]),
    vec![delete_call(key, id).into_evalsha()],
    Box::new(|replies| super::kv::deleted(script_reply(replies)).map(Some)),
  )
}

impl Store {
  pub async fn index_add(&self, key: &str, id: &str, score: f64, metadata_json: Option<&str>) -> Result<()> {
    let ctx = |e: StoreError| e.context("index.add", &target(&[key, id]));
    let call = add_call(key, id, score, metadata_json).map_err(ctx)?;
    self.run_script::<i64>(Kind::Write, &call).await.map(drop).map_err(ctx)
  }

  /// Entries by descending score as a JSON array.
  pub async fn index_read(&self, key: &str, opts: &ReadOptions) -> Result<String> {
    let ctx = |e: StoreError| e.context("index.read", &target(&[key]));
    let offset = limit(opts.offset, 0).map_err(|_| ctx(StoreError::invalid("offset must be a whole number ≥ 0")))?;
    let limit = limit(opts.limit, DEFAULT_LIMIT).map_err(ctx)?;
    let filter = match &opts.filter_json {
      Some(json) => Some(parse_json_object(json, "filter").map_err(ctx)?).filter(filter::has_conditions),
      None => None,
    };
    let mut out = String::from("[");
    if limit == 0 {
      out.push(']');
      return Ok(out);
    }
    let Some(filter) = filter else {
      let (ranked, metas) = self.read_rows(key, offset, limit).await.map_err(ctx)?;
      let mut reader = resp::Reader::new(&metas);
      let mut meta = Vec::new();
      for (i, (id, score)) in ranked.iter().enumerate() {
        meta.clear();
        reader.pairs(&mut meta).map_err(|e| ctx(StoreError::from_redis(&e, true)))?;
        if i > 0 {
          out.push(',');
        }
        push_entry(id, *score, &meta, &mut out);
      }
      out.push(']');
      return Ok(out);
    };

    match filter::field_conditions(&filter) {
      Some(conditions) => self.read_filtered_by_fields(key, &conditions, offset, limit, &mut out).await,
      None => self.read_filtered(key, &filter, offset, limit, &mut out).await,
    }
    .map_err(ctx)?;
    out.push(']');
    Ok(out)
  }

  /// A filtered read that checks each entry by reading only the filtered fields (HMGET), walking
  /// the index in growing pages, then fetches the whole metadata of the matches.
  async fn read_filtered_by_fields(
    &self,
    key: &str,
    conditions: &[FieldCondition],
    offset: u64,
    limit: u64,
    out: &mut String,
  ) -> Result<()> {
    let (mut skipped, mut start, mut page) = (0u64, 0u64, FIRST_FILTER_PAGE);
    let mut matches: Vec<(String, f64)> = Vec::new();
    'pages: loop {
      let ranked = self.ranked(key, start, page).await?;
      let mut pipe = redis::pipe();
      for (id, _) in &ranked {
        let cmd = pipe.cmd("HMGET").arg(meta_key(key, id));
        for condition in conditions {
          cmd.arg(&condition.field);
        }
      }
      let fields: Vec<Vec<Option<String>>> = if ranked.is_empty() {
        Vec::new()
      } else {
        self.query_pipe(Kind::Read, &pipe).await?
      };
      for ((id, score), values) in ranked.iter().zip(&fields) {
        if !conditions.iter().zip(values).all(|(c, v)| c.accepts(v.as_deref())) {
          continue;
        }
        if skipped < offset {
          skipped += 1;
          continue;
        }
        matches.push((id.clone(), *score));
        if matches.len() as u64 == limit {
          break 'pages;
        }
      }
      if (ranked.len() as u64) < page {
        break;
      }
      start += page;
      page = (page * 2).min(MAX_FILTER_PAGE);
    }
    let metas = self.metadata_of(key, matches.iter().map(|(id, _)| id.as_str())).await?;
    let mut reader = resp::Reader::new(&metas);
    let mut meta = Vec::new();
    let mut first = true;
    for (id, score) in &matches {
      meta.clear();
      reader.pairs(&mut meta).map_err(|e| StoreError::from_redis(&e, true))?;
      // deleted since it matched: leave it out rather than list it without its metadata
      if meta.is_empty() {
        continue;
      }
      if !first {
        out.push(',');
      }
      first = false;
      push_entry(id, *score, &meta, out);
    }
    Ok(())
  }

  /// A filtered read that compares whole metadata objects, a page at a time.
  async fn read_filtered(
    &self,
    key: &str,
    filter: &serde_json::Map<String, serde_json::Value>,
    offset: u64,
    limit: u64,
    out: &mut String,
  ) -> Result<()> {
    let (mut skipped, mut taken, mut start) = (0u64, 0u64, 0u64);
    loop {
      let (rows, metas) = self.read_rows(key, start, MAX_FILTER_PAGE).await?;
      let mut reader = resp::Reader::new(&metas);
      let mut meta = Vec::new();
      for (id, score) in &rows {
        meta.clear();
        reader.pairs(&mut meta).map_err(|e| StoreError::from_redis(&e, true))?;
        // Deeper than serde_json's nesting limit (only possible in foreign data): no match.
        let metadata = if meta.is_empty() {
          None
        } else {
          serde_json::from_str::<serde_json::Value>(&hash::expand(&meta)).ok()
        };
        if !filter::matches(metadata.as_ref(), filter) {
          continue;
        }
        if skipped < offset {
          skipped += 1;
          continue;
        }
        if taken > 0 {
          out.push(',');
        }
        push_entry(id, *score, &meta, out);
        taken += 1;
        if taken == limit {
          return Ok(());
        }
      }
      if (rows.len() as u64) < MAX_FILTER_PAGE {
        return Ok(());
      }
      start += MAX_FILTER_PAGE;
    }
  }

  /// Ids and scores of `count` entries from rank `start`, and their metadata replies (see
  /// [`Self::metadata_of`]), in two round trips.
  async fn read_rows(&self, key: &str, start: u64, count: u64) -> Result<(Vec<(String, f64)>, Bytes)> {
    let ranked = self.ranked(key, start, count).await?;
    let metas = self.metadata_of(key, ranked.iter().map(|(id, _)| id.as_str())).await?;
    Ok((ranked, metas))
  }

  /// Ids and scores of `count` entries from rank `start`, highest score first.
  async fn ranked(&self, key: &str, start: u64, count: u64) -> Result<Vec<(String, f64)>> {
    let stop = start.saturating_add(count - 1).min(i64::MAX as u64);
    let mut pipe = redis::pipe();
    pipe.cmd("ZREVRANGE").arg(key).arg(start).arg(stop).arg("WITHSCORES");
    let reply = self
      .run(Kind::Read, |c| {
        let pipe = &pipe;
        async move { c.query_raw(pipe).await }
      })
      .await?;
    let mut ranked = Vec::new();
    resp::Reader::new(&reply)
      .pairs(&mut ranked)
      .map_err(|e| StoreError::from_redis(&e, true))?;
    ranked
      .into_iter()
      .map(|(id, score)| Ok((id.into_owned(), parse_number(&score)?)))
      .collect()
  }

  /// The HGETALL replies of each id's metadata, in one pipeline, kept as received: callers
  /// read them in order with [`resp::Reader::pairs`] (an empty hash reads as no fields).
  async fn metadata_of<'a>(&self, key: &str, ids: impl Iterator<Item = &'a str>) -> Result<Bytes> {
    let mut pipe = redis::pipe();
    for id in ids {
      pipe.cmd("HGETALL").arg(meta_key(key, id));
    }
    if pipe.is_empty() {
      return Ok(Bytes::new());
    }
    self
      .run(Kind::Read, |c| {
        let pipe = &pipe;
        async move { c.query_raw(pipe).await }
      })
      .await
  }

  async fn query_pipe<T: redis::FromRedisValue>(&self, kind: Kind, pipe: &redis::Pipeline) -> Result<T> {
    self.run(kind, |c| async move { c.query_pipe(pipe).await }).await
  }

  /// Deep-merges `partial` into the entry's metadata. False when the entry does not exist.
  pub async fn index_update(&self, key: &str, id: &str, partial_json: &str) -> Result<bool> {
    let ctx = |e: StoreError| e.context("index.update", &target(&[key, id]));
    let flat = hash::flatten(&parse_json_object(partial_json, "the update").map_err(ctx)?);
    let meta = meta_key(key, id);
    let updated = self
      .with_entry(key, id, |create| {
        let call = update_call(&meta, &flat, create);
        async move { Ok(update_outcome(self.run_script::<i64>(Kind::Write, &call).await?)) }
      })
      .await
      .map_err(ctx)?;
    Ok(updated.is_some())
  }

  /// `index_update`, tried up to `max_retries` times with exponential backoff (10 ms, 20 ms …)
  /// while the entry is missing or Redis is unavailable.
  pub async fn index_update_with_retry(&self, key: &str, id: &str, partial_json: &str, max_retries: u32) -> Result<()> {
    let ctx = |e: StoreError| e.context("index.updateWithRetry", &target(&[key, id]));
    let mut last = StoreError::invalid("maxRetries must be at least 1");
    let deadline = super::conn::deadline(self.command_timeout);
    for attempt in 0..max_retries {
      if attempt > 0 {
        let wake = tokio::time::Instant::now() + Duration::from_millis(10 << (attempt - 1).min(10));
        // the command timeout bounds the whole call: no try that could not finish in it
        if wake >= deadline {
          break;
        }
        tokio::time::sleep_until(wake).await;
      }
      match self.index_update(key, id, partial_json).await {
        Ok(true) => return Ok(()),
        Ok(false) => last = StoreError::new(Code::NotFound, format!("no entry after {} tries", attempt + 1)),
        Err(e) if e.code == Code::Unavailable => last = e,
        Err(e) => return Err(e),
      }
    }
    Err(ctx(last))
  }

  /// Adds `by` to the numeric field at the dotted path `field`; returns the new value.
  pub async fn index_increment(&self, key: &str, id: &str, field: &str, by: f64) -> Result<f64> {
    let ctx = |e: StoreError| e.context("index.increment", &target(&[key, id, field]));
    let (field, by) = increment_args(field, by).map_err(ctx)?;
    let meta = meta_key(key, id);
    let outcome = self
      .with_entry(key, id, |create| {
        let call = increment_call(&meta, &field, &by, create);
        async move { increment_outcome(self.run_script(Kind::Write, &call).await?) }
      })
      .await
      .map_err(ctx)?;
    outcome.ok_or_else(|| ctx(StoreError::new(Code::NotFound, "no such entry")))
  }

  pub async fn index_delete(&self, key: &str, id: &str) -> Result<bool> {
    self
      .run_script::<i64>(Kind::Write, &delete_call(key, id))
      .await
      .map(|n| n > 0)
      .map_err(|e| e.context("index.delete", &target(&[key, id])))
  }

  /// Runs a metadata script that reports a missing hash. An entry added without metadata has
  /// no hash, so then the sorted set decides: if the id is there, the script runs again and may
  /// create the hash; if not, the result is `None`.
  async fn with_entry<T, F, Fut>(&self, key: &str, id: &str, script: F) -> Result<Option<T>>
  where
    F: Fn(bool) -> Fut,
    Fut: std::future::Future<Output = Result<ScriptOutcome<T>>>,
  {
    if let ScriptOutcome::Done(v) = script(false).await? {
      return Ok(Some(v));
    }
    let score: Option<String> = self
      .run(Kind::Read, |c| async move { c.query(redis::cmd("ZSCORE").arg(key).arg(id)).await })
      .await?;
    if score.is_none() {
      return Ok(None);
    }
    match script(true).await? {
      ScriptOutcome::Done(v) => Ok(Some(v)),
      ScriptOutcome::Missing => Ok(None),
    }
  }
}
