//! Active TCP health checks: a stopped node is marked unhealthy and gets no new connections;
//! once restarted it is healthy again.

mod plugins_support;

use apisix_gateway::balancer::NodeAddr;
use apisix_gateway::health::HealthManager;
use plugins_support::*;
use serde_json::json;

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
