//! The stores' tokio runtime on a thread of its own: for stores made with `ioThread: true`, and
//! where Node's event loop cannot drive it (see `node_loop`). Each call crosses from the JS
//! thread to this one and its outcome back through a threadsafe function.

use napi::bindgen_prelude::FnArgs;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::Status;
use std::sync::LazyLock;
use std::time::Duration;

/// Where every call's outcome goes: `(call id, error code or '', JSON result or error message)`.
/// One threadsafe function for the store, instead of napi's promise per call, each of which
/// makes and closes a threadsafe function (a libuv handle) of its own.
pub type Settle = ThreadsafeFunction<FnArgs<(u32, &'static str, String)>, (), FnArgs<(u32, &'static str, String)>, Status, false, true>;

// One worker thread: it owns the sockets, so a reply is decoded where it is read and the call it
// answers resumes there, with no hand-off between tokio threads. On two cores that made
// one-command calls ~25% faster than the default of a worker per core, and large reads no
// slower (the JS thread, which parses their JSON, is the other half of that work).
static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
  tokio::runtime::Builder::new_multi_thread()
    .worker_threads(1)
    .thread_name("nvent-redis")
    .enable_all()
    .build()
    .expect("the I/O thread could not start")
});

/// Runs a call on the I/O thread; its outcome goes to `settle`. After it, the thread polls for
/// up to `busy_poll` before it sleeps (see `spin`).
pub fn run(
  busy_poll: Duration,
  settle: std::sync::Arc<Settle>,
  id: u32,
  call: impl std::future::Future<Output = (&'static str, String)> + Send + 'static,
) {
  crate::spin::call_started(busy_poll);
  RUNTIME.spawn(async move {
    let (code, payload) = call.await;
    crate::spin::after_call(busy_poll);
    // fails only when the JS side is gone (a terminated worker): nobody waits then
    let _ = settle.call(FnArgs::from((id, code, payload)), ThreadsafeFunctionCallMode::NonBlocking);
  });
}
