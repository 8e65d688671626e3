//! Simple process-wide counters for the data plane: why connections were turned away, and
//! how many were accepted. Plain atomics, bumped once per connection or session; the
//! Prometheus registry (a later piece of work) reads them.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::session::RejectReason;

/// Counters shared by every listener of one gateway.
#[derive(Debug, Default)]
pub struct ProxyStats {
    tcp_accepted: AtomicU64,
    udp_sessions: AtomicU64,
    udp_dropped_datagrams: AtomicU64,
    rejected: [AtomicU64; RejectReason::ALL.len()],
}

impl ProxyStats {
    /// A TCP connection was accepted.
    pub fn tcp_accepted(&self) {
        self.tcp_accepted.fetch_add(1, Ordering::Relaxed);
    }

    /// A UDP session was created.
    pub fn udp_session_created(&self) {
        self.udp_sessions.fetch_add(1, Ordering::Relaxed);
    }

    /// A UDP datagram was dropped (session queue or socket buffer full).
    pub fn udp_datagram_dropped(&self) {
        self.udp_dropped_datagrams.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection or session was turned away for `reason`; returns the new total for it
    /// (callers use it to rate-limit their warnings).
    pub fn rejected(&self, reason: RejectReason) -> u64 {
        self.rejected[reason.index()].fetch_add(1, Ordering::Relaxed) + 1
    }

    /// TCP connections accepted so far.
    pub fn tcp_accepted_total(&self) -> u64 {
        self.tcp_accepted.load(Ordering::Relaxed)
    }

    /// UDP sessions created so far.
    pub fn udp_sessions_total(&self) -> u64 {
        self.udp_sessions.load(Ordering::Relaxed)
    }

    /// UDP datagrams dropped so far.
    pub fn udp_dropped_total(&self) -> u64 {
        self.udp_dropped_datagrams.load(Ordering::Relaxed)
    }

    /// Connections or sessions turned away for `reason` so far.
    pub fn rejected_total(&self, reason: RejectReason) -> u64 {
        self.rejected[reason.index()].load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejections_are_counted_per_reason() {
        let stats = ProxyStats::default();
        stats.rejected(RejectReason::NoRoute);
        stats.rejected(RejectReason::NoRoute);
        stats.rejected(RejectReason::SessionTableFull);
        assert_eq!(stats.rejected_total(RejectReason::NoRoute), 2);
        assert_eq!(stats.rejected_total(RejectReason::NoUpstream), 0);
        assert_eq!(stats.rejected_total(RejectReason::SessionTableFull), 1);
        for reason in RejectReason::ALL {
            assert!(!reason.as_str().is_empty());
        }
    }
}
