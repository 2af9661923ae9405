//! The store: the stream, index and kv tiers over Redis connections. No napi in here.
//!
//! Values cross in and out as JSON text, so the JS side can use the engine's own
//! `JSON.stringify`/`JSON.parse`, and this side never walks JS objects.

mod args;
mod batch;
mod call;
mod cluster;
pub mod config;
pub mod conn;
mod index;
mod index_read;
mod kv;
mod reply;
mod resp;
mod send;
pub mod sentinel;
mod stream;
mod wire;

use crate::error::{Code, Result, StoreError};
use conn::Connector;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use wire::Connection;

/// A Redis-backed nvent store. Cheap to share: clone the `Arc`.
///
/// Writes and reads travel on two multiplexed connections (per node, on a cluster), each opened
/// on first use. Redis runs one connection's commands in order, so while it pauses writes (as
/// during a failover) a read queued behind a write would wait too; on its own connection it
/// keeps answering. A read that must see a write still in flight goes on the writes' connection
/// instead (see [`Store::ordered`]).
#[derive(Clone)]
pub struct Store {
  backend: Backend,
  trim: Option<Trim>,
  command_timeout: std::time::Duration,
  /// Reads go on the writes' connection (see [`Store::ordered`]).
  ordered: bool,
  /// The order of the calls on the writes' connection.
  sequence: Arc<conn::Sequence>,
  /// With Sentinel: where the primary is, and whether the watch for failovers runs (the
  /// first call starts it).
  sentinels: Option<Arc<sentinel::Sentinels>>,
  watching: Arc<AtomicBool>,
}

#[derive(Clone)]
enum Backend {
  /// One server, or the primary that Sentinel names.
  Server { writes: Arc<Connector>, reads: Arc<Connector> },
  /// A Redis Cluster, routed by the `redis` crate.
  Cluster(Arc<cluster::Cluster>),
}

#[derive(Clone, Copy)]
struct Trim {
  max_len: u64,
  approx: bool,
}

/// Whether a failed command may simply be sent again.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
  /// Reads have no effect, so one that lost its connection is retried once.
  Read,
  /// Writes are never re-sent: a lost reply means the outcome is UNCERTAIN.
  Write,
}

impl Store {
  /// Checks the options and prepares the client; does no I/O.
  pub fn new(options: &config::Options) -> Result<Store> {
    let trim = Some(options.trim_max_len.unwrap_or(config::DEFAULT_TRIM_MAX_LEN))
      .filter(|n| *n > 0)
      .map(|max_len| Trim {
        max_len,
        approx: options.trim_approx.unwrap_or(true),
      });
    let sequence = Arc::new(conn::Sequence::default());
    let store = |backend, command_timeout, sentinels| Store {
      backend,
      sequence: sequence.clone(),
      sentinels,
      watching: Arc::new(AtomicBool::new(false)),
      trim,
      command_timeout,
      ordered: false,
    };
    if let Some(seeds) = &options.cluster {
      let settings = options.build_cluster()?;
      let command_timeout = settings.command_timeout;
      return Ok(store(
        Backend::Cluster(Arc::new(cluster::Cluster::new(seeds, settings)?)),
        command_timeout,
        None,
      ));
    }
    let setup = options.build()?;
    let command_timeout = setup.endpoint.command_timeout;
    let sentinels = setup.endpoint.sentinels.clone();
    let endpoint = Arc::new(setup.endpoint);
    let refusal = Arc::new(conn::Refusal::default());
    let backend = Backend::Server {
      // only writes run scripts
      writes: Connector::new(
        &setup.address,
        setup.connect_timeout,
        endpoint.clone(),
        refusal.clone(),
        crate::scripts::loads(),
        Some(sequence.clone()),
      ),
      reads: Connector::new(&setup.address, setup.connect_timeout, endpoint, refusal, Vec::new(), None),
    };
    Ok(store(backend, command_timeout, sentinels))
  }

  /// This store with its reads on the writes' connection, behind the writes made before them
  /// (Redis answers one connection's commands in order).
  pub fn ordered(&self) -> Store {
    Store {
      ordered: true,
      ..self.clone()
    }
  }

  /// A place in the order of the calls on the writes' connection, taken when a call is made
  /// (see [`Store::bounded`]).
  pub fn ticket(&self) -> conn::Ticket {
    self.sequence.ticket()
  }

  /// Runs one call of the API within the command timeout, all its steps included; with a
  /// ticket, its first request on the writes' connection goes after those of every call that
  /// took a ticket before it.
  pub fn bounded<T>(&self, ticket: Option<conn::Ticket>, call: impl Future<Output = Result<T>>) -> impl Future<Output = Result<T>> {
    conn::bounded(self.command_timeout, ticket, call)
  }

  /// Drops the connections; every later call fails with CLOSED. Closing twice is harmless.
  pub fn close(&self) {
    match &self.backend {
      Backend::Server { writes, reads } => {
        writes.close();
        reads.close();
      }
      Backend::Cluster(cluster) => cluster.close(),
    }
  }

  /// `host:port` of the server, or with Sentinel the primary's name and the sentinels (never the
  /// credentials).
  pub fn address(&self) -> &str {
    match &self.backend {
      Backend::Server { writes, .. } => writes.address(),
      Backend::Cluster(cluster) => cluster.address(),
    }
  }

  /// Starts the watch for `+switch-master` (once per store): a switch retires both connections,
  /// and the next call asks the sentinels where the primary is now.
  fn watch_failovers(&self, writes: &Arc<Connector>, reads: &Arc<Connector>) {
    let Some(sentinels) = self.sentinels.clone() else { return };
    if self.watching.swap(true, Ordering::AcqRel) {
      return;
    }
    let (writes, reads) = (Arc::downgrade(writes), Arc::downgrade(reads));
    tokio::spawn(async move {
      let wanted = || writes.upgrade().is_some_and(|c| !c.is_closed());
      let switched = || {
        for connector in [&writes, &reads] {
          if let Some(connector) = connector.upgrade() {
            connector.retire_any();
          }
        }
      };
      sentinels.watch(wanted, switched).await;
    });
  }

  /// Runs `command` on the server connection for its kind and classifies its failure.
  async fn run<T, F, Fut>(&self, writes: &Arc<Connector>, reads: &Arc<Connector>, kind: Kind, command: F) -> Result<T>
  where
    F: Fn(Connection) -> Fut,
    Fut: Future<Output = Result<T>>,
  {
    if self.sentinels.is_some() && !self.watching.load(Ordering::Relaxed) {
      self.watch_failovers(writes, reads);
    }
    let (conn, mut retries) = match kind {
      Kind::Read if !self.ordered => (reads, 1),
      Kind::Read => (writes, 1),
      Kind::Write => (writes, 0),
    };
    loop {
      let lease = conn.lease().await?;
      let outcome = command(lease.conn.clone()).await;
      if lease.conn.is_stale() {
        // the server stopped being a primary (READONLY …): both connections find the new one
        writes.retire_any();
        reads.retire_any();
      }
      let failure = match outcome {
        Ok(value) => return Ok(value),
        Err(e) => e,
      };
      if matches!(failure.code, Code::Timeout | Code::Uncertain | Code::Unavailable) {
        conn.retire(&lease);
      }
      match (kind, failure.code) {
        (Kind::Read, Code::Uncertain | Code::Unavailable) if retries > 0 => retries -= 1,
        (Kind::Read, Code::Uncertain) => {
          return Err(StoreError {
            code: Code::Unavailable,
            ..failure
          })
        }
        _ => return Err(failure),
      }
    }
  }
}
