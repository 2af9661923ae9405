//! `@nvent-addon/adapter-store-redis`: nvent's Redis store as a native Node.js addon.
//!
//! - [`codec`]: pure conversions between JSON values and what lands in Redis.
//! - [`store`]: the three tiers (stream, index, kv) over one Redis connection; no napi.
//! - `binding`: the napi class that converts arguments and delegates to [`store`].
//! - `node_loop`: the runtime on Node's own thread, turned by its event loop (Linux).
//! - `io_thread`: the runtime on a thread of its own (`ioThread: true`, and outside Linux);
//!   `spin`: how long that thread stays awake after a call.
#![deny(clippy::all)]

pub mod codec;
pub mod error;
pub(crate) mod scripts;
pub mod store;

#[cfg(feature = "napi")]
mod binding;
#[cfg(feature = "napi")]
mod io_thread;
#[cfg(all(feature = "napi", target_os = "linux"))]
mod node_loop;
#[cfg(feature = "napi")]
mod spin;

// Decoding replies allocates a string per field; glibc's allocator spent a fifth of the
// addon's CPU time on that under load (README, Performance), mimalloc far less.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
