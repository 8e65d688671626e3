//! Active health checks: a stopped node is marked unhealthy and gets no new connections and
//! comes back once restarted (tcp); http and https probes against real tiny HTTP servers in the
//! test; a node marked down by passive checks is brought back by active probes.

mod plugins_support;

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use apisix_gateway::balancer::health::{HealthStatus, NodeHealth};
use apisix_gateway::balancer::NodeAddr;
use apisix_gateway::health::HealthManager;
use plugins_support::*;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[tokio::test]
async fn stopped_node_goes_unhealthy_and_returns_when_restarted() {
    let a = Backend::start(b'A').await;
    let b = Backend::start(b'B').await;
    let checks = json!({"active": {"type": "tcp", "timeout": 0.5,
        "healthy": {"interval": 1, "successes": 1},
        "unhealthy": {"interval": 1, "tcp_failures": 1, "timeouts": 1}}});
    let gw = Gateway::start(
        &[
            (
                "upstreams/1",
                json!({"nodes": nodes(&[a.addr, b.addr]), "type": "roundrobin", "checks": checks}),
            ),
            ("stream_routes/1", json!({"upstream_id": "1"})),
        ],
        false,
    )
    .await;
    let health = HealthManager::start(gw.snapshot.clone());
    let runtime = gw
        .snapshot
        .load()
        .upstream("1")
        .expect("upstream 1")
        .clone();
    let node_b = NodeAddr {
        host: b.addr.ip().to_string(),
        port: b.addr.port(),
    };
    let counters = health.counters().clone();
    eventually("first probes recorded", || {
        counters
            .lock()
            .expect("counters")
            .get("upstreams/1")
            .is_some_and(|nodes| nodes.values().all(|c| c.successes > 0))
    })
    .await;
    assert!(runtime.is_healthy(&node_b));

    b.stop();
    eventually("stopped node marked unhealthy", || {
        !runtime.is_healthy(&node_b)
    })
    .await;
    for _ in 0..10 {
        assert_eq!(tag_of(gw.addr(), b"").await.0, Some(b'A'));
    }

    let _b = Backend::on(b.addr, b'B').await;
    eventually("restarted node healthy", || runtime.is_healthy(&node_b)).await;
    let mut saw_b = false;
    for _ in 0..10 {
        saw_b |= tag_of(gw.addr(), b"").await.0 == Some(b'B');
    }
    assert!(saw_b, "restarted node gets connections again");
}

/// A tiny HTTP/1.1 server answering every request with the current `status`, remembering
/// each request head; plain or TLS (`tls`: a self-signed certificate for `localhost`).
struct HttpNode {
    addr: std::net::SocketAddr,
    status: Arc<AtomicU16>,
    heads: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HttpNode {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer<S>(stream: S, status: u16, heads: Arc<Mutex<Vec<String>>>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) if line == "\r\n" => break,
            Ok(_) => head.push_str(&line),
        }
    }
    heads.lock().expect("heads").push(head);
    let reply = format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let _ = reader.get_mut().write_all(reply.as_bytes()).await;
    let _ = reader.get_mut().shutdown().await;
}

impl HttpNode {
    async fn start(tls: bool) -> HttpNode {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind http");
        let addr = listener.local_addr().expect("addr");
        let status = Arc::new(AtomicU16::new(200));
        let heads: Arc<Mutex<Vec<String>>> = Arc::default();
        let acceptor = tls.then(tls_acceptor);
        let (s, h) = (status.clone(), heads.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (code, heads) = (s.load(Ordering::Relaxed), h.clone());
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    match acceptor {
                        Some(acceptor) => {
                            if let Ok(tls) = acceptor.accept(stream).await {
                                answer(tls, code, heads).await;
                            }
                        }
                        None => answer(stream, code, heads).await,
                    }
                });
            }
        });
        HttpNode {
            addr,
            status,
            heads,
            task,
        }
    }

    fn node(&self) -> NodeAddr {
        NodeAddr {
            host: self.addr.ip().to_string(),
            port: self.addr.port(),
        }
    }
}

/// The health record (state and counters) of `node` in `upstream` now.
fn health_of(gw: &Gateway, upstream: &str, node: &NodeAddr) -> NodeHealth {
    gw.snapshot
        .load()
        .upstream(upstream)
        .expect("upstream")
        .health(node)
        .expect("known node")
}

fn status_of(gw: &Gateway, upstream: &str, node: &NodeAddr) -> HealthStatus {
    health_of(gw, upstream, node).status
}

#[tokio::test]
async fn http_probe_follows_the_status_the_backend_returns() {
    let web = HttpNode::start(false).await;
    let checks = json!({"active": {"type": "http", "http_path": "/healthz", "host": "api.local",
        "req_headers": ["X-Probe: 1"], "timeout": 1,
        "healthy": {"interval": 1, "successes": 2},
        "unhealthy": {"interval": 1, "http_failures": 2}}});
    let gw = Gateway::start(
        &[(
            "upstreams/1",
            json!({"nodes": nodes(&[web.addr]), "type": "roundrobin", "checks": checks}),
        )],
        false,
    )
    .await;
    let _health = HealthManager::start(gw.snapshot.clone());
    let node = web.node();
    eventually("first probe", || {
        !web.heads.lock().expect("heads").is_empty()
    })
    .await;
    {
        let heads = web.heads.lock().expect("heads");
        let head = &heads[0];
        assert!(head.starts_with("GET /healthz HTTP/1.1\r\n"), "{head}");
        assert!(head.contains("Host: api.local\r\n"), "{head}");
        assert!(head.contains("X-Probe: 1\r\n"), "{head}");
        assert!(head.contains("Connection: close\r\n"), "{head}");
    }
    assert_eq!(status_of(&gw, "1", &node), HealthStatus::Healthy);

    web.status.store(500, Ordering::Relaxed);
    eventually("500s mark the node unhealthy", || {
        status_of(&gw, "1", &node) == HealthStatus::Unhealthy
    })
    .await;
    let health = health_of(&gw, "1", &node);
    assert_eq!(health.counter.http_failure, 2);

    web.status.store(200, Ordering::Relaxed);
    eventually("200s bring it back", || {
        status_of(&gw, "1", &node) == HealthStatus::Healthy
    })
    .await;
}

#[tokio::test]
async fn https_probe_handshakes_and_verifies_only_when_asked() {
    let web = HttpNode::start(true).await;
    let checks = |verify: bool| {
        json!({"active": {"type": "https", "host": "localhost", "https_verify_certificate": verify,
            "healthy": {"interval": 1, "successes": 1},
            "unhealthy": {"interval": 1, "tcp_failures": 1, "http_failures": 1}}})
    };
    let gw = Gateway::start(
        &[
            (
                "upstreams/trusting",
                json!({"nodes": nodes(&[web.addr]), "checks": checks(false)}),
            ),
            (
                "upstreams/verifying",
                json!({"nodes": nodes(&[web.addr]), "checks": checks(true)}),
            ),
        ],
        false,
    )
    .await;
    let health = HealthManager::start(gw.snapshot.clone());
    let node = web.node();
    let counters = health.counters().clone();
    eventually("both checkers probed", || {
        let all = counters.lock().expect("counters");
        ["upstreams/trusting", "upstreams/verifying"]
            .iter()
            .all(|k| all.get(*k).is_some_and(|n| !n.is_empty()))
    })
    .await;
    eventually("a self-signed certificate fails verification", || {
        status_of(&gw, "verifying", &node) == HealthStatus::Unhealthy
    })
    .await;
    assert_eq!(status_of(&gw, "trusting", &node), HealthStatus::Healthy);
    let all = counters.lock().expect("counters");
    assert!(
        all["upstreams/trusting"][&node].successes > 0,
        "probes answered over TLS"
    );
    assert!(all["upstreams/verifying"][&node].tcp_failures > 0);
    assert!(
        web.heads
            .lock()
            .expect("heads")
            .iter()
            .all(|h| h.contains("Host: localhost\r\n")),
        "only the trusting checker's requests arrive, with the SNI host as Host"
    );
}

#[tokio::test]
async fn a_node_marked_down_by_passive_checks_is_brought_back_by_active_probes() {
    // Traffic goes to a closed port; the active probes go to a live one (`checks.active.port`).
    let live = Backend::start(b'A').await;
    let dead = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let dead_addr = dead.local_addr().expect("addr");
    drop(dead);
    let checks = json!({"active": {"type": "tcp", "port": live.addr.port(),
            "healthy": {"interval": 60, "successes": 2},
            "unhealthy": {"interval": 1}},
        "passive": {"type": "tcp", "unhealthy": {"tcp_failures": 2}}});
    let gw = Gateway::start(
        &[
            (
                "upstreams/1",
                json!({"nodes": nodes(&[dead_addr]), "type": "roundrobin", "checks": checks}),
            ),
            ("stream_routes/1", json!({"upstream_id": "1"})),
        ],
        false,
    )
    .await;
    let health = HealthManager::start(gw.snapshot.clone());
    let counters = health.counters().clone();
    eventually("first healthy round done", || {
        counters
            .lock()
            .expect("counters")
            .get("upstreams/1")
            .is_some_and(|n| n.values().all(|c| c.successes > 0))
    })
    .await;
    let node = NodeAddr {
        host: dead_addr.ip().to_string(),
        port: dead_addr.port(),
    };
    for _ in 0..2 {
        assert_eq!(
            tag_of(gw.addr(), b"").await.0,
            None,
            "the node refuses connections"
        );
    }
    let down = health_of(&gw, "1", &node);
    assert_eq!(
        down.status,
        HealthStatus::Unhealthy,
        "two passive tcp failures"
    );
    assert_eq!(down.counter.tcp_failure, 2);
    eventually("active probes bring it back", || {
        status_of(&gw, "1", &node) == HealthStatus::Healthy
    })
    .await;
    let up = health_of(&gw, "1", &node);
    assert_eq!((up.counter.success, up.counter.tcp_failure), (2, 0));
}

#[tokio::test]
async fn sessions_ending_with_a_status_other_than_200_are_passive_failures() {
    let node = Backend::start(b'A').await;
    let checks = json!({"active": {"type": "tcp"},
        "passive": {"type": "tcp", "unhealthy": {"tcp_failures": 2}}});
    let gw = Gateway::start(
        &[
            (
                "upstreams/1",
                json!({"nodes": nodes(&[node.addr]), "type": "roundrobin", "checks": checks,
                    "timeout": {"connect": 1, "send": 0.2, "read": 0.2}}),
            ),
            ("stream_routes/1", json!({"upstream_id": "1"})),
        ],
        false,
    )
    .await;
    let target = NodeAddr {
        host: node.addr.ip().to_string(),
        port: node.addr.port(),
    };
    for round in 1..=2u32 {
        // The client stays silent: the session ends on the idle timeout (status 502).
        let (tag, mut stream) = tag_of(gw.addr(), b"").await;
        assert_eq!(tag, Some(b'A'));
        let mut rest = Vec::new();
        let _ = within(
            "idle close",
            tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut rest),
        )
        .await;
        eventually("the session's failure is counted", || {
            health_of(&gw, "1", &target).counter.tcp_failure == round
        })
        .await;
    }
    assert_eq!(status_of(&gw, "1", &target), HealthStatus::Unhealthy);
}
