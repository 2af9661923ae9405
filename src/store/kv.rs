//! The kv tier: one Redis string per key, holding a JSON value (see [`crate::codec::scalar`]).

use super::{number_arg, parse_number, target, text, Kind, Piped, Store};
use crate::codec::scalar;
use crate::error::{Code, Result, StoreError};

/// Keys `kv.clear` asks SCAN to look at per round trip; the matches of each page are deleted
/// in one pipeline.
const CLEAR_SCAN_COUNT: usize = 10_000;
/// Keys per DEL of `kv.clear`.
const CLEAR_DEL_BATCH: usize = 256;
/// Largest TTL accepted, in milliseconds (2^53: beyond it a JS number loses whole milliseconds).
const MAX_TTL_MS: f64 = 9_007_199_254_740_992.0;

/// `kv.get`: the stored value as JSON (`null` when the key does not exist).
pub(super) fn get(key: &str) -> Piped {
  let mut cmd = redis::cmd("GET");
  cmd.arg(key);
  Piped::read("kv.get", target(&[key]), cmd, |reply| {
    Ok(text(reply).map_or_else(|| "null".into(), |s| scalar::decode(&s)))
  })
}

/// `kv.set`: stores the JSON value `value_json`, expiring after `ttl_seconds` when given.
pub(super) fn set(key: &str, value_json: &str, ttl_seconds: Option<f64>) -> Result<Piped> {
  let ctx = |e: StoreError| e.context("kv.set", &target(&[key]));
  let stored = scalar::encode_kv_json(value_json).ok_or_else(|| ctx(StoreError::invalid("the value is not JSON")))?;
  let mut cmd = redis::cmd("SET");
  cmd.arg(key).arg(stored.as_ref());
  if let Some(ttl) = ttl_seconds {
    let ms = (ttl * 1000.0).round();
    if !(ttl.is_finite() && ttl > 0.0 && ms <= MAX_TTL_MS) {
      return Err(ctx(StoreError::invalid("ttl must be a positive number of seconds")));
    }
    cmd.arg("PX").arg(ms.max(1.0) as u64);
  }
  Ok(Piped::write("kv.set", target(&[key]), cmd, |_| Ok("null".into())))
}

/// `kv.delete`: true when the key existed.
pub(super) fn delete(key: &str) -> Piped {
  let mut cmd = redis::cmd("DEL");
  cmd.arg(key);
  Piped::write("kv.delete", target(&[key]), cmd, deleted)
}

/// `kv.increment`: adds `by` to the number at `key` (0 when missing); the new value. A string
/// that Redis would read as a number is never stored bare (see [`scalar::encode_kv_json`]), so
/// INCRBYFLOAT refuses every value that is not a number.
pub(super) fn increment(key: &str, by: f64) -> Result<Piped> {
  if !by.is_finite() {
    return Err(StoreError::invalid("the amount must be a finite number").context("kv.increment", &target(&[key])));
  }
  let mut cmd = redis::cmd("INCRBYFLOAT");
  cmd.arg(key).arg(number_arg(by));
  let mut single = Piped::write("kv.increment", target(&[key]), cmd, |reply| {
    let value = text(reply).ok_or_else(|| StoreError::new(Code::Redis, "INCRBYFLOAT gave no number"))?;
    Ok(number_arg(parse_number(&value)?))
  });
  single.refine = |e| match e.code {
    Code::Redis if e.message.contains("not a valid float") => StoreError::invalid("the key holds a value that is not a number"),
    _ => e,
  };
  Ok(single)
}

/// A DEL-like reply as JSON: whether anything was deleted.
pub(super) fn deleted(reply: redis::Value) -> Result<String> {
  Ok(matches!(reply, redis::Value::Int(n) if n > 0).to_string())
}

impl Store {
  /// Deletes every key matching the glob `pattern`; returns how many were deleted.
  ///
  /// The matches of each SCAN page are deleted in one pipeline of multi-key DELs. A DEL that
  /// names a key this connection may not touch (an ACL rule) fails whole and writes nothing;
  /// its keys are then deleted one by one, so that only the foreign key is skipped.
  pub async fn kv_clear(&self, pattern: &str) -> Result<u64> {
    let ctx = |e: StoreError| e.context("kv.clear", &target(&[pattern]));
    let mut cursor = 0u64;
    let mut deleted = 0u64;
    loop {
      let (next, keys): (u64, Vec<Vec<u8>>) = self
        .run(Kind::Read, |c| async move {
          c.query(
            redis::cmd("SCAN")
              .arg(cursor)
              .arg("MATCH")
              .arg(pattern)
              .arg("COUNT")
              .arg(CLEAR_SCAN_COUNT),
          )
          .await
        })
        .await
        .map_err(ctx)?;
      let batches: Vec<&[Vec<u8>]> = keys.chunks(CLEAR_DEL_BATCH).collect();
      let mut refused = Vec::new();
      for (batch, outcome) in batches.iter().zip(self.delete_keys(batches.iter().copied()).await.map_err(ctx)?) {
        match outcome {
          Some(n) => deleted += n,
          None => refused.extend(batch.iter().map(std::slice::from_ref)),
        }
      }
      if !refused.is_empty() {
        deleted += self
          .delete_keys(refused.into_iter())
          .await
          .map_err(ctx)?
          .into_iter()
          .flatten()
          .sum::<u64>();
      }
      if next == 0 {
        return Ok(deleted);
      }
      cursor = next;
    }
  }

  /// One DEL per batch of keys, in one pipeline: how many each deleted, or `None` for a DEL
  /// refused for a key this connection may not touch (NOPERM), which deleted nothing.
  async fn delete_keys<'k>(&self, batches: impl Iterator<Item = &'k [Vec<u8>]>) -> Result<Vec<Option<u64>>> {
    let mut pipe = redis::pipe();
    for batch in batches {
      pipe.cmd("DEL").arg(batch);
    }
    if pipe.is_empty() {
      return Ok(Vec::new());
    }
    let replies = self
      .run(Kind::Write, |c| {
        let pipe = &pipe;
        async move { c.query_each(pipe).await }
      })
      .await?;
    replies
      .into_iter()
      .map(|reply| match reply.extract_error() {
        Ok(redis::Value::Int(n)) => Ok(Some(n as u64)),
        Ok(_) => Ok(Some(0)),
        Err(e) if e.code() == Some("NOPERM") => Ok(None),
        Err(e) => Err(StoreError::from_redis(&e, true)),
      })
      .collect()
  }
}
