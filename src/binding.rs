//! The napi boundary: converts JS arguments, delegates to [`crate::store`], converts back.
//!
//! This class is internal; `store.cjs` wraps it into the public `RedisStore`. Values cross as
//! JSON text. Each call takes an id from the wrapper and returns at once; its outcome comes back
//! through the one `settle` callback the store was made with, as `(id, code, payload)`. In a
//! batch each call's failure is a `"CODE: message"` string inside the result (see
//! `store/batch.rs`).

use crate::error::StoreError;
use crate::store::config::{Options, TlsOptions};
use crate::store::{IndexReadOptions, Store, StreamReadOptions};
use napi::bindgen_prelude::{FnArgs, Function};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Error, Result, Status};
use napi_derive::napi;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

#[napi_derive::module_init]
fn init() {
  // rustls (TLS connections) needs a process-wide crypto provider; Err only means one is installed.
  let _ = rustls::crypto::ring::default_provider().install_default();
  // One worker thread: it owns the sockets, so a reply is decoded where it is read and the
  // call it answers resumes there, with no hand-off between tokio threads. On two cores that
  // made one-command calls ~25% faster than the default of a worker per core, and large reads
  // no slower (the JS thread, which parses their JSON, is the other half of that work).
  let runtime = tokio::runtime::Builder::new_multi_thread()
    .worker_threads(1)
    .thread_name("nvent-redis")
    .enable_all()
    .build();
  if let Ok(runtime) = runtime {
    napi::bindgen_prelude::create_custom_tokio_runtime(runtime);
  }
}

const DEFAULT_BUSY_POLL_MICROS: u64 = 100;

fn js(e: StoreError) -> Error {
  Error::new(Status::GenericFailure, e.to_string())
}

/// Settings, flattened and already validated by the JS wrapper.
#[napi(object)]
pub struct NativeOptions {
  pub url: Option<String>,
  pub host: Option<String>,
  pub port: Option<u32>,
  pub username: Option<String>,
  pub password: Option<String>,
  pub db: Option<i64>,
  pub tls: Option<bool>,
  pub tls_ca: Option<String>,
  pub tls_cert: Option<String>,
  pub tls_key: Option<String>,
  pub tls_servername: Option<String>,
  pub connect_timeout_ms: Option<u32>,
  pub command_timeout_ms: Option<u32>,
  pub trim_max_len: Option<f64>,
  pub trim_approx: Option<bool>,
  pub busy_poll_micros: Option<u32>,
}

impl From<NativeOptions> for Options {
  fn from(o: NativeOptions) -> Options {
    let tls_wanted =
      o.tls.unwrap_or(false) || o.tls_ca.is_some() || o.tls_cert.is_some() || o.tls_key.is_some() || o.tls_servername.is_some();
    Options {
      url: o.url,
      host: o.host,
      port: o.port.map(|p| p as u16),
      username: o.username,
      password: o.password,
      db: o.db,
      tls: tls_wanted.then_some(TlsOptions {
        ca: o.tls_ca,
        cert: o.tls_cert,
        key: o.tls_key,
        servername: o.tls_servername,
      }),
      connect_timeout: o.connect_timeout_ms.map(|ms| Duration::from_millis(ms.into())),
      command_timeout: o.command_timeout_ms.map(|ms| Duration::from_millis(ms.into())),
      trim_max_len: o.trim_max_len.map(|n| n as u64),
      trim_approx: o.trim_approx.unwrap_or(true),
    }
  }
}

#[napi(object)]
pub struct NativeStreamReadOptions {
  pub types: Option<Vec<String>>,
  pub after: Option<String>,
  pub before: Option<String>,
  pub from: Option<f64>,
  pub to: Option<f64>,
  pub limit: Option<f64>,
  pub desc: Option<bool>,
}

#[napi(object)]
pub struct NativeIndexReadOptions {
  pub offset: Option<f64>,
  pub limit: Option<f64>,
  pub filter: Option<String>,
}

/// Where every call's outcome goes: `(call id, error code or '', JSON result or error message)`.
/// One threadsafe function for the store, instead of napi's promise per call, each of which
/// makes and closes a threadsafe function (a libuv handle) of its own.
type Settle = ThreadsafeFunction<FnArgs<(u32, &'static str, String)>, (), FnArgs<(u32, &'static str, String)>, Status, false, true>;

#[napi]
pub struct NativeStore {
  store: Arc<Store>,
  /// The same store with its reads behind the writes in flight (see `Store::ordered`), made
  /// once: every batch of writes runs on it.
  ordered: Arc<Store>,
  busy_poll: Duration,
  settle: Arc<Settle>,
}

/// A call's result as JSON text, for the settle callback.
trait Json {
  fn json(self) -> String;
}

impl Json for String {
  fn json(self) -> String {
    self
  }
}

impl Json for () {
  fn json(self) -> String {
    "null".into()
  }
}

impl Json for u64 {
  fn json(self) -> String {
    self.to_string()
  }
}

#[napi]
impl NativeStore {
  /// `settle(id, code, payload)` receives each call's outcome: `code` is `''` and `payload` the
  /// JSON result, or `code` is the error code and `payload` the message. It does not keep the
  /// event loop alive; the JS wrapper does while calls are in flight.
  #[napi(constructor)]
  pub fn new(options: NativeOptions, settle: Function<FnArgs<(u32, &'static str, String)>, ()>) -> Result<Self> {
    let busy_poll = Duration::from_micros(options.busy_poll_micros.map_or(DEFAULT_BUSY_POLL_MICROS, u64::from));
    let store = Store::new(&options.into()).map_err(js)?;
    let ordered = Arc::new(store.ordered());
    let settle = settle
      .build_threadsafe_function()
      .callee_handled::<false>()
      .weak::<true>()
      .build()?;
    Ok(NativeStore {
      store: Arc::new(store),
      ordered,
      busy_poll,
      settle: Arc::new(settle),
    })
  }

  /// Runs `call` on tokio, within the command timeout, with its own handle on the store, so that
  /// it may outlive this object: a worker thread terminated with calls in flight frees the
  /// object while they still run. `ordered` puts its reads behind the writes already asked for.
  /// The outcome goes to `settle` under `id`.
  fn spawn<T, F, Fut>(&self, id: u32, ordered: bool, call: F)
  where
    T: Json + Send + 'static,
    F: FnOnce(Arc<Store>) -> Fut,
    Fut: Future<Output = crate::error::Result<T>> + Send + 'static,
  {
    let busy_poll = self.busy_poll;
    let store = if ordered { &self.ordered } else { &self.store }.clone();
    let call = store.bounded(call(store.clone()));
    let settle = self.settle.clone();
    crate::spin::call_started(busy_poll);
    napi::bindgen_prelude::spawn(async move {
      let outcome = match call.await {
        Ok(value) => ("", value.json()),
        Err(e) => (e.code.as_str(), e.message),
      };
      crate::spin::after_call(busy_poll);
      // fails only when the JS side is gone (a terminated worker): nobody waits then
      let _ = settle.call(FnArgs::from((id, outcome.0, outcome.1)), ThreadsafeFunctionCallMode::NonBlocking);
    });
  }

  /// `host:port` of the server.
  #[napi(getter)]
  pub fn address(&self) -> String {
    self.store.address().to_string()
  }

  #[napi]
  pub fn close(&self) {
    self.store.close();
  }

  #[napi(getter)]
  pub fn closed(&self) -> bool {
    self.store.is_closed()
  }

  /// Runs many calls in one crossing (see src/store/batch.rs for the format).
  #[napi]
  pub fn batch(&self, id: u32, ops: String, ordered: bool) {
    self.spawn(id, ordered, |store| async move { store.batch(&ops).await })
  }

  #[napi]
  pub fn stream_read(&self, id: u32, subject: String, options: NativeStreamReadOptions, ordered: bool) {
    let opts = StreamReadOptions {
      types: options.types,
      after: options.after,
      before: options.before,
      from: options.from,
      to: options.to,
      limit: options.limit,
      desc: options.desc.unwrap_or(false),
    };
    self.spawn(id, ordered, |store| async move { store.stream_read(&subject, &opts).await })
  }

  #[napi]
  pub fn index_read(&self, id: u32, key: String, options: NativeIndexReadOptions, ordered: bool) {
    let opts = IndexReadOptions {
      offset: options.offset,
      limit: options.limit,
      filter_json: options.filter,
    };
    self.spawn(id, ordered, |store| async move { store.index_read(&key, &opts).await })
  }

  #[napi]
  pub fn index_update_with_retry(&self, id: u32, key: String, entry: String, partial: String, max_retries: u32) {
    self.spawn(id, false, |store| async move {
      store.index_update_with_retry(&key, &entry, &partial, max_retries).await
    })
  }

  #[napi]
  pub fn kv_clear(&self, id: u32, pattern: String) {
    // on the writes' connection: it deletes what the writes before it wrote
    self.spawn(id, true, |store| async move { store.kv_clear(&pattern).await })
  }
}
