//! [`Tally`]: what the soak driver's flows did, counted as they go and read by the sampler.
//!
//! Every flow adds to one shared `Tally` (atomics, so tasks on any runtime can share it).
//! A failure of any kind (connect, timeout, short or wrong echo, early close) counts in
//! [`Tally::errors`] and keeps its message, the first [`KEPT_ERRORS`] of them, for the report.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// How many error messages are kept for the report.
pub const KEPT_ERRORS: usize = 20;

/// The driver's counters.
#[derive(Debug, Default)]
pub struct Tally {
    /// Held connections open now (after their first verified echo).
    pub held_open: AtomicU64,
    /// Held connections opened so far.
    pub held_opened: AtomicU64,
    /// Verified echoes on held connections.
    pub held_echoes: AtomicU64,
    /// Churn connections that finished verified.
    pub churn_done: AtomicU64,
    /// Churn connections not started because too many were in flight.
    pub churn_skipped: AtomicU64,
    /// Bulk connections made.
    pub bulk_conns: AtomicU64,
    /// Bulk bytes echoed and verified.
    pub bulk_bytes: AtomicU64,
    /// UDP sessions started (one socket each).
    pub udp_sessions: AtomicU64,
    /// UDP datagrams echoed and verified.
    pub udp_datagrams: AtomicU64,
    /// UDP datagrams sent again after no echo came within the wait.
    pub udp_resent: AtomicU64,
    /// Failures of every kind.
    pub errors: AtomicU64,
    messages: Mutex<Vec<String>>,
}

/// Adds one to `counter`.
pub fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Adds `n` to `counter`.
pub fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// The value of `counter`.
pub fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

impl Tally {
    /// Counts one failure; `what` names the flow and the fault.
    pub fn fail(&self, what: impl Into<String>) {
        bump(&self.errors);
        let mut kept = self
            .messages
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if kept.len() < KEPT_ERRORS {
            kept.push(what.into());
        }
    }

    /// The kept error messages.
    pub fn messages(&self) -> Vec<String> {
        self.messages
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Client sessions the gateway should have seen: every TCP connection and UDP session the
    /// driver made (failed churn connections are not counted, so this matches the gateway's
    /// count only in a run without errors).
    pub fn sessions(&self) -> u64 {
        get(&self.held_opened)
            + get(&self.churn_done)
            + get(&self.bulk_conns)
            + get(&self.udp_sessions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_count_all_and_keep_the_first_messages() {
        let tally = Tally::default();
        for i in 0..(KEPT_ERRORS + 5) {
            tally.fail(format!("fault {i}"));
        }
        assert_eq!(get(&tally.errors), (KEPT_ERRORS + 5) as u64);
        let kept = tally.messages();
        assert_eq!(kept.len(), KEPT_ERRORS);
        assert_eq!(kept[0], "fault 0");
    }
}
