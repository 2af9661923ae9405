//! `index.read`: entries by descending score, a page of ids (ZREVRANGE) then their metadata
//! (one HGETALL each, pipelined). A filter on fields compares only those fields (HMGET) while it
//! walks the index; any other filter compares whole metadata objects.

use super::args::{self, Args};
use super::batch::Op;
use super::call::Origin;
use super::index::{meta_key, push_entry};
use super::{reply, resp, Kind, Store};
use crate::codec::filter::{self, FieldCondition};
use crate::codec::hash;
use crate::error::{Result, StoreError};
use bytes::Bytes;
use futures_util::future::{BoxFuture, FutureExt};

pub(super) const OPS: &[(&str, Op)] = &[("index.read", Op::Task(read))];

/// `index.read` options, as the JS facade checked them.
#[derive(Default, Debug, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReadOptions {
  pub offset: Option<f64>,
  pub limit: Option<f64>,
  /// See [`crate::codec::filter`].
  pub filter: Option<serde_json::Map<String, serde_json::Value>>,
}

const DEFAULT_LIMIT: u64 = 50;
/// Entries checked per round trip while filtering: the first page, doubling up to the last.
const FIRST_FILTER_PAGE: u64 = 250;
const MAX_FILTER_PAGE: u64 = 2000;

/// `index.read(key, options)`: entries by descending score as a JSON array.
fn read<'a>(store: &'a Store, mut a: Args<'a>) -> BoxFuture<'a, Result<String>> {
  async move {
    let key = a.string()?;
    let origin = Origin::new("index.read", &[&key]);
    let read = async {
      let opts: ReadOptions = a.options()?;
      let offset = args::count(opts.offset, 0, "offset")?;
      let limit = args::count(opts.limit, DEFAULT_LIMIT, "limit")?;
      let mut out = String::from("[");
      if limit > 0 {
        match opts.filter.filter(filter::has_conditions) {
          None => store.read_page(&key, offset, limit, &mut out).await?,
          Some(filter) => match filter::field_conditions(&filter) {
            Some(conditions) => store.read_filtered_by_fields(&key, &conditions, offset, limit, &mut out).await?,
            None => store.read_filtered(&key, &filter, offset, limit, &mut out).await?,
          },
        }
      }
      out.push(']');
      Ok(out)
    };
    read.await.map_err(|e| origin.fail(e))
  }
  .boxed()
}

impl Store {
  /// An unfiltered read: one page.
  async fn read_page(&self, key: &str, offset: u64, limit: u64, out: &mut String) -> Result<()> {
    let (ranked, metas) = self.read_rows(key, offset, limit).await?;
    let mut reader = resp::Reader::new(&metas);
    let mut meta = Vec::new();
    for (i, (id, score)) in ranked.iter().enumerate() {
      meta.clear();
      reader.pairs(&mut meta).map_err(|e| StoreError::from_redis(&e, true))?;
      if i > 0 {
        out.push(',');
      }
      push_entry(id, *score, &meta, out);
    }
    Ok(())
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
    let reply = self.query_raw(Kind::Read, &pipe).await?;
    let mut ranked = Vec::new();
    resp::Reader::new(&reply)
      .pairs(&mut ranked)
      .map_err(|e| StoreError::from_redis(&e, true))?;
    ranked
      .into_iter()
      .map(|(id, score)| Ok((id.into_owned(), reply::number(&score)?)))
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
    self.query_raw(Kind::Read, &pipe).await
  }
}
