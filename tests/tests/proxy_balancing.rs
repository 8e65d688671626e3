//! Balancing through the real gateway: retries past a dead node, roundrobin weights, chash
//! stickiness per client IP (clients bind 127.0.0.2..127.0.0.9 before connecting) and
//! least_conn. Backends greet with their name so each connection reports where it went.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use e2e::backends::TcpBackend;
use e2e::client;
use e2e::gateway::Gateway;
use e2e::ports;
use serde_json::json;
use tokio::io::AsyncWriteExt;

const APPLY: Duration = Duration::from_secs(5);

async fn gateway_with_upstream(upstream: serde_json::Value) -> Gateway {
    let gw = Gateway::start_default().await.expect("start gateway");
    gw.put_ok("/upstreams/1", upstream).await;
    gw.put_ok("/stream_routes/1", json!({"upstream_id": "1"}))
        .await;
    gw
}

/// Waits until the route is live (any greeting), so counts start from a working data path.
async fn wait_live(gw: &Gateway) {
    e2e::wait::until("the route to proxy", APPLY, || async {
        client::greeting(gw.tcp_addr(0)).await.ok()
    })
    .await
    .expect("route live");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_one_dead_node_of_two_every_connection_succeeds_by_retry() {
    let live = TcpBackend::greeting("live").await;
    let dead = ports::dead_addr();
    let gw = gateway_with_upstream(json!({
        "type": "roundrobin",
        "nodes": {live.node(): 1, dead.to_string(): 1}
    }))
    .await;
    wait_live(&gw).await;
    for i in 0..40 {
        let got = client::greeting(gw.tcp_addr(0))
            .await
            .unwrap_or_else(|e| panic!("connection {i} failed instead of retrying: {e:#}"));
        assert_eq!(got, "live");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roundrobin_weights_3_to_1_hold_within_ten_percent() {
    let a = TcpBackend::greeting("a").await;
    let b = TcpBackend::greeting("b").await;
    let gw =
        gateway_with_upstream(json!({"type": "roundrobin", "nodes": {a.node(): 3, b.node(): 1}}))
            .await;
    wait_live(&gw).await;
    let (a0, b0) = (a.accepted(), b.accepted());
    let mut seen: HashMap<String, usize> = HashMap::new();
    for _ in 0..400 {
        let name = client::greeting(gw.tcp_addr(0)).await.expect("greeting");
        *seen.entry(name).or_default() += 1;
    }
    let to_a = seen.get("a").copied().unwrap_or(0);
    let to_b = seen.get("b").copied().unwrap_or(0);
    assert_eq!(to_a + to_b, 400, "{seen:?}");
    assert!(
        (270..=330).contains(&to_a),
        "a got {to_a} of 400 (want 300 ± 10 %)"
    );
    assert_eq!(a.accepted() - a0, to_a, "backend a's own count");
    assert_eq!(b.accepted() - b0, to_b, "backend b's own count");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chash_on_remote_addr_sends_each_client_ip_to_one_node() {
    let backends = [
        TcpBackend::greeting("n1").await,
        TcpBackend::greeting("n2").await,
        TcpBackend::greeting("n3").await,
    ];
    let nodes: serde_json::Map<String, serde_json::Value> =
        backends.iter().map(|b| (b.node(), json!(1))).collect();
    let gw = gateway_with_upstream(json!({
        "type": "chash", "hash_on": "vars", "key": "remote_addr", "nodes": nodes
    }))
    .await;
    wait_live(&gw).await;
    let mut chosen = HashMap::new();
    for last in 2..=9u8 {
        let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, last));
        let mut names = Vec::new();
        for _ in 0..5 {
            names.push(
                client::greeting_from(ip, gw.tcp_addr(0))
                    .await
                    .expect("greeting"),
            );
        }
        assert!(
            names.iter().all(|n| *n == names[0]),
            "{ip} was spread over {names:?}"
        );
        chosen.insert(ip, names[0].clone());
    }
    let distinct: std::collections::HashSet<&String> = chosen.values().collect();
    assert!(
        distinct.len() >= 2,
        "8 client IPs all hashed to one node: {chosen:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_conn_sends_new_connections_to_the_node_with_fewer_live_ones() {
    let a = TcpBackend::greeting("a").await;
    let b = TcpBackend::greeting("b").await;
    let gw =
        gateway_with_upstream(json!({"type": "least_conn", "nodes": {a.node(): 1, b.node(): 1}}))
            .await;
    wait_live(&gw).await;
    e2e::wait::until("probe connections to finish", APPLY, || async {
        (a.active() + b.active() == 0).then_some(())
    })
    .await
    .expect("idle backends");

    let mut held = Vec::new();
    for _ in 0..4 {
        let mut s = client::connect(gw.tcp_addr(0)).await.expect("connect");
        let name = client::read_line(&mut s).await.expect("greeting");
        held.push((name, s));
    }
    let on_a = held.iter().filter(|(n, _)| n == "a").count();
    assert_eq!(
        on_a,
        2,
        "4 live connections split 2/2: {:?}",
        held.iter().map(|(n, _)| n).collect::<Vec<_>>()
    );

    // Close the two on a, and wait until the gateway has closed them too (EOF back).
    let mut keep = Vec::new();
    for (name, mut s) in held {
        if name == "a" {
            s.shutdown().await.expect("shutdown");
            client::expect_closed(&mut s, Duration::from_secs(5))
                .await
                .expect("closed");
        } else {
            keep.push(s);
        }
    }
    e2e::wait::until("a's connections to end", APPLY, || async {
        (a.active() == 0).then_some(())
    })
    .await
    .expect("a idle");
    // a has 0 live, b has 2: the next two both go to a.
    let mut next = Vec::new();
    for _ in 0..2 {
        let mut s = client::connect(gw.tcp_addr(0)).await.expect("connect");
        next.push(client::read_line(&mut s).await.expect("greeting"));
        keep.push(s);
    }
    assert_eq!(
        next,
        vec!["a", "a"],
        "least_conn must prefer the emptier node"
    );
}
