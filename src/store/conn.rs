//! One multiplexed connection shared by many calls, and how it comes back after an outage.
//!
//! - Nothing connects until the first call.
//! - While there is no connection, one background task reconnects with a backoff of 100 ms
//!   doubling to 1 s (with jitter). A call that finds no connection wakes that task (attempts
//!   stay at least 100 ms apart however many calls arrive) and waits, within its deadline, for
//!   an attempt begun after it (one begun before may fail for a server that has since come
//!   back), then fails with UNAVAILABLE. So calls fail fast during an outage, an idle store
//!   retries only once a second, and the first call after Redis is back succeeds.
//! - A login the server refuses for good (wrong password, a user not allowed to log in, a db
//!   that does not exist) is tried again about once a second per store, whatever the number of
//!   calls; calls in between fail at once with UNAVAILABLE and the reason.
//! - A call whose connection broke or timed out retires that connection (a stalled socket would
//!   otherwise keep timing out), and so does a server answering READONLY, LOADING or MASTERDOWN
//!   (a failover). Commands are never re-sent here; the store decides what may be retried.
//! - A call that must follow the writes made before it takes a [`Ticket`] where it is made (on
//!   the JS thread): the writes' connection is handed out in ticket order, so its requests reach
//!   Redis in the order the calls were made, also across a reconnect. (Tokio does not start tasks
//!   in the order they were spawned, so the order is taken before they are.)
//! - `close()` is final: the connection is dropped and every later call fails with CLOSED.

use super::wire::{self, Connection, Endpoint};
use crate::error::{Code, Result, StoreError};
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_millis(1000);
/// The pause after a login the server refused for good.
const REFUSED_BACKOFF: Duration = Duration::from_millis(1000);

/// What the call being served carries through all its steps (see [`bounded`]).
struct Scope {
  /// When it must be answered by: queueing, connecting and every round trip of a multi-step
  /// call share one budget.
  deadline: Instant,
  /// Its place in the order of calls, until its first request is on its way.
  ticket: RefCell<Option<Ticket>>,
}

tokio::task_local! {
  static CALL: Scope;
}

/// Runs one call with `timeout` as its whole budget, counted from now, and its first request on
/// the writes' connection in the place of `ticket`.
pub fn bounded<T, F: std::future::Future<Output = Result<T>>>(
  timeout: Duration,
  ticket: Option<Ticket>,
  call: F,
) -> impl std::future::Future<Output = Result<T>> {
  let scope = Scope {
    deadline: Instant::now() + timeout,
    ticket: RefCell::new(ticket),
  };
  CALL.scope(scope, call)
}

/// The deadline of the call being served, or `timeout` from now outside of one.
pub fn deadline(timeout: Duration) -> Instant {
  CALL.try_with(|c| c.deadline).unwrap_or_else(|_| Instant::now() + timeout)
}

/// Waits until the ticket of the call being served (if it has one) comes up, within the call's
/// deadline; the ticket stays with the call (see [`release_ticket`]).
pub async fn wait_turn() -> std::result::Result<(), ()> {
  let Ok((deadline, Some(turn))) = CALL.try_with(|c| {
    let ticket = c.ticket.borrow();
    (c.deadline, ticket.as_ref().map(|t| (t.sequence.clone(), t.number)))
  }) else {
    return Ok(());
  };
  let (sequence, number) = turn;
  let mut served = sequence.served.subscribe();
  let turn = served.wait_for(|served| *served >= number);
  let reached = tokio::time::timeout_at(deadline, turn).await.is_ok();
  if reached {
    Ok(())
  } else {
    Err(())
  }
}

/// Takes the ticket of the call being served, if it has one: the calls after it wait until it
/// is dropped.
pub fn take_ticket() -> Option<Ticket> {
  CALL.try_with(|c| c.ticket.borrow_mut().take()).ok().flatten()
}

/// Lets the calls after this one go: all of its requests that must precede theirs are queued.
pub fn release_ticket() {
  drop(take_ticket());
}

/// The order in which calls were made, for the calls that must keep it.
#[derive(Default)]
pub struct Sequence {
  next: AtomicU64,
  /// Tickets below this one are done.
  served: watch::Sender<u64>,
  /// Done tickets above `served` (their calls ended before an earlier one's turn came).
  done: Mutex<BTreeSet<u64>>,
}

/// A call's place in a [`Sequence`]; it is done when dropped.
pub struct Ticket {
  sequence: Arc<Sequence>,
  number: u64,
}

impl Sequence {
  pub fn ticket(self: &Arc<Self>) -> Ticket {
    Ticket {
      sequence: self.clone(),
      number: self.next.fetch_add(1, Ordering::Relaxed),
    }
  }
}

impl Ticket {
  /// Whether every earlier ticket is done already (the usual case: a call then sets up no wait).
  fn is_due(&self) -> bool {
    *self.sequence.served.borrow() >= self.number
  }

  /// Waits until every earlier ticket is done.
  async fn turn(&self) {
    let mut served = self.sequence.served.subscribe();
    let _ = served.wait_for(|served| *served >= self.number).await;
  }
}

impl Drop for Ticket {
  fn drop(&mut self) {
    let mut done = self.sequence.done.lock().unwrap();
    self.sequence.served.send_if_modified(|served| {
      if *served != self.number {
        // an earlier ticket is not done yet: this one waits for it (the usual case, tickets
        // done in order, allocates no node of the set)
        done.insert(self.number);
        return false;
      }
      *served += 1;
      while done.remove(served) {
        *served += 1;
      }
      true
    });
  }
}

/// A random factor between 0.8 and 1.2, so that many stores do not retry in step.
fn jitter(d: Duration) -> Duration {
  let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
  d.mul_f64(0.8 + (random % 401) as f64 / 1000.0)
}

/// A login refused for good, shared by the connections of one store: until `until` no
/// connection of the store tries again, and calls fail at once with `why`.
#[derive(Default)]
pub struct Refusal(Mutex<Option<(Instant, String)>>);

impl Refusal {
  fn active(&self) -> Option<(Instant, String)> {
    self.0.lock().unwrap().clone().filter(|(until, _)| *until > Instant::now())
  }

  /// Claims the next attempt: false while another attempt is due later.
  fn claim(&self) -> std::result::Result<(), Instant> {
    let mut refusal = self.0.lock().unwrap();
    match refusal.as_mut() {
      Some((until, _)) if *until > Instant::now() => Err(*until),
      // the attempt that ends this refusal (or renews it) holds the next second
      Some((until, _)) => {
        *until = Instant::now() + jitter(REFUSED_BACKOFF);
        Ok(())
      }
      None => Ok(()),
    }
  }

  fn refuse(&self, why: String) {
    *self.0.lock().unwrap() = Some((Instant::now() + jitter(REFUSED_BACKOFF), why));
  }

  fn clear(&self) {
    *self.0.lock().unwrap() = None;
  }
}

pub struct Connector {
  endpoint: Arc<Endpoint>,
  /// Sent after each login (see [`wire::connect`]).
  preload: Vec<redis::Cmd>,
  connect_timeout: Duration,
  address: String,
  state: Mutex<State>,
  refusal: Arc<Refusal>,
  /// The order of the calls that must keep it (the writes' connection only).
  sequence: Option<Arc<Sequence>>,
  /// The number of the connect attempt that ended last (see `State::attempts_begun`); sent after
  /// every attempt and on close, so that waiting calls look again.
  attempts: watch::Sender<u64>,
  /// Cuts the reconnect backoff short when a call is waiting.
  wake: Arc<Notify>,
}

#[derive(Default)]
struct State {
  live: Option<Live>,
  reconnecting: bool,
  closed: bool,
  last_error: Option<String>,
  next_generation: u64,
  /// Connect attempts begun so far.
  attempts_begun: u64,
}

#[derive(Clone)]
struct Live {
  generation: u64,
  conn: Connection,
}

/// A connection handed to one call, with the generation to retire if it turns out broken.
pub struct Lease {
  pub conn: Connection,
  generation: u64,
}

impl Connector {
  pub fn new(
    address: &str,
    connect_timeout: Duration,
    endpoint: Arc<Endpoint>,
    refusal: Arc<Refusal>,
    preload: Vec<redis::Cmd>,
    sequence: Option<Arc<Sequence>>,
  ) -> Arc<Self> {
    Arc::new(Connector {
      endpoint,
      preload,
      connect_timeout,
      address: address.to_string(),
      state: Mutex::new(State::default()),
      refusal,
      sequence,
      attempts: watch::channel(0).0,
      wake: Arc::new(Notify::new()),
    })
  }

  pub fn address(&self) -> &str {
    &self.address
  }

  /// The live connection, or a wait (within the call's deadline and the connect timeout) for
  /// the next attempt; on a connection with a [`Sequence`], a call with a ticket first waits for
  /// its turn. The caller must send its request before it awaits anything else: the ticket is
  /// done when this returns, and on the runtime's one worker thread the next call runs only
  /// once this one waits.
  pub async fn lease(self: &Arc<Self>) -> Result<Lease> {
    let deadline = deadline(self.endpoint.command_timeout);
    let _ticket = match self.sequence {
      Some(_) => CALL.try_with(|c| c.ticket.borrow_mut().take()).ok().flatten(),
      None => None,
    };
    if let Some(ticket) = _ticket.as_ref().filter(|ticket| !ticket.is_due()) {
      if tokio::time::timeout_at(deadline, ticket.turn()).await.is_err() {
        return Err(self.unavailable());
      }
    }
    if let Some(lease) = self.current()? {
      return Ok(lease);
    }
    // Subscribed before looking again, so an attempt that ends from here on is not missed.
    let mut attempts = self.attempts.subscribe();
    let begun_before = self.state.lock().unwrap().attempts_begun;
    if let Some(lease) = self.current()? {
      return Ok(lease);
    }
    let wait = async {
      loop {
        if attempts.changed().await.is_err() {
          return;
        }
        let ended = *attempts.borrow_and_update();
        let state = self.state.lock().unwrap();
        if state.live.is_some() || state.closed || !state.reconnecting {
          return;
        }
        // an attempt begun before this call may fail for what was true then (the server was
        // stopped, and is back now): the call waits for one begun after it
        if state.last_error.is_some() && ended > begun_before {
          return;
        }
      }
    };
    let _ = tokio::time::timeout_at(deadline.min(Instant::now() + self.connect_timeout), wait).await;
    match self.current()? {
      Some(lease) => Ok(lease),
      None => Err(self.unavailable()),
    }
  }

  /// Checks the state; starts the reconnect task when there is no connection.
  fn current(self: &Arc<Self>) -> Result<Option<Lease>> {
    let mut state = self.state.lock().unwrap();
    if state.closed {
      return Err(StoreError::new(Code::Closed, "the store was closed"));
    }
    // a connection whose socket failed while idle is replaced before anyone uses it
    if state.live.as_ref().is_some_and(|live| live.conn.is_broken()) {
      state.live = None;
    }
    if let Some(live) = &state.live {
      return Ok(Some(Lease {
        conn: live.conn.clone(),
        generation: live.generation,
      }));
    }
    if let Some((_, why)) = self.refusal.active() {
      return Err(StoreError::new(
        Code::Unavailable,
        format!("Redis at {} is unavailable: {why}", self.address),
      ));
    }
    if state.reconnecting {
      self.wake.notify_one();
    } else {
      state.reconnecting = true;
      state.last_error = None;
      tokio::spawn(reconnect(Arc::downgrade(self), self.wake.clone()));
    }
    Ok(None)
  }

  fn unavailable(&self) -> StoreError {
    let state = self.state.lock().unwrap();
    if state.closed {
      return StoreError::new(Code::Closed, "the store was closed");
    }
    let why = state.last_error.as_deref().unwrap_or("no connection within the call's time");
    StoreError::new(Code::Unavailable, format!("Redis at {} is unavailable: {why}", self.address))
  }

  /// Retires the lease's connection if it is still the live one.
  pub fn retire(&self, lease: &Lease) {
    let mut state = self.state.lock().unwrap();
    if state.live.as_ref().is_some_and(|l| l.generation == lease.generation) {
      state.live = None;
    }
  }

  /// Retires whatever connection is live (the server it reached stopped being the primary).
  pub fn retire_any(&self) {
    self.state.lock().unwrap().live = None;
  }

  pub fn close(&self) {
    let mut state = self.state.lock().unwrap();
    state.closed = true;
    state.live = None;
    drop(state);
    self.attempts.send_modify(|_| {});
    self.wake.notify_one();
  }

  pub fn is_closed(&self) -> bool {
    self.state.lock().unwrap().closed
  }
}

/// Reconnection tasks running, in this process.
static RECONNECTING: AtomicUsize = AtomicUsize::new(0);

/// Whether a connection is being re-established somewhere in this process: its attempts and
/// backoff run on timers, which a runtime turned from outside (src/node_loop.rs) must then turn
/// on time, or an attempt's timeout would be noticed late, as if the attempt after it had failed.
pub fn reconnecting() -> bool {
  RECONNECTING.load(Ordering::Relaxed) > 0
}

/// Counts a reconnection task while it runs.
struct Reconnecting;

impl Reconnecting {
  fn start() -> Reconnecting {
    RECONNECTING.fetch_add(1, Ordering::Relaxed);
    Reconnecting
  }
}

impl Drop for Reconnecting {
  fn drop(&mut self) {
    RECONNECTING.fetch_sub(1, Ordering::Relaxed);
  }
}

/// Connects with backoff until it succeeds, the store is closed, or the store is gone.
async fn reconnect(connector: Weak<Connector>, wake: Arc<Notify>) {
  let _running = Reconnecting::start();
  let mut backoff = FIRST_BACKOFF;
  loop {
    let Some(this) = connector.upgrade() else {
      return;
    };
    // another connection of the store is trying, or was refused a moment ago: wait for it
    if let Err(until) = this.refusal.claim() {
      drop(this);
      tokio::select! {
        _ = tokio::time::sleep_until(until) => {}
        _ = wake.notified() => {}
      }
      continue;
    }
    let started = Instant::now();
    let number = {
      let mut state = this.state.lock().unwrap();
      state.attempts_begun += 1;
      state.attempts_begun
    };
    let attempt = tokio::time::timeout(this.connect_timeout, wire::connect(&this.endpoint, &this.preload)).await;
    let outcome = match attempt {
      Ok(Ok(conn)) => Ok(conn),
      Ok(Err(e)) => Err(e),
      Err(_) => Err(wire::LoginError {
        message: format!("no answer within {} ms", this.connect_timeout.as_millis()),
        permanent: false,
      }),
    };
    {
      let mut state = this.state.lock().unwrap();
      if state.closed {
        state.reconnecting = false;
        return;
      }
      match outcome {
        Ok(conn) => {
          this.refusal.clear();
          state.next_generation += 1;
          state.live = Some(Live {
            generation: state.next_generation,
            conn,
          });
          state.reconnecting = false;
          state.last_error = None;
        }
        Err(e) => {
          if e.permanent {
            this.refusal.refuse(e.message.clone());
          }
          state.last_error = Some(e.message);
        }
      }
    }
    this.attempts.send_modify(|ended| *ended = number);
    if !this.state.lock().unwrap().reconnecting {
      return;
    }
    drop(this);
    tokio::select! {
      _ = tokio::time::sleep(jitter(backoff)) => {}
      _ = wake.notified() => tokio::time::sleep(FIRST_BACKOFF.saturating_sub(started.elapsed())).await,
    }
    backoff = (backoff * 2).min(MAX_BACKOFF);
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[tokio::test]
  async fn tickets_get_their_turn_in_the_order_they_were_taken() {
    let sequence = Arc::new(Sequence::default());
    let tickets: Vec<Ticket> = (0..5).map(|_| sequence.ticket()).collect();
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    // started last first, and ticket 2 given up without its turn
    for ticket in tickets.into_iter().rev() {
      let order = order.clone();
      if ticket.number == 2 {
        tasks.push(tokio::spawn(async move { drop(ticket) }));
        continue;
      }
      tasks.push(tokio::spawn(async move {
        ticket.turn().await;
        order.lock().unwrap().push(ticket.number);
      }));
    }
    for task in tasks {
      task.await.unwrap();
    }
    assert_eq!(*order.lock().unwrap(), vec![0, 1, 3, 4]);
    assert_eq!(*sequence.served.borrow(), 5);
  }
}
