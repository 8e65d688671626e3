//! Admin API happy paths against the real binary (REFERENCE.md §2.1–§2.4): status codes,
//! envelopes, indexes, ids, lists, paging and filters, PATCH, ttl, force deletes, key
//! locations and the helper endpoints. Rejected requests live in `admin_errors.rs`.

use std::time::Duration;

use e2e::gateway::{Gateway, GatewayConfig, KeyAuth, TEST_VIEWER_KEY};
use e2e::wait;
use reqwest::Method;
use serde_json::{json, Value};

fn upstream(port: u16) -> Value {
    json!({"type": "roundrobin", "nodes": {format!("127.0.0.1:{port}"): 1}})
}

fn route(port: u16) -> Value {
    json!({"remote_addr": "127.0.0.1", "upstream": upstream(port)})
}

async fn gateway() -> Gateway {
    Gateway::start_default().await.expect("start gateway")
}

#[tokio::test]
async fn put_creates_with_201_then_replaces_with_200_keeping_create_time() {
    let gw = gateway().await;
    let first = gw.put("/stream_routes/1", route(1995)).await;
    assert_eq!(first.status, 201, "{}", first.text);
    assert_eq!(
        first
            .headers
            .get("x-api-version")
            .and_then(|v| v.to_str().ok()),
        Some("v3")
    );
    let body = first.json();
    assert_eq!(body["key"], "/apisix/stream_routes/1");
    assert_eq!(body["value"]["id"], "1");
    assert_eq!(body["value"]["remote_addr"], "127.0.0.1");
    assert_eq!(body["value"]["upstream"]["nodes"]["127.0.0.1:1995"], 1);
    assert!(body["value"]["create_time"].is_u64(), "{body}");
    assert!(body["value"]["update_time"].is_u64(), "{body}");
    assert!(
        body.get("createdIndex").is_none(),
        "PUT carries no indexes: {body}"
    );

    let mut changed = route(1996);
    changed["desc"] = json!("second");
    let second = gw.put("/stream_routes/1", changed).await;
    assert_eq!(second.status, 200, "{}", second.text);
    let body2 = second.json();
    assert_eq!(body2["value"]["create_time"], body["value"]["create_time"]);
    assert!(body2["value"]["update_time"].as_u64() >= body["value"]["update_time"].as_u64());
    assert_eq!(body2["value"]["desc"], "second");
}

#[tokio::test]
async fn put_without_path_id_uses_the_body_id() {
    let gw = gateway().await;
    let mut body = route(1995);
    body["id"] = json!("mqtt-route-lb");
    let reply = gw.put("/stream_routes", body).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(reply.json()["key"], "/apisix/stream_routes/mqtt-route-lb");
    assert_eq!(gw.get("/stream_routes/mqtt-route-lb").await.status, 200);
}

#[tokio::test]
async fn post_assigns_a_20_digit_id() {
    let gw = gateway().await;
    let reply = gw
        .admin(Method::POST, "/stream_routes", Some(route(1995)))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let body = reply.json();
    let id = body["value"]["id"]
        .as_str()
        .expect("id is a string")
        .to_string();
    assert_eq!(id.len(), 20, "{id}");
    assert!(id.chars().all(|c| c.is_ascii_digit()), "{id}");
    assert_eq!(body["key"], format!("/apisix/stream_routes/{id}"));
    let got = gw.get(&format!("/stream_routes/{id}")).await;
    assert_eq!(got.status, 200);
    let other = gw
        .admin(Method::POST, "/stream_routes", Some(route(1995)))
        .await
        .json();
    assert_ne!(
        other["value"]["id"], body["value"]["id"],
        "POST ids are unique"
    );
}

#[tokio::test]
async fn get_returns_value_with_created_and_modified_index() {
    let gw = gateway().await;
    gw.put_ok("/stream_routes/1", route(1995)).await;
    let got = gw.get("/stream_routes/1").await;
    assert_eq!(got.status, 200);
    let body = got.json();
    assert_eq!(body["key"], "/apisix/stream_routes/1");
    assert_eq!(body["value"]["id"], "1");
    let created = body["createdIndex"]
        .as_i64()
        .expect("createdIndex is a number");
    let modified = body["modifiedIndex"]
        .as_i64()
        .expect("modifiedIndex is a number");
    assert_eq!(created, modified);

    gw.put_ok("/stream_routes/1", route(1996)).await;
    let body = gw.get("/stream_routes/1").await.json();
    assert_eq!(body["createdIndex"].as_i64(), Some(created));
    assert!(body["modifiedIndex"].as_i64().expect("number") > modified);
}

#[tokio::test]
async fn list_is_empty_then_holds_every_object_with_total() {
    let gw = gateway().await;
    let empty = gw.get("/stream_routes").await;
    assert_eq!(empty.status, 200);
    assert_eq!(empty.json(), json!({"list": [], "total": 0}));
    gw.put_ok("/stream_routes/a", route(1995)).await;
    gw.put_ok("/stream_routes/b", route(1996)).await;
    let list = gw.get("/stream_routes").await.json();
    assert_eq!(list["total"], 2);
    let items = list["list"].as_array().expect("list is an array");
    assert_eq!(items.len(), 2);
    for item in items {
        assert!(item["key"]
            .as_str()
            .is_some_and(|k| k.starts_with("/apisix/stream_routes/")));
        assert!(item["value"].is_object());
        assert!(
            item["createdIndex"].is_i64() && item["modifiedIndex"].is_i64(),
            "{item}"
        );
    }
    assert_eq!(
        gw.get("/upstreams").await.json(),
        json!({"list": [], "total": 0})
    );
}

#[tokio::test]
async fn paging_slices_by_created_index_and_total_counts_everything() {
    let gw = gateway().await;
    for i in 0..12 {
        gw.put_ok(&format!("/stream_routes/r{i:02}"), route(2000 + i))
            .await;
    }
    let page2 = gw.get("/stream_routes?page=2&page_size=10").await.json();
    assert_eq!(page2["total"], 12);
    let ids: Vec<&str> = page2["list"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|i| i["value"]["id"].as_str())
        .collect();
    assert_eq!(ids, vec!["r10", "r11"]);
    let page1 = gw.get("/stream_routes?page=1&page_size=10").await.json();
    assert_eq!(page1["list"].as_array().map(Vec::len), Some(10));
    assert_eq!(page1["list"][0]["value"]["id"], "r00");
    let unpaged = gw.get("/stream_routes?page=2").await.json();
    assert_eq!(
        unpaged["list"].as_array().map(Vec::len),
        Some(12),
        "paging needs both"
    );
}

#[tokio::test]
async fn name_label_and_filter_queries_select_routes() {
    let gw = gateway().await;
    gw.put_ok("/upstreams/u1", upstream(1995)).await;
    gw.put_ok(
        "/stream_routes/1",
        json!({"name": "mysql-a", "labels": {"env": "prod"}, "upstream_id": "u1"}),
    )
    .await;
    gw.put_ok(
        "/stream_routes/2",
        json!({"name": "mysql-b", "upstream": upstream(1996)}),
    )
    .await;
    gw.put_ok(
        "/stream_routes/3",
        json!({"name": "redis", "labels": {"env": "dev"}, "upstream": upstream(1997)}),
    )
    .await;
    gw.put_ok("/stream_routes/4", route(1998)).await;

    let ids = |v: Value| -> Vec<String> {
        let mut ids: Vec<String> = v["list"]
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|i| i["value"]["id"].as_str().map(str::to_string))
            .collect();
        ids.sort();
        ids
    };
    let by_name = gw.get("/stream_routes?name=mysql").await.json();
    assert_eq!(by_name["total"], 2);
    assert_eq!(ids(by_name), vec!["1", "2"]);
    let by_label = gw.get("/stream_routes?label=env").await.json();
    assert_eq!(ids(by_label), vec!["1", "3"]);
    let by_ref = gw
        .get("/stream_routes?filter=upstream_id%3Du1")
        .await
        .json();
    assert_eq!(by_ref["total"], 1);
    assert_eq!(ids(by_ref), vec!["1"]);
}

#[tokio::test]
async fn delete_returns_the_id_as_a_string_then_key_not_found() {
    let gw = gateway().await;
    gw.put_ok("/stream_routes/1", route(1995)).await;
    let deleted = gw.delete("/stream_routes/1").await;
    assert_eq!(deleted.status, 200);
    assert_eq!(
        deleted.json(),
        json!({"deleted": "1", "key": "/apisix/stream_routes/1"})
    );
    let gone = gw.get("/stream_routes/1").await;
    assert_eq!(gone.status, 404);
    assert_eq!(gone.json(), json!({"message": "Key not found"}));
}

#[tokio::test]
async fn patch_merges_into_an_upstream_and_a_sub_path_replaces() {
    let gw = gateway().await;
    gw.put_ok(
        "/upstreams/1",
        json!({"name": "u", "type": "roundrobin", "nodes": {"127.0.0.1:1995": 1}}),
    )
    .await;
    let patched = gw
        .admin(
            Method::PATCH,
            "/upstreams/1",
            Some(json!({"desc": "d", "nodes": {"127.0.0.1:1996": 2}})),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    let value = &patched.json()["value"];
    assert_eq!(value["name"], "u");
    assert_eq!(value["desc"], "d");
    assert_eq!(
        value["nodes"],
        json!({"127.0.0.1:1995": 1, "127.0.0.1:1996": 2})
    );

    let removed = gw
        .admin(
            Method::PATCH,
            "/upstreams/1",
            Some(json!({"nodes": {"127.0.0.1:1995": null}})),
        )
        .await;
    assert_eq!(
        removed.json()["value"]["nodes"],
        json!({"127.0.0.1:1996": 2})
    );

    let sub = gw
        .admin(
            Method::PATCH,
            "/upstreams/1/nodes",
            Some(json!({"127.0.0.1:1997": 3})),
        )
        .await;
    assert_eq!(sub.status, 200, "{}", sub.text);
    let stored = gw.get("/upstreams/1").await.json();
    assert_eq!(stored["value"]["nodes"], json!({"127.0.0.1:1997": 3}));
    assert_eq!(stored["value"]["name"], "u");
}

#[tokio::test]
async fn an_object_written_with_ttl_disappears() {
    let gw = gateway().await;
    let reply = gw.put("/upstreams/short?ttl=1", upstream(1995)).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(gw.get("/upstreams/short").await.status, 200);
    wait::until(
        "the ttl=1 upstream to expire",
        Duration::from_secs(6),
        || async { (gw.get("/upstreams/short").await.status == 404).then_some(()) },
    )
    .await
    .expect("ttl expiry");
}

#[tokio::test]
async fn force_true_deletes_an_upstream_and_a_service_still_in_use() {
    let gw = gateway().await;
    gw.put_ok("/upstreams/1", upstream(1995)).await;
    gw.put_ok("/services/s1", json!({"upstream": upstream(1996)}))
        .await;
    gw.put_ok("/stream_routes/1", json!({"upstream_id": "1"}))
        .await;
    gw.put_ok("/stream_routes/2", json!({"service_id": "s1"}))
        .await;
    let refused = gw.delete("/upstreams/1").await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    let forced = gw.delete("/upstreams/1?force=true").await;
    assert_eq!(forced.status, 200, "{}", forced.text);
    assert_eq!(gw.delete("/services/s1").await.status, 400);
    assert_eq!(gw.delete("/services/s1?force=true").await.status, 200);
    gw.delete("/stream_routes/2").await;
    gw.put_ok("/services/s2", json!({"upstream": upstream(1996)}))
        .await;
    assert_eq!(
        gw.delete("/services/s2").await.status,
        200,
        "unused service deletes"
    );
}

#[tokio::test]
async fn the_key_works_in_query_and_cookie_and_a_viewer_may_read() {
    let gw = gateway().await;
    gw.put_ok("/stream_routes/1", route(1995)).await;
    let key = gw.config.admin_key.clone().expect("test gateway has a key");
    for auth in [KeyAuth::Query(key.clone()), KeyAuth::Cookie(key.clone())] {
        let reply = gw
            .admin_request(Method::GET, "/stream_routes/1")
            .auth(auth.clone())
            .send()
            .await;
        assert_eq!(reply.status, 200, "{auth:?}: {}", reply.text);
    }
    let viewer = gw
        .admin_request(Method::GET, "/stream_routes")
        .auth(KeyAuth::Header(TEST_VIEWER_KEY.into()))
        .send()
        .await;
    assert_eq!(viewer.status, 200, "{}", viewer.text);
    assert_eq!(viewer.json()["total"], 1);
}

#[tokio::test]
async fn head_on_the_admin_root_is_200_without_a_key() {
    let gw = gateway().await;
    let reply = gw
        .admin_request(Method::HEAD, "")
        .auth(KeyAuth::None)
        .send()
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text, "");
}

#[tokio::test]
async fn plugin_endpoints_list_stream_plugins_and_their_schemas() {
    let gw = gateway().await;
    let list = gw.get("/plugins/list?subsystem=stream").await;
    assert_eq!(list.status, 200, "{}", list.text);
    let names: Vec<String> = list
        .json()
        .as_array()
        .expect("an array of names")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    for name in ["ip-restriction", "limit-conn", "mqtt-proxy"] {
        assert!(
            names.iter().any(|n| n == name),
            "{name} missing from {names:?}"
        );
    }
    let schema = gw.get("/plugins/limit-conn?subsystem=stream").await;
    assert_eq!(schema.status, 200, "{}", schema.text);
    assert!(
        schema.json()["properties"]["conn"].is_object(),
        "{}",
        schema.text
    );
}

#[tokio::test]
async fn schema_validate_accepts_a_valid_stream_route_without_storing_it() {
    let gw = gateway().await;
    let reply = gw
        .admin(
            Method::POST,
            "/schema/validate/stream_routes",
            Some(route(1995)),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.text.trim(), "");
    assert_eq!(gw.get("/stream_routes").await.json()["total"], 0);
}

#[tokio::test]
async fn services_and_upstreams_are_referenced_by_stream_routes() {
    let gw = gateway().await;
    let up = gw.put("/upstreams/1", upstream(1995)).await;
    assert_eq!(up.status, 201, "{}", up.text);
    assert_eq!(up.json()["key"], "/apisix/upstreams/1");
    let svc = gw
        .put("/services/1", json!({"name": "svc", "upstream_id": "1"}))
        .await;
    assert_eq!(svc.status, 201, "{}", svc.text);
    let r = gw
        .put(
            "/stream_routes/1",
            json!({"server_port": 9100, "service_id": "1"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        gw.get("/stream_routes?filter=service_id%3D1").await.json()["total"],
        1
    );
}

#[tokio::test]
async fn with_stream_mode_off_stream_routes_can_be_read_but_not_written() {
    let mut config = GatewayConfig::with_listeners(0, 0);
    config.proxy_mode = "http".to_string();
    let gw = Gateway::start(config)
        .await
        .expect("start gateway in http mode");
    let list = gw.get("/stream_routes").await;
    assert_eq!(
        list.status, 200,
        "GET keeps working for pollers: {}",
        list.text
    );
    assert_eq!(list.json(), json!({"list": [], "total": 0}));
    let put = gw.put("/stream_routes/1", route(1995)).await;
    assert_eq!(put.status, 400, "{}", put.text);
    assert_eq!(
        put.json(),
        json!({"error_msg": "stream mode is disabled, can not add stream routes"})
    );
    assert_eq!(gw.put("/upstreams/1", upstream(1995)).await.status, 201);
}

#[tokio::test]
async fn allow_admin_refuses_clients_outside_the_cidrs_with_403() {
    let mut config = GatewayConfig::new();
    config.allow_admin = vec!["127.0.0.2/32".to_string()];
    let gw = Gateway::start(config).await.expect("start gateway");
    let key = gw.config.admin_key.clone().expect("key");
    let url = format!("{}/apisix/admin/stream_routes", gw.admin_base());
    let from = |ip: [u8; 4]| {
        reqwest::Client::builder()
            .no_proxy()
            .local_address(std::net::IpAddr::from(ip))
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client")
    };
    let allowed = from([127, 0, 0, 2])
        .get(&url)
        .header("X-API-KEY", &key)
        .send()
        .await
        .expect("request from 127.0.0.2");
    assert_eq!(allowed.status().as_u16(), 200);
    let denied = from([127, 0, 0, 1])
        .get(&url)
        .header("X-API-KEY", &key)
        .send()
        .await
        .expect("request from 127.0.0.1");
    assert_eq!(denied.status().as_u16(), 403);
}

#[tokio::test]
async fn plugin_metadata_is_stored_per_plugin_name() {
    let gw = gateway().await;
    let body = json!({"log_format": {"host": "$host", "client_ip": "$remote_addr"}});
    let put = gw.put("/plugin_metadata/syslog", body.clone()).await;
    assert_eq!(put.status, 201, "{}", put.text);
    assert_eq!(put.json()["key"], "/apisix/plugin_metadata/syslog");
    let got = gw.get("/plugin_metadata/syslog").await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(got.json()["value"]["log_format"], body["log_format"]);
    assert_eq!(gw.delete("/plugin_metadata/syslog").await.status, 200);
    assert_eq!(gw.get("/plugin_metadata/syslog").await.status, 404);
}
