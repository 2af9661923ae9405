//! The kv tier: one Redis string per key, holding a JSON value (see [`crate::codec::scalar`]).

use super::args::{self, Args};
use super::batch::Op;
use super::call::{Call, Origin};
use super::{reply, Kind, Store};
use crate::codec::scalar;
use crate::error::{Code, Result, StoreError};
use futures_util::future::{BoxFuture, FutureExt};

pub(super) const OPS: &[(&str, Op)] = &[
  ("kv.get", Op::Call(get)),
  ("kv.set", Op::Call(set)),
  ("kv.delete", Op::Call(delete)),
  ("kv.increment", Op::Call(increment)),
  ("kv.clear", Op::Task(clear)),
];

/// Keys `kv.clear` asks SCAN to look at per round trip; the matches of each page are deleted
/// in one pipeline. Alone, a clear of 1000 keys among 64k ran at 30–38/s with 2000 as with
/// 10000 (0.5.15: 10/s); 64 clears at once cost Redis 7.8–8.0 ms each with 2000 and 8.7–11.1 ms
/// with 10000 (0.5.15: 7.4–8.4 ms), the larger pages running at 63–88/s against 0.5.15's 80–95
/// (`npm run bench:clear`).
const CLEAR_SCAN_COUNT: usize = 2_000;
/// Keys per DEL of `kv.clear`.
const CLEAR_DEL_BATCH: usize = 256;
/// Largest TTL accepted, in milliseconds (2^53: beyond it a JS number loses whole milliseconds).
const MAX_TTL_MS: f64 = 9_007_199_254_740_992.0;

/// `kv.get(key)`: the stored value as JSON (`null` when the key does not exist).
fn get(_: &Store, a: &mut Args) -> Result<Call> {
  let key = a.str()?;
  let mut cmd = args::command("GET", 1, key.len());
  cmd.arg(&*key);
  Ok(Origin::new("kv.get", &[&key]).one(Kind::Read, cmd, |value| {
    Ok(reply::string(value).map_or_else(|| "null".into(), |s| scalar::decode(&s)))
  }))
}

/// `kv.set(key, value, ttlSeconds?)`: stores the JSON value, expiring after the TTL when given.
fn set(_: &Store, a: &mut Args) -> Result<Call> {
  let (key, value, ttl) = (a.str()?, a.json()?, a.optional_number()?);
  let origin = Origin::new("kv.set", &[&key]);
  let stored = scalar::encode_kv_json(value).ok_or_else(|| origin.invalid("the value is not JSON"))?;
  let mut cmd = args::command("SET", 4, key.len() + stored.len() + 16);
  cmd.arg(&*key).arg(stored.as_ref());
  if let Some(ttl) = ttl {
    let ms = (ttl * 1000.0).round();
    if !(ttl.is_finite() && ttl > 0.0 && ms <= MAX_TTL_MS) {
      return Err(origin.invalid("ttl must be a positive number of seconds"));
    }
    cmd.arg("PX").arg(ms.max(1.0) as u64);
  }
  Ok(origin.one(Kind::Write, cmd, |_| Ok("null".into())))
}

/// `kv.delete(key)`: true when the key existed.
fn delete(_: &Store, a: &mut Args) -> Result<Call> {
  let key = a.string()?;
  let mut cmd = redis::cmd("DEL");
  cmd.arg(&key);
  Ok(Origin::new("kv.delete", &[&key]).one(Kind::Write, cmd, reply::deleted))
}

/// `kv.increment(key, by)`: adds `by` to the number at `key` (0 when missing); the new value. A
/// string that Redis would read as a number is never stored bare (see
/// [`scalar::encode_kv_json`]), so INCRBYFLOAT refuses every value that is not a number.
fn increment(_: &Store, a: &mut Args) -> Result<Call> {
  let (key, by) = (a.string()?, a.number()?);
  let origin = Origin::new("kv.increment", &[&key]);
  if !by.is_finite() {
    return Err(origin.invalid("the amount must be a finite number"));
  }
  let mut cmd = redis::cmd("INCRBYFLOAT");
  cmd.arg(&key).arg(args::number(by));
  let call = origin.one(Kind::Write, cmd, |value| {
    let value = reply::string(value).ok_or_else(|| reply::unexpected("INCRBYFLOAT"))?;
    Ok(args::number(reply::number(&value)?))
  });
  Ok(call.refining(|e| match e.code {
    Code::Redis if e.message.contains("not a valid float") => StoreError::invalid("the key holds a value that is not a number"),
    _ => e,
  }))
}

/// `kv.clear(pattern)`: deletes every key matching the glob; how many were deleted.
///
/// Every primary is scanned (one server has one). The matches of each SCAN page are deleted in
/// one pipeline of multi-key DELs (per slot, on a cluster). A DEL that names a key this
/// connection may not touch (an ACL rule) fails whole and writes nothing; its keys are then
/// deleted one by one, so that only the foreign key is skipped.
fn clear<'a>(store: &'a Store, mut a: Args<'a>) -> BoxFuture<'a, Result<String>> {
  async move {
    let pattern = a.string()?;
    let origin = Origin::new("kv.clear", &[&pattern]);
    let clear = async {
      let mut deleted = 0u64;
      for node in store.primaries().await? {
        let mut cursor = 0u64;
        loop {
          let mut scan = redis::cmd("SCAN");
          scan.arg(cursor).arg("MATCH").arg(&pattern).arg("COUNT").arg(CLEAR_SCAN_COUNT);
          let (next, keys): (u64, Vec<Vec<u8>>) = store.query_at(node.as_ref(), &scan).await?;
          let batches = store.key_batches(&keys, CLEAR_DEL_BATCH);
          let outcomes = store.delete_keys(&batches).await?;
          let mut refused = Vec::new();
          for (batch, outcome) in batches.iter().zip(outcomes) {
            match outcome {
              Some(n) => deleted += n,
              None => refused.extend(batch.iter().map(|key| vec![*key])),
            }
          }
          deleted += store.delete_keys(&refused).await?.into_iter().flatten().sum::<u64>();
          if next == 0 {
            break;
          }
          cursor = next;
        }
      }
      Ok(deleted.to_string())
    };
    clear.await.map_err(|e| origin.fail(e))
  }
  .boxed()
}

impl Store {
  /// One DEL per batch of keys, in one pipeline: how many each deleted, or `None` for a DEL
  /// refused for a key this connection may not touch (NOPERM), which deleted nothing.
  async fn delete_keys(&self, batches: &[Vec<&[u8]>]) -> Result<Vec<Option<u64>>> {
    let mut pipe = redis::pipe();
    for batch in batches {
      pipe.cmd("DEL").arg(batch);
    }
    self
      .send_each(Kind::Write, &pipe)
      .await
      .into_iter()
      .map(|reply| match reply?.extract_error() {
        Ok(redis::Value::Int(n)) => Ok(Some(n as u64)),
        Ok(_) => Ok(Some(0)),
        Err(e) if e.code() == Some("NOPERM") => Ok(None),
        Err(e) => Err(StoreError::from_redis(&e, true)),
      })
      .collect()
  }
}
