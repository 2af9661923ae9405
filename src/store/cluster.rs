//! Redis Cluster. The `redis` crate's cluster connection does the routing: slots, `MOVED` and
//! `ASK`, `TRYAGAIN`, and learning the topology again after a failover or a resharding. Each node
//! it talks to is reached with this addon's own connection ([`Node`]: a [`Connector`], with its
//! login, TLS, deadlines, reconnects and backpressure), so a cluster behaves like one server in
//! everything but routing.
//!
//! What this module adds is what the crate leaves to its users:
//! - A write is never sent twice. The crate sends a request again only on answers that say it
//!   did not run (`MOVED`, `ASK`, `TRYAGAIN`, `CLUSTERDOWN`, `READONLY`, `LOADING`) and on errors
//!   [`Node`] reports as "not sent"; a request that may have run fails with its code (UNCERTAIN,
//!   TIMEOUT), which the crate passes on untouched.
//! - Calls that must keep their order hand their commands to the crate in ticket order (see
//!   [`Cluster::submit`]); the crate forwards one node's requests in the order it got them.
//! - Like a single server, reads and writes travel on two connections to each node, so reads
//!   keep answering while a node pauses writes.
//! - A store has at most [`IN_FLIGHT`] requests of many-command calls in the crate's hands (see
//!   [`Cluster::admit`]): with tens of thousands the crate's connection slowed down far more than
//!   in proportion, and wide reads timed out that would have finished one after another.

use super::conn::{self, Connector, Refusal};
use super::wire::{Endpoint, Request, Tls};
use crate::error::{Code, Result, StoreError};
use futures_util::future::{join_all, BoxFuture, FutureExt};
use redis::aio::ConnectionLike;
use redis::cluster::ClusterClient;
use redis::cluster_async::{ClusterConnection, Connect};
use redis::cluster_routing::{MultipleNodeRoutingInfo, ResponsePolicy, Route, RoutingInfo, SingleNodeRoutingInfo, Slot, SlotAddr};
use redis::{AsyncConnectionConfig, Cmd, ConnectionAddr, ErrorKind, IntoConnectionInfo, RedisError, RedisFuture, Value};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, RwLock, Weak};
use std::time::Duration;
use tokio::time::Instant;

/// How to log in to every node of one store's cluster.
pub struct NodeSettings {
  pub tls: Option<Tls>,
  pub username: Option<String>,
  pub password: Option<String>,
  pub connect_timeout: Duration,
  pub command_timeout: Duration,
  /// A login refused for good pauses the store's logins to every node (they share the users).
  pub refusal: Arc<Refusal>,
}

/// The settings of each live store's cluster, by key. The crate opens a node's connection with a
/// static function ([`Connect::connect_with_config`]) that gets only what the crate puts in a
/// `ConnectionInfo`; of that, the password is the one field it passes on as given. So the crate
/// is given this key as the password, and [`Node`] looks up the real settings with it.
static SETTINGS: LazyLock<Mutex<HashMap<String, Weak<NodeSettings>>>> = LazyLock::new(Default::default);

/// Removes a store's settings from [`SETTINGS`] when the store is gone.
struct Registered {
  key: String,
  _settings: Arc<NodeSettings>,
}

impl Registered {
  fn new(settings: NodeSettings) -> Registered {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let key = format!("nvent-cluster-store-{}", NEXT.fetch_add(1, Ordering::Relaxed));
    let settings = Arc::new(settings);
    SETTINGS.lock().unwrap().insert(key.clone(), Arc::downgrade(&settings));
    Registered { key, _settings: settings }
  }
}

impl Drop for Registered {
  fn drop(&mut self) {
    SETTINGS.lock().unwrap().remove(&self.key);
  }
}

/// One node, as the crate's cluster connection uses it.
#[derive(Clone)]
pub struct Node {
  connector: Arc<Connector>,
  command_timeout: Duration,
}

impl Connect for Node {
  fn connect_with_config<'a, T>(info: T, _: AsyncConnectionConfig) -> RedisFuture<'a, Self>
  where
    T: IntoConnectionInfo + Send + 'a,
  {
    async move {
      let info = info.into_connection_info()?;
      let (host, port) = match info.addr() {
        ConnectionAddr::Tcp(host, port) => (host.clone(), *port),
        _ => {
          return Err(RedisError::from((
            ErrorKind::InvalidClientConfig,
            "only TCP cluster nodes are supported",
          )))
        }
      };
      let key = info.redis_settings().password().unwrap_or_default();
      let settings = SETTINGS.lock().unwrap().get(key).and_then(Weak::upgrade);
      let Some(settings) = settings else {
        return Err(RedisError::from((ErrorKind::Client, "the store was closed")));
      };
      let address = format!("{host}:{port}");
      let endpoint = Endpoint {
        host,
        port,
        socket: None,
        tls: settings.tls.clone(),
        username: settings.username.clone(),
        password: settings.password.clone(),
        db: 0,
        command_timeout: settings.command_timeout,
        sentinels: None,
        primary_only: false,
      };
      let connector = Connector::new(
        &address,
        settings.connect_timeout,
        Arc::new(endpoint),
        settings.refusal.clone(),
        crate::scripts::loads(),
        None,
      );
      // the crate counts a node it cannot reach as down, and looks for its slots elsewhere
      let within = conn::bounded(settings.connect_timeout, None, connector.lease());
      within.await.map_err(to_redis)?;
      Ok(Node {
        connector,
        command_timeout: settings.command_timeout,
      })
    }
    .boxed()
  }
}

impl Node {
  async fn send(&self, request: std::result::Result<Request, super::wire::Error>) -> redis::RedisResult<Vec<Value>> {
    let request = request.map_err(|e| to_redis(e.into()))?;
    let lease = self.connector.lease().await.map_err(to_redis)?;
    let outcome = lease.conn.send(request, conn::deadline(self.command_timeout)).await;
    if lease.conn.is_stale() {
      self.connector.retire(&lease);
    }
    match outcome {
      Ok(replies) => Ok(replies.values()),
      Err(e) => {
        self.connector.retire(&lease);
        Err(to_redis(e.into()))
      }
    }
  }
}

impl ConnectionLike for Node {
  fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
    async move { Ok(self.send(Ok(Request::command(cmd))).await?.pop().unwrap_or(Value::Nil)) }.boxed()
  }

  fn req_packed_commands<'a>(&'a mut self, pipeline: &'a redis::Pipeline, offset: usize, count: usize) -> RedisFuture<'a, Vec<Value>> {
    async move {
      Ok(
        self
          .send(Request::pipeline(pipeline))
          .await?
          .into_iter()
          .skip(offset)
          .take(count)
          .collect(),
      )
    }
    .boxed()
  }

  fn get_db(&self) -> i64 {
    0
  }
}

/// A store error as the crate sees it. "Not sent" is an I/O error, which the crate may try
/// again (on a new connection, or on another node after it learns the topology again); every
/// other failure is a client error, which it passes on as it is, code included.
fn to_redis(e: StoreError) -> RedisError {
  match e.code {
    Code::Unavailable => RedisError::from(std::io::Error::new(std::io::ErrorKind::NotConnected, e.message)),
    code => RedisError::from((ErrorKind::Client, "store error", format!("{} {}", code.as_str(), e.message))),
  }
}

/// The crate's error as a store error: ours come back with their code; the rest are classified
/// as for a single server (a request the crate gave up on was never sent, or it would have come
/// back as one of ours).
fn from_redis(e: RedisError) -> StoreError {
  // the crate stopped following redirects or waiting for the slot: it never ran here
  if let Some(code @ ("MOVED" | "ASK" | "TRYAGAIN" | "CLUSTERDOWN")) = e.code() {
    return StoreError::new(
      Code::Unavailable,
      format!("the cluster answered {code} until the call's time ran out (a failover or a slot migration is under way); not applied"),
    );
  }
  if e.kind() == ErrorKind::Client {
    if let Some((code, message)) = e.detail().and_then(|d| d.split_once(' ')) {
      if let Some(code) = Code::parse(code) {
        return StoreError::new(code, message);
      }
    }
  }
  StoreError::from_redis(&e, false)
}

/// A request handed to the cluster connection, its reply still to come.
pub type Pending<T = Value> = Pin<Box<dyn Future<Output = Result<T>> + Send>>;

/// Requests one call hands to the crate before it waits for their replies (and asks for room for
/// more, see [`Cluster::admit`]).
const AT_ONCE: usize = 128;

pub struct Cluster {
  client: ClusterClient,
  /// The connections for writes (and reads that must follow them) and for other reads, once made.
  connections: RwLock<Option<[ClusterConnection<Node>; 2]>>,
  connecting: tokio::sync::Mutex<()>,
  /// When the last attempt to reach the cluster failed, and why.
  last_failure: Mutex<Option<(Instant, String)>>,
  connect_timeout: Duration,
  command_timeout: Duration,
  closed: AtomicBool,
  _settings: Registered,
  /// `host:port` of the nodes given, for messages.
  address: String,
  /// Bounds the requests of many-command calls in flight (see [`Self::admit`]).
  in_flight: Arc<tokio::sync::Semaphore>,
}

/// How long after a failed attempt to reach the cluster the next one may start.
const RETRY_AFTER: Duration = Duration::from_millis(250);

/// Requests of many-command calls one store has in the crate's hands at once.
const IN_FLIGHT: usize = 1024;

impl Cluster {
  pub fn new(seeds: &[(String, u16)], settings: NodeSettings) -> Result<Cluster> {
    let (connect_timeout, command_timeout) = (settings.connect_timeout, settings.command_timeout);
    let settings = Registered::new(settings);
    let client = redis::cluster::ClusterClientBuilder::new(seeds.iter().map(|(host, port)| ConnectionAddr::Tcp(host.clone(), *port)))
      .password(settings.key.clone())
      .connection_timeout(connect_timeout)
      // requests are bounded by each call's deadline; this only keeps the crate from waiting longer
      .response_timeout(command_timeout)
      // the crate's default waits at least 1.28 s before it tries again after TRYAGAIN or a
      // refused connection; a failover or a slot migration is usually over sooner
      .min_retry_wait(10)
      .max_retry_wait(250)
      .retry_wait_formula(10, 2)
      .build()
      .map_err(|e| StoreError::invalid(format!("connection.cluster: {e}")))?;
    let address = seeds
      .iter()
      .map(|(host, port)| format!("{host}:{port}"))
      .collect::<Vec<_>>()
      .join(", ");
    Ok(Cluster {
      client,
      connections: RwLock::new(None),
      connecting: tokio::sync::Mutex::new(()),
      last_failure: Mutex::new(None),
      connect_timeout,
      command_timeout,
      closed: AtomicBool::new(false),
      _settings: settings,
      address: format!("the cluster at {address}"),
      in_flight: Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT)),
    })
  }

  pub fn address(&self) -> &str {
    &self.address
  }

  pub fn close(&self) {
    self.closed.store(true, Ordering::Release);
    // the crate's tasks and the nodes' connections end with the last handle
    *self.connections.write().unwrap() = None;
  }

  pub fn is_closed(&self) -> bool {
    self.closed.load(Ordering::Acquire)
  }

  /// The connection for writes (`ordered`) or for reads; made on first use, and tried again by
  /// the next call when the nodes given could not be reached.
  async fn connection(&self, ordered: bool) -> Result<ClusterConnection<Node>> {
    let pick = |c: &Option<[ClusterConnection<Node>; 2]>| c.as_ref().map(|c| c[usize::from(!ordered)].clone());
    if self.is_closed() {
      return Err(StoreError::new(Code::Closed, "the store was closed"));
    }
    if let Some(c) = pick(&self.connections.read().unwrap()) {
      return Ok(c);
    }
    let deadline = conn::deadline(self.connect_timeout).min(Instant::now() + self.connect_timeout);
    let unavailable = |why: String| StoreError::new(Code::Unavailable, format!("Redis at {} is unavailable: {why}", self.address));
    let _connecting = tokio::time::timeout_at(deadline, self.connecting.lock())
      .await
      .map_err(|_| unavailable("no connection within the call's time".into()))?;
    if let Some(c) = pick(&self.connections.read().unwrap()) {
      return Ok(c);
    }
    // during an outage, calls fail at once with the last attempt's reason rather than each
    // making an attempt of its own
    if let Some((at, why)) = self.last_failure.lock().unwrap().clone() {
      if at.elapsed() < RETRY_AFTER {
        return Err(unavailable(why));
      }
    }
    let both = async {
      let (writes, reads) = futures_util::future::try_join(
        self.client.get_async_generic_connection::<Node>(),
        self.client.get_async_generic_connection::<Node>(),
      )
      .await?;
      Ok::<_, RedisError>([writes, reads])
    };
    let made = match tokio::time::timeout_at(deadline, both).await {
      Ok(Ok(made)) => made,
      outcome => {
        let why = match outcome {
          Ok(Err(e)) => from_redis(e).message,
          _ => "no connection within the call's time".to_string(),
        };
        *self.last_failure.lock().unwrap() = Some((Instant::now(), why.clone()));
        return Err(unavailable(why));
      }
    };
    *self.last_failure.lock().unwrap() = None;
    if self.is_closed() {
      return Err(StoreError::new(Code::Closed, "the store was closed"));
    }
    let mut connections = self.connections.write().unwrap();
    if connections.is_none() {
      *connections = Some(made);
    }
    Ok(pick(&connections).expect("just made"))
  }

  /// Hands `cmd` to the cluster connection, routed by its key, and returns its reply to come. An
  /// `ordered` call first waits for its turn (see [`conn::Ticket`]), and the command is in the
  /// crate's queue when this returns, so what the same call hands over next goes after it.
  pub async fn submit(&self, cmd: Cmd, ordered: bool) -> Pending {
    let routing = None;
    self.submit_to(cmd, routing, ordered).await
  }

  /// Like [`Self::submit`], to the node at `host:port`.
  pub async fn submit_at(&self, cmd: Cmd, host: &str, port: u16) -> Pending {
    let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
      host: host.to_string(),
      port,
    });
    self.submit_to(cmd, Some(routing), false).await
  }

  async fn submit_to(&self, cmd: Cmd, routing: Option<RoutingInfo>, ordered: bool) -> Pending {
    self
      .hand_over(ordered, move |mut connection| {
        async move {
          match routing {
            Some(routing) => connection.route_command(cmd, routing).await,
            None => connection.req_packed_command(&cmd).await,
          }
        }
        .boxed()
      })
      .await
  }

  /// Like [`Self::submit`] for reads of keys in one slot, as one pipeline to its node.
  pub async fn submit_reads(
    &self,
    pipe: redis::Pipeline,
    slot: Slot,
    ordered: bool,
  ) -> Pin<Box<dyn Future<Output = Result<Vec<Value>>> + Send>> {
    let route = SingleNodeRoutingInfo::SpecificNode(Route::with_slot(slot, SlotAddr::Master));
    let count = pipe.len();
    let request =
      move |mut connection: ClusterConnection<Node>| async move { connection.route_pipeline(pipe, 0, count, route).await }.boxed();
    self.hand_over(ordered, request).await
  }

  /// Hands `request` to the cluster connection (after the call's turn, when `ordered`) and
  /// returns its reply to come, within the call's deadline.
  async fn hand_over<T: Send + 'static>(
    &self,
    ordered: bool,
    request: impl FnOnce(ClusterConnection<Node>) -> BoxFuture<'static, redis::RedisResult<T>>,
  ) -> Pending<T> {
    if ordered && conn::wait_turn().await.is_err() {
      return Box::pin(std::future::ready(Err(self.no_turn())));
    }
    let connection = match self.connection(ordered).await {
      Ok(c) => c,
      Err(e) => return Box::pin(std::future::ready(Err(e))),
    };
    let deadline = conn::deadline(self.command_timeout);
    let mut reply = request(connection);
    // Polled once here: the crate's queue then holds the request (a full queue takes its
    // senders first come, first served), whatever this call does next.
    let first = std::future::poll_fn(|cx| std::task::Poll::Ready(reply.as_mut().poll(cx))).await;
    Box::pin(async move {
      let outcome = match first {
        std::task::Poll::Ready(outcome) => outcome,
        std::task::Poll::Pending => match tokio::time::timeout_at(deadline, reply).await {
          Ok(outcome) => outcome,
          // dropped unsent, the request is not sent later (the crate skips a request whose caller is gone)
          Err(_) => {
            return Err(StoreError::new(
              Code::Timeout,
              "Redis did not answer within the command timeout; the command may have been applied",
            ))
          }
        },
      };
      outcome.map_err(from_redis)
    })
  }

  /// The failure of a call whose turn did not come within its time.
  fn no_turn(&self) -> StoreError {
    StoreError::new(
      Code::Unavailable,
      format!("Redis at {} is unavailable: no turn within the call's time", self.address),
    )
  }

  /// Hands `requests` over (each with `submit`) in chunks of [`AT_ONCE`], each chunk once there
  /// is room for it (see [`Self::admit`]), and returns their replies in order. An `ordered` call
  /// first waits for its turn (a call waiting for its turn must hold no room the calls before it
  /// need), and lets the calls after it go once its last request is handed over.
  pub async fn hand_over_all<R, T, F, Fut>(&self, ordered: bool, requests: &[R], mut submit: F) -> Vec<Result<T>>
  where
    F: FnMut(&R) -> Fut,
    Fut: Future<Output = Pending<T>>,
  {
    if ordered && conn::wait_turn().await.is_err() {
      return requests.iter().map(|_| Err(self.no_turn())).collect();
    }
    let mut replies = Vec::with_capacity(requests.len());
    for chunk in requests.chunks(AT_ONCE) {
      let _room = match self.admit(chunk.len()).await {
        Ok(room) => room,
        Err(e) => {
          replies.extend(chunk.iter().map(|_| Err(e.clone())));
          continue;
        }
      };
      let mut pending = Vec::with_capacity(chunk.len());
      for request in chunk {
        pending.push(submit(request).await);
      }
      if replies.len() + chunk.len() == requests.len() {
        conn::release_ticket();
      }
      replies.extend(join_all(pending).await);
    }
    replies
  }

  /// Room for `n` more requests of a call (first come, first served, within the call's
  /// deadline): with tens of thousands in flight the crate's cluster connection spends most of
  /// its time going over them, and calls time out that would have finished one after another.
  async fn admit(&self, n: usize) -> Result<tokio::sync::OwnedSemaphorePermit> {
    let n = n.min(IN_FLIGHT) as u32;
    let deadline = conn::deadline(self.command_timeout);
    match tokio::time::timeout_at(deadline, self.in_flight.clone().acquire_many_owned(n)).await {
      Ok(Ok(permit)) => Ok(permit),
      _ => Err(StoreError::new(
        Code::Unavailable,
        format!(
          "Redis at {} is unavailable: too many requests waiting for the call's time",
          self.address
        ),
      )),
    }
  }

  /// `host:port` of every primary that serves slots, as the cluster reports them now.
  pub async fn primaries(&self) -> Result<Vec<(String, u16)>> {
    let reply = self.submit(redis::cmd("CLUSTER").arg("NODES").clone(), false).await.await?;
    let text = match reply.extract_error() {
      Ok(Value::BulkString(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
      Ok(Value::VerbatimString { text, .. }) => text,
      Ok(_) => return Err(StoreError::new(Code::Redis, "CLUSTER NODES answered with an unexpected reply")),
      Err(e) => return Err(StoreError::from_redis(&e, true)),
    };
    Ok(primaries(&text))
  }

  /// SCRIPT LOAD of every script on every primary (after one of them forgot them).
  pub async fn load_scripts(&self) -> Result<()> {
    for load in crate::scripts::loads() {
      let mut connection = self.connection(true).await?;
      let routing = RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, Some(ResponsePolicy::AllSucceeded)));
      connection.route_command(load, routing).await.map_err(from_redis)?;
    }
    Ok(())
  }
}

/// The primaries serving slots in a `CLUSTER NODES` reply: `<id> <ip:port@cport[,host]> <flags>
/// <primary> <ping> <pong> <epoch> <link> <slot>…`.
fn primaries(nodes: &str) -> Vec<(String, u16)> {
  nodes
    .lines()
    .filter_map(|line| {
      let fields: Vec<&str> = line.split_whitespace().collect();
      let flags = fields.get(2)?;
      let serving = fields.len() > 8 && flags.split(',').any(|f| f == "master") && !flags.split(',').any(|f| f == "fail" || f == "noaddr");
      if !serving {
        return None;
      }
      let address = fields[1].split(['@', ',']).next()?;
      let (host, port) = address.rsplit_once(':')?;
      Some((host.trim_matches(['[', ']']).to_string(), port.parse().ok()?))
    })
    .collect()
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn primaries_are_the_masters_that_serve_slots() {
    let nodes = "\
a1 127.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-5460
b2 127.0.0.1:7002@17002 master - 0 1700000000000 2 connected 5461-10922 [5000->-a1]
c3 127.0.0.1:7003@17003,node-3 master,fail - 0 0 3 disconnected 10923-16383
d4 127.0.0.1:7004@17004 slave a1 0 1700000000000 1 connected
e5 127.0.0.1:7005@17005 master - 0 0 4 connected
";
    assert_eq!(
      primaries(nodes),
      vec![("127.0.0.1".to_string(), 7001), ("127.0.0.1".to_string(), 7002)]
    );
  }

  #[test]
  fn codes_survive_the_trip_through_the_crate() {
    for code in [Code::Uncertain, Code::Timeout, Code::Closed, Code::Redis] {
      let back = from_redis(to_redis(StoreError::new(code, "why")));
      assert_eq!((back.code, back.message.as_str()), (code, "why"));
    }
    let moved = RedisError::from((
      ErrorKind::Server(redis::ServerErrorKind::Moved),
      "Moved",
      "59 127.0.0.1:7002".to_string(),
    ));
    assert_eq!(from_redis(moved).code, Code::Unavailable, "a redirect never followed ran nowhere");
    let not_sent = to_redis(StoreError::new(Code::Unavailable, "refused"));
    assert!(not_sent.is_connection_dropped(), "the crate may send it again");
    assert_eq!(from_redis(not_sent).code, Code::Unavailable);
  }
}
