//! API-driven standalone with the real binary (`role: traditional` +
//! `role_traditional.config_provider: yaml`): a `PUT /apisix/admin/configs` carrying a stream
//! route makes traffic flow through the listener; the configuration lives in memory only, so
//! a restart starts empty (as in APISIX).

use std::time::Duration;

use e2e::backends::TcpBackend;
use e2e::client;
use e2e::gateway::{Gateway, GatewayConfig, TEST_ADMIN_KEY};
use serde_json::{json, Value};

const APPLY: Duration = Duration::from_secs(10);

async fn configs(gw: &Gateway, method: reqwest::Method, body: Option<&Value>) -> (u16, String) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http client");
    let mut request = client
        .request(method, format!("{}/apisix/admin/configs", gw.admin_base()))
        .header("X-API-KEY", TEST_ADMIN_KEY)
        .header("X-Digest", "e2e-digest-1");
    if let Some(body) = body {
        request = request
            .header("Content-Type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.expect("admin answered");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_of_the_whole_config_routes_traffic_and_is_not_kept_across_restart() {
    let backend = TcpBackend::greeting("standalone-api").await;
    let mut config = GatewayConfig::with_listeners(1, 0);
    config.api_standalone = true;
    let mut gw = Gateway::start(config).await.expect("start the gateway");

    // The normal resource endpoints are gone in this mode.
    let normal = gw.get("/stream_routes").await;
    assert_eq!(normal.status, 404, "{}", normal.text);

    let doc = json!({
        "stream_routes": [{"id": 1, "upstream_id": "u1"}],
        "upstreams": [{"id": "u1", "type": "roundrobin", "nodes": {backend.node(): 1}}],
    });
    let (status, text) = configs(&gw, reqwest::Method::PUT, Some(&doc)).await;
    assert_eq!(status, 202, "{text}");
    client::wait_for_greeting(gw.tcp_addr(0), "standalone-api", APPLY)
        .await
        .expect("the PUT configuration routes traffic");

    let (status, text) = configs(&gw, reqwest::Method::GET, None).await;
    assert_eq!(status, 200);
    let got: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(got["stream_routes_conf_version"], 1);
    assert_eq!(got["upstreams"], doc["upstreams"]);

    // Memory only: after a restart the configuration is empty again.
    gw.restart().await.expect("restart");
    let (status, text) = configs(&gw, reqwest::Method::GET, None).await;
    assert_eq!(status, 200);
    let got: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(got["stream_routes_conf_version"], 0, "{got}");
    assert!(got.get("stream_routes").is_none());
    assert!(
        client::greeting(gw.tcp_addr(0)).await.is_err(),
        "no route after a restart"
    );
}
