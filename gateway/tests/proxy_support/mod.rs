//! Shared fixtures for the in-process proxy tests: fixed routes and nodes and a running
//! listener set on 127.0.0.1 port 0. The echo backends, free addresses and bounded waits come
//! from `testkit`.

// Each test binary uses a part of this module, its re-exports from `testkit` included.
#![allow(dead_code, unused_imports)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use apisix_gateway::balancer::{ConnectFailure, NodeAddr, PickState};
use apisix_gateway::config::TcpListen;
use apisix_gateway::conn::ConnInfo;
use apisix_gateway::proxy::listener::ListenerSet;
use apisix_gateway::proxy::source::{RouteSource, Routed, UpstreamNodes};
use apisix_gateway::proxy::ProxyContext;
use apisix_gateway::session::RejectReason;
use apisix_gateway::snapshot::Snapshot;
use async_trait::async_trait;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

pub use testkit::backends::{count_then_reply, tcp_echo, udp_echo};
pub use testkit::client::round_trip;
pub use testkit::ports::dead_addr;
pub use testkit::wait::{within, STEP_TIMEOUT as WAIT};

/// An upstream over fixed nodes, tried in order.
#[derive(Debug)]
pub struct FixedUpstream {
    pub nodes: Vec<SocketAddr>,
    pub idle: Duration,
}

#[async_trait]
impl UpstreamNodes for FixedUpstream {
    fn key(&self) -> &str {
        "upstreams/test"
    }
    fn pick(&self, _conn: &ConnInfo, state: &mut PickState) -> Option<NodeAddr> {
        self.nodes
            .iter()
            .map(|a| NodeAddr {
                host: a.ip().to_string(),
                port: a.port(),
            })
            .find(|n| !state.tried.contains(n))
    }
    fn report_connect(&self, _node: &NodeAddr, _result: Result<Duration, ConnectFailure>) {}
    fn session_started(&self, _node: &NodeAddr) {}
    fn session_ended(&self, _node: &NodeAddr) {}
    fn connect_timeout(&self) -> Duration {
        Duration::from_secs(5)
    }
    fn idle_timeout(&self) -> Duration {
        self.idle
    }
    async fn resolve(&self, node: &NodeAddr) -> std::io::Result<Vec<SocketAddr>> {
        let ip = node
            .host
            .parse()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        Ok(vec![SocketAddr::new(ip, node.port)])
    }
}

/// Routes everything to one upstream, or rejects everything.
pub struct FixedRoutes(pub Result<Routed, RejectReason>);

impl RouteSource for FixedRoutes {
    fn pin(&self) -> Arc<Snapshot> {
        Arc::default()
    }

    fn route(&self, _snapshot: &Arc<Snapshot>, _conn: &ConnInfo) -> Result<Routed, RejectReason> {
        self.0.clone()
    }
}

/// A context routing every connection to `nodes`.
pub fn context_to(nodes: Vec<SocketAddr>, idle: Duration) -> Arc<ProxyContext> {
    let routed = Routed {
        route_id: "1".into(),
        route: None,
        upstream: Arc::new(FixedUpstream { nodes, idle }),
    };
    Arc::new(ProxyContext::new(Arc::new(FixedRoutes(Ok(routed)))))
}

/// A plain TCP listen entry.
pub fn tcp_entry(addr: &str) -> TcpListen {
    TcpListen {
        addr: addr.parse().expect("test address"),
        tls: false,
        sni_preread: false,
        proxy_protocol: false,
        proxy_protocol_to_upstream: None,
    }
}

/// A listener set with one TCP listener on 127.0.0.1:0; returns it and the bound address.
pub async fn start_tcp_proxy(ctx: Arc<ProxyContext>) -> (ListenerSet, SocketAddr) {
    let mut set = ListenerSet::new(ctx);
    set.reconcile(&[tcp_entry("127.0.0.1:0")], &[])
        .await
        .expect("bind proxy listener");
    let addr = set.tcp_addrs()[0];
    (set, addr)
}

/// Reads until EOF; `Ok(bytes)` or the error (a reset counts as closed for some tests).
pub async fn read_until_closed(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut all = Vec::new();
    within("connection close", stream.read_to_end(&mut all)).await?;
    Ok(all)
}
