//! The stream tier: one Redis Stream per subject, at the key `subject`.

use super::args::{self, Args};
use super::batch::Op;
use super::call::{Call, Origin};
use super::{reply, Kind, Store};
use crate::codec::{event, scalar};
use crate::error::{Result, StoreError};
use futures_util::future::{BoxFuture, FutureExt};

pub(super) const OPS: &[(&str, Op)] = &[
  ("stream.append", Op::Call(append)),
  ("stream.delete", Op::Call(delete)),
  ("stream.read", Op::Task(read)),
];

/// `stream.read` options, as the JS facade checked them.
#[derive(Default, Debug, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReadOptions {
  pub types: Option<Vec<String>>,
  /// Exclusive stream ids.
  pub after: Option<String>,
  pub before: Option<String>,
  /// Inclusive millisecond times.
  pub from: Option<f64>,
  pub to: Option<f64>,
  pub limit: Option<f64>,
  pub desc: bool,
}

const DEFAULT_LIMIT: u64 = 1000;
/// Most entries fetched per round trip while filtering by type (a page holds four times the
/// limit, so a type that is one in four of the events needs one round trip).
const TYPE_FILTER_PAGE: u64 = 1000;

/// A stream entry id, `ms-seq`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Id(u64, u64);

impl Id {
  fn parse(s: &str, what: &str) -> Result<Id> {
    let bad = || StoreError::invalid(format!("{what} must be a stream id like \"1700000000000-0\", got {s:?}"));
    let (ms, seq) = s.split_once('-').unwrap_or((s, "0"));
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if !digits(ms) || !digits(seq) {
      return Err(bad());
    }
    Ok(Id(ms.parse().map_err(|_| bad())?, seq.parse().map_err(|_| bad())?))
  }

  fn next(self) -> Option<Id> {
    match self {
      Id(ms, u64::MAX) => ms.checked_add(1).map(|ms| Id(ms, 0)),
      Id(ms, seq) => Some(Id(ms, seq + 1)),
    }
  }

  fn prev(self) -> Option<Id> {
    match self {
      Id(ms, 0) => ms.checked_sub(1).map(|ms| Id(ms, u64::MAX)),
      Id(ms, seq) => Some(Id(ms, seq - 1)),
    }
  }

  fn arg(self) -> String {
    format!("{}-{}", self.0, self.1)
  }
}

fn millis(value: f64, what: &str) -> Result<f64> {
  if value.is_finite() && value >= 0.0 {
    Ok(value)
  } else {
    Err(StoreError::invalid(format!("{what} must be a time in milliseconds (a number ≥ 0)")))
  }
}

impl ReadOptions {
  /// The inclusive id range the options select, or `None` when it is empty.
  fn range(&self) -> Result<Option<(Id, Id)>> {
    let mut low = Id(0, 0);
    let mut high = Id(u64::MAX, u64::MAX);
    if let Some(from) = self.from {
      low = low.max(Id(millis(from, "from")?.ceil() as u64, 0));
    }
    if let Some(after) = &self.after {
      match Id::parse(after, "after")?.next() {
        Some(id) => low = low.max(id),
        None => return Ok(None),
      }
    }
    if let Some(to) = self.to {
      high = high.min(Id(millis(to, "to")?.floor() as u64, u64::MAX));
    }
    if let Some(before) = &self.before {
      match Id::parse(before, "before")?.prev() {
        Some(id) => high = high.min(id),
        None => return Ok(None),
      }
    }
    Ok((low <= high).then_some((low, high)))
  }
}

/// `stream.append(subject, event)`: appends the event (a JSON object that already carries `ts`);
/// the entry id.
fn append(store: &Store, a: &mut Args) -> Result<Call> {
  let (subject, event_json) = (a.str()?, a.json()?);
  let origin = Origin::new("stream.append", &[&subject]);
  let fields = event::to_fields(event_json).map_err(|why| origin.invalid(why))?;
  if !event::has_type(&fields) {
    return Err(origin.invalid("event.type must be a non-empty string"));
  }
  // the fields take at most the event's JSON text; the trim and `*` a few bytes more
  let mut cmd = args::command("XADD", 5 + 2 * fields.len(), subject.len() + event_json.len() + 32);
  cmd.arg(&*subject);
  if let Some(trim) = store.trim {
    cmd.arg("MAXLEN");
    if trim.approx {
      cmd.arg("~");
    }
    cmd.arg(trim.max_len);
  }
  cmd.arg("*");
  for (name, value) in &fields {
    cmd.arg(name).arg(value);
  }
  Ok(origin.one(Kind::Write, cmd, |value| {
    let id = reply::string(value).ok_or_else(|| reply::unexpected("XADD"))?;
    let mut out = String::with_capacity(id.len() + 2);
    scalar::push_json_string(&id, &mut out);
    Ok(out)
  }))
}

/// `stream.delete(subject)`: deletes the stream; true when it existed.
fn delete(_: &Store, a: &mut Args) -> Result<Call> {
  let subject = a.string()?;
  let mut cmd = redis::cmd("DEL");
  cmd.arg(&subject);
  Ok(Origin::new("stream.delete", &[&subject]).one(Kind::Write, cmd, reply::deleted))
}

/// `stream.read(subject, options)`: the events as a JSON array, a page per round trip.
fn read<'a>(store: &'a Store, mut a: Args<'a>) -> BoxFuture<'a, Result<String>> {
  async move {
    let subject = a.string()?;
    let origin = Origin::new("stream.read", &[&subject]);
    let read = async {
      let opts: ReadOptions = a.options()?;
      let limit = args::count(opts.limit, DEFAULT_LIMIT, "limit")?;
      let Some((mut low, mut high)) = opts.range()? else {
        return Ok("[]".into());
      };
      let types = opts.types.as_ref().filter(|t| !t.is_empty());
      let page = if types.is_some() {
        limit.saturating_mul(4).clamp(100, TYPE_FILTER_PAGE)
      } else {
        limit
      };

      let mut out = String::from("[");
      let mut found = 0;
      while found < limit {
        let (name, first, last) = if opts.desc {
          ("XREVRANGE", high, low)
        } else {
          ("XRANGE", low, high)
        };
        let mut cmd = redis::cmd(name);
        cmd.arg(&subject).arg(first.arg()).arg(last.arg()).arg("COUNT").arg(page);
        let reply: redis::Value = store.query(Kind::Read, &cmd).await?;
        let entries = entries(reply);
        let fetched = entries.len() as u64;
        let mut last = None;
        for (id, fields) in entries {
          last = Some(id.clone());
          if found == limit {
            break;
          }
          if let Some(types) = types {
            match event::event_type(&fields) {
              Some(t) if types.contains(&t) => {}
              _ => continue,
            }
          }
          if found > 0 {
            out.push(',');
          }
          event::push_record(&id, &fields, &mut out);
          found += 1;
        }
        let Some(last) = last else { break };
        if fetched < page {
          break;
        }
        let last = Id::parse(&last, "id")?;
        let advanced = if opts.desc {
          last.prev().map(|id| high = id)
        } else {
          last.next().map(|id| low = id)
        };
        if advanced.is_none() || low > high {
          break;
        }
      }
      out.push(']');
      Ok(out)
    };
    read.await.map_err(|e| origin.fail(e))
  }
  .boxed()
}

/// XRANGE's reply as (id, fields) pairs.
fn entries(reply: redis::Value) -> Vec<(String, Vec<(String, String)>)> {
  let redis::Value::Array(items) = reply else {
    return Vec::new();
  };
  items
    .into_iter()
    .filter_map(|item| {
      let redis::Value::Array(mut parts) = item else {
        return None;
      };
      if parts.len() != 2 {
        return None;
      }
      let fields = reply::pairs(parts.pop()?);
      Some((reply::string(parts.pop()?)?, fields))
    })
    .collect()
}

#[cfg(test)]
mod tests {
  use super::*;

  fn range(o: ReadOptions) -> Option<(Id, Id)> {
    o.range().unwrap()
  }

  #[test]
  fn to_includes_every_entry_of_its_millisecond() {
    let (_, high) = range(ReadOptions {
      to: Some(5.0),
      ..Default::default()
    })
    .unwrap();
    assert_eq!(high, Id(5, u64::MAX));
  }

  #[test]
  fn after_and_before_are_exclusive() {
    let (low, high) = range(ReadOptions {
      after: Some("5-1".into()),
      before: Some("9-0".into()),
      ..Default::default()
    })
    .unwrap();
    assert_eq!((low, high), (Id(5, 2), Id(8, u64::MAX)));
  }

  #[test]
  fn the_tighter_bound_wins() {
    let (low, _) = range(ReadOptions {
      after: Some("5-1".into()),
      from: Some(7.0),
      ..Default::default()
    })
    .unwrap();
    assert_eq!(low, Id(7, 0));
  }

  #[test]
  fn empty_ranges_are_none() {
    assert_eq!(
      range(ReadOptions {
        before: Some("0-0".into()),
        ..Default::default()
      }),
      None
    );
    assert_eq!(
      range(ReadOptions {
        from: Some(10.0),
        to: Some(9.0),
        ..Default::default()
      }),
      None
    );
  }

  #[test]
  fn bad_ids_and_times_are_invalid_arguments() {
    for o in [
      ReadOptions {
        after: Some("abc".into()),
        ..Default::default()
      },
      ReadOptions {
        before: Some("1-x".into()),
        ..Default::default()
      },
      ReadOptions {
        from: Some(-1.0),
        ..Default::default()
      },
      ReadOptions {
        to: Some(f64::NAN),
        ..Default::default()
      },
    ] {
      assert_eq!(o.range().unwrap_err().code, crate::error::Code::InvalidArgument);
    }
  }
}
