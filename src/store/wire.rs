//! One multiplexed connection to Redis: many calls share it, each sending its commands as one
//! [`Request`] and getting its replies back in order.
//!
//! A driver task owns the socket (TCP, or TLS over TCP). Its writer sends requests as they come,
//! coalescing those that wait; its reader hands each request the replies it expects as they
//! arrive. The two progress independently, so a server (or proxy) that writes a large reply
//! before it reads more cannot deadlock the connection. The socket closes as soon as the last
//! handle is gone, even with replies outstanding: nobody is left to wait for them.
//!
//! What may go wrong is one of [`Error`]'s kinds, and each says whether the request may have
//! reached Redis. A request is marked written before its first byte goes out; one whose caller
//! gave up before that is never written at all.
//!
//! Commands are packed by redis-rs (`Cmd`, `Pipeline`) and replies are `redis::Value`s (or, for
//! index reads, the received bytes), so the store code reads as it would over redis-rs.

use super::resp::{self, Framer};
use crate::error::{Code, StoreError};
use bytes::{Buf, Bytes, BytesMut};
use redis::{FromRedisValue, Value};
use rustls::pki_types::ServerName;
use smallvec::SmallVec;
use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Requests one connection holds at most, queued or awaiting replies; more wait for a slot
/// (within their deadline), so a stalled server cannot make memory grow without bound.
pub const MAX_IN_FLIGHT: usize = 4096;
/// An idle connection sends a PING this often: a peer that vanished without closing the socket
/// is then noticed within this plus the command timeout, before a caller pays for it.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
const KEEPALIVE: Duration = Duration::from_secs(15);

/// How to reach one server and log in; built once from the options (see config.rs).
pub struct Endpoint {
  pub host: String,
  pub port: u16,
  /// A Unix socket to connect to instead of `host` and `port` (a server on the same host).
  pub socket: Option<std::path::PathBuf>,
  pub tls: Option<Tls>,
  pub username: Option<String>,
  pub password: Option<String>,
  pub db: i64,
  pub command_timeout: Duration,
  /// Where to ask for the primary's address instead of `host` and `port`.
  pub sentinels: Option<Arc<super::sentinel::Sentinels>>,
  /// Refuse a server that is a replica. A cluster node need not be a primary: the cluster
  /// connection knows which nodes are, and follows their changes.
  pub primary_only: bool,
}

#[derive(Clone)]
pub struct Tls {
  pub config: Arc<rustls::ClientConfig>,
  /// The name the certificate is checked against; `None`: the host dialled (with Sentinel, the
  /// one a sentinel named).
  pub name: Option<ServerName<'static>>,
}

impl Tls {
  /// TLS over `tcp` to `host`.
  pub async fn connect(&self, host: &str, tcp: TcpStream) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let name = match &self.name {
      Some(name) => name.clone(),
      None => ServerName::try_from(host.to_string()).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?,
    };
    tokio_rustls::TlsConnector::from(self.config.clone()).connect(name, tcp).await
  }
}

/// What can go wrong on a connection, by what it means for the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
  /// Never written to a socket: the connection was gone, or it was full until the deadline.
  NotSent(String),
  /// No complete answer by the deadline; `sent` says whether the request had been written.
  TimedOut { sent: bool, after: Duration },
  /// Written, but the connection ended before the replies came.
  Lost(String),
  /// The server sent bytes that are not RESP; the connection is closed.
  Protocol(String),
  /// A request the connection cannot count replies for (a MULTI/EXEC pipeline).
  Unsupported(&'static str),
}

impl fmt::Display for Error {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match self {
      Error::NotSent(why) => write!(f, "not sent: {why}"),
      Error::TimedOut { sent: true, after } => write!(f, "no reply within {} ms", after.as_millis()),
      Error::TimedOut { sent: false, after } => write!(f, "not sent within {} ms (Redis was not reachable in time)", after.as_millis()),
      Error::Lost(why) => write!(f, "the connection to Redis was lost before the reply ({why})"),
      Error::Protocol(why) => write!(f, "{why}"),
      Error::Unsupported(what) => write!(f, "{what}"),
    }
  }
}

/// Packed commands and the number of replies they produce.
pub struct Request {
  bytes: Vec<u8>,
  replies: usize,
  raw: bool,
}

impl Request {
  pub fn command(cmd: &redis::Cmd) -> Request {
    Request {
      bytes: cmd.get_packed_command(),
      replies: 1,
      raw: false,
    }
  }

  /// A pipeline, one reply per command. Transactions are refused: their replies (`+OK`,
  /// `+QUEUED` …, then one array) do not match their commands one to one.
  pub fn pipeline(pipe: &redis::Pipeline) -> Result<Request, Error> {
    if pipe.is_transaction() {
      return Err(Error::Unsupported(
        "atomic (MULTI/EXEC) pipelines are not supported on this connection",
      ));
    }
    Ok(Request {
      bytes: pipe.get_packed_pipeline(),
      replies: pipe.len(),
      raw: false,
    })
  }

  /// Asks for the replies as received, to be read with [`resp::Reader`].
  pub fn raw(self) -> Request {
    Request { raw: true, ..self }
  }
}

/// What a request gets back: decoded values (one command's inline), or (for raw requests) the
/// bytes of its replies.
pub enum Replies {
  Values(SmallVec<[Value; 1]>),
  Raw(Bytes),
}

impl Replies {
  pub fn values(self) -> Vec<Value> {
    match self {
      Replies::Values(values) => values.into_vec(),
      Replies::Raw(_) => unreachable!("a request is answered as it asked"),
    }
  }

  /// The reply of a one-command request.
  fn one(self) -> Value {
    match self {
      Replies::Values(mut values) => values.pop().unwrap_or(Value::Nil),
      Replies::Raw(_) => unreachable!("a request is answered as it asked"),
    }
  }

  pub fn raw(self) -> Bytes {
    match self {
      Replies::Raw(bytes) => bytes,
      Replies::Values(_) => unreachable!("a raw request is answered raw"),
    }
  }
}

const QUEUED: u8 = 0;
const WRITTEN: u8 = 1;
const CANCELLED: u8 = 2;

type Answer = oneshot::Sender<Result<Replies, Error>>;

/// A request on its way to the writer.
struct Queued {
  bytes: Vec<u8>,
  replies: usize,
  raw: bool,
  /// QUEUED → WRITTEN (by the writer), or QUEUED → CANCELLED (by a caller that gave up, or
  /// by the writer when the deadline passed before it came to it).
  state: Arc<AtomicU8>,
  deadline: Instant,
  /// `None` for the connection's own heartbeats.
  answer: Option<Answer>,
  _slot: Option<OwnedSemaphorePermit>,
}

/// A written request waiting for its replies.
struct Waiting {
  replies: usize,
  got: usize,
  values: SmallVec<[Value; 1]>,
  /// Raw requests: their replies so far, one contiguous run of the read buffer.
  raw: Option<BytesMut>,
  answer: Option<Answer>,
  _slot: Option<OwnedSemaphorePermit>,
}

impl Waiting {
  fn fail(self, e: &Error) {
    if let Some(answer) = self.answer {
      let _ = answer.send(Err(e.clone()));
    }
  }
}

/// A handle on a live connection.
#[derive(Clone)]
pub struct Connection {
  requests: mpsc::UnboundedSender<Queued>,
  slots: Arc<Semaphore>,
  /// Set when the server said it cannot serve this connection's calls (see [`is_stale_reply`]).
  stale: Arc<AtomicBool>,
  /// Dropped with the last handle, which stops the driver.
  _held: Arc<oneshot::Sender<()>>,
  timeout: Duration,
}

/// Why a login failed, and whether trying again soon can help.
#[derive(Debug)]
pub struct LoginError {
  pub message: String,
  /// A wrong password, a user not allowed to log in, a db that does not exist: retrying at
  /// once only hammers the server.
  pub permanent: bool,
}

impl LoginError {
  fn transient(message: impl Into<String>) -> LoginError {
    LoginError {
      message: message.into(),
      permanent: false,
    }
  }
}

/// Opens a connection and logs in, then sends `preload` (SCRIPT LOADs: a script Redis already
/// knows runs in its turn, where one it does not know has to be sent again later, out of
/// order). The caller bounds the time it may take.
pub async fn connect(endpoint: &Endpoint, preload: &[redis::Cmd]) -> Result<Connection, LoginError> {
  let io = |e: std::io::Error| LoginError::transient(e.to_string());
  #[cfg(unix)]
  if let Some(path) = &endpoint.socket {
    let unix = tokio::net::UnixStream::connect(path).await.map_err(io)?;
    return start(unix, endpoint, preload).await;
  }
  let (host, port) = match &endpoint.sentinels {
    Some(sentinels) => sentinels.primary().await?,
    None => (endpoint.host.clone(), endpoint.port),
  };
  let tcp = TcpStream::connect((host.as_str(), port)).await.map_err(io)?;
  tcp.set_nodelay(true).map_err(io)?;
  // the OS probes a silent peer too, also while a call waits
  let keepalive = socket2::TcpKeepalive::new()
    .with_time(KEEPALIVE)
    .with_interval(Duration::from_secs(5));
  socket2::SockRef::from(&tcp).set_tcp_keepalive(&keepalive).map_err(io)?;
  match &endpoint.tls {
    None => start(tcp, endpoint, preload).await,
    Some(tls) => start(tls.connect(&host, tcp).await.map_err(io)?, endpoint, preload).await,
  }
}

/// Adds `AUTH [username] password` to `pipe` when there is a password; whether it did.
pub fn auth(pipe: &mut redis::Pipeline, username: &Option<String>, password: &Option<String>) -> bool {
  let Some(password) = password else { return false };
  let auth = pipe.cmd("AUTH");
  if let Some(username) = username {
    auth.arg(username);
  }
  auth.arg(password);
  true
}

/// Why [`read_reply`] got no reply.
pub enum ReadError {
  Io(std::io::Error),
  Closed,
  Protocol(String),
}

/// The next reply on a stream read outside a driver (at login, from a sentinel): `buf` keeps
/// what was read past it.
pub async fn read_reply<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut BytesMut, framer: &mut Framer) -> Result<Value, ReadError> {
  loop {
    if let Some(n) = framer.next_reply(buf).map_err(|e| ReadError::Protocol(e.to_string()))? {
      return resp::decode(&buf.split_to(n)).map_err(|e| ReadError::Protocol(e.to_string()));
    }
    if stream.read_buf(buf).await.map_err(ReadError::Io)? == 0 {
      return Err(ReadError::Closed);
    }
  }
}

/// Which step of the login a reply answers.
#[derive(Clone, Copy, PartialEq)]
enum Step {
  Auth,
  Select,
  Ping,
  Role,
  Preload,
}

async fn start<S: AsyncRead + AsyncWrite + Send + Unpin + 'static>(
  mut stream: S,
  endpoint: &Endpoint,
  preload: &[redis::Cmd],
) -> Result<Connection, LoginError> {
  let mut login = redis::pipe();
  let mut steps = Vec::new();
  if auth(&mut login, &endpoint.username, &endpoint.password) {
    steps.push(Step::Auth);
  }
  if endpoint.db != 0 {
    login.cmd("SELECT").arg(endpoint.db);
    steps.push(Step::Select);
  }
  // Proves the peer speaks RESP before the connection is handed out (a TLS port, say, would
  // only fail the first real command) and that the server is not loading its data.
  login.cmd("PING");
  steps.push(Step::Ping);
  // A demoted primary (a failover, or REPLICAOF) refuses every write: not a server to hand out.
  if endpoint.primary_only {
    login.cmd("ROLE");
    steps.push(Step::Role);
  }
  for cmd in preload {
    login.add_command(cmd.clone());
    steps.push(Step::Preload);
  }
  let mut buf = BytesMut::with_capacity(16 * 1024);
  let mut framer = Framer::default();
  let lost = |e: std::io::Error| LoginError::transient(format!("the connection closed during login ({e})"));
  stream.write_all(&login.get_packed_pipeline()).await.map_err(lost)?;
  stream.flush().await.map_err(lost)?;
  for step in steps {
    let reply = read_reply(&mut stream, &mut buf, &mut framer).await.map_err(|e| match e {
      ReadError::Io(e) => lost(e),
      ReadError::Closed => LoginError::transient("the server closed the connection during login"),
      ReadError::Protocol(why) => LoginError::transient(why),
    })?;
    judge_login_reply(step, reply)?;
  }
  let (requests, inbox) = mpsc::unbounded_channel();
  let (held, released) = oneshot::channel();
  let stale = Arc::new(AtomicBool::new(false));
  let heartbeat = requests.clone();
  tokio::spawn(drive(
    stream,
    inbox,
    heartbeat,
    released,
    stale.clone(),
    buf,
    framer,
    endpoint.command_timeout,
  ));
  Ok(Connection {
    requests,
    slots: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
    stale,
    _held: Arc::new(held),
    timeout: endpoint.command_timeout,
  })
}

fn judge_login_reply(step: Step, reply: Value) -> Result<(), LoginError> {
  let error = match reply.extract_error() {
    Ok(Value::Array(role)) if step == Step::Role => {
      return match role.first() {
        Some(Value::BulkString(role)) if role.as_slice() != b"master" => Err(LoginError::transient(
          "the server is a read-only replica (a failover may be under way)",
        )),
        _ => Ok(()),
      }
    }
    Ok(_) => return Ok(()),
    Err(e) => e,
  };
  let code = error.code().unwrap_or("");
  let text = error.to_string();
  if matches!(code, "LOADING" | "MASTERDOWN" | "BUSY") {
    return Err(LoginError::transient(format!("the server is not ready ({code})")));
  }
  let auth = matches!(code, "WRONGPASS" | "NOAUTH") || text.contains("invalid password") || text.contains("invalid username-password");
  match step {
    _ if auth => Err(LoginError {
      message: "authentication failed (check username and password)".into(),
      permanent: true,
    }),
    Step::Auth | Step::Select => Err(LoginError {
      message: format!("login refused: {}", shortened(&text)),
      permanent: true,
    }),
    // a user need not be allowed PING, ROLE or SCRIPT LOAD: any other answer proves a working
    // server (scripts are then loaded when first refused)
    Step::Ping | Step::Role | Step::Preload => Ok(()),
  }
}

/// An error reply's text, cut short: it goes into every call's message until the next attempt.
/// (AUTH and SELECT replies never echo the password.)
fn shortened(text: &str) -> String {
  text.chars().take(200).collect()
}

/// Replies after which the connection should not be used again: the server became a replica,
/// is loading, or lost its primary. The caller of that reply gets it as usual.
fn is_stale_reply(reply: &[u8]) -> bool {
  reply.first() == Some(&b'-')
    && [&b"-READONLY"[..], b"-LOADING", b"-MASTERDOWN"]
      .iter()
      .any(|p| reply.starts_with(p))
}

#[allow(clippy::too_many_arguments)]
async fn drive<S: AsyncRead + AsyncWrite + Send + Unpin>(
  stream: S,
  inbox: mpsc::UnboundedReceiver<Queued>,
  heartbeat: mpsc::UnboundedSender<Queued>,
  released: oneshot::Receiver<()>,
  stale: Arc<AtomicBool>,
  buf: BytesMut,
  framer: Framer,
  timeout: Duration,
) {
  let (reader, writer) = tokio::io::split(stream);
  let (written, waiting) = mpsc::unbounded_channel();
  let heard = AtomicBool::new(true);
  tokio::select! {
    // every handle is gone: nobody waits for what is in flight
    _ = released => {}
    _ = write_loop(writer, inbox, written) => {}
    _ = read_loop(reader, waiting, buf, framer, &stale, &heard) => {}
    _ = beat(heartbeat, &heard, timeout) => {}
  }
  // Dropping the loops drops every request they held: callers see their answer channel close
  // and report the request as lost, or as not sent when it never left the queue.
}

/// Writes queued requests, all that wait in one write, and passes each on to the reader
/// before its bytes go out (so no reply can arrive before its request is known).
async fn write_loop<W: AsyncWrite + Unpin>(
  mut writer: W,
  mut inbox: mpsc::UnboundedReceiver<Queued>,
  written: mpsc::UnboundedSender<Waiting>,
) {
  let mut out: Vec<u8> = Vec::with_capacity(16 * 1024);
  while let Some(first) = inbox.recv().await {
    let mut next = Some(first);
    let now = Instant::now();
    while let Some(request) = next {
      // a request whose caller gave up (or will, its deadline being past) is never sent later
      let due = if request.deadline > now { WRITTEN } else { CANCELLED };
      if request.state.compare_exchange(QUEUED, due, Ordering::AcqRel, Ordering::Acquire) == Ok(QUEUED) && due == WRITTEN {
        out.extend_from_slice(&request.bytes);
        let _ = written.send(Waiting {
          replies: request.replies,
          got: 0,
          values: SmallVec::with_capacity(if request.raw { 0 } else { request.replies }),
          raw: request.raw.then(BytesMut::new),
          answer: request.answer,
          _slot: request._slot,
        });
      }
      next = inbox.try_recv().ok();
    }
    if out.is_empty() {
      continue;
    }
    if writer.write_all(&out).await.is_err() || writer.flush().await.is_err() {
      return;
    }
    out.clear();
    if out.capacity() > 1 << 20 {
      out.shrink_to(16 * 1024);
    }
  }
}

/// Reads replies and answers the written requests in order, until the socket fails or the
/// server breaks the protocol; then fails every request written so far with the reason.
async fn read_loop<R: AsyncRead + Unpin>(
  mut reader: R,
  mut written: mpsc::UnboundedReceiver<Waiting>,
  mut buf: BytesMut,
  mut framer: Framer,
  stale: &AtomicBool,
  heard: &AtomicBool,
) {
  let mut in_flight: VecDeque<Waiting> = VecDeque::new();
  let failure = 'read: loop {
    // replies already buffered (read with the login) come first
    loop {
      match framer.next_reply(&buf) {
        Ok(Some(n)) => {
          while let Ok(waiting) = written.try_recv() {
            in_flight.push_back(waiting);
          }
          let Some(waiting) = in_flight.front_mut() else {
            break 'read Error::Protocol("Redis sent a reply nobody asked for".into());
          };
          if is_stale_reply(&buf[..n]) {
            stale.store(true, Ordering::Release);
          }
          match &mut waiting.raw {
            // consecutive splits of one buffer: unsplit only moves an end
            Some(raw) => raw.unsplit(buf.split_to(n)),
            None => match resp::decode(&buf[..n]) {
              Ok(value) => {
                waiting.values.push(value);
                buf.advance(n);
              }
              Err(e) => break 'read Error::Protocol(e.to_string()),
            },
          }
          waiting.got += 1;
          if waiting.got == waiting.replies {
            let waiting = in_flight.pop_front().expect("the front request was just answered");
            if let Some(answer) = waiting.answer {
              let replies = match waiting.raw {
                Some(raw) => Replies::Raw(raw.freeze()),
                None => Replies::Values(waiting.values),
              };
              let _ = answer.send(Ok(replies));
            }
          }
        }
        Ok(None) => break,
        Err(e) => break 'read Error::Protocol(e.to_string()),
      }
    }
    if buf.capacity() - buf.len() < 4096 {
      buf.reserve(64 * 1024);
    }
    match reader.read_buf(&mut buf).await {
      Ok(0) => break Error::Lost("the server closed the connection".into()),
      Ok(_) => heard.store(true, Ordering::Relaxed),
      Err(e) => break Error::Lost(e.to_string()),
    }
  };
  while let Ok(waiting) = written.try_recv() {
    in_flight.push_back(waiting);
  }
  for waiting in in_flight {
    waiting.fail(&failure);
  }
}

/// Sends a PING when nothing was heard for a [`HEARTBEAT`]; returns (ending the connection)
/// when it is not answered within the command timeout.
async fn beat(requests: mpsc::UnboundedSender<Queued>, heard: &AtomicBool, timeout: Duration) {
  let ping = redis::cmd("PING").get_packed_command();
  loop {
    tokio::time::sleep(HEARTBEAT).await;
    if heard.swap(false, Ordering::Relaxed) {
      continue;
    }
    let (answer, replied) = oneshot::channel();
    let request = Queued {
      bytes: ping.clone(),
      replies: 1,
      raw: false,
      state: Arc::new(AtomicU8::new(QUEUED)),
      deadline: Instant::now() + timeout,
      answer: Some(answer),
      _slot: None,
    };
    if requests.send(request).is_err() {
      return;
    }
    match tokio::time::timeout(timeout, replied).await {
      Ok(Ok(Ok(_))) => {}
      _ => return,
    }
  }
}

impl Connection {
  /// Whether this connection should be replaced: its driver stopped, or the server said it
  /// cannot serve it (READONLY, LOADING, MASTERDOWN).
  pub fn is_broken(&self) -> bool {
    self.requests.is_closed() || self.is_stale()
  }

  /// Whether the server said it cannot serve this connection's calls any more.
  pub fn is_stale(&self) -> bool {
    self.stale.load(Ordering::Acquire)
  }

  /// Sends a request and waits for its replies until `deadline`.
  pub async fn send(&self, request: Request, deadline: Instant) -> Result<Replies, Error> {
    if request.replies == 0 {
      // nothing to send, and a request that waits for no reply would never be answered
      return Ok(if request.raw {
        Replies::Raw(Bytes::new())
      } else {
        Replies::Values(SmallVec::new())
      });
    }
    let slot = match self.slots.clone().try_acquire_owned() {
      Ok(slot) => slot,
      // full: wait for a slot (first come, first served) within the deadline
      Err(_) => match tokio::time::timeout_at(deadline, self.slots.clone().acquire_owned()).await {
        Ok(Ok(slot)) => slot,
        Ok(Err(_)) => return Err(Error::NotSent("the connection was closed".into())),
        Err(_) => {
          return Err(Error::NotSent(format!(
            "{MAX_IN_FLIGHT} requests were already waiting on this connection"
          )))
        }
      },
    };
    let state = Arc::new(AtomicU8::new(QUEUED));
    let (answer, replied) = oneshot::channel();
    let queued = Queued {
      bytes: request.bytes,
      replies: request.replies,
      raw: request.raw,
      state: state.clone(),
      deadline,
      answer: Some(answer),
      _slot: Some(slot),
    };
    if self.requests.send(queued).is_err() {
      return Err(Error::NotSent("the connection was closed".into()));
    }
    let outcome = tokio::time::timeout_at(deadline, replied).await;
    if let Ok(Ok(result)) = outcome {
      return result;
    }
    // gave up or dropped: whether it was written decides what the caller may assume
    let sent = state.compare_exchange(QUEUED, CANCELLED, Ordering::AcqRel, Ordering::Acquire) == Err(WRITTEN);
    Err(match (outcome.is_err(), sent) {
      (true, sent) => Error::TimedOut { sent, after: self.timeout },
      (false, true) => Error::Lost("the connection closed".into()),
      (false, false) => Error::NotSent("the connection closed before the request was written".into()),
    })
  }
}

impl From<Error> for StoreError {
  fn from(e: Error) -> StoreError {
    let code = match &e {
      Error::NotSent(_) | Error::TimedOut { sent: false, .. } => Code::Unavailable,
      Error::TimedOut { sent: true, .. } => Code::Timeout,
      Error::Lost(_) | Error::Protocol(_) => Code::Uncertain,
      Error::Unsupported(_) => Code::InvalidArgument,
    };
    StoreError::new(code, e.to_string())
  }
}

/// The store's view of a connection: commands in, results or [`StoreError`]s out, each
/// request bounded by the deadline of the call it serves (see [`super::conn::deadline`]).
impl Connection {
  async fn request(&self, request: Request) -> Result<Replies, StoreError> {
    Ok(self.send(request, super::conn::deadline(self.timeout)).await?)
  }

  /// One command; a Redis error reply becomes `Err`.
  pub async fn query<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StoreError> {
    convert(self.query_reply(cmd).await?)
  }

  /// One command's reply as it came (an error reply stays `Value::ServerError`).
  pub async fn query_reply(&self, cmd: &redis::Cmd) -> Result<Value, StoreError> {
    Ok(self.request(Request::command(cmd)).await?.one())
  }

  /// A pipeline whose replies are all wanted: any Redis error reply fails the whole call.
  pub async fn query_pipe<T: FromRedisValue>(&self, pipe: &redis::Pipeline) -> Result<T, StoreError> {
    convert(Value::Array(self.query_each(pipe).await?))
  }

  /// A pipeline whose replies are judged one by one (error replies stay `Value::ServerError`).
  pub async fn query_each(&self, pipe: &redis::Pipeline) -> Result<Vec<Value>, StoreError> {
    Ok(self.request(Request::pipeline(pipe)?).await?.values())
  }

  /// A pipeline's replies as received, to be read with [`resp::Reader`].
  pub async fn query_raw(&self, pipe: &redis::Pipeline) -> Result<Bytes, StoreError> {
    Ok(self.request(Request::pipeline(pipe)?.raw()).await?.raw())
  }
}

fn convert<T: FromRedisValue>(reply: Value) -> Result<T, StoreError> {
  let value = reply.extract_error().map_err(|e| StoreError::from_redis(&e, true))?;
  T::from_redis_value(value).map_err(|e| StoreError::from_redis(&e.into(), true))
}

#[cfg(test)]
mod tests;
