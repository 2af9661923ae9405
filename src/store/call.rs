//! An operation of the API as data: the commands it sends, and what their replies mean. Every
//! pipelined operation is defined once as a [`Call`]; [`Store::execute`] runs many together (one
//! pipeline), and [`Store::execute_alone`] one alone in its batch; both judge replies the same way.

use super::{conn, Backend, Kind, Store};
use crate::error::{Result, StoreError};
use futures_util::future::{join_all, BoxFuture};
use redis::Value;
use smallvec::{smallvec, SmallVec};
use std::collections::HashMap;
use tokio::sync::oneshot;

/// Which call a failure belongs to: `index.update("runs", "r1"): …`.
pub(super) struct Origin {
  op: &'static str,
  target: String,
}

impl Origin {
  pub fn new(op: &'static str, parts: &[&str]) -> Origin {
    Origin { op, target: target(parts) }
  }

  /// Names the call in `e`'s message.
  pub fn fail(&self, e: StoreError) -> StoreError {
    e.context(self.op, &self.target)
  }

  /// An argument this call cannot accept.
  pub fn invalid(&self, why: impl Into<String>) -> StoreError {
    self.fail(StoreError::invalid(why))
  }

  /// This call as `cmds`, then `finish` on their replies (Redis refusals excluded: the first one
  /// fails the call).
  pub fn call(self, kind: Kind, cmds: Vec<redis::Cmd>, finish: impl FnOnce(Vec<Value>) -> Result<String> + Send + 'static) -> Call {
    self.finished_by(kind, Commands::from_vec(cmds), Finish::All(Box::new(finish)))
  }

  fn finished_by(self, kind: Kind, cmds: Commands, finish: Finish) -> Call {
    Call {
      origin: self,
      kind,
      cmds,
      finish,
      refine: |e| e,
      steps: None,
    }
  }

  /// This call as `steps`, one round trip after another: on a cluster, a write to the index
  /// entry whose metadata is at `entry`, with keys in different slots (see index.rs).
  pub fn steps(self, kind: Kind, entry: &str, steps: BoxFuture<'static, Result<String>>) -> Call {
    Call {
      steps: Some((entry.to_string(), steps)),
      ..self.call(kind, Vec::new(), |_| Ok(String::new()))
    }
  }

  /// This call as one command whose reply is the result.
  pub fn one(self, kind: Kind, cmd: redis::Cmd, finish: fn(Value) -> Result<String>) -> Call {
    self.finished_by(kind, smallvec![cmd], Finish::One(finish))
  }
}

/// `"key"` or `"key", "id"`, for error messages.
fn target(parts: &[&str]) -> String {
  // built for every call (it travels with the call in case it fails): one string, no temporaries
  use std::fmt::Write;
  let mut out = String::with_capacity(parts.iter().map(|p| p.len() + 4).sum());
  for (i, part) in parts.iter().enumerate() {
    if i > 0 {
      out.push_str(", ");
    }
    // as `{:?}` writes it; a key of printable ASCII needs no escape, and skips the formatter
    if part.bytes().all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\') {
      out.push('"');
      out.push_str(part);
      out.push('"');
    } else {
      let _ = write!(out, "{part:?}");
    }
  }
  out
}

/// A call's commands: mostly one, kept inline.
type Commands = SmallVec<[redis::Cmd; 1]>;

/// How a call's replies become its result, as JSON.
enum Finish {
  /// The reply of its one command (most calls: no closure to allocate).
  One(fn(Value) -> Result<String>),
  All(Box<dyn FnOnce(Vec<Value>) -> Result<String> + Send>),
}

/// A call's replies, in the order of its commands: mostly one, kept inline.
type Replies = SmallVec<[Value; 1]>;

impl Finish {
  fn run(self, mut replies: Replies) -> Result<String> {
    match self {
      Finish::One(finish) => finish(replies.swap_remove(0)),
      Finish::All(finish) => finish(replies.into_vec()),
    }
  }
}

/// One call of an operation: see the module docs.
pub(super) struct Call {
  origin: Origin,
  kind: Kind,
  cmds: Commands,
  finish: Finish,
  /// Turns a Redis refusal into the error callers should see.
  refine: fn(StoreError) -> StoreError,
  /// Instead of `cmds`, the entry written and the steps: see [`Origin::steps`].
  steps: Option<(String, BoxFuture<'static, Result<String>>)>,
}

impl Call {
  pub fn refining(self, refine: fn(StoreError) -> StoreError) -> Call {
    Call { refine, ..self }
  }

  fn fail(&self, e: StoreError) -> StoreError {
    self.origin.fail((self.refine)(e))
  }
}

/// What one pipeline made of a call.
enum Stepped {
  Done(Result<String>),
  /// None of its commands ran: Redis had forgotten a script it uses (SCRIPT FLUSH, a restart).
  Forgotten(Call),
}

impl Store {
  /// Runs `calls` as one pipeline (on the reads' connection only when all are reads); returns
  /// each call's result, in order. Calls made of steps run side by side, after the calls before
  /// them and before the calls after them, which must see all they wrote; those on one entry
  /// run one after the other.
  pub(super) async fn execute(&self, calls: Vec<Call>) -> Vec<Result<String>> {
    if calls.iter().all(|call| call.steps.is_none()) {
      return self.execute_commands(calls).await;
    }
    // This batch keeps its turn until its last step is on its way (the pipelines between the
    // steps would give it up).
    let _turn = match conn::wait_turn().await {
      Ok(()) => conn::take_ticket(),
      Err(()) => None,
    };
    let mut results = Vec::with_capacity(calls.len());
    let mut calls = calls.into_iter().peekable();
    while calls.peek().is_some() {
      let mut commands = Vec::new();
      while let Some(call) = calls.next_if(|call| call.steps.is_none()) {
        commands.push(call);
      }
      results.extend(self.execute_commands(commands).await);
      // each after the last one before it on the same entry
      let (mut side_by_side, mut last_on) = (Vec::new(), HashMap::new());
      while let Some(mut call) = calls.next_if(|call| call.steps.is_some()) {
        let (entry, steps) = call.steps.take().expect("a call in steps");
        let (done, finished) = oneshot::channel::<()>();
        let after = last_on.insert(entry, finished);
        side_by_side.push(async move {
          if let Some(after) = after {
            let _ = after.await;
          }
          let result = steps.await.map_err(|e| call.fail(e));
          let _ = done.send(());
          result
        });
      }
      results.extend(join_all(side_by_side).await);
    }
    results
  }

  /// Runs one call as [`Self::execute`] would run it alone, without the vectors of a pipeline
  /// (a call alone in its batch, as most are at a few thousand a second): one command goes as it
  /// is and its reply is judged alone.
  pub(super) async fn execute_alone(&self, mut call: Call) -> Result<String> {
    if call.steps.is_some() || call.cmds.len() != 1 {
      return self.execute(vec![call]).await.swap_remove(0);
    }
    let cmd = call.cmds.pop().expect("one command");
    let reply = self.send_one(call.kind, &cmd).await;
    match judge(call, reply.map(|reply| smallvec![reply]), || smallvec![cmd]) {
      Stepped::Done(result) => result,
      Stepped::Forgotten(call) => {
        let mut results = vec![Ok(String::new())];
        self.again_with_scripts(vec![(0, call)], &mut results).await;
        results.swap_remove(0)
      }
    }
  }

  /// Runs calls made of commands (see [`Self::execute`]). Calls refused for a script Redis
  /// forgot go again, together, behind a load of every script.
  async fn execute_commands(&self, calls: Vec<Call>) -> Vec<Result<String>> {
    let mut results = Vec::with_capacity(calls.len());
    let mut forgotten = Vec::new();
    for (i, stepped) in self.step(calls, false).await.into_iter().enumerate() {
      match stepped {
        Stepped::Done(result) => results.push(result),
        Stepped::Forgotten(call) => {
          results.push(Ok(String::new()));
          forgotten.push((i, call));
        }
      }
    }
    self.again_with_scripts(forgotten, &mut results).await;
    results
  }

  /// Sends `forgotten` (calls at their place in `results`) again behind a load of every script,
  /// until none is refused for a script Redis forgot.
  async fn again_with_scripts(&self, mut forgotten: Vec<(usize, Call)>, results: &mut [Result<String>]) {
    while !forgotten.is_empty() {
      let (places, calls): (Vec<usize>, Vec<Call>) = forgotten.drain(..).unzip();
      for (i, stepped) in places.into_iter().zip(self.step(calls, true).await) {
        match stepped {
          Stepped::Done(result) => results[i] = result,
          Stepped::Forgotten(call) => forgotten.push((i, call)),
        }
      }
    }
  }

  /// Sends the commands of `calls` as one pipeline, after a SCRIPT LOAD of every script when
  /// `load_scripts`, and reads each call's replies.
  async fn step(&self, mut calls: Vec<Call>, load_scripts: bool) -> Vec<Stepped> {
    if calls.is_empty() {
      return Vec::new();
    }
    let kind = if calls.iter().all(|c| c.kind == Kind::Read) {
      Kind::Read
    } else {
      Kind::Write
    };
    let mut pipe = redis::pipe();
    let mut skip = 0;
    if load_scripts {
      match &self.backend {
        Backend::Server { .. } => {
          let loads = crate::scripts::loads();
          skip = loads.len();
          for cmd in loads {
            pipe.add_command(cmd);
          }
        }
        // to every primary, where a pipeline would reach one node
        Backend::Cluster(cluster) => {
          // boxed, as in `send_each`
          if let Err(e) = Box::pin(cluster.load_scripts()).await {
            return calls.iter().map(|call| Stepped::Done(Err(call.fail(e.clone())))).collect();
          }
        }
      }
    }
    let mut counts = Vec::with_capacity(calls.len());
    for call in &mut calls {
      counts.push(call.cmds.len());
      for cmd in call.cmds.drain(..) {
        pipe.add_command(cmd);
      }
    }
    let mut replies = self.send_each(kind, &pipe).await.into_iter().skip(skip);
    let mut at = skip;
    calls
      .into_iter()
      .zip(counts)
      .map(|(call, count)| {
        let first = at;
        at += count;
        let values = replies.by_ref().take(count).collect::<Result<Replies>>();
        judge(call, values, || pipe.cmd_iter().skip(first).take(count).cloned().collect())
      })
      .collect()
  }
}

/// What its replies made of a call: its result, or, when Redis had forgotten a script it
/// uses, the call again with its commands (`sent`) to go behind a load of the scripts.
fn judge(mut call: Call, replies: Result<Replies>, sent: impl FnOnce() -> Commands) -> Stepped {
  let replies = match replies {
    Ok(replies) => replies,
    Err(e) => return Stepped::Done(Err(call.fail(e))),
  };
  if replies.iter().any(is_noscript) {
    call.cmds = sent();
    return Stepped::Forgotten(call);
  }
  let values = replies
    .into_iter()
    .map(Value::extract_error)
    .collect::<redis::RedisResult<Replies>>();
  Stepped::Done(match values {
    Ok(values) => call.finish.run(values).map_err(|e| call.origin.fail(e)),
    Err(e) => Err(call.fail(StoreError::from_redis(&e, true))),
  })
}

pub(super) fn is_noscript(reply: &Value) -> bool {
  matches!(reply, Value::ServerError(e) if e.code() == "NOSCRIPT")
}

#[cfg(test)]
mod tests {
  use super::target;

  #[test]
  fn targets_read_as_debug_formatting_writes_them() {
    for parts in [
      &["runs", "r1"][..],
      &["with \"quotes\""],
      &["back\\slash", "tab\there"],
      &["é", "\u{301}x"],
      &["a~ b"],
    ] {
      let expected = parts.iter().map(|p| format!("{p:?}")).collect::<Vec<_>>().join(", ");
      assert_eq!(target(parts), expected);
    }
  }
}
