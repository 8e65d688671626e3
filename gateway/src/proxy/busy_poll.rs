//! The opt-in low-latency mode (`apisix.stream_proxy.busy_poll_us`, off by default), like
//! HAProxy's `busy-polling`: after relay activity the data-plane workers keep polling for
//! readiness instead of sleeping in `epoll_wait`, for up to the configured window, then sleep
//! as usual.
//!
//! How: one spinner task per worker. While the last relay activity is younger than the window,
//! the spinner calls `tokio::task::yield_now()`. tokio defers a yielded task until the worker
//! has polled its I/O driver, and a worker whose run queue holds only deferred tasks polls the
//! driver with a zero timeout (`epoll_wait(…, 0)`) instead of parking. So the worker thread
//! never goes to sleep while the window is open, and a packet arriving then needs no thread
//! wake-up (on a VM: no idle exit and re-entry of the CPU), which is where the added latency
//! of a proxy hop on an idle core comes from. Once the window has passed, the spinner waits on
//! a [`Notify`] that the next relay activity signals: an idle gateway sleeps and burns nothing.
//!
//! The relays report activity through [`BusyPoll::touch`] with the time they already took for
//! their idle timer. It writes the shared timestamp only when it is older than a fraction of
//! the window, so busy flows on several workers do not bounce its cache line on every read.
//! With the mode off (the default) the relays hold `None` and do nothing more than before.
//!
//! The workers share one timestamp: activity on any worker keeps every worker spinning
//! (in the multi-thread layout tokio does not tie a task to a worker anyway).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::runtime::Workers;

/// The relays' handle on the low-latency mode; dropping it stops the spinners.
#[derive(Debug)]
pub struct BusyPoll {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// How long after the last activity the workers keep polling (ns).
    window_ns: u64,
    /// `last_ns` is rewritten only when older than this (ns).
    refresh_ns: u64,
    epoch: Instant,
    /// Time of the last relay activity, ns since `epoch` (at least 1); 0 = none yet.
    last_ns: AtomicU64,
    /// A spinner sleeps (or is about to): the next activity must wake it.
    sleeping: AtomicBool,
    wake: Notify,
    stopped: AtomicBool,
}

impl BusyPoll {
    /// Starts one spinner per data-plane worker: on each per-core worker runtime, or
    /// `workers` tasks on the current (multi-thread) runtime.
    pub fn start(window: Duration, workers: &Workers, count: usize) -> BusyPoll {
        let window_ns = u64::try_from(window.as_nanos()).unwrap_or(u64::MAX);
        let shared = Arc::new(Shared {
            window_ns,
            refresh_ns: window_ns / 8,
            epoch: Instant::now(),
            last_ns: AtomicU64::new(0),
            sleeping: AtomicBool::new(false),
            wake: Notify::new(),
            stopped: AtomicBool::new(false),
        });
        match workers.handles() {
            Some(handles) => {
                for handle in handles {
                    handle.spawn(spin(shared.clone()));
                }
            }
            None => {
                for _ in 0..count.max(1) {
                    tokio::spawn(spin(shared.clone()));
                }
            }
        }
        tracing::info!(window = ?window, "low-latency mode: workers poll for up to the window after relay activity");
        BusyPoll { shared }
    }

    /// Relay activity at `now`: keeps (or starts) the workers polling for one more window.
    #[inline]
    pub fn touch(&self, now: tokio::time::Instant) {
        let shared = &*self.shared;
        let now_ns = shared.nanos(now.into_std()).max(1);
        if now_ns.saturating_sub(shared.last_ns.load(Ordering::Relaxed)) < shared.refresh_ns {
            return;
        }
        shared.last_ns.store(now_ns, Ordering::SeqCst);
        if shared.sleeping.load(Ordering::SeqCst) && shared.sleeping.swap(false, Ordering::SeqCst) {
            shared.wake.notify_waiters();
        }
    }
}

impl Drop for BusyPoll {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        self.shared.wake.notify_waiters();
    }
}

impl Shared {
    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    /// The last activity is younger than the window.
    fn polling(&self) -> bool {
        let last = self.last_ns.load(Ordering::SeqCst);
        last != 0 && self.nanos(Instant::now()).saturating_sub(last) < self.window_ns
    }
}

/// One worker's spinner: yields (the worker polls epoll with a zero timeout) while the window
/// is open, sleeps on the wake-up otherwise; ends when the [`BusyPoll`] is dropped.
async fn spin(shared: Arc<Shared>) {
    loop {
        if shared.stopped.load(Ordering::SeqCst) {
            return;
        }
        if shared.polling() {
            tokio::task::yield_now().await;
            continue;
        }
        let woken = shared.wake.notified();
        let mut woken = std::pin::pin!(woken);
        woken.as_mut().enable();
        shared.sleeping.store(true, Ordering::SeqCst);
        // Activity between the check above and `sleeping` being seen would not wake us.
        if shared.polling() || shared.stopped.load(Ordering::SeqCst) {
            continue;
        }
        woken.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn the_spinner_sleeps_without_activity_and_stops_with_its_handle() {
        let busy = BusyPoll::start(Duration::from_millis(100), &Workers::default(), 1);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            busy.shared.sleeping.load(Ordering::SeqCst),
            "no activity yet: asleep"
        );
        busy.touch(tokio::time::Instant::now());
        assert!(
            !busy.shared.sleeping.load(Ordering::SeqCst),
            "activity wakes it"
        );
        assert!(busy.shared.polling(), "and opens the window");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            busy.shared.sleeping.load(Ordering::SeqCst),
            "asleep again after the window"
        );
        let shared = busy.shared.clone();
        drop(busy);
        tokio::time::timeout(Duration::from_secs(5), async {
            while Arc::strong_count(&shared) > 1 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the spinner ended after its handle was dropped");
    }
}
