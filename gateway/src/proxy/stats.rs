//! Simple process-wide counters for the data plane: why connections were turned away, and
//! how many were accepted. Plain atomics, bumped once per connection or session; the
//! Prometheus registry (a later piece of work) reads them.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// Why a connection or UDP session was closed before relaying anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// No stream route matched.
    NoRoute,
    /// The route has no upstream (neither inline, by id, nor from its service).
    NoUpstream,
    /// The balancer had no (more) node to offer, or every connect attempt failed.
    UpstreamUnavailable,
    /// The UDP session table is full.
    SessionTableFull,
    /// Missing or malformed PROXY protocol header on a `proxy_protocol` port.
    ProxyProtocol,
    /// TLS handshake aborted or failed (no SNI, no certificate, bad client certificate,
    /// ClientHello not received).
    TlsHandshake,
}

impl RejectReason {
    /// Every reason, for iteration (metrics export, tests).
    pub const ALL: [RejectReason; 6] = [
        RejectReason::NoRoute,
        RejectReason::NoUpstream,
        RejectReason::UpstreamUnavailable,
        RejectReason::SessionTableFull,
        RejectReason::ProxyProtocol,
        RejectReason::TlsHandshake,
    ];

    /// A short stable label (`no_route`, ...), for logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::NoRoute => "no_route",
            RejectReason::NoUpstream => "no_upstream",
            RejectReason::UpstreamUnavailable => "upstream_unavailable",
            RejectReason::SessionTableFull => "session_table_full",
            RejectReason::ProxyProtocol => "proxy_protocol",
            RejectReason::TlsHandshake => "tls_handshake",
        }
    }

    fn index(self) -> usize {
        match self {
            RejectReason::NoRoute => 0,
            RejectReason::NoUpstream => 1,
            RejectReason::UpstreamUnavailable => 2,
            RejectReason::SessionTableFull => 3,
            RejectReason::ProxyProtocol => 4,
            RejectReason::TlsHandshake => 5,
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

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
