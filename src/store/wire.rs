//! One multiplexed connection to Redis: many calls share it, each sending its commands as one
//! request and getting its replies back in order.
//!
//! A driver task owns the socket (TCP, or TLS over TCP): it writes requests as they come,
//! coalescing those that wait, and hands each request the replies it expects as they arrive.
//! Handles are cheap clones; the socket closes once the last handle is gone. Commands are
//! packed by redis-rs (`Cmd`, `Pipeline`) and replies are `redis::Value`s (or, for index reads,
//! the received bytes), so the store code reads as it would over a redis-rs connection.

use super::resp::{self, Framer};
use bytes::{Buf, Bytes, BytesMut};
use redis::{FromRedisValue, RedisResult, Value};
use rustls::pki_types::ServerName;
use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

/// How to reach one server and log in; built once from the options (see config.rs).
pub struct Endpoint {
  pub host: String,
  pub port: u16,
  pub tls: Option<Tls>,
  pub username: Option<String>,
  pub password: Option<String>,
  pub db: i64,
  pub command_timeout: Duration,
}

pub struct Tls {
  pub config: Arc<rustls::ClientConfig>,
  /// The name the certificate is checked against.
  pub name: ServerName<'static>,
}

/// What a request gets back: decoded values, or (for [`Connection::query_raw`]) the bytes of
/// its replies as received.
enum Replies {
  Values(Vec<Value>),
  Raw(Bytes),
}

struct Request {
  bytes: Vec<u8>,
  replies: usize,
  raw: bool,
  done: oneshot::Sender<io::Result<Replies>>,
}

/// A handle on a live connection.
#[derive(Clone)]
pub struct Connection {
  requests: mpsc::UnboundedSender<Request>,
  timeout: Duration,
}

/// Opens a connection and logs in; the caller bounds the time it may take.
pub async fn connect(endpoint: &Endpoint) -> RedisResult<Connection> {
  let tcp = TcpStream::connect((endpoint.host.as_str(), endpoint.port)).await?;
  tcp.set_nodelay(true)?;
  match &endpoint.tls {
    None => start(tcp, endpoint).await,
    Some(tls) => {
      let stream = tokio_rustls::TlsConnector::from(tls.config.clone())
        .connect(tls.name.clone(), tcp)
        .await?;
      start(stream, endpoint).await
    }
  }
}

async fn start<S: AsyncRead + AsyncWrite + Send + Unpin + 'static>(mut stream: S, endpoint: &Endpoint) -> RedisResult<Connection> {
  let mut login = redis::pipe();
  if let Some(password) = &endpoint.password {
    let auth = login.cmd("AUTH");
    if let Some(username) = &endpoint.username {
      auth.arg(username);
    }
    auth.arg(password);
  }
  if endpoint.db != 0 {
    login.cmd("SELECT").arg(endpoint.db);
  }
  // Proves the peer speaks RESP before the connection is handed out (a TLS port, say, would
  // only fail the first real command). Any reply will do, NOPERM included: a user need not be
  // allowed PING.
  login.cmd("PING");
  let mut buf = BytesMut::with_capacity(16 * 1024);
  let mut framer = Framer::default();
  stream.write_all(&login.get_packed_pipeline()).await?;
  for i in 0..login.len() {
    let reply = loop {
      if let Some(n) = framer.next_reply(&buf).map_err(protocol)? {
        break resp::decode(&buf.split_to(n)).map_err(protocol)?;
      }
      if stream.read_buf(&mut buf).await? == 0 {
        return Err(lost().into());
      }
    };
    match reply.extract_error() {
      Ok(_) => {}
      // a server with a password refuses even PING without one
      Err(e) if i + 1 == login.len() && e.code() != Some("NOAUTH") => {}
      Err(e) => return Err(auth_failure(e)),
    }
  }
  let (requests, inbox) = mpsc::unbounded_channel();
  tokio::spawn(drive(stream, inbox, buf, framer));
  Ok(Connection {
    requests,
    timeout: endpoint.command_timeout,
  })
}

/// Redis answers a wrong password with WRONGPASS (or, before ACLs, ERR invalid password), and
/// a missing one with NOAUTH.
fn auth_failure(e: redis::RedisError) -> redis::RedisError {
  let text = e.to_string();
  if matches!(e.code(), Some("WRONGPASS" | "NOAUTH")) || text.contains("invalid password") || text.contains("invalid username-password") {
    redis::RedisError::from((redis::ErrorKind::AuthenticationFailed, "authentication failed"))
  } else {
    e
  }
}

fn protocol(e: resp::ProtocolError) -> io::Error {
  io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

fn lost() -> io::Error {
  io::Error::new(io::ErrorKind::ConnectionReset, "the connection to Redis was lost")
}

/// Writes what the handles send and routes the replies, until the socket fails or every
/// handle is gone.
async fn drive<S: AsyncRead + AsyncWrite + Unpin>(
  mut stream: S,
  mut inbox: mpsc::UnboundedReceiver<Request>,
  mut buf: BytesMut,
  mut framer: Framer,
) {
  struct Waiting {
    replies: usize,
    got: usize,
    values: Vec<Value>,
    /// Raw requests: their replies so far, one contiguous run of the read buffer.
    raw: Option<BytesMut>,
    done: oneshot::Sender<io::Result<Replies>>,
  }
  let mut in_flight: VecDeque<Waiting> = VecDeque::new();
  let mut out: Vec<u8> = Vec::with_capacity(16 * 1024);
  let failure = loop {
    tokio::select! {
      biased;
      // read even when nothing is in flight, so a server that goes away is noticed at once
      read = stream.read_buf(&mut buf) => {
        match read {
          Ok(0) => break lost(),
          Ok(_) => {}
          Err(e) => break e,
        }
        let mut broken = None;
        loop {
          match framer.next_reply(&buf) {
            Ok(Some(n)) => {
              let Some(waiting) = in_flight.front_mut() else {
                broken = Some(protocol(resp::ProtocolError("a reply nobody asked for".into())));
                break;
              };
              match &mut waiting.raw {
                // consecutive splits of one buffer: unsplit only moves an end
                Some(raw) => raw.unsplit(buf.split_to(n)),
                None => match resp::decode(&buf[..n]) {
                  Ok(value) => {
                    waiting.values.push(value);
                    buf.advance(n);
                  }
                  Err(e) => {
                    broken = Some(protocol(e));
                    break;
                  }
                },
              }
              waiting.got += 1;
              if waiting.got == waiting.replies {
                let waiting = in_flight.pop_front().unwrap();
                let replies = match waiting.raw {
                  Some(raw) => Replies::Raw(raw.freeze()),
                  None => Replies::Values(waiting.values),
                };
                let _ = waiting.done.send(Ok(replies));
              }
            }
            Ok(None) => break,
            Err(e) => {
              broken = Some(protocol(e));
              break;
            }
          }
        }
        if let Some(e) = broken {
          break e;
        }
        if buf.capacity() - buf.len() < 4096 {
          buf.reserve(64 * 1024);
        }
      }
      request = inbox.recv() => {
        // A caller holds a handle while it waits, so with none left nobody waits for what is
        // in flight (a stalled server would otherwise keep this socket forever).
        let Some(first) = request else {
          return;
        };
        // everything already queued goes out in the same write
        let mut next = Some(first);
        while let Some(request) = next {
          out.extend_from_slice(&request.bytes);
          in_flight.push_back(Waiting {
            replies: request.replies,
            got: 0,
            values: Vec::with_capacity(if request.raw { 0 } else { request.replies }),
            raw: request.raw.then(BytesMut::new),
            done: request.done,
          });
          next = inbox.try_recv().ok();
        }
        let written = stream.write_all(&out).await;
        out.clear();
        if out.capacity() > 1 << 20 {
          out.shrink_to(16 * 1024);
        }
        if let Err(e) = written {
          break e;
        }
      }
    }
  };
  // everyone waiting learns the connection is gone; later sends find the inbox closed
  for waiting in in_flight {
    let _ = waiting.done.send(Err(io::Error::new(failure.kind(), failure.to_string())));
  }
}

impl Connection {
  /// Whether the driver has stopped (the socket failed), so this handle can only fail.
  pub fn is_broken(&self) -> bool {
    self.requests.is_closed()
  }

  /// Sends packed commands and waits, at most the command timeout, for their `replies`.
  async fn send(&self, bytes: Vec<u8>, replies: usize, raw: bool) -> RedisResult<Replies> {
    if replies == 0 {
      // nothing to send, and a request that waits for no reply would never be answered
      return Ok(if raw {
        Replies::Raw(Bytes::new())
      } else {
        Replies::Values(Vec::new())
      });
    }
    let (done, answer) = oneshot::channel();
    self.requests.send(Request { bytes, replies, raw, done }).map_err(|_| {
      // not sent: the connection had already failed
      io::Error::new(io::ErrorKind::ConnectionRefused, "the connection to Redis was closed")
    })?;
    match tokio::time::timeout(self.timeout, answer).await {
      Ok(Ok(Ok(replies))) => Ok(replies),
      Ok(Ok(Err(e))) => Err(e.into()),
      Ok(Err(_)) => Err(lost().into()),
      Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, format!("no reply within {} ms", self.timeout.as_millis())).into()),
    }
  }

  /// One command; a Redis error reply becomes `Err`.
  pub async fn query<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> RedisResult<T> {
    let reply = self.values(cmd.get_packed_command(), 1).await?.pop().unwrap_or(Value::Nil);
    Ok(T::from_redis_value(reply.extract_error()?)?)
  }

  /// A pipeline whose replies are all wanted: any Redis error reply fails the whole call.
  pub async fn query_pipe<T: FromRedisValue>(&self, pipe: &redis::Pipeline) -> RedisResult<T> {
    let replies = self.values(pipe.get_packed_pipeline(), pipe.len()).await?;
    Ok(T::from_redis_value(Value::Array(replies).extract_error()?)?)
  }

  /// A pipeline whose replies are judged one by one (error replies stay `Value::ServerError`).
  pub async fn query_each(&self, pipe: &redis::Pipeline) -> RedisResult<Vec<Value>> {
    self.values(pipe.get_packed_pipeline(), pipe.len()).await
  }

  /// A pipeline's replies as received, to be read with [`resp::Reader`].
  pub async fn query_raw(&self, pipe: &redis::Pipeline) -> RedisResult<Bytes> {
    match self.send(pipe.get_packed_pipeline(), pipe.len(), true).await? {
      Replies::Raw(bytes) => Ok(bytes),
      Replies::Values(_) => unreachable!("a raw request is answered raw"),
    }
  }

  async fn values(&self, bytes: Vec<u8>, replies: usize) -> RedisResult<Vec<Value>> {
    match self.send(bytes, replies, false).await? {
      Replies::Values(values) => Ok(values),
      Replies::Raw(_) => unreachable!("a request is answered as it asked"),
    }
  }
}
