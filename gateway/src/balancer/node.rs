//! The live state of one upstream node, shared by every connection of a snapshot (and carried
//! into the next one when the upstream is unchanged): health (state machine in
//! [`super::health`], mirrored in an atomic flag for the pick path), live session count, the
//! EWMA of connect latency, and for a host name its DNS record ([`crate::dns`]).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::dns::TrackedName;

use super::health::{HealthStatus, NodeHealth, Report};
use super::NodeAddr;

/// How fast the latency average forgets (APISIX's ewma `DECAY_TIME`).
pub(super) const EWMA_DECAY: Duration = Duration::from_secs(10);

/// The latency average and when it was last updated.
#[derive(Debug, Default, Clone, Copy)]
struct Ewma {
    millis: f64,
    at: Option<Instant>,
}

/// One node of an upstream.
#[derive(Debug)]
pub(super) struct NodeState {
    pub(super) addr: NodeAddr,
    pub(super) weight: u32,
    pub(super) priority: i64,
    /// The DNS record of a host name; `None` for an IP literal.
    pub(super) name: Option<Arc<TrackedName>>,
    healthy: AtomicBool,
    active: AtomicU64,
    health: Mutex<NodeHealth>,
    ewma: Mutex<Ewma>,
}

impl NodeState {
    pub(super) fn new(
        addr: NodeAddr,
        weight: u32,
        priority: i64,
        name: Option<Arc<TrackedName>>,
    ) -> Self {
        NodeState {
            addr,
            weight,
            priority,
            name,
            healthy: AtomicBool::new(true),
            active: AtomicU64::new(0),
            health: Mutex::new(NodeHealth::default()),
            ewma: Mutex::new(Ewma::default()),
        }
    }

    pub(super) fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// Whether the node has an address to connect to: an IP literal, or a name that is not
    /// `failed` (a name still resolving counts: its first connection waits for the answer).
    pub(super) fn is_resolvable(&self, now: Instant) -> bool {
        self.name.as_ref().is_none_or(|n| n.is_available(now))
    }

    /// Forces the state (counters cleared); returns whether it took traffic before.
    pub(super) fn set_healthy(&self, healthy: bool) -> bool {
        let mut health = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        health.force(healthy);
        self.healthy.swap(healthy, Ordering::Relaxed)
    }

    /// Applies a health report with threshold `limit`; returns the new state on a change.
    pub(super) fn report(&self, report: Report, limit: u32) -> Option<HealthStatus> {
        let mut health = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        let changed = health.report(report, limit);
        if let Some(status) = changed {
            self.healthy
                .store(status.takes_traffic(), Ordering::Relaxed);
        }
        changed
    }

    /// The state and counters.
    pub(super) fn health(&self) -> NodeHealth {
        *self.health.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn active(&self) -> u64 {
        self.active.load(Ordering::Relaxed)
    }

    pub(super) fn session_started(&self) {
        self.active.fetch_add(1, Ordering::Relaxed);
    }

    /// Decrements the live count, never below zero.
    pub(super) fn session_ended(&self) {
        let _ = self
            .active
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    /// Folds a latency sample into the average: `ewma·w + rtt·(1−w)`, `w = e^(−Δt/decay)`.
    pub(super) fn record_latency(&self, latency: Duration, now: Instant) {
        let mut ewma = self.ewma.lock().unwrap_or_else(PoisonError::into_inner);
        let rtt = latency.as_secs_f64() * 1000.0;
        ewma.millis = match ewma.at {
            None => rtt,
            Some(at) => {
                let w = decay_weight(now.saturating_duration_since(at));
                ewma.millis * w + rtt * (1.0 - w)
            }
        };
        ewma.at = Some(now);
    }

    /// Raises the average to at least `latency` at once (a failed connect), so the node
    /// loses to working ones until the penalty decays.
    pub(super) fn penalize(&self, latency: Duration, now: Instant) {
        let decayed = self.ewma_score(now);
        let mut ewma = self.ewma.lock().unwrap_or_else(PoisonError::into_inner);
        ewma.millis = decayed.max(latency.as_secs_f64() * 1000.0);
        ewma.at = Some(now);
    }

    /// The average decayed towards zero since its last sample (so idle nodes are retried);
    /// 0 for a node never measured.
    pub(super) fn ewma_score(&self, now: Instant) -> f64 {
        let ewma = *self.ewma.lock().unwrap_or_else(PoisonError::into_inner);
        match ewma.at {
            None => 0.0,
            Some(at) => ewma.millis * decay_weight(now.saturating_duration_since(at)),
        }
    }
}

fn decay_weight(elapsed: Duration) -> f64 {
    (-elapsed.as_secs_f64() / EWMA_DECAY.as_secs_f64()).exp()
}
