//! Upstream node selection: `roundrobin` (smooth weighted), `chash`, `least_conn`, `ewma`,
//! priority groups, health, and the retry budget (`retries`, `retry_timeout`).
//!
//! An [`UpstreamRuntime`] is compiled from a `model::types::Upstream` once per snapshot and
//! shared by every connection on it; its counters are atomics or short critical sections.

use std::net::SocketAddr;
use std::time::Duration;

use crate::router::ConnInfo;

/// One resolved node.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeAddr {
    /// `host:port` as configured (a DNS name is resolved at connect time).
    pub host: String,
    pub port: u16,
}

/// A compiled upstream.
#[derive(Debug, Default)]
pub struct UpstreamRuntime {
    /// `upstreams/<id>` or `stream_routes/<id>` (inline), for logs and metrics.
    pub key: String,
}

/// A connection's progress through the nodes: what was tried, and the deadline.
#[derive(Debug, Default)]
pub struct PickState {
    pub tried: Vec<NodeAddr>,
}

impl UpstreamRuntime {
    /// The next node to try for `conn`, skipping those in `state.tried`; `None` when the
    /// retry budget is spent or there is no node.
    pub fn pick(&self, conn: &ConnInfo, state: &mut PickState) -> Option<NodeAddr> {
        let _ = (conn, state);
        None
    }

    /// Reports the outcome of a connect attempt (passive health, ewma latency).
    pub fn report_connect(&self, node: &NodeAddr, result: Result<Duration, ()>) {
        let _ = (node, result);
    }

    /// A session on `node` started / ended (least_conn counts).
    pub fn session_started(&self, node: &NodeAddr) {
        let _ = node;
    }

    /// See [`UpstreamRuntime::session_started`].
    pub fn session_ended(&self, node: &NodeAddr) {
        let _ = node;
    }

    /// `timeout.connect`, default 60 s.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(60)
    }

    /// `max(timeout.send, timeout.read)`, default 600 s.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(600)
    }

    /// Resolves `node` to socket addresses (IP literal, or DNS with caching).
    pub async fn resolve(&self, node: &NodeAddr) -> std::io::Result<Vec<SocketAddr>> {
        tokio::net::lookup_host((node.host.trim_matches(|c| c == '[' || c == ']'), node.port))
            .await
            .map(|it| it.collect())
    }
}
