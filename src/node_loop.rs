//! The stores' tokio runtime, run on Node's own thread and turned by Node's event loop (Linux).
//!
//! A lone call on a runtime of its own thread crosses from the JS thread to that thread and
//! back: two wake-ups of a sleeping thread, which on a VM cost more CPU and latency than the
//! Redis round trip itself (README, Performance). Here each JS thread that makes a store gets a
//! current-thread runtime of its own, the way Deno runs tokio beside V8:
//! - a store with calls made since the loop last turned asks to be flushed (`defer_flush`):
//!   before the event loop next waits for I/O (a libuv prepare handle), each such store sends
//!   its calls as one batch, however many callbacks of the loop iteration made them;
//! - `batch()` queues the batch's task; after the flushes the runtime is turned: the calls
//!   queued since the last turn run until they wait, and their requests leave in one write per
//!   connection;
//! - libuv watches the runtime's epoll descriptor beside Node's own (an epoll descriptor is
//!   readable while any socket registered in it is ready, or another thread woke the runtime),
//!   and turns the runtime when it is: replies are read, decoded and their calls finished;
//! - outcomes go to each store's `settle` function right after the turn, in one callback scope,
//!   so promise reactions run as they would after any I/O callback; calls those reactions make
//!   start at once;
//! - tokio's timers have no descriptor, so a libuv timer turns the runtime every 10 ms while
//!   calls are in flight (deadlines, retries) and every 250 ms otherwise (heartbeats, reconnects).
//!
//! Where the descriptor cannot be found, the stores of that thread use the I/O thread instead
//! (see `io_thread`), as does a store made with `ioThread: true`.

use napi::sys;
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::ffi::{c_int, c_void};
use std::ptr;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A call's outcome: `(call id, error code or '', JSON result or error message)`.
pub type Outcome = (u32, &'static str, String);

/// Outcomes of one store's calls, filled by its tasks, emptied after each turn.
#[derive(Default)]
pub struct Outbox(Mutex<Vec<Outcome>>);

impl Outbox {
  pub fn push(&self, outcome: Outcome) {
    self.0.lock().unwrap().push(outcome);
  }
}

/// How often the runtime is turned when nothing else turns it: while calls are in flight or a
/// connection is being re-established (deadlines, retry waits and connection attempts are
/// accurate to this), and otherwise (heartbeats and their
/// timeouts, reconnection attempts between calls: a silent peer is noticed within two
/// heartbeats and a command timeout, each up to a tick late). Each tick wakes the JS thread,
/// which on a VM costs ~0.1 ms of CPU.
const TICK_IN_FLIGHT: Duration = Duration::from_millis(10);
const TICK_IDLE: Duration = Duration::from_millis(250);

/// Rounds of a turn at most, before the loop gets to run its other callbacks.
const ROUNDS_PER_TURN: usize = 16;

/// Tasks woken and not yet run. The local queue's depth is a `tokio_unstable` metric (set in
/// .cargo/config.toml); a build without it (RUSTFLAGS replaces that setting) ends each turn
/// after two rounds, and what the second round's poll woke runs at the next tick.
#[cfg(tokio_unstable)]
fn queued(metrics: &tokio::runtime::RuntimeMetrics) -> usize {
  metrics.worker_local_queue_depth(0) + metrics.global_queue_depth()
}
#[cfg(tokio_unstable)]
const MIN_ROUNDS: usize = 1;

#[cfg(not(tokio_unstable))]
fn queued(_: &tokio::runtime::RuntimeMetrics) -> usize {
  0
}
#[cfg(not(tokio_unstable))]
const MIN_ROUNDS: usize = 2;

/// Calls queued at most before they start, though the event loop has not yet come to wait:
/// batches of a burst (each up to 16 calls, see store.cjs) then reach Redis while JS makes the
/// rest (100k calls made at once: ~2x the throughput of waiting for the loop). Counted in calls,
/// not batches: calls spread over a loop iteration's callbacks come one per batch, and starting
/// them four at a time cost a paced `kv.get` a turn and a write per four calls (at 20000/s
/// 27–31 µs of CPU per call against 21–23 µs when they all went in one).
const FLUSH_AT: usize = 64;

/// Turns in one wake-up at most, while the calls that outcomes let go on make calls of their own.
const TURNS_PER_WAKE_UP: usize = 8;

// libuv, as Node exports it to addons (uv.h: UV_POLL, UV_PREPARE and UV_TIMER of uv_handle_type).
const UV_POLL: c_int = 8;
const UV_PREPARE: c_int = 9;
const UV_TIMER: c_int = 13;
const UV_READABLE: c_int = 1;
type Handle = c_void;
extern "C" {
  fn uv_handle_size(kind: c_int) -> usize;
  fn uv_handle_get_type(handle: *const Handle) -> c_int;
  fn uv_handle_set_data(handle: *mut Handle, data: *mut c_void);
  fn uv_handle_get_data(handle: *const Handle) -> *mut c_void;
  fn uv_poll_init(event_loop: *mut sys::uv_loop_s, handle: *mut Handle, fd: c_int) -> c_int;
  fn uv_poll_start(handle: *mut Handle, events: c_int, callback: extern "C" fn(*mut Handle, c_int, c_int)) -> c_int;
  fn uv_prepare_init(event_loop: *mut sys::uv_loop_s, handle: *mut Handle) -> c_int;
  fn uv_prepare_start(handle: *mut Handle, callback: extern "C" fn(*mut Handle)) -> c_int;
  fn uv_prepare_stop(handle: *mut Handle) -> c_int;
  fn uv_timer_init(event_loop: *mut sys::uv_loop_s, handle: *mut Handle) -> c_int;
  fn uv_timer_start(handle: *mut Handle, callback: extern "C" fn(*mut Handle), timeout: u64, repeat: u64) -> c_int;
  fn uv_unref(handle: *mut Handle);
  fn uv_close(handle: *mut Handle, callback: extern "C" fn(*mut Handle));
}

/// A zeroed libuv handle of `kind`; `free_handle` frees it once libuv has closed it.
fn new_handle(kind: c_int) -> *mut Handle {
  let layout = std::alloc::Layout::from_size_align(unsafe { uv_handle_size(kind) }, 16).unwrap();
  unsafe { std::alloc::alloc_zeroed(layout).cast() }
}

extern "C" fn free_handle(handle: *mut Handle) {
  unsafe {
    let layout = std::alloc::Layout::from_size_align(uv_handle_size(uv_handle_get_type(handle)), 16).unwrap();
    std::alloc::dealloc(handle.cast(), layout);
  }
}

/// The epoll descriptors of this process (`/proc/self/fd`).
fn eventpoll_fds() -> HashSet<c_int> {
  let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
    return HashSet::new();
  };
  entries
    .flatten()
    .filter(|entry| std::fs::read_link(entry.path()).is_ok_and(|target| target.as_os_str() == "anon_inode:[eventpoll]"))
    .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
    .collect()
}

/// What an epoll descriptor watches (its `tfd` lines in `/proc/self/fdinfo`): the same for two
/// descriptors of one epoll instance.
fn watched_by(fd: c_int) -> Vec<String> {
  let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).unwrap_or_default();
  info.lines().filter(|line| line.starts_with("tfd:")).map(str::to_string).collect()
}

/// A current-thread runtime and the epoll descriptor of its I/O driver (the driver keeps a
/// duplicate of it for registrations).
fn runtime_with_descriptor() -> Option<(tokio::runtime::Runtime, c_int)> {
  let before = eventpoll_fds();
  let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
  let made: Vec<c_int> = eventpoll_fds().difference(&before).copied().collect();
  let first = *made.iter().min()?;
  let watches = watched_by(first);
  // another thread made an epoll instance meanwhile: which is ours is unknown
  if made.iter().any(|&fd| watched_by(fd) != watches) {
    return None;
  }
  Some((runtime, first))
}

type Task = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'static>>;

/// A store's `settle` function and the outbox of its calls.
struct Listener {
  outbox: std::sync::Weak<Outbox>,
  settle: sys::napi_ref,
}

pub struct NodeLoop {
  runtime: tokio::runtime::Runtime,
  env: sys::napi_env,
  poll: *mut Handle,
  prepare: *mut Handle,
  timer: *mut Handle,
  /// Batches queued since the last turn, and the calls they hold.
  queued: RefCell<Vec<Task>>,
  queued_calls: Cell<usize>,
  /// The resource and async context outcomes are delivered in (async_hooks see one per thread).
  resource: sys::napi_ref,
  context: sys::napi_async_context,
  listeners: RefCell<Vec<Listener>>,
  /// The flush functions of stores with calls waiting in JS (see `defer_flush`).
  flushes: RefCell<Vec<sys::napi_ref>>,
  /// The outcomes being delivered, with their stores' `settle` functions: kept between
  /// deliveries, like the vectors above, so that a lone call allocates none of them.
  ready: RefCell<Vec<(sys::napi_ref, Outcome)>>,
  in_flight: Cell<usize>,
  turning: Cell<bool>,
  work_left: Cell<bool>,
  /// Outcomes are being handed to JS (calls made meanwhile start at once).
  delivering: Cell<bool>,
}

thread_local! {
  /// This thread's loop: `None` before the first store, `Some(None)` where it cannot run or
  /// after its environment went.
  static LOOP: RefCell<Option<Option<Rc<NodeLoop>>>> = const { RefCell::new(None) };
}

impl NodeLoop {
  /// This JS thread's loop, made with its first store; `None` means use the I/O thread.
  pub fn of_thread(env: sys::napi_env) -> Option<Rc<NodeLoop>> {
    LOOP.with(|cell| {
      cell
        .borrow_mut()
        .get_or_insert_with(|| unsafe { NodeLoop::start(env) }.map(Rc::new).inspect(|node_loop| node_loop.watch()))
        .clone()
    })
  }

  /// This thread's loop, if it runs.
  pub fn current() -> Option<Rc<NodeLoop>> {
    LOOP.with(|cell| cell.borrow().clone().flatten())
  }

  unsafe fn start(env: sys::napi_env) -> Option<NodeLoop> {
    let (runtime, fd) = runtime_with_descriptor()?;
    let mut event_loop = ptr::null_mut();
    if sys::napi_get_uv_event_loop(env, &mut event_loop) != sys::Status::napi_ok {
      return None;
    }
    let (poll, prepare, timer) = (new_handle(UV_POLL), new_handle(UV_PREPARE), new_handle(UV_TIMER));
    if uv_poll_init(event_loop, poll, fd) != 0 || uv_prepare_init(event_loop, prepare) != 0 || uv_timer_init(event_loop, timer) != 0 {
      // a handle is registered with the loop only once its init succeeded: a poll handle's
      // init fails first if any does, and the few bytes are left
      return None;
    }
    // none keeps the process alive: the JS wrapper holds it open while calls are in flight
    for handle in [poll, prepare, timer] {
      uv_unref(handle);
    }
    let mut resource = ptr::null_mut();
    let mut name = ptr::null_mut();
    let mut resource_ref = ptr::null_mut();
    let mut context = ptr::null_mut();
    const NAME: &str = "RedisStore";
    sys::napi_create_object(env, &mut resource);
    sys::napi_create_string_utf8(env, NAME.as_ptr().cast(), NAME.len() as isize, &mut name);
    sys::napi_create_reference(env, resource, 1, &mut resource_ref);
    sys::napi_async_init(env, resource, name, &mut context);
    Some(NodeLoop {
      runtime,
      env,
      poll,
      prepare,
      timer,
      queued: RefCell::new(Vec::new()),
      queued_calls: Cell::new(0),
      resource: resource_ref,
      context,
      listeners: RefCell::new(Vec::new()),
      flushes: RefCell::new(Vec::new()),
      ready: RefCell::new(Vec::new()),
      in_flight: Cell::new(0),
      turning: Cell::new(false),
      work_left: Cell::new(false),
      delivering: Cell::new(false),
    })
  }

  /// Starts the libuv handles, and the hook that closes them when the environment goes (a worker
  /// thread's loop must have no open handle left when it closes).
  fn watch(self: &Rc<Self>) {
    let this = Rc::as_ptr(self) as *mut c_void;
    unsafe {
      for handle in [self.poll, self.prepare, self.timer] {
        uv_handle_set_data(handle, this);
      }
      uv_poll_start(self.poll, UV_READABLE, on_ready);
      let mut hook = ptr::null_mut();
      sys::napi_add_async_cleanup_hook(self.env, Some(on_cleanup), this, &mut hook);
    }
    self.arm_timer();
  }

  /// Registers a store: its outcomes go to `settle`, a JS function.
  pub fn listen(&self, settle: sys::napi_value) -> Arc<Outbox> {
    let outbox = Arc::new(Outbox::default());
    let mut settle_ref = ptr::null_mut();
    unsafe { sys::napi_create_reference(self.env, settle, 1, &mut settle_ref) };
    self.listeners.borrow_mut().push(Listener {
      outbox: Arc::downgrade(&outbox),
      settle: settle_ref,
    });
    self.arm_timer();
    outbox
  }

  /// Calls `flush`, a store's JS function that sends the calls it holds, before the event loop
  /// next waits, so that the calls of a loop iteration's callbacks (a server's requests) travel
  /// as one batch: one crossing, one task and one outcome instead of one per callback (a paced
  /// `kv.get` at 5000/s: 14 µs of CPU per call against 17 µs with a batch per callback). The
  /// reference holds the function, and so the store, until then. False while outcomes are being
  /// delivered: the store sends its calls at once (see `run`).
  pub fn defer_flush(&self, flush: sys::napi_value) -> bool {
    if self.delivering.get() {
      return false;
    }
    let mut flush_ref = ptr::null_mut();
    if unsafe { sys::napi_create_reference(self.env, flush, 1, &mut flush_ref) } != sys::Status::napi_ok {
      return false;
    }
    self.flushes.borrow_mut().push(flush_ref);
    unsafe { uv_prepare_start(self.prepare, on_wake) };
    true
  }

  /// Queues the task of a batch of `calls` calls; it starts before the event loop next waits
  /// (see the module doc), or at once with the batches queued before it when they hold
  /// `FLUSH_AT` calls, or when it is made while outcomes are delivered: a caller going on after
  /// its await keeps Redis busy at once, as Redis has just answered it (64 calls in flight:
  /// `kv.set` 340–367k/s against 190–240k/s when they waited for the delivery to end).
  pub fn run(&self, calls: usize, task: impl std::future::Future<Output = ()> + Send + 'static) {
    self.in_flight.set(self.in_flight.get() + 1);
    self.queued_calls.set(self.queued_calls.get() + calls);
    let mut queued = self.queued.borrow_mut();
    queued.push(Box::pin(task));
    if self.delivering.get() || self.queued_calls.get() >= FLUSH_AT {
      // a burst: its first calls go now, so that Redis works on them while JS makes the rest
      drop(queued);
      self.turn(self.take_queued());
      // outcomes that are ready already reach JS from the loop, not from inside this call
      self.arm_timer();
    } else if queued.len() == 1 {
      unsafe { uv_prepare_start(self.prepare, on_wake) };
    }
  }

  fn take_queued(&self) -> Vec<Task> {
    self.queued_calls.set(0);
    std::mem::take(&mut *self.queued.borrow_mut())
  }

  /// Puts an emptied vector back into `cell` for its next pushes, unless pushes made meanwhile
  /// gave it one already: a vector taken and dropped each turn cost a lone call an allocation.
  fn give_back<T>(cell: &RefCell<Vec<T>>, mut emptied: Vec<T>) {
    emptied.clear();
    let mut now = cell.borrow_mut();
    if now.capacity() == 0 {
      *now = emptied;
    }
  }

  /// Spawns `tasks` and runs every task that is ready, polling the I/O driver and timers
  /// without waiting between rounds (tokio wakes a yielded `block_on` only after both), until a
  /// poll wakes nothing: what it wakes would otherwise wait, as the epoll descriptor is then no
  /// longer readable. Spawned inside, the tasks go on the local queue without waking the driver.
  /// It stops with work left after `ROUNDS_PER_TURN`, so as not to hold the JS thread for long.
  fn turn(&self, mut tasks: Vec<Task>) {
    if self.turning.replace(true) {
      return;
    }
    let done = self.runtime.block_on(async {
      for task in tasks.drain(..) {
        tokio::spawn(task);
      }
      let metrics = tokio::runtime::Handle::current().metrics();
      for round in 1..=ROUNDS_PER_TURN {
        tokio::task::yield_now().await;
        if round >= MIN_ROUNDS && queued(&metrics) == 0 {
          return true;
        }
      }
      false
    });
    Self::give_back(&self.queued, tasks);
    self.work_left.set(!done);
    self.turning.set(false);
  }

  /// After a wake-up (the descriptor is readable, calls are queued, or a tick): turns, hands the
  /// outcomes to JS, and turns again for the calls that made.
  fn woken(&self) {
    for _ in 0..TURNS_PER_WAKE_UP {
      self.flush_stores();
      self.turn(self.take_queued());
      self.deliver();
      // calls started while outcomes were delivered may have finished already
      if self.queued.borrow().is_empty() && !self.has_outcomes() {
        break;
      }
    }
    if self.queued.borrow().is_empty() && self.flushes.borrow().is_empty() {
      unsafe { uv_prepare_stop(self.prepare) };
    }
    self.arm_timer();
  }

  /// Calls the flush functions of the stores that asked (see `defer_flush`).
  fn flush_stores(&self) {
    let mut flushes = std::mem::take(&mut *self.flushes.borrow_mut());
    if flushes.is_empty() {
      Self::give_back(&self.flushes, flushes);
      return;
    }
    unsafe {
      self.in_callback_scope(|env, receiver| {
        for flush_ref in flushes.drain(..) {
          let mut flush = ptr::null_mut();
          sys::napi_get_reference_value(env, flush_ref, &mut flush);
          sys::napi_delete_reference(env, flush_ref);
          call_function(env, receiver, flush, &[]);
        }
      })
    };
    Self::give_back(&self.flushes, flushes);
  }

  /// Turns the runtime again at once when calls or outcomes wait or a turn left work, else at
  /// the tick (none once this thread has no store).
  fn arm_timer(&self) {
    let due = if self.work_left.get() || !self.queued.borrow().is_empty() || !self.flushes.borrow().is_empty() || self.has_outcomes() {
      Duration::ZERO
    } else if self.in_flight.get() > 0 || crate::store::conn::reconnecting() {
      TICK_IN_FLIGHT
    } else if !self.listeners.borrow().is_empty() {
      TICK_IDLE
    } else {
      // no store left on this thread: nothing to tick for until the next one
      return;
    };
    unsafe { uv_timer_start(self.timer, on_wake, due.as_millis() as u64, 0) };
  }

  fn has_outcomes(&self) -> bool {
    self
      .listeners
      .borrow()
      .iter()
      .any(|l| l.outbox.upgrade().is_some_and(|o| !o.0.lock().unwrap().is_empty()))
  }

  /// Hands the outcomes of the last turn to their stores' `settle` functions.
  fn deliver(&self) {
    let mut ready = std::mem::take(&mut *self.ready.borrow_mut());
    self.listeners.borrow_mut().retain(|listener| match listener.outbox.upgrade() {
      Some(outbox) => {
        // drained, not taken: the outbox keeps its allocation for the next outcomes
        ready.extend(outbox.0.lock().unwrap().drain(..).map(|outcome| (listener.settle, outcome)));
        true
      }
      None => {
        // the store and its calls are gone
        unsafe { sys::napi_delete_reference(self.env, listener.settle) };
        false
      }
    });
    if !ready.is_empty() {
      self.in_flight.set(self.in_flight.get().saturating_sub(ready.len()));
      // no borrow is held from here: the JS called may make calls of its own
      self.delivering.set(true);
      unsafe { self.call_js(&mut ready) };
      self.delivering.set(false);
    }
    Self::give_back(&self.ready, ready);
  }

  unsafe fn call_js(&self, ready: &mut Vec<(sys::napi_ref, Outcome)>) {
    self.in_callback_scope(|env, receiver| {
      let mut function = ptr::null_mut();
      let mut function_of = ptr::null_mut();
      for (settle, (id, code, payload)) in ready.drain(..) {
        if settle != function_of {
          sys::napi_get_reference_value(env, settle, &mut function);
          function_of = settle;
        }
        let mut args = [ptr::null_mut(); 3];
        sys::napi_create_uint32(env, id, &mut args[0]);
        sys::napi_create_string_utf8(env, code.as_ptr().cast(), code.len() as isize, &mut args[1]);
        sys::napi_create_string_utf8(env, payload.as_ptr().cast(), payload.len() as isize, &mut args[2]);
        call_function(env, receiver, function, &args);
      }
    });
  }

  /// Runs `body` with a handle scope and a callback scope open: closing the callback scope runs
  /// the microtasks (promise reactions) and nextTicks that the JS called queued.
  unsafe fn in_callback_scope(&self, body: impl FnOnce(sys::napi_env, sys::napi_value)) {
    let env = self.env;
    let mut handles = ptr::null_mut();
    if sys::napi_open_handle_scope(env, &mut handles) != sys::Status::napi_ok {
      // the environment is shutting down: nobody waits
      return;
    }
    let mut resource = ptr::null_mut();
    let mut scope = ptr::null_mut();
    let mut receiver = ptr::null_mut();
    sys::napi_get_reference_value(env, self.resource, &mut resource);
    sys::napi_get_undefined(env, &mut receiver);
    if sys::napi_open_callback_scope(env, resource, self.context, &mut scope) == sys::Status::napi_ok {
      body(env, receiver);
      sys::napi_close_callback_scope(env, scope);
    }
    sys::napi_close_handle_scope(env, handles);
  }
}

/// Calls a JS function of the wrapper's; those do not throw, and if one did, the process learns
/// as of an exception in any callback.
unsafe fn call_function(env: sys::napi_env, receiver: sys::napi_value, function: sys::napi_value, args: &[sys::napi_value]) {
  let mut result = ptr::null_mut();
  if sys::napi_call_function(env, receiver, function, args.len(), args.as_ptr(), &mut result) == sys::Status::napi_pending_exception {
    let mut error = ptr::null_mut();
    sys::napi_get_and_clear_last_exception(env, &mut error);
    sys::napi_fatal_exception(env, error);
  }
}

/// The poll handle: the runtime's epoll descriptor is readable.
extern "C" fn on_ready(handle: *mut Handle, _status: c_int, _events: c_int) {
  on_wake(handle);
}

/// The prepare handle (calls are queued) or the timer (a tick, or outcomes waiting).
extern "C" fn on_wake(handle: *mut Handle) {
  let node_loop = unsafe { &*(uv_handle_get_data(handle) as *const NodeLoop) };
  node_loop.woken();
}

/// The environment is going: the runtime stops (its tasks are dropped) and the handles close.
unsafe extern "C" fn on_cleanup(hook: sys::napi_async_cleanup_hook_handle, _: *mut c_void) {
  let Some(Some(node_loop)) = LOOP.with(|cell| cell.borrow_mut().replace(None)) else {
    return;
  };
  // the handles' data must stay valid until they are closed: they now point at what closes them
  let closing = Box::into_raw(Box::new(Closing { hook, open: Cell::new(3) }));
  for handle in [node_loop.poll, node_loop.prepare, node_loop.timer] {
    uv_handle_set_data(handle, closing.cast());
    uv_close(handle, on_closed);
  }
  // (the thread-local held the only handle: stores look it up per call)
  if let Ok(node_loop) = Rc::try_unwrap(node_loop) {
    node_loop.runtime.shutdown_background();
  }
}

struct Closing {
  hook: sys::napi_async_cleanup_hook_handle,
  open: Cell<u8>,
}

extern "C" fn on_closed(handle: *mut Handle) {
  unsafe {
    let closing = uv_handle_get_data(handle) as *mut Closing;
    free_handle(handle);
    (*closing).open.set((*closing).open.get() - 1);
    if (*closing).open.get() == 0 {
      let closing = Box::from_raw(closing);
      sys::napi_remove_async_cleanup_hook(closing.hook);
    }
  }
}
