//! The connection against a scripted peer: what no healthy Redis does on its own (late replies,
//! garbage, a peer that stops reading or goes silent) and what the connection must do then.

use super::*;
use std::future::Future;
use tokio::net::TcpListener;

/// The server side of one connection, driven step by step by a test.
struct Peer {
  socket: TcpStream,
  buf: BytesMut,
  framer: Framer,
}

impl Peer {
  /// Reads `n` commands (RESP arrays, as clients send them) and returns their bytes.
  async fn commands(&mut self, n: usize) -> Vec<Bytes> {
    let mut out = Vec::new();
    while out.len() < n {
      if let Some(len) = self.framer.next_reply(&self.buf).unwrap() {
        out.push(self.buf.split_to(len).freeze());
        continue;
      }
      assert!(
        self.socket.read_buf(&mut self.buf).await.unwrap() > 0,
        "the client closed the connection"
      );
    }
    out
  }

  /// Answers the login pipeline (PING, ROLE) as a primary would.
  async fn login(&mut self) {
    self.commands(2).await;
    self.send(b"+PONG\r\n*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n").await;
  }

  async fn send(&mut self, bytes: &[u8]) {
    self.socket.write_all(bytes).await.unwrap();
  }
}

/// A listener on a free loopback port and a connection to it; `script` plays the server.
async fn with_peer<S, F>(timeout: Duration, script: S) -> (Connection, tokio::task::JoinHandle<()>)
where
  S: FnOnce(Peer) -> F + Send + 'static,
  F: Future<Output = ()> + Send + 'static,
{
  let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
  let port = listener.local_addr().unwrap().port();
  let server = tokio::spawn(async move {
    let (socket, _) = listener.accept().await.unwrap();
    let mut peer = Peer {
      socket,
      buf: BytesMut::new(),
      framer: Framer::default(),
    };
    peer.login().await;
    script(peer).await
  });
  let endpoint = Endpoint {
    host: "127.0.0.1".into(),
    port,
    socket: None,
    tls: None,
    username: None,
    password: None,
    db: 0,
    command_timeout: timeout,
    sentinels: None,
    primary_only: true,
  };
  let conn = connect(&endpoint, &[]).await.map_err(|e| e.message).unwrap();
  (conn, server)
}

fn get(key: &str) -> Request {
  Request::command(redis::cmd("GET").arg(key))
}

fn soon(ms: u64) -> Instant {
  Instant::now() + Duration::from_millis(ms)
}

#[tokio::test]
async fn a_late_reply_answers_its_own_request_not_the_next() {
  let (conn, server) = with_peer(Duration::from_secs(5), |mut peer| async move {
    peer.commands(1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    peer.send(b"$4\r\nlate\r\n").await;
    peer.commands(1).await;
    peer.send(b"$4\r\nmine\r\n").await;
    peer.commands(1).await;
  })
  .await;
  let first = conn.send(get("a"), soon(100)).await;
  assert!(matches!(first, Err(Error::TimedOut { sent: true, .. })), "{:?}", first.err());
  let second = conn.send(get("b"), soon(2000)).await.unwrap().values();
  assert_eq!(second, vec![Value::BulkString(b"mine".to_vec())]);
  drop(conn);
  server.await.unwrap_err();
}

#[tokio::test]
async fn garbage_and_empty_lines_fail_the_calls_and_the_connection() {
  for garbage in [&b"\r\n"[..], b"?what\r\n", b"$-7\r\n", b"*1\r\n\r\n", b"+no cr\n"] {
    let (conn, _server) = with_peer(Duration::from_secs(5), move |mut peer| async move {
      peer.commands(1).await;
      peer.send(garbage).await;
      let _ = peer.socket.read_buf(&mut peer.buf).await;
    })
    .await;
    let outcome = conn.send(get("a"), soon(2000)).await;
    assert!(matches!(outcome, Err(Error::Protocol(_))), "{garbage:?}: {:?}", outcome.err());
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(conn.is_broken(), "{garbage:?}");
  }
}

#[tokio::test]
async fn null_bulks_and_arrays_are_replies() {
  let (conn, _server) = with_peer(Duration::from_secs(5), |mut peer| async move {
    peer.commands(3).await;
    peer.send(b"$-1\r\n*-1\r\n*0\r\n").await;
    peer.commands(1).await;
  })
  .await;
  let mut pipe = redis::pipe();
  pipe
    .cmd("GET")
    .arg("a")
    .cmd("LRANGE")
    .arg("b")
    .arg(0)
    .arg(1)
    .cmd("KEYS")
    .arg("none");
  let replies = conn.send(Request::pipeline(&pipe).unwrap(), soon(2000)).await.unwrap().values();
  assert_eq!(replies, vec![Value::Nil, Value::Nil, Value::Array(vec![])]);
}

#[tokio::test]
async fn a_peer_that_writes_before_it_reads_does_not_deadlock_the_connection() {
  const BIG: usize = 32 << 20;
  let (conn, server) = with_peer(Duration::from_secs(20), |mut peer| async move {
    peer.commands(1).await;
    // a large reply written whole before anything more is read (as some proxies do)
    let mut reply = format!("${BIG}\r\n").into_bytes();
    reply.resize(reply.len() + BIG, b'x');
    reply.extend_from_slice(b"\r\n");
    peer.send(&reply).await;
    peer.commands(1).await;
    peer.send(b"+OK\r\n").await;
    peer.commands(1).await;
  })
  .await;
  let value = "y".repeat(BIG);
  let (big_reply, big_request) = tokio::join!(
    conn.send(get("big"), soon(20_000)),
    conn.send(Request::command(redis::cmd("SET").arg("k").arg(&value)), soon(20_000)),
  );
  assert!(matches!(&big_reply.unwrap().values()[0], Value::BulkString(b) if b.len() == BIG));
  assert_eq!(big_request.unwrap().values(), vec![Value::Okay]);
  drop(conn);
  server.await.unwrap_err();
}

#[tokio::test]
async fn a_request_that_timed_out_in_the_queue_is_never_written() {
  const BIG: usize = 64 << 20;
  let (gave_up, small_gave_up) = oneshot::channel::<()>();
  let (conn, server) = with_peer(Duration::from_secs(20), |mut peer| async move {
    // read nothing until the client's writer is stuck and the small request gave up
    small_gave_up.await.unwrap();
    peer.commands(1).await;
    peer.send(b"+OK\r\n").await;
    // whatever arrives now must be the probe sent after, not the abandoned request
    let next = peer.commands(1).await;
    assert!(next[0].windows(5).any(|w| w == b"probe"), "{:?}", String::from_utf8_lossy(&next[0]));
    peer.send(b"+PONG\r\n").await;
    peer.commands(1).await;
  })
  .await;
  let value = "y".repeat(BIG);
  let big = conn.send(Request::command(redis::cmd("SET").arg("k").arg(&value)), soon(20_000));
  let small = async {
    tokio::time::sleep(Duration::from_millis(100)).await;
    let outcome = conn.send(get("abandoned"), soon(200)).await;
    gave_up.send(()).unwrap();
    outcome
  };
  let (big, small) = tokio::join!(big, small);
  assert_eq!(
    small.err(),
    Some(Error::TimedOut {
      sent: false,
      after: Duration::from_secs(20)
    })
  );
  assert_eq!(big.unwrap().values(), vec![Value::Okay]);
  let probe = conn.send(Request::command(redis::cmd("ECHO").arg("probe")), soon(5000)).await;
  assert_eq!(probe.unwrap().values(), vec![Value::SimpleString("PONG".into())]);
  drop(conn);
  server.await.unwrap_err();
}

#[tokio::test]
async fn a_half_closed_peer_fails_what_is_in_flight_as_lost() {
  let (conn, _server) = with_peer(Duration::from_secs(5), |mut peer| async move {
    peer.commands(1).await;
    peer.socket.shutdown().await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
  })
  .await;
  let outcome = conn.send(get("a"), soon(2000)).await;
  assert!(matches!(outcome, Err(Error::Lost(_))), "{:?}", outcome.err());
  assert!(conn.is_broken());
  let after = conn.send(get("b"), soon(2000)).await;
  assert!(matches!(after, Err(Error::NotSent(_))), "{:?}", after.err());
}

#[tokio::test]
async fn the_socket_closes_as_soon_as_the_last_handle_is_gone() {
  let (closed_tx, closed) = oneshot::channel();
  let (conn, _server) = with_peer(Duration::from_secs(30), |mut peer| async move {
    peer.commands(1).await;
    // never answers; waits for the client to hang up
    let started = Instant::now();
    while peer.socket.read_buf(&mut peer.buf).await.unwrap_or(0) > 0 {}
    let _ = closed_tx.send(started.elapsed());
  })
  .await;
  let call = tokio::spawn({
    let conn = conn.clone();
    async move { conn.send(get("a"), soon(30_000)).await }
  });
  tokio::time::sleep(Duration::from_millis(100)).await;
  call.abort();
  drop(conn);
  let waited = tokio::time::timeout(Duration::from_secs(2), closed)
    .await
    .expect("socket still open")
    .unwrap();
  assert!(waited < Duration::from_secs(2));
}

#[tokio::test]
async fn a_silent_peer_is_noticed_by_the_heartbeat() {
  let (conn, _server) = with_peer(Duration::from_millis(300), |mut peer| async move {
    // reads the heartbeat and never answers, like a host that vanished
    let _ = peer.commands(2).await;
  })
  .await;
  assert!(!conn.is_broken());
  tokio::time::sleep(HEARTBEAT * 2 + Duration::from_millis(600)).await;
  assert!(conn.is_broken(), "a silent peer was not noticed");
}

#[tokio::test]
async fn requests_beyond_the_limit_wait_then_fail_as_not_sent() {
  let (conn, _server) = with_peer(Duration::from_secs(5), |mut peer| async move {
    peer.commands(MAX_IN_FLIGHT).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
  })
  .await;
  let deadline = soon(500);
  let waiting: Vec<_> = (0..MAX_IN_FLIGHT + 1).map(|_| conn.send(get("a"), deadline)).collect();
  let outcomes = futures_util::future::join_all(waiting).await;
  let not_sent = outcomes.iter().filter(|o| matches!(o, Err(Error::NotSent(_)))).count();
  assert_eq!(not_sent, 1);
  assert!(outcomes.iter().all(|o| o.is_err()));
}

#[test]
fn transactions_are_refused_not_miscounted() {
  let mut pipe = redis::pipe();
  pipe.atomic().cmd("SET").arg("a").arg(1).cmd("GET").arg("a");
  assert!(matches!(Request::pipeline(&pipe), Err(Error::Unsupported(_))));
}

#[test]
fn login_replies_are_judged() {
  let error = |line: &str| redis::parse_redis_value(line.as_bytes()).unwrap();
  let wrongpass = judge_login_reply(Step::Auth, error("-WRONGPASS invalid username-password pair\r\n")).unwrap_err();
  assert!(wrongpass.permanent && wrongpass.message.contains("authentication failed"));
  assert!(
    judge_login_reply(Step::Select, error("-ERR DB index is out of range\r\n"))
      .unwrap_err()
      .permanent
  );
  assert!(
    judge_login_reply(Step::Auth, error("-NOPERM this user has no permissions\r\n"))
      .unwrap_err()
      .permanent
  );
  assert!(
    !judge_login_reply(Step::Ping, error("-LOADING Redis is loading the dataset in memory\r\n"))
      .unwrap_err()
      .permanent
  );
  assert!(judge_login_reply(
    Step::Ping,
    error("-NOPERM this user has no permissions to run the 'ping' command\r\n")
  )
  .is_ok());
  let replica = redis::parse_redis_value(b"*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:6379\r\n$9\r\nconnected\r\n:1\r\n").unwrap();
  assert!(!judge_login_reply(Step::Role, replica).unwrap_err().permanent);
}
