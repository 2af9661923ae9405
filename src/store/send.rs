//! How commands reach Redis: on one server, a pipeline on the connection for their kind; on a
//! cluster, each command to its node through the crate's cluster connection (see cluster.rs).
//! The tiers use only these functions, so every operation works in both modes.

use super::cluster::Cluster;
use super::{conn, resp, Backend, Kind, Store};
use crate::error::{Code, Result, StoreError};
use bytes::Bytes;
use redis::cluster_routing::Slot;
use redis::{FromRedisValue, Pipeline, Value};
use std::collections::HashMap;

impl Store {
  /// Whether this call's requests must follow those made before it (see [`Store::ordered`]).
  fn keeps_order(&self, kind: Kind) -> bool {
    kind == Kind::Write || self.ordered
  }

  /// The reply to each command of `pipe`, or why there is none. On one server a failure of the
  /// connection fails them all; on a cluster each command has its own fate.
  pub(super) async fn send_each(&self, kind: Kind, pipe: &Pipeline) -> Vec<Result<Value>> {
    match &self.backend {
      Backend::Server { writes, reads } => match self.run(writes, reads, kind, |c| async move { c.query_each(pipe).await }).await {
        Ok(values) => values.into_iter().map(Ok).collect(),
        Err(e) => vec![Err(e); pipe.len()],
      },
      // boxed: the cluster's futures take kilobytes, which every call on one server would
      // otherwise carry (and move) as part of its own
      Backend::Cluster(cluster) => Box::pin(self.send_each_on_cluster(cluster, kind, pipe)).await,
    }
  }

  /// The reply to one command, as [`Self::send_each`] gives it for a pipeline of one.
  pub(super) async fn send_one(&self, kind: Kind, cmd: &redis::Cmd) -> Result<Value> {
    match &self.backend {
      Backend::Server { writes, reads } => self.run(writes, reads, kind, |c| async move { c.query_reply(cmd).await }).await,
      Backend::Cluster(_) => {
        let mut pipe = redis::pipe();
        pipe.add_command(cmd.clone());
        self.send_each(kind, &pipe).await.pop().expect("a reply or failure per command")
      }
    }
  }

  async fn send_each_on_cluster(&self, cluster: &Cluster, kind: Kind, pipe: &Pipeline) -> Vec<Result<Value>> {
    if kind == Kind::Read && pipe.len() > 1 {
      return self.read_by_slot(cluster, pipe).await;
    }
    let cmds: Vec<&redis::Cmd> = pipe.cmd_iter().collect();
    let ordered = self.keeps_order(kind);
    let mut replies = cluster
      .hand_over_all(ordered, &cmds, |cmd| cluster.submit((*cmd).clone(), ordered))
      .await;
    if kind == Kind::Read {
      // as on one server: a read whose connection failed is tried once more
      for (reply, cmd) in replies.iter_mut().zip(pipe.cmd_iter()) {
        if matches!(reply, Err(e) if matches!(e.code, Code::Uncertain | Code::Unavailable)) {
          *reply = cluster.submit(cmd.clone(), self.ordered).await.await.map_err(read_failure);
        }
      }
    }
    replies
  }

  /// The replies of `pipe`, all of them or the first failure (a Redis error reply included).
  pub(super) async fn query_pipe<T: FromRedisValue>(&self, kind: Kind, pipe: &Pipeline) -> Result<T> {
    if let Backend::Server { writes, reads } = &self.backend {
      return self.run(writes, reads, kind, |c| async move { c.query_pipe(pipe).await }).await;
    }
    let values = self.send_each(kind, pipe).await.into_iter().collect::<Result<Vec<_>>>()?;
    convert(Value::Array(values))
  }

  /// The reply of one command (a Redis error reply is a failure).
  pub(super) async fn query<T: FromRedisValue>(&self, kind: Kind, cmd: &redis::Cmd) -> Result<T> {
    match &self.backend {
      Backend::Server { writes, reads } => self.run(writes, reads, kind, |c| async move { c.query(cmd).await }).await,
      Backend::Cluster(cluster) => {
        let reply = cluster.submit(cmd.clone(), self.keeps_order(kind)).await;
        conn::release_ticket();
        convert(reply.await?)
      }
    }
  }

  /// The replies of `pipe` as RESP, to be read with [`resp::Reader`]: as received from one
  /// server, or encoded again from a cluster's replies.
  pub(super) async fn query_raw(&self, kind: Kind, pipe: &Pipeline) -> Result<Bytes> {
    if let Backend::Server { writes, reads } = &self.backend {
      return self.run(writes, reads, kind, |c| async move { c.query_raw(pipe).await }).await;
    }
    let mut out = Vec::new();
    for value in self.send_each(kind, pipe).await {
      resp::encode(&value?, &mut out);
    }
    Ok(out.into())
  }
}

impl Store {
  /// Reads on a cluster: the commands on keys of one slot go to its node as one pipeline (as
  /// on one server: with a hash tag, all of an index.read's), the others one by one. Writes are
  /// never grouped: the crate sends a pipeline again whole when part of it was redirected.
  async fn read_by_slot(&self, cluster: &Cluster, pipe: &Pipeline) -> Vec<Result<Value>> {
    // each slot with the places of its commands, in the order of their first command
    let mut slots: Vec<(Slot, Vec<usize>)> = Vec::new();
    let mut at: HashMap<Slot, usize> = HashMap::new();
    for (i, cmd) in pipe.cmd_iter().enumerate() {
      let slot = Slot::for_key(read_key(cmd));
      let group = *at.entry(slot).or_insert_with(|| {
        slots.push((slot, Vec::new()));
        slots.len() - 1
      });
      slots[group].1.push(i);
    }
    let cmds: Vec<&redis::Cmd> = pipe.cmd_iter().collect();
    let outcomes = cluster
      .hand_over_all(self.ordered, &slots, |(slot, members)| {
        let mut group = redis::pipe();
        for &i in members {
          group.add_command(cmds[i].clone());
        }
        cluster.submit_reads(group, *slot, self.ordered)
      })
      .await;
    let mut replies: Vec<Option<Result<Value>>> = (0..cmds.len()).map(|_| None).collect();
    for ((_, members), outcome) in slots.iter().zip(outcomes) {
      match outcome {
        Ok(values) if values.len() == members.len() => {
          for (&i, value) in members.iter().zip(values) {
            replies[i] = Some(Ok(value));
          }
        }
        // a slot in migration (some keys answer ASK) or a failure: each read once more, alone
        _ => {
          for &i in members {
            replies[i] = Some(cluster.submit(cmds[i].clone(), self.ordered).await.await.map_err(read_failure));
          }
        }
      }
    }
    replies.into_iter().map(|r| r.expect("every read has a reply")).collect()
  }

  /// Whether one command may name all of `keys`: always on one server; on a cluster, when they
  /// hash to one slot (a prefix with a hash tag, `{nvent}…`, puts every key in one).
  pub(super) fn together(&self, keys: &[&str]) -> bool {
    match &self.backend {
      Backend::Server { .. } => true,
      Backend::Cluster(_) => keys.windows(2).all(|pair| Slot::for_key(pair[0]) == Slot::for_key(pair[1])),
    }
  }

  /// Runs the write `cmd` alone and returns its reply, Redis error replies included. A script
  /// Redis forgot is loaded and run once more.
  pub(super) async fn write_alone(&self, cmd: &redis::Cmd) -> Result<Value> {
    let mut pipe = redis::pipe();
    pipe.add_command(cmd.clone());
    let reply = self.send_each(Kind::Write, &pipe).await.swap_remove(0)?;
    if !super::call::is_noscript(&reply) {
      return Ok(reply);
    }
    if let Backend::Cluster(cluster) = &self.backend {
      cluster.load_scripts().await?;
    }
    self.send_each(Kind::Write, &pipe).await.swap_remove(0)
  }

  /// Runs `cmds` one after the other, each once the one before it succeeded, and `finish` on
  /// their replies. The first `reads` only read; a failure after a write succeeded is
  /// UNCERTAIN: part of the call was applied.
  pub(super) fn in_steps(
    &self,
    reads: usize,
    cmds: Vec<redis::Cmd>,
    finish: impl FnOnce(Vec<Value>) -> Result<String> + Send + 'static,
  ) -> futures_util::future::BoxFuture<'static, Result<String>> {
    let store = self.clone();
    Box::pin(async move {
      let mut replies = Vec::with_capacity(cmds.len());
      for cmd in &cmds {
        let reply = store
          .write_alone(cmd)
          .await
          .and_then(|reply| reply.extract_error().map_err(|e| StoreError::from_redis(&e, true)));
        match reply {
          Ok(reply) => replies.push(reply),
          Err(e) if replies.len() <= reads => return Err(e),
          Err(e) => return Err(e.partly_applied()),
        }
      }
      finish(replies)
    })
  }

  /// The servers whose keys a scan must visit: the one server (`None`), or every primary of the
  /// cluster as it is now.
  pub(super) async fn primaries(&self) -> Result<Vec<Option<(String, u16)>>> {
    match &self.backend {
      Backend::Server { .. } => Ok(vec![None]),
      Backend::Cluster(cluster) => Ok(cluster.primaries().await?.into_iter().map(Some).collect()),
    }
  }

  /// The reply of a read on `node` (one of [`Self::primaries`]).
  pub(super) async fn query_at<T: FromRedisValue>(&self, node: Option<&(String, u16)>, cmd: &redis::Cmd) -> Result<T> {
    match (&self.backend, node) {
      (Backend::Cluster(cluster), Some((host, port))) => convert(cluster.submit_at(cmd.clone(), host, *port).await.await?),
      _ => self.query(Kind::Read, cmd).await,
    }
  }

  /// `keys` in batches of at most `size` that one command may name together: on a cluster, keys
  /// of one slot.
  pub(super) fn key_batches<'k>(&self, keys: &'k [Vec<u8>], size: usize) -> Vec<Vec<&'k [u8]>> {
    let keys = keys.iter().map(Vec::as_slice);
    match &self.backend {
      Backend::Server { .. } => keys.collect::<Vec<_>>().chunks(size).map(<[_]>::to_vec).collect(),
      Backend::Cluster(_) => {
        let mut slots: HashMap<Slot, Vec<&[u8]>> = Default::default();
        for key in keys {
          slots.entry(Slot::for_key(key)).or_default().push(key);
        }
        slots
          .into_values()
          .flat_map(|keys| keys.chunks(size).map(<[_]>::to_vec).collect::<Vec<_>>())
          .collect()
      }
    }
  }
}

/// A read that failed again: it has no outcome to be uncertain about.
fn read_failure(e: StoreError) -> StoreError {
  match e.code {
    Code::Uncertain => StoreError {
      code: Code::Unavailable,
      ..e
    },
    _ => e,
  }
}

/// The key of a read command (its first argument).
fn read_key(cmd: &redis::Cmd) -> &[u8] {
  match cmd.args_iter().nth(1) {
    Some(redis::Arg::Simple(key)) => key,
    _ => b"",
  }
}

fn convert<T: FromRedisValue>(reply: Value) -> Result<T> {
  let value = reply.extract_error().map_err(|e| StoreError::from_redis(&e, true))?;
  T::from_redis_value(value).map_err(|e| StoreError::from_redis(&e.into(), true))
}
