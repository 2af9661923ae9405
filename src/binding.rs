//! The napi boundary: converts JS arguments, delegates to [`crate::store`], converts back.
//!
//! This class is internal; `store.cjs` wraps it into the public `RedisStore`. Values cross as
//! JSON text, and a failure reaches JS as an `Error` whose message starts with its code
//! (`"NOT_FOUND: index.increment(…): …"`), which the wrapper turns into `err.code`; in a batch
//! each call's failure is such a message inside the result (see `store/batch.rs`).

use crate::error::StoreError;
use crate::store::config::{Options, TlsOptions};
use crate::store::{IndexReadOptions, Store, StreamReadOptions};
use napi::bindgen_prelude::{PromiseRaw, ToNapiValue};
use napi::{Env, Error, Result, Status};
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

#[napi]
pub struct NativeStore {
  store: Arc<Store>,
  busy_poll: Duration,
}

#[napi]
impl NativeStore {
  #[napi(constructor)]
  pub fn new(options: NativeOptions) -> Result<Self> {
    let busy_poll = Duration::from_micros(options.busy_poll_micros.map_or(DEFAULT_BUSY_POLL_MICROS, u64::from));
    let store = Store::new(&options.into()).map_err(js)?;
    Ok(NativeStore {
      store: Arc::new(store),
      busy_poll,
    })
  }

  /// Runs `call` on tokio, within the command timeout, with its own handle on the store, so that
  /// it may outlive this object: a worker thread terminated with calls in flight frees the
  /// object while they still run. `ordered` puts its reads behind the writes already asked for.
  fn spawn<'env, T, F, Fut>(&self, env: &'env Env, ordered: bool, call: F) -> Result<PromiseRaw<'env, T>>
  where
    T: ToNapiValue + Send + 'static,
    F: FnOnce(Arc<Store>) -> Fut,
    Fut: Future<Output = crate::error::Result<T>> + Send + 'static,
  {
    let busy_poll = self.busy_poll;
    let store = if ordered {
      Arc::new(self.store.ordered())
    } else {
      self.store.clone()
    };
    let call = call(store.clone());
    let call = store.bounded(call);
    crate::spin::call_started(busy_poll);
    env.spawn_future(async move {
      let result = call.await;
      crate::spin::after_call(busy_poll);
      result.map_err(js)
    })
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
  #[napi(ts_return_type = "Promise<string>")]
  pub fn batch<'env>(&self, env: &'env Env, ops: String, ordered: bool) -> Result<PromiseRaw<'env, String>> {
    self.spawn(env, ordered, |store| async move { store.batch(&ops).await })
  }

  #[napi(ts_return_type = "Promise<string>")]
  pub fn stream_read<'env>(
    &self,
    env: &'env Env,
    subject: String,
    options: NativeStreamReadOptions,
    ordered: bool,
  ) -> Result<PromiseRaw<'env, String>> {
    let opts = StreamReadOptions {
      types: options.types,
      after: options.after,
      before: options.before,
      from: options.from,
      to: options.to,
      limit: options.limit,
      desc: options.desc.unwrap_or(false),
    };
    self.spawn(env, ordered, |store| async move { store.stream_read(&subject, &opts).await })
  }

  #[napi(ts_return_type = "Promise<string>")]
  pub fn index_read<'env>(
    &self,
    env: &'env Env,
    key: String,
    options: NativeIndexReadOptions,
    ordered: bool,
  ) -> Result<PromiseRaw<'env, String>> {
    let opts = IndexReadOptions {
      offset: options.offset,
      limit: options.limit,
      filter_json: options.filter,
    };
    self.spawn(env, ordered, |store| async move { store.index_read(&key, &opts).await })
  }

  #[napi(ts_return_type = "Promise<void>")]
  pub fn index_update_with_retry<'env>(
    &self,
    env: &'env Env,
    key: String,
    id: String,
    partial: String,
    max_retries: u32,
  ) -> Result<PromiseRaw<'env, ()>> {
    self.spawn(env, false, |store| async move {
      store.index_update_with_retry(&key, &id, &partial, max_retries).await
    })
  }

  #[napi(ts_return_type = "Promise<number>")]
  pub fn kv_clear<'env>(&self, env: &'env Env, pattern: String) -> Result<PromiseRaw<'env, f64>> {
    // on the writes' connection: it deletes what the writes before it wrote
    self.spawn(env, true, |store| async move { store.kv_clear(&pattern).await.map(|n| n as f64) })
  }
}
