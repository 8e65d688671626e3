//! Overload protection: at most `nginx_config.event.worker_connections` concurrent client
//! sessions per worker (an accepted TCP connection or a UDP session; the upstream leg is not
//! counted separately, as HAProxy's `maxconn`, unlike nginx).
//!
//! An accept loop takes a slot ([`SessionSlots::acquire`]) before it accepts. At the cap it
//! waits for one, so new clients wait in the kernel's backlog instead of being accepted and
//! dropped, and the loop spends no CPU. It resumes as soon as a session ends and its slot is
//! released (the [`SessionSlot`] is dropped with the session). A UDP datagram that would start
//! a session at the cap is dropped instead ([`SessionSlots::try_acquire`]): a datagram cannot
//! wait in a backlog once read. The time spent at the cap is counted for the metrics and
//! `/v1/status`.
//!
//! [`Admission`] holds the slots of every worker: one pool per per-core worker, or one pool
//! of `worker_connections × worker_processes` for the multi-thread runtime.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// A session's slot, released when dropped.
pub type SessionSlot = OwnedSemaphorePermit;

/// One worker's pool of session slots.
#[derive(Debug)]
pub struct SessionSlots {
    free: Arc<Semaphore>,
    capacity: usize,
    /// When the current stretch at the cap began (`None`: not at the cap).
    at_cap_since: Mutex<Option<Instant>>,
    /// Finished stretches at the cap, in microseconds.
    at_cap_micros: AtomicU64,
}

impl SessionSlots {
    /// A pool of `capacity` slots (at most tokio's `Semaphore::MAX_PERMITS`).
    pub fn new(capacity: usize) -> SessionSlots {
        let capacity = capacity.clamp(1, Semaphore::MAX_PERMITS);
        SessionSlots {
            free: Arc::new(Semaphore::new(capacity)),
            capacity,
            at_cap_since: Mutex::new(None),
            at_cap_micros: AtomicU64::new(0),
        }
    }

    /// A slot, waiting (without spinning) while every slot is taken.
    pub async fn acquire(&self) -> SessionSlot {
        if let Ok(slot) = self.free.clone().try_acquire_owned() {
            return slot;
        }
        self.cap_reached();
        let slot = self
            .free
            .clone()
            .acquire_owned()
            .await
            .expect("the slot semaphore is never closed");
        self.cap_left();
        slot
    }

    /// A slot if one is free now; `None` at the cap (the caller counts the refusal: a UDP
    /// session is counted as `session_table_full`).
    pub fn try_acquire(&self) -> Option<SessionSlot> {
        self.free.clone().try_acquire_owned().ok()
    }

    fn cap_reached(&self) {
        let mut since = self
            .at_cap_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if since.is_none() {
            *since = Some(Instant::now());
            tracing::warn!(
                worker_connections = self.capacity,
                "worker_connections reached: not accepting until a session ends"
            );
        }
    }

    fn cap_left(&self) {
        let mut since = self
            .at_cap_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(start) = since.take() {
            let micros = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
            self.at_cap_micros.fetch_add(micros, Ordering::Relaxed);
        }
    }

    /// Slots in the pool.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Slots taken by live sessions (and by accept loops about to accept).
    pub fn in_use(&self) -> usize {
        self.capacity - self.free.available_permits()
    }

    /// Time spent at the cap so far, the current stretch included.
    pub fn time_at_cap(&self) -> Duration {
        let done = Duration::from_micros(self.at_cap_micros.load(Ordering::Relaxed));
        let ongoing = self
            .at_cap_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map_or(Duration::ZERO, |start| start.elapsed());
        done + ongoing
    }
}

/// The session slots of every worker.
#[derive(Debug)]
pub struct Admission {
    workers: Vec<Arc<SessionSlots>>,
}

impl Default for Admission {
    /// No practical cap (one pool of tokio's maximum): for tests and tools.
    fn default() -> Self {
        Admission {
            workers: vec![Arc::new(SessionSlots::new(Semaphore::MAX_PERMITS))],
        }
    }
}

impl Admission {
    /// `per_worker` slots for each of `pools` pools (one per per-core worker).
    pub fn per_worker(pools: usize, per_worker: usize) -> Admission {
        Admission {
            workers: (0..pools.max(1))
                .map(|_| Arc::new(SessionSlots::new(per_worker)))
                .collect(),
        }
    }

    /// One pool shared by `workers` threads of `per_worker` slots each (the multi-thread
    /// runtime: its tasks move between threads).
    pub fn shared(workers: usize, per_worker: usize) -> Admission {
        Admission::per_worker(1, per_worker.saturating_mul(workers.max(1)))
    }

    /// The pool of worker `index` (the only pool when there is one).
    pub fn worker(&self, index: usize) -> Arc<SessionSlots> {
        self.workers[index % self.workers.len()].clone()
    }

    /// Slots in every pool together.
    pub fn capacity(&self) -> usize {
        self.workers.iter().map(|w| w.capacity()).sum()
    }

    /// Slots taken in every pool together.
    pub fn in_use(&self) -> usize {
        self.workers.iter().map(|w| w.in_use()).sum()
    }

    /// Time any pool spent at its cap, summed over pools.
    pub fn time_at_cap(&self) -> Duration {
        self.workers.iter().map(|w| w.time_at_cap()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_full_pool_waits_for_a_released_slot_and_counts_the_time_at_the_cap() {
        let slots = Arc::new(SessionSlots::new(2));
        let (a, _b) = (slots.acquire().await, slots.acquire().await);
        assert_eq!(slots.in_use(), 2);
        assert!(slots.try_acquire().is_none(), "full");
        let waiter = {
            let slots = slots.clone();
            tokio::spawn(async move { slots.acquire().await })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!waiter.is_finished(), "waits while full");
        drop(a);
        let _c = waiter.await.expect("the waiter gets the released slot");
        assert!(slots.time_at_cap() >= Duration::from_millis(300));
        assert_eq!(slots.in_use(), 2);
    }

    #[test]
    fn the_multi_thread_pool_is_shared_and_per_core_pools_are_separate() {
        let shared = Admission::shared(4, 10);
        assert_eq!(shared.capacity(), 40);
        assert!(Arc::ptr_eq(&shared.worker(0), &shared.worker(3)));
        let per_core = Admission::per_worker(2, 10);
        assert_eq!(per_core.capacity(), 20);
        assert!(!Arc::ptr_eq(&per_core.worker(0), &per_core.worker(1)));
    }
}
