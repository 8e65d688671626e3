//! Shared fixtures for the in-process proxy tests: fixed routes and nodes, echo backends,
//! and a running listener set on 127.0.0.1 port 0.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use apisix_gateway::balancer::{ConnectFailure, NodeAddr, PickState};
use apisix_gateway::config::TcpListen;
use apisix_gateway::proxy::listener::ListenerSet;
use apisix_gateway::proxy::source::{RouteSource, Routed, UpstreamNodes};
use apisix_gateway::proxy::stats::RejectReason;
use apisix_gateway::proxy::ProxyContext;
use apisix_gateway::router::ConnInfo;
use apisix_gateway::snapshot::Snapshot;
use async_trait::async_trait;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;

/// Every network wait in these tests is bounded by this.
pub const WAIT: Duration = Duration::from_secs(10);

/// Awaits `fut` or panics after [`WAIT`].
pub async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

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

/// A TCP echo backend; each connection echoes until EOF, then closes its write side.
/// Sends a message on the returned channel when a connection's read side sees EOF or error.
pub async fn tcp_echo() -> (SocketAddr, mpsc::UnboundedReceiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind echo");
    let addr = listener.local_addr().expect("echo addr");
    let (closed_tx, closed_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let closed_tx = closed_tx.clone();
            tokio::spawn(async move {
                let (mut r, mut w) = stream.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
                let _ = w.shutdown().await;
                let _ = closed_tx.send(());
            });
        }
    });
    (addr, closed_rx)
}

/// A backend that reads everything until EOF, then answers `got <n> bytes` and closes.
pub async fn tcp_count_then_reply() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind backend");
    let addr = listener.local_addr().expect("backend addr");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut all = Vec::new();
                if stream.read_to_end(&mut all).await.is_ok() {
                    let reply = format!("got {} bytes", all.len());
                    let _ = stream.write_all(reply.as_bytes()).await;
                    let _ = stream.shutdown().await;
                }
            });
        }
    });
    addr
}

/// An address nothing listens on (bound, then released).
pub async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    addr
}

/// A UDP echo backend.
pub async fn udp_echo() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind udp echo");
    let addr = socket.local_addr().expect("udp echo addr");
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65536];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let _ = socket.send_to(&buf[..n], from).await;
        }
    });
    addr
}

/// Writes `msg` and reads back exactly as many bytes.
pub async fn round_trip(stream: &mut TcpStream, msg: &[u8]) -> Vec<u8> {
    stream.write_all(msg).await.expect("write through proxy");
    let mut back = vec![0u8; msg.len()];
    within("echo reply", stream.read_exact(&mut back))
        .await
        .expect("read echo through proxy");
    back
}

/// Reads until EOF; `Ok(bytes)` or the error (a reset counts as closed for some tests).
pub async fn read_until_closed(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut all = Vec::new();
    within("connection close", stream.read_to_end(&mut all)).await?;
    Ok(all)
}
