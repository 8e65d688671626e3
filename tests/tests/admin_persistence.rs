//! Admin API durability with the embedded store: objects survive a graceful restart, every
//! acknowledged write survives `kill -9`, and an empty admin key makes the gateway generate
//! one into `<prefix>/conf/admin_key` (mode 0600) that works as `X-API-KEY`.

use std::os::unix::fs::PermissionsExt as _;

use e2e::gateway::{Gateway, GatewayConfig, KeyAuth};
use reqwest::Method;
use serde_json::json;

fn route(i: u16) -> serde_json::Value {
    json!({
        "server_port": 9100,
        "desc": format!("route {i}"),
        "upstream": {"type": "roundrobin", "nodes": {format!("127.0.0.1:{}", 2000 + i): 1}}
    })
}

#[tokio::test]
async fn stream_routes_upstreams_and_services_survive_a_restart() {
    let mut gw = Gateway::start_default().await.expect("start gateway");
    gw.put_ok(
        "/upstreams/u1",
        json!({"type": "roundrobin", "nodes": {"127.0.0.1:1995": 1}}),
    )
    .await;
    gw.put_ok("/services/s1", json!({"upstream_id": "u1"}))
        .await;
    gw.put_ok("/stream_routes/1", route(1)).await;
    gw.put_ok("/stream_routes/2", json!({"service_id": "s1"}))
        .await;
    let before = gw.store_dump().await;

    gw.restart().await.expect("restart");

    let after = gw.store_dump().await;
    assert_eq!(before, after, "the store after a restart differs");
    assert_eq!(gw.get("/stream_routes").await.json()["total"], 2);
    let again = gw.put("/stream_routes/1", route(1)).await;
    assert_eq!(
        again.status, 200,
        "an existing key replaces with 200 after restart"
    );
}

#[tokio::test]
async fn every_acknowledged_write_survives_kill_9() {
    const N: u16 = 50;
    let mut gw = Gateway::start_default().await.expect("start gateway");
    for i in 0..N {
        let reply = gw.put(&format!("/stream_routes/r{i}"), route(i)).await;
        assert_eq!(reply.status, 201, "PUT r{i}: {}", reply.text);
    }
    gw.kill9();
    gw.start_again().await.expect("start after kill -9");

    let list = gw.get("/stream_routes").await.json();
    assert_eq!(list["total"], N, "routes lost after kill -9");
    for i in 0..N {
        let got = gw.get(&format!("/stream_routes/r{i}")).await;
        assert_eq!(got.status, 200, "r{i} missing after kill -9");
        assert_eq!(got.json()["value"]["desc"], format!("route {i}"));
    }
    let post = gw
        .admin(Method::POST, "/stream_routes", Some(route(99)))
        .await;
    assert_eq!(post.status, 201, "writes still work: {}", post.text);
}

#[tokio::test]
async fn an_empty_admin_key_is_generated_into_a_private_file_that_works() {
    let mut config = GatewayConfig::new();
    config.admin_key = None;
    config.viewer_key = None;
    let gw = Gateway::start(config)
        .await
        .expect("start gateway with an empty key");
    let path = gw.prefix().join("conf").join("admin_key");
    let meta = std::fs::metadata(&path)
        .unwrap_or_else(|e| panic!("{} was not written: {e}", path.display()));
    assert_eq!(
        meta.permissions().mode() & 0o777,
        0o600,
        "admin_key file mode"
    );
    let key = std::fs::read_to_string(&path).expect("read admin_key");
    let key = key.trim().to_string();
    assert!(key.len() >= 16, "generated key too short: {key:?}");

    let ok = gw
        .admin_request(Method::GET, "/stream_routes")
        .auth(KeyAuth::Header(key.clone()))
        .send()
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    let put = gw
        .admin_request(Method::PUT, "/stream_routes/1")
        .auth(KeyAuth::Header(key))
        .json(&route(1))
        .send()
        .await;
    assert_eq!(put.status, 201, "{}", put.text);
    let without = gw
        .admin_request(Method::GET, "/stream_routes")
        .auth(KeyAuth::None)
        .send()
        .await;
    assert_eq!(without.status, 401, "a generated key is still required");
}
