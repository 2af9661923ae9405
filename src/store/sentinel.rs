//! Redis Sentinel: where the primary is, asked again at every connect, and a watch for its
//! `+switch-master` announcements.
//!
//! A failover moves the primary; the old one keeps accepting writes until a sentinel demotes it
//! (about ten seconds after `SENTINEL FAILOVER`), and writes it acknowledges then are lost. So
//! the store does not wait for a `READONLY`: a watch subscribed on one sentinel retires the
//! store's connections as soon as the switch is announced, and the next connect asks the
//! sentinels where the primary is now. A `READONLY` reply or a login that finds a replica (see
//! wire.rs) leads there too.

use super::resp::Framer;
use super::wire::{read_reply, LoginError, ReadError, Tls};
use bytes::BytesMut;
use futures_util::future::join_all;
use redis::Value;
use std::collections::HashMap;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// The sentinels that watch one primary, and how to log in to them (their own credentials:
/// the data nodes' ACL users need not exist on the sentinels).
pub struct Sentinels {
  pub nodes: Vec<(String, u16)>,
  /// The primary's name in `sentinel monitor <name> …`.
  pub name: String,
  pub username: Option<String>,
  pub password: Option<String>,
  pub tls: Option<Tls>,
}

/// How long the watch waits before it tries the next sentinel.
const WATCH_RETRY: Duration = Duration::from_millis(500);
/// How long one sentinel may take to answer: one that went silent must not hold up the others.
const ASK_TIMEOUT: Duration = Duration::from_millis(1000);

impl Sentinels {
  /// The primary's address: of the sentinels that answer, the one with the newest configuration
  /// (a sentinel that has not yet learned of a failover still names the old primary, which
  /// accepts writes until it is demoted, and loses them then).
  pub async fn primary(&self) -> Result<(String, u16), LoginError> {
    let mut ask = redis::cmd("SENTINEL");
    ask.arg("MASTER").arg(&self.name);
    let answers = join_all(self.nodes.iter().map(|(host, port)| {
      let ask = &ask;
      async move {
        let reply = self.open(host, *port, ask).await.map(|(_, reply)| reply);
        (format!("{host}:{port}"), reply)
      }
    }))
    .await;
    let mut newest: Option<(u64, String, u16)> = None;
    let mut why = String::from("no sentinel answered");
    for (sentinel, reply) in answers {
      match reply.map(fields) {
        Ok(Some(master)) => {
          let epoch = master.get("config-epoch").and_then(|e| e.parse().ok()).unwrap_or(0);
          let port = master.get("port").and_then(|p| p.parse().ok());
          match (master.get("ip"), port) {
            (Some(ip), Some(port)) if newest.as_ref().is_none_or(|(e, ..)| epoch > *e) => newest = Some((epoch, ip.clone(), port)),
            (Some(_), Some(_)) => {}
            _ => why = format!("sentinel {sentinel} gave no address for {:?}", self.name),
          }
        }
        Err(e) if e.contains("No such master") => why = format!("sentinel {sentinel} does not know a primary named {:?}", self.name),
        Ok(None) => why = format!("sentinel {sentinel} gave no answer about {:?}", self.name),
        Err(e) => why = format!("sentinel {sentinel}: {e}"),
      }
    }
    newest.map(|(_, ip, port)| (ip, port)).ok_or(LoginError {
      message: why,
      permanent: false,
    })
  }

  /// Connects to one sentinel, logs in and sends `cmd`; the stream and `cmd`'s reply.
  async fn open(&self, host: &str, port: u16, cmd: &redis::Cmd) -> Result<(Reader, Value), String> {
    let asked = tokio::time::timeout(ASK_TIMEOUT, self.ask(host, port, cmd)).await;
    asked.unwrap_or_else(|_| Err(format!("no answer within {} ms", ASK_TIMEOUT.as_millis())))
  }

  async fn ask(&self, host: &str, port: u16, cmd: &redis::Cmd) -> Result<(Reader, Value), String> {
    let tcp = TcpStream::connect((host, port)).await.map_err(|e| e.to_string())?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let stream: Box<dyn Stream> = match &self.tls {
      Some(tls) => Box::new(tls.connect(host, tcp).await.map_err(|e| e.to_string())?),
      None => Box::new(tcp),
    };
    let mut pipe = redis::pipe();
    super::wire::auth(&mut pipe, &self.username, &self.password);
    pipe.add_command(cmd.clone());
    let mut reader = Reader {
      stream,
      buf: BytesMut::with_capacity(4096),
      framer: Framer::default(),
    };
    reader
      .stream
      .write_all(&pipe.get_packed_pipeline())
      .await
      .map_err(|e| e.to_string())?;
    let mut reply = Value::Nil;
    for _ in 0..pipe.len() {
      reply = reader.next().await?;
      if let Value::ServerError(e) = &reply {
        return Err(format!("{} {}", e.code(), e.details().unwrap_or("")));
      }
    }
    Ok((reader, reply))
  }

  /// Subscribes to `+switch-master` on one sentinel after another, and calls `switched` each
  /// time this primary moves, for as long as `wanted` says the store is still there.
  pub async fn watch(&self, wanted: impl Fn() -> bool, switched: impl Fn()) {
    let mut subscribe = redis::cmd("SUBSCRIBE");
    subscribe.arg("+switch-master");
    while wanted() {
      for (host, port) in &self.nodes {
        let Ok((mut reader, _)) = self.open(host, *port, &subscribe).await else {
          continue;
        };
        loop {
          // a tick now and then, so that the watch of a store nobody holds ends
          let message = match tokio::time::timeout(Duration::from_secs(1), reader.next()).await {
            Err(_) if wanted() => continue,
            Err(_) => return,
            Ok(Err(_)) => break,
            Ok(Ok(message)) => message,
          };
          // `message +switch-master "<name> <old ip> <old port> <new ip> <new port>"`
          if let Value::Array(parts) = message {
            if let Some(Value::BulkString(text)) = parts.last() {
              if String::from_utf8_lossy(text).split(' ').next() == Some(self.name.as_str()) {
                switched();
              }
            }
          }
        }
      }
      tokio::time::sleep(WATCH_RETRY).await;
    }
  }
}

/// `SENTINEL MASTER`'s reply as fields; `None` for an error reply (an unknown name).
fn fields(reply: Value) -> Option<HashMap<String, String>> {
  let Value::Array(items) = reply else { return None };
  let text = |v: &Value| match v {
    Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
    _ => None,
  };
  Some(
    items
      .chunks(2)
      .filter_map(|pair| Some((text(&pair[0])?, text(pair.get(1)?)?)))
      .collect(),
  )
}

trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Stream for S {}

/// A sentinel connection's replies.
struct Reader {
  stream: Box<dyn Stream>,
  buf: BytesMut,
  framer: Framer,
}

impl Reader {
  async fn next(&mut self) -> Result<Value, String> {
    read_reply(&mut self.stream, &mut self.buf, &mut self.framer)
      .await
      .map_err(|e| match e {
        ReadError::Io(e) => e.to_string(),
        ReadError::Closed => "the sentinel closed the connection".into(),
        ReadError::Protocol(why) => why,
      })
  }
}
