//! What one finished session was: the [`SessionRecord`] every sink receives, why a
//! connection was turned away ([`RejectReason`]) or how its relay ended ([`RelayEnd`]), and
//! the nginx stream `$status` each of those stands for.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::balancer::UpstreamRuntime;
use crate::conn::Transport;

use super::route_counters::{RouteRejection, RouteStats};

/// nginx stream `$status` values used here.
pub mod status {
    /// The session ended normally (either side closed, killed, UDP idle end).
    pub const OK: u16 = 200;
    /// A client error: reset or read error during the relay, bad preread.
    pub const BAD_REQUEST: u16 = 400;
    /// Refused by an access rule (ip-restriction).
    pub const FORBIDDEN: u16 = 403;
    /// Internal error (e.g. a route without an upstream).
    pub const INTERNAL: u16 = 500;
    /// Upstream connect failure or timeout, TCP idle timeout.
    pub const BAD_GATEWAY: u16 = 502;
    /// No route, connection limit, UDP session table full.
    pub const UNAVAILABLE: u16 = 503;
}

/// One finished session.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    /// The stream route, `None` when none matched.
    pub route_id: Option<String>,
    /// The listening address that accepted it.
    pub listener: SocketAddr,
    /// The address the client reached (`$server_addr:$server_port`): `listener`, or on a
    /// wildcard listener the connection's local address / the UDP datagrams' destination.
    pub server: SocketAddr,
    pub client: SocketAddr,
    /// The upstream node, once connected.
    pub node: Option<SocketAddr>,
    pub status: u16,
    /// Client → upstream (nginx `$bytes_received`).
    pub bytes_in: u64,
    /// Upstream → client (nginx `$bytes_sent`).
    pub bytes_out: u64,
    pub started_at: SystemTime,
    pub duration: Duration,
    pub transport: Transport,
    /// The `route` label of the metrics: the route's name when its `prometheus` plugin sets
    /// `prefer_name: true`, otherwise its id; `None` when no route matched.
    pub route_label: Option<Arc<str>>,
    /// Whether the session was routed and registered (counted active on its route).
    pub routed: bool,
    /// Why a routed session was turned away, for the route's `rejected` counters.
    pub rejection: Option<RouteRejection>,
    /// The upstream a relayed TCP session used (the route's, or the one traffic-split chose),
    /// for passive health checks; `None` when none was connected.
    pub upstream: Option<Arc<UpstreamRuntime>>,
    /// The live stats the routed session fed (so ending it needs no second look-up).
    pub route_stats: Option<Arc<RouteStats>>,
}

/// The status a rejection reason stands for.
pub fn reject_status(reason: RejectReason) -> u16 {
    match reason {
        RejectReason::NoRoute | RejectReason::SessionTableFull => status::UNAVAILABLE,
        RejectReason::NoUpstream => status::INTERNAL,
        RejectReason::UpstreamUnavailable => status::BAD_GATEWAY,
        // nginx: a bad PROXY header is a client error; a failed handshake an internal one.
        RejectReason::ProxyProtocol => status::BAD_REQUEST,
        RejectReason::TlsHandshake => status::INTERNAL,
    }
}

/// The status a relay end stands for (`udp`: an idle end is the normal end of a session).
pub fn relay_status(end: &RelayEnd, transport: Transport) -> u16 {
    match end {
        RelayEnd::Closed | RelayEnd::Killed => status::OK,
        RelayEnd::IdleTimeout if transport == Transport::Udp => status::OK,
        RelayEnd::IdleTimeout => status::BAD_GATEWAY,
        RelayEnd::Error(_) => status::BAD_REQUEST,
    }
}

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

    /// The reason's position in [`RejectReason::ALL`].
    pub fn index(self) -> usize {
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

/// Why a relay ended.
#[derive(Debug)]
pub enum RelayEnd {
    /// Both sides closed their write direction.
    Closed,
    /// Nothing moved for the idle timeout.
    IdleTimeout,
    /// Killed from outside (registry, shutdown).
    Killed,
    /// An I/O error on either side (e.g. a reset).
    Error(std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_nginx_stream() {
        assert_eq!(reject_status(RejectReason::NoRoute), 503);
        assert_eq!(reject_status(RejectReason::SessionTableFull), 503);
        assert_eq!(reject_status(RejectReason::NoUpstream), 500);
        assert_eq!(reject_status(RejectReason::UpstreamUnavailable), 502);
        assert_eq!(relay_status(&RelayEnd::Closed, Transport::Tcp), 200);
        assert_eq!(relay_status(&RelayEnd::Killed, Transport::Tcp), 200);
        assert_eq!(relay_status(&RelayEnd::IdleTimeout, Transport::Tcp), 502);
        assert_eq!(relay_status(&RelayEnd::IdleTimeout, Transport::Udp), 200);
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert_eq!(relay_status(&RelayEnd::Error(reset), Transport::Tcp), 400);
    }
}
