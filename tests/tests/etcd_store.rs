//! The etcd store (`config_provider: etcd`) against a real etcd: APISIX's key layout, objects
//! written by another control plane, two gateways converging on one etcd, and serving the
//! last snapshot while etcd is down.

use std::time::Duration;

use e2e::backends::TcpBackend;
use e2e::client;
use e2e::etcd::EtcdServer as Etcd;
use e2e::gateway::{Gateway, GatewayConfig};
use serde_json::{json, Value};

const APPLY: Duration = Duration::from_secs(10);

async fn gateway_on(etcd: &Etcd) -> Gateway {
    let mut config = GatewayConfig::new();
    config.etcd_endpoint = Some(etcd.endpoint());
    Gateway::start(config).await.expect("start gateway on etcd")
}

fn route_to(backend: &TcpBackend) -> Value {
    json!({"upstream": {"type": "roundrobin", "nodes": {backend.node(): 1}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_writes_use_apisix_key_layout_in_etcd() {
    let etcd = Etcd::start()
        .await
        .expect("start etcd (package etcd-server)");
    let gw = gateway_on(&etcd).await;
    gw.put_ok("/stream_routes/1", json!({"server_port": 9100, "upstream": {"type": "roundrobin", "nodes": {"127.0.0.1:1995": 1}}})).await;
    let stored = etcd.get("/apisix/stream_routes/1").await.expect("etcd get");
    let stored: Value = serde_json::from_str(&stored.expect("key /apisix/stream_routes/1 exists"))
        .expect("the value is JSON");
    assert_eq!(stored["server_port"], 9100);
    assert_eq!(stored["id"], "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_written_straight_into_etcd_is_proxied() {
    let backend = TcpBackend::greeting("from-etcd").await;
    let etcd = Etcd::start()
        .await
        .expect("start etcd (package etcd-server)");
    let gw = gateway_on(&etcd).await;
    let mut route = route_to(&backend);
    route["id"] = json!("ext");
    etcd.put("/apisix/stream_routes/ext", &route.to_string())
        .await
        .expect("etcd put");
    client::wait_for_greeting(gw.tcp_addr(0), "from-etcd", APPLY)
        .await
        .expect("a route written by another control plane is served");
    assert_eq!(gw.get("/stream_routes/ext").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_on_one_etcd_converge() {
    let backend = TcpBackend::greeting("shared").await;
    let etcd = Etcd::start()
        .await
        .expect("start etcd (package etcd-server)");
    let gw1 = gateway_on(&etcd).await;
    let gw2 = gateway_on(&etcd).await;
    gw1.put_ok("/stream_routes/1", route_to(&backend)).await;
    client::wait_for_greeting(gw2.tcp_addr(0), "shared", APPLY)
        .await
        .expect("a write on one gateway reaches the other");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_snapshot_is_served_while_etcd_is_down_and_changes_apply_after() {
    let a = TcpBackend::greeting("a").await;
    let b = TcpBackend::greeting("b").await;
    let mut etcd = Etcd::start()
        .await
        .expect("start etcd (package etcd-server)");
    let gw = gateway_on(&etcd).await;
    gw.put_ok("/stream_routes/1", route_to(&a)).await;
    client::wait_for_greeting(gw.tcp_addr(0), "a", APPLY)
        .await
        .expect("route to a");

    etcd.kill9();
    for _ in 0..5 {
        assert_eq!(
            client::greeting(gw.tcp_addr(0))
                .await
                .expect("still proxying"),
            "a"
        );
    }
    let refused = gw.put("/stream_routes/1", route_to(&b)).await;
    assert_eq!(refused.status, 503, "store down: {}", refused.text);
    assert!(
        refused
            .try_json()
            .is_some_and(|v| v["error_msg"].is_string()),
        "{}",
        refused.text
    );

    etcd.start_again().await.expect("etcd back");
    e2e::wait::until("the admin API to write again", APPLY, || async {
        let reply = gw.put("/stream_routes/1", route_to(&b)).await;
        (reply.status == 200).then_some(())
    })
    .await
    .expect("writes work after etcd returns");
    client::wait_for_greeting(gw.tcp_addr(0), "b", APPLY)
        .await
        .expect("the gateway catches up without a restart");
}
