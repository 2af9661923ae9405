//! Busy-polling for a moment after each call, instead of putting the I/O thread to sleep.
//!
//! A call that finds the tokio worker asleep waits for the kernel to wake it, and on a virtual
//! machine that wake-up took longer than the Redis round trip itself (README, Performance).
//! So after a call completes, the worker may keep polling its sockets and queue for a short
//! window (`busyPollMicros`, 100 µs by default): a call made within it — the next one of a
//! sequential loop, or the next slice of a busy one — starts at once.
//!
//! It does so only while calls actually come that close together: when the last call that
//! arrived to an idle thread had found it idle for longer than the window, spinning would most
//! likely be wasted (a server making a call every millisecond would spend a tenth of a core on
//! it), so the thread goes to sleep at once. A store that is not being called never spins.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);
/// Nanoseconds after `EPOCH` until which the worker keeps polling.
static UNTIL: AtomicU64 = AtomicU64::new(0);
static SPINNING: AtomicBool = AtomicBool::new(false);
/// When the last call ended.
static LAST_END: AtomicU64 = AtomicU64::new(0);
/// Calls started and not yet ended.
static IN_FLIGHT: AtomicU64 = AtomicU64::new(0);
/// Whether the last call that found no other in flight came within the window after the one
/// before ended: calls follow one another, and a spin catches the next one. Calls that come
/// while others are in flight say nothing about the gap that follows them, so they leave it be.
static CLOSE: AtomicBool = AtomicBool::new(true);

fn now() -> u64 {
  EPOCH.elapsed().as_nanos() as u64
}

/// Notes a call's start (on the JS thread); `after_call` notes its end.
pub fn call_started(window: Duration) {
  if IN_FLIGHT.fetch_add(1, Ordering::Relaxed) == 0 {
    let idle = now().saturating_sub(LAST_END.load(Ordering::Relaxed));
    CLOSE.store(idle <= window.as_nanos() as u64, Ordering::Relaxed);
  }
}

/// Keeps the current tokio worker polling for `window` from now while calls follow one another
/// that closely. Call it from the runtime when a call ends.
pub fn after_call(window: Duration) {
  IN_FLIGHT.fetch_sub(1, Ordering::Relaxed);
  let end = now();
  LAST_END.store(end, Ordering::Relaxed);
  if window.is_zero() || !CLOSE.load(Ordering::Relaxed) {
    return;
  }
  UNTIL.fetch_max(end + window.as_nanos() as u64, Ordering::Relaxed);
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
