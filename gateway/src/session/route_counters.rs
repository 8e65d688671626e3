//! The live counters of one stream route ([`RouteStats`]) and why a routed connection was
//! turned away ([`RouteRejection`], the counters' `rejected` slots). A leaf: the session
//! record carries a routed session's counters, and the route stats map keeps them by route id.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use model::control::{Rejected, RouteStats as RouteStatsView, Throughput};

/// Samples kept in the throughput ring (one per second).
pub const RING_LEN: usize = 60;

/// The cumulative counters the ring samples: bytes in, bytes out, connections.
type Totals = [u64; 3];

#[derive(Debug, Default)]
struct Ring {
    /// Oldest first, at most [`RING_LEN`].
    samples: VecDeque<Totals>,
    /// The totals at the previous tick.
    last: Option<Totals>,
}

/// The live counters of one stream route.
#[derive(Debug, Default)]
pub struct RouteStats {
    active: AtomicU64,
    total: AtomicU64,
    rejected: [AtomicU64; 3],
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    ring: Mutex<Ring>,
}

impl RouteStats {
    /// A connection was routed here (it is active until [`RouteStats::closed`]).
    pub fn opened(&self) {
        self.active.fetch_add(1, Ordering::Relaxed);
        self.total.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection routed here ended.
    pub fn closed(&self) {
        // Never below zero, even if a caller closes twice.
        let _ = self
            .active
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    /// A routed connection was turned away for `why`.
    pub fn rejected(&self, why: RouteRejection) {
        self.rejected[why.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// `n` more bytes from a client to the upstream.
    pub fn add_in(&self, n: u64) {
        self.bytes_in.fetch_add(n, Ordering::Relaxed);
    }

    /// `n` more bytes from the upstream to a client.
    pub fn add_out(&self, n: u64) {
        self.bytes_out.fetch_add(n, Ordering::Relaxed);
    }

    /// Live connections.
    pub fn active(&self) -> u64 {
        self.active.load(Ordering::Relaxed)
    }

    /// Connections routed here so far.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    fn totals(&self) -> Totals {
        [
            self.bytes_in.load(Ordering::Relaxed),
            self.bytes_out.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
        ]
    }

    /// Records one ring sample: what happened since the previous tick.
    pub fn tick(&self) {
        let now = self.totals();
        let mut ring = self.ring.lock().expect("ring lock is never poisoned");
        let last = ring.last.unwrap_or([0; 3]);
        let delta = [
            now[0].saturating_sub(last[0]),
            now[1].saturating_sub(last[1]),
            now[2].saturating_sub(last[2]),
        ];
        ring.last = Some(now);
        if ring.samples.len() == RING_LEN {
            ring.samples.pop_front();
        }
        ring.samples.push_back(delta);
    }

    /// A consistent-enough copy for display: the `stats` of `/v1/stream_routes`.
    pub fn view(&self) -> RouteStatsView {
        let ring = self.ring.lock().expect("ring lock is never poisoned");
        let pad = RING_LEN - ring.samples.len();
        let series = |i: usize| -> Vec<u64> {
            std::iter::repeat_n(0, pad)
                .chain(ring.samples.iter().map(|s| s[i]))
                .collect()
        };
        RouteStatsView {
            active: self.active(),
            total: self.total(),
            rejected: Rejected {
                no_upstream: self.rejected[0].load(Ordering::Relaxed),
                connect_failed: self.rejected[1].load(Ordering::Relaxed),
                plugin: self.rejected[2].load(Ordering::Relaxed),
            },
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            throughput: Throughput {
                interval_secs: 1,
                bytes_in: series(0),
                bytes_out: series(1),
                connections: series(2),
            },
        }
    }
}

/// Why a routed connection was turned away (the `rejected` object of `/v1/stream_routes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteRejection {
    /// The route has no usable upstream.
    NoUpstream,
    /// No node of the upstream could be connected.
    ConnectFailed,
    /// A stream plugin refused the connection.
    Plugin,
}

impl RouteRejection {
    /// Its slot in a route's `rejected` counters.
    pub(crate) fn index(self) -> usize {
        match self {
            RouteRejection::NoUpstream => 0,
            RouteRejection::ConnectFailed => 1,
            RouteRejection::Plugin => 2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_holds_per_second_deltas_oldest_first() {
        let stats = RouteStats::default();
        stats.opened();
        stats.add_in(10);
        stats.add_out(20);
        stats.tick();
        stats.add_in(5);
        stats.tick();
        let view = stats.view();
        assert_eq!(view.throughput.bytes_in.len(), RING_LEN);
        assert_eq!(view.throughput.bytes_in[RING_LEN - 2..], [10, 5]);
        assert_eq!(view.throughput.bytes_out[RING_LEN - 2..], [20, 0]);
        assert_eq!(view.throughput.connections[RING_LEN - 2..], [1, 0]);
        assert_eq!((view.bytes_in, view.bytes_out, view.active), (15, 20, 1));
        stats.closed();
        stats.closed();
        assert_eq!(stats.active(), 0);
    }

    #[test]
    fn ring_keeps_only_the_last_minute() {
        let stats = RouteStats::default();
        for i in 0..(RING_LEN as u64 + 5) {
            stats.add_in(i);
            stats.tick();
        }
        let view = stats.view();
        assert_eq!(view.throughput.bytes_in.len(), RING_LEN);
        assert_eq!(view.throughput.bytes_in[0], 5);
    }
}
