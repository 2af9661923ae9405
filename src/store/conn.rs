//! One multiplexed connection shared by many calls, and how it comes back after an outage.
//!
//! - Nothing connects until the first call.
//! - While there is no connection, one background task reconnects with a backoff of 100 ms
//!   doubling to 1 s. A call that finds no connection wakes that task (attempts stay at least
//!   100 ms apart however many calls arrive) and waits for the attempt, at most the connect
//!   timeout, then fails with UNAVAILABLE. So calls fail fast during an outage, an idle store
//!   retries only once a second, and the first call after Redis is back succeeds.
//! - A call whose connection broke or timed out retires that connection (a stalled socket would
//!   otherwise keep timing out), and the task starts again. Commands are never re-sent here;
//!   the store decides what may be retried.
//! - `close()` is final: the connection is dropped and every later call fails with CLOSED.

use super::wire::{self, Connection, Endpoint};
use crate::error::{Code, Result, StoreError};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify};

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_millis(1000);

pub struct Connector {
  endpoint: Arc<Endpoint>,
  connect_timeout: Duration,
  address: String,
  state: Mutex<State>,
  /// Bumped after every connect attempt and on close, so waiting calls look again.
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
  pub fn new(address: &str, connect_timeout: Duration, endpoint: Arc<Endpoint>) -> Arc<Self> {
    Arc::new(Connector {
      endpoint,
      connect_timeout,
      address: address.to_string(),
      state: Mutex::new(State::default()),
      attempts: watch::channel(0).0,
      wake: Arc::new(Notify::new()),
    })
  }

  pub fn address(&self) -> &str {
    &self.address
  }

  /// The live connection, or a wait of at most the connect timeout for the next attempt.
  pub async fn lease(self: &Arc<Self>) -> Result<Lease> {
    if let Some(lease) = self.current()? {
      return Ok(lease);
    }
    // Subscribed before looking again, so an attempt that ends from here on is not missed.
    let mut attempts = self.attempts.subscribe();
    if let Some(lease) = self.current()? {
      return Ok(lease);
    }
    let wait = async {
      loop {
        if attempts.changed().await.is_err() {
          return;
        }
        let state = self.state.lock().unwrap();
        if state.live.is_some() || state.closed || !state.reconnecting || state.last_error.is_some() {
          return;
        }
      }
    };
    let _ = tokio::time::timeout(self.connect_timeout, wait).await;
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
    let why = state.last_error.as_deref().unwrap_or("connect timed out");
    StoreError::new(Code::Unavailable, format!("Redis at {} is unavailable: {why}", self.address))
  }

  /// Retires the lease's connection if it is still the live one.
  pub fn retire(&self, lease: &Lease) {
    let mut state = self.state.lock().unwrap();
    if state.live.as_ref().is_some_and(|l| l.generation == lease.generation) {
      state.live = None;
    }
  }

  pub fn close(&self) {
    let mut state = self.state.lock().unwrap();
    state.closed = true;
    state.live = None;
    drop(state);
    self.attempts.send_modify(|n| *n += 1);
    self.wake.notify_one();
  }

  pub fn is_closed(&self) -> bool {
    self.state.lock().unwrap().closed
  }
}

/// Connects with backoff until it succeeds, the store is closed, or the store is gone.
async fn reconnect(connector: Weak<Connector>, wake: Arc<Notify>) {
  let mut backoff = FIRST_BACKOFF;
  loop {
    let Some(this) = connector.upgrade() else {
      return;
    };
    let started = Instant::now();
    let attempt = tokio::time::timeout(this.connect_timeout, wire::connect(&this.endpoint)).await;
    let outcome = match attempt {
      Ok(Ok(conn)) => Ok(conn),
      Ok(Err(e)) => Err(connect_error_text(&e)),
      Err(_) => Err(format!("no answer within {} ms", this.connect_timeout.as_millis())),
    };
    {
      let mut state = this.state.lock().unwrap();
      if state.closed {
        state.reconnecting = false;
        return;
      }
      match outcome {
        Ok(conn) => {
          state.next_generation += 1;
          state.live = Some(Live {
            generation: state.next_generation,
            conn,
          });
          state.reconnecting = false;
          state.last_error = None;
        }
        Err(text) => state.last_error = Some(text),
      }
    }
    this.attempts.send_modify(|n| *n += 1);
    if !this.state.lock().unwrap().reconnecting {
      return;
    }
    drop(this);
    tokio::select! {
      _ = tokio::time::sleep(backoff) => {}
      _ = wake.notified() => tokio::time::sleep(FIRST_BACKOFF.saturating_sub(started.elapsed())).await,
    }
    backoff = (backoff * 2).min(MAX_BACKOFF);
  }
}

fn connect_error_text(e: &redis::RedisError) -> String {
  match e.kind() {
    redis::ErrorKind::AuthenticationFailed => "authentication failed (check username and password)".to_string(),
    _ => StoreError::from_redis(e, false).message,
  }
}
