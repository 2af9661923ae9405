//! The napi boundary: converts JS arguments, delegates to [`crate::store`], converts back.
//!
//! This class is internal; `store.cjs` wraps it into the public `RedisStore`. Values cross as
//! JSON text. Each call takes an id from the wrapper and returns at once; its outcome comes back
//! through the one `settle` callback the store was made with, as `(id, code, payload)`; inside a
//! batch's result each call's failure is `[0, code, message]` (see `store/batch.rs`).

use crate::error::{Code, StoreError};
use crate::io_thread::{self, Settle};
#[cfg(target_os = "linux")]
use crate::node_loop::{NodeLoop, Outbox};
use crate::store::config::{self, Options, SentinelOptions, TlsOptions};
use crate::store::Store;
use napi::bindgen_prelude::{FnArgs, Function, Unknown};
#[cfg(target_os = "linux")]
use napi::JsValue;
use napi::{sys, Env, Error};
use napi_derive::napi;
use std::sync::Arc;
use std::time::Duration;

#[napi_derive::module_init]
fn init() {
  // rustls (TLS connections) needs a process-wide crypto provider; Err only means one is installed.
  let _ = rustls::crypto::ring::default_provider().install_default();
}

// The option defaults (src/store/config.rs), for the docs and the tests that check them. (A test
// build of the crate does not register napi exports, so there they look unused.)
#[cfg_attr(test, allow(dead_code))]
#[napi]
pub const DEFAULT_CONNECT_TIMEOUT_MS: u32 = config::DEFAULT_CONNECT_TIMEOUT.as_millis() as u32;
#[cfg_attr(test, allow(dead_code))]
#[napi]
pub const DEFAULT_COMMAND_TIMEOUT_MS: u32 = config::DEFAULT_COMMAND_TIMEOUT.as_millis() as u32;
#[cfg_attr(test, allow(dead_code))]
#[napi]
pub const DEFAULT_TRIM_MAX_LEN: u32 = config::DEFAULT_TRIM_MAX_LEN as u32;
#[cfg_attr(test, allow(dead_code))]
#[napi]
pub const DEFAULT_BUSY_POLL_MICROS: u32 = config::DEFAULT_BUSY_POLL.as_micros() as u32;

/// A store error as a JS error whose `code` is the store's code.
fn js(e: StoreError) -> Error<Code> {
  Error::new(e.code, e.message)
}

/// Settings, flattened and already validated by the JS wrapper.
#[napi(object)]
pub struct NativeOptions {
  pub url: Option<String>,
  pub host: Option<String>,
  pub port: Option<u32>,
  /// A Unix socket, instead of host and port.
  pub path: Option<String>,
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
  /// On the I/O thread instead of Node's event loop (src/io_thread.rs).
  pub io_thread: Option<bool>,
  pub busy_poll_micros: Option<u32>,
  /// Cluster mode: `host:port` of some of the nodes.
  pub cluster: Option<Vec<String>>,
  /// Sentinel mode: `host:port` of each sentinel, and the primary's name.
  pub sentinels: Option<Vec<String>>,
  pub sentinel_name: Option<String>,
  pub sentinel_username: Option<String>,
  pub sentinel_password: Option<String>,
  pub sentinel_tls: Option<bool>,
  pub sentinel_tls_ca: Option<String>,
  pub sentinel_tls_cert: Option<String>,
  pub sentinel_tls_key: Option<String>,
  pub sentinel_tls_servername: Option<String>,
}

impl From<NativeOptions> for Options {
  fn from(o: NativeOptions) -> Options {
    let tls_wanted =
      o.tls.unwrap_or(false) || o.tls_ca.is_some() || o.tls_cert.is_some() || o.tls_key.is_some() || o.tls_servername.is_some();
    Options {
      url: o.url,
      path: o.path,
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
      trim_approx: o.trim_approx,
      busy_poll: o.busy_poll_micros.map(|us| Duration::from_micros(us.into())),
      cluster: o.cluster.as_deref().map(host_ports),
      sentinel: o.sentinels.map(|nodes| SentinelOptions {
        nodes: host_ports(&nodes),
        name: o.sentinel_name.unwrap_or_default(),
        username: o.sentinel_username,
        password: o.sentinel_password,
        tls: o.sentinel_tls.unwrap_or(false).then_some(TlsOptions {
          ca: o.sentinel_tls_ca,
          cert: o.sentinel_tls_cert,
          key: o.sentinel_tls_key,
          servername: o.sentinel_tls_servername,
        }),
      }),
    }
  }
}

/// `host:port` strings as pairs (the JS wrapper checked that every one is `host:port`).
fn host_ports(nodes: &[String]) -> Vec<(String, u16)> {
  nodes
    .iter()
    .filter_map(|node| node.rsplit_once(':'))
    .filter_map(|(host, port)| Some((host.to_string(), port.parse().ok()?)))
    .collect()
}

/// Where a store's calls run, and how their outcomes reach its `settle` function.
enum Runner {
  /// On this thread, driven by Node's event loop (src/node_loop.rs).
  #[cfg(target_os = "linux")]
  NodeLoop(Arc<Outbox>),
  /// On the I/O thread (src/io_thread.rs).
  IoThread { busy_poll: Duration, settle: Arc<Settle> },
}

impl Runner {
  /// On this thread's event loop where it can run the store, else on the I/O thread.
  fn new(
    env: Env,
    io_thread: bool,
    busy_poll: Duration,
    settle: Function<FnArgs<(u32, &'static str, String)>, ()>,
  ) -> Result<Runner, Error<Code>> {
    #[cfg(target_os = "linux")]
    if !io_thread {
      if let Some(node_loop) = NodeLoop::of_thread(env.raw()) {
        return Ok(Runner::NodeLoop(node_loop.listen(settle.raw())));
      }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (env, io_thread);
    let settle = settle
      .build_threadsafe_function()
      .callee_handled::<false>()
      .weak::<true>()
      .build()
      .map_err(|e| Error::new(Code::Redis, e.reason.clone()))?;
    Ok(Runner::IoThread {
      busy_poll,
      settle: Arc::new(settle),
    })
  }
}

/// What a store's calls need: the store, and where its calls run. Shared by the class and the
/// two functions the wrapper calls for every batch (see [`NativeStore::batch_functions`]).
struct Calls {
  store: Arc<Store>,
  /// The same store with its reads behind the writes in flight (see `Store::ordered`), made
  /// once: every batch of writes runs on it.
  ordered: Arc<Store>,
  runner: Runner,
}

impl Calls {
  /// Whether `flush` (which sends the calls the wrapper holds) will be called before the event
  /// loop next waits for I/O; false means the wrapper sends them itself, at the end of the
  /// current task: on the I/O thread, or while outcomes are delivered (see
  /// `NodeLoop::defer_flush`).
  fn defer_flush(&self, flush: sys::napi_value) -> bool {
    match &self.runner {
      #[cfg(target_os = "linux")]
      Runner::NodeLoop(_) => NodeLoop::current().is_some_and(|node_loop| node_loop.defer_flush(flush)),
      Runner::IoThread { .. } => {
        let _ = flush;
        false
      }
    }
  }

  /// Runs `calls` calls in one crossing (see src/store/batch.rs for the format of `ops`).
  /// `ordered` puts their reads behind the writes already asked for. The outcome goes to
  /// `settle` under `id`.
  fn batch(&self, id: u32, ops: String, calls: u32, ordered: bool) {
    let store = if ordered { &self.ordered } else { &self.store }.clone();
    // its place among the calls that keep their order, taken here: tokio may start the tasks of
    // calls in another order than they were spawned
    let ticket = ordered.then(|| store.ticket());
    // the task holds its own handle on the store, so that it may outlive this object: a worker
    // thread terminated with calls in flight frees the object while they still run
    let call = async move {
      // boxed: its state holds every operation's futures (1.6 kB), and this small wrapper is what
      // gets moved into the runtime's task (moving the whole state, then 3 kB, was ~5% of a
      // paced `kv.get`'s CPU, in memmove)
      match store.bounded(ticket, Box::pin(store.batch(&ops))).await {
        Ok(json) => ("", json),
        Err(e) => (e.code.as_str(), e.message),
      }
    };
    match &self.runner {
      #[cfg(target_os = "linux")]
      Runner::NodeLoop(outbox) => {
        let outbox = outbox.clone();
        // none once the environment is going: nobody waits then
        if let Some(node_loop) = NodeLoop::current() {
          node_loop.run(calls as usize, async move {
            let (code, payload) = call.await;
            outbox.push((id, code, payload));
          });
        }
      }
      Runner::IoThread { busy_poll, settle } => {
        #[cfg(not(target_os = "linux"))]
        let _ = calls;
        io_thread::run(*busy_poll, settle.clone(), id, call)
      }
    }
  }
}

#[napi]
pub struct NativeStore {
  calls: Arc<Calls>,
}

#[napi]
impl NativeStore {
  /// `settle(id, code, payload)` receives each call's outcome: `code` is `''` and `payload` the
  /// JSON result, or `code` is the error code and `payload` the message. It does not keep the
  /// event loop alive; the JS wrapper does while calls are in flight.
  #[napi(constructor)]
  pub fn new(env: Env, options: NativeOptions, settle: Function<FnArgs<(u32, &'static str, String)>, ()>) -> Result<Self, Error<Code>> {
    let io_thread = options.io_thread.unwrap_or(false);
    let options = Options::from(options);
    let busy_poll = options.busy_poll.unwrap_or(config::DEFAULT_BUSY_POLL);
    let store = Store::new(&options).map_err(js)?;
    let ordered = Arc::new(store.ordered());
    let runner = Runner::new(env, io_thread, busy_poll, settle)?;
    let calls = Calls {
      store: Arc::new(store),
      ordered,
      runner,
    };
    Ok(NativeStore { calls: Arc::new(calls) })
  }

  /// Where the server is: `host:port`, or with Sentinel the primary's name and the sentinels.
  #[napi(getter)]
  pub fn address(&self) -> String {
    self.calls.store.address().to_string()
  }

  #[napi]
  pub fn close(&self) {
    self.calls.store.close();
  }

  /// `[batch, deferFlush]`, the functions the wrapper calls for every batch (see [`Calls`]).
  /// They are made with Node-API itself: napi-rs's glue for a method (a registry of borrows
  /// behind a process-wide lock, allocations, an unwrap with a type-tag check) made a call of
  /// `deferFlush` take 1.0–1.2 µs, where it takes 0.06–0.08 µs now.
  #[napi(
    ts_return_type = "[batch: (id: number, ops: string, calls: number, ordered: boolean) => void, deferFlush: (flush: () => void) => boolean]"
  )]
  pub fn batch_functions(&self, env: Env) -> napi::Result<Unknown<'_>> {
    let env = env.raw();
    unsafe {
      let mut pair = std::ptr::null_mut();
      napi::check_status!(sys::napi_create_array_with_length(env, 2, &mut pair))?;
      let batch = direct::function(env, c"batch", direct::batch, &self.calls)?;
      let defer_flush = direct::function(env, c"deferFlush", direct::defer_flush, &self.calls)?;
      napi::check_status!(sys::napi_set_element(env, pair, 0, batch))?;
      napi::check_status!(sys::napi_set_element(env, pair, 1, defer_flush))?;
      Ok(Unknown::from_raw_unchecked(env, pair))
    }
  }
}

/// Node-API callbacks of the functions made by [`NativeStore::batch_functions`]; each holds its
/// own handle on the [`Calls`], dropped when the engine collects the function.
mod direct {
  use super::Calls;
  use napi::bindgen_prelude::FromNapiValue;
  use napi::sys;
  use std::ffi::{c_void, CStr};
  use std::ptr;
  use std::sync::Arc;

  type Callback = unsafe extern "C" fn(sys::napi_env, sys::napi_callback_info) -> sys::napi_value;

  /// A JS function `name` that runs `callback` with a handle of its own on `calls`.
  pub unsafe fn function(env: sys::napi_env, name: &CStr, callback: Callback, calls: &Arc<Calls>) -> napi::Result<sys::napi_value> {
    let data = Arc::into_raw(calls.clone()) as *mut c_void;
    let mut function = ptr::null_mut();
    let made = napi::check_status!(sys::napi_create_function(
      env,
      name.as_ptr(),
      name.count_bytes() as isize,
      Some(callback),
      data,
      &mut function,
    ))
    .and_then(|()| {
      napi::check_status!(sys::napi_add_finalizer(
        env,
        function,
        data,
        Some(release),
        ptr::null_mut(),
        ptr::null_mut(),
      ))
    });
    if let Err(e) = made {
      // the function, if made, never reaches JS and so is never called
      release(env, data, ptr::null_mut());
      return Err(e);
    }
    Ok(function)
  }

  unsafe extern "C" fn release(_: sys::napi_env, data: *mut c_void, _: *mut c_void) {
    drop(Arc::from_raw(data as *const Calls));
  }

  /// The call's first `N` arguments (`undefined` where fewer were given) and its `Calls`.
  unsafe fn arguments<'a, const N: usize>(
    env: sys::napi_env,
    info: sys::napi_callback_info,
  ) -> napi::Result<([sys::napi_value; N], &'a Calls)> {
    let mut argc = N;
    let mut argv = [ptr::null_mut(); N];
    let mut data = ptr::null_mut();
    napi::check_status!(sys::napi_get_cb_info(
      env,
      info,
      &mut argc,
      argv.as_mut_ptr(),
      ptr::null_mut(),
      &mut data,
    ))?;
    Ok((argv, &*(data as *const Calls)))
  }

  /// `batch(id, ops, calls, ordered)`: see [`Calls::batch`].
  pub unsafe extern "C" fn batch(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    let call = || {
      let ([id, ops, count, ordered], calls) = arguments::<4>(env, info)?;
      let id = u32::from_napi_value(env, id)?;
      let ops = String::from_napi_value(env, ops)?;
      calls.batch(id, ops, u32::from_napi_value(env, count)?, bool::from_napi_value(env, ordered)?);
      Ok::<_, napi::Error>(())
    };
    if let Err(e) = call() {
      napi::JsError::from(e).throw_into(env);
    }
    ptr::null_mut()
  }

  /// `deferFlush(flush)`: see [`Calls::defer_flush`].
  pub unsafe extern "C" fn defer_flush(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    let mut result = ptr::null_mut();
    match arguments::<1>(env, info).map(|([flush], calls)| calls.defer_flush(flush)) {
      Ok(deferred) => {
        sys::napi_get_boolean(env, deferred, &mut result);
      }
      Err(e) => napi::JsError::from(e).throw_into(env),
    }
    result
  }
}
