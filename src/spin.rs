//! Busy-polling for a moment after each call, instead of putting the I/O thread to sleep.
//!
//! A call that finds the tokio worker asleep waits for the kernel to wake it, and on a virtual
//! machine that wake-up took longer than the Redis round trip itself (README, Performance).
//! So after a call completes, the worker keeps polling its sockets and queue for a short window
//! (`busyPollMicros`, 100 µs by default): a call made within it — the next one of a sequential
//! loop, or the next slice of a busy one — starts at once. The cost is CPU time in that window
//! only; a store that is not being called does not spin.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);
/// Nanoseconds after `EPOCH` until which the worker keeps polling.
static UNTIL: AtomicU64 = AtomicU64::new(0);
static SPINNING: AtomicBool = AtomicBool::new(false);

fn now() -> u64 {
  EPOCH.elapsed().as_nanos() as u64
}

/// Keeps the current tokio worker polling for `window` from now. Call it from the runtime.
pub fn after_call(window: Duration) {
  if window.is_zero() {
    return;
  }
  UNTIL.fetch_max(now() + window.as_nanos() as u64, Ordering::Relaxed);
  if SPINNING.swap(true, Ordering::AcqRel) {
    return;
  }
  tokio::spawn(async {
    loop {
      // tokio runs a yielded task again only after it has polled its I/O driver, so each turn
      // picks up replies and newly spawned calls
      while now() < UNTIL.load(Ordering::Relaxed) {
        tokio::task::yield_now().await;
      }
      SPINNING.store(false, Ordering::Release);
      // a call that ended just before the store above saw SPINNING set and left it to us
      if now() >= UNTIL.load(Ordering::Relaxed) || SPINNING.swap(true, Ordering::AcqRel) {
        return;
      }
    }
  });
}
