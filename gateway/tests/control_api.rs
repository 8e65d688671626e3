//! The Control API in process: live connections and killing them, the route-match explainer,
//! live route stats, and APISIX's endpoints with their error texts.

mod observe_support;

use std::net::SocketAddr;

use observe_support::*;
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;

/// The first listed connection once its byte counts reach `bytes` each way (the relay counts
/// a chunk right after writing it, so a reply can arrive a moment before it is counted).
async fn conn_with_bytes(h: &Harness, query: &str, bytes: u64) -> Value {
    eventually("byte counts", || async {
        let (status, body) = h.get(&format!("/v1/connections{query}")).await;
        assert_eq!(status, 200);
        let conn = body["list"][0].clone();
        (conn["bytes_in"] == bytes && conn["bytes_out"] == bytes).then_some(body)
    })
    .await
}

fn conn_of<'a>(body: &'a Value, route: &str) -> Vec<&'a Value> {
    body["list"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|c| c["route_id"] == route)
        .collect()
}

#[tokio::test]
async fn live_connection_is_listed_with_its_route_and_growing_byte_counts() {
    let echo = tcp_echo().await;
    let h = Harness::start(vec![("1", route_to(echo, json!({})))], |_| {}).await;
    let mut stream = connect_from("127.0.0.1", h.tcp).await;
    assert_eq!(round_trip(&mut stream, b"hello").await, b"hello");

    let body = conn_with_bytes(&h, "", 5).await;
    assert_eq!(body["total"], 1);
    let conn = conn_of(&body, "1")[0].clone();
    assert_eq!(conn["bytes_in"], 5);
    assert_eq!(conn["bytes_out"], 5);
    assert_eq!(conn["protocol"], "tcp");
    assert_eq!(conn["listener"], h.tcp.to_string());
    assert_eq!(conn["upstream"], echo.to_string());
    assert_eq!(
        conn["client"],
        stream.local_addr().expect("addr").to_string()
    );
    assert!(conn["id"].as_str().expect("id").starts_with("c-"));

    assert_eq!(round_trip(&mut stream, b"seven!!").await, b"seven!!");
    let body = conn_with_bytes(&h, "?route_id=1", 12).await;
    assert_eq!(body["total"], 1);

    let (_, none) = h.get("/v1/connections?route_id=2").await;
    assert_eq!(none["total"], 0);
    let (_, by_upstream) = h.get(&format!("/v1/connections?upstream={echo}")).await;
    assert_eq!(by_upstream["total"], 1);
    let (_, other_client) = h.get("/v1/connections?client=10.0.0.1").await;
    assert_eq!(other_client["total"], 0);

    let (status, route) = h.get("/v1/stream_routes/1").await;
    assert_eq!(status, 200);
    assert_eq!(route["stats"]["active"], 1);
    assert_eq!(route["stats"]["total"], 1);
    assert_eq!(route["stats"]["bytes_in"], 12);
    assert_eq!(route["stats"]["bytes_out"], 12);
    assert_eq!(
        route["stats"]["throughput"]["bytes_in"]
            .as_array()
            .expect("ring")
            .len(),
        60
    );
    assert_eq!(route["upstream"]["nodes"][0]["port"], echo.port());
}

#[tokio::test]
async fn delete_closes_the_connection_and_needs_an_admin_key() {
    let echo = tcp_echo().await;
    let h = Harness::start(vec![("1", route_to(echo, json!({})))], |_| {}).await;
    let mut stream = connect_from("127.0.0.1", h.tcp).await;
    round_trip(&mut stream, b"ping").await;
    let (_, body) = h.get("/v1/connections").await;
    let id = body["list"][0]["id"].as_str().expect("id").to_owned();
    let path = format!("/v1/connections/{id}");

    let (status, refused) = h.delete(&path, None).await;
    assert_eq!(status, 401);
    assert_eq!(refused["description"], "missing apikey");
    let (status, refused) = h.delete(&path, Some(VIEWER_KEY)).await;
    assert_eq!(status, 401);
    assert_eq!(refused["description"], "invalid method for role viewer");
    let (_, still) = h.get("/v1/connections").await;
    assert_eq!(
        still["total"], 1,
        "a refused delete leaves the connection alone"
    );

    let (status, killed) = h.delete(&path, Some(ADMIN_KEY)).await;
    assert_eq!(status, 200);
    assert_eq!(killed["killed"], id.as_str());
    let mut rest = Vec::new();
    let read = within("client sees the close", stream.read_to_end(&mut rest)).await;
    assert!(read.is_err() || rest.is_empty(), "closed without more data");

    let (status, gone) = h.delete(&path, Some(ADMIN_KEY)).await;
    assert_eq!(status, 404);
    assert_eq!(gone["error_msg"], format!("connection[{id}] not found"));
}

#[tokio::test]
async fn delete_needs_no_key_when_keys_are_not_required() {
    let echo = tcp_echo().await;
    let h = Harness::start(vec![("1", route_to(echo, json!({})))], |c| {
        c.admin.key_required = false
    })
    .await;
    let (status, body) = h.delete("/v1/connections/c-00000000000000ff", None).await;
    assert_eq!(status, 404);
    assert_eq!(
        body["error_msg"],
        "connection[c-00000000000000ff] not found"
    );
}

#[tokio::test]
async fn match_names_the_route_and_the_failed_conditions() {
    let echo = tcp_echo().await;
    let routes = vec![
        ("a", route_to(echo, json!({"server_port": 2000}))),
        ("b", route_to(echo, json!({"server_addr": "127.0.0.1"}))),
        ("c", route_to(echo, json!({}))),
    ];
    let h = Harness::start(routes, |_| {}).await;
    let (status, body) = h
        .get("/v1/match?client=127.0.0.1:4000&server_addr=127.0.0.1&server_port=9100")
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["matched"], "b");
    assert_eq!(body["input"]["client"], "127.0.0.1:4000");
    assert_eq!(body["input"]["protocol"], "tcp");
    let routes = body["routes"].as_array().expect("routes");
    assert_eq!(routes[0]["id"], "a");
    assert_eq!(routes[0]["reason"], "server_port: 9100 does not equal 2000");
    assert_eq!(routes[1]["matched"], true);
    assert_eq!(routes[1]["reason"], Value::Null);
    assert_eq!(routes[2]["reason"], "not reached: an earlier route matched");
}

#[tokio::test]
async fn match_and_stream_routes_name_the_routes_that_shadow_a_route() {
    let echo = tcp_echo().await;
    let routes = vec![
        ("any", route_to(echo, json!({}))),
        (
            "port",
            route_to(
                echo,
                json!({"server_port": 9100, "remote_addr": "10.0.0.0/8"}),
            ),
        ),
        ("sni", route_to(echo, json!({"sni": "a.test"}))),
    ];
    let h = Harness::start(routes, |_| {}).await;
    let (status, body) = h.get("/v1/match?client=10.1.2.3&server_port=9100").await;
    assert_eq!(status, 200);
    assert_eq!(body["matched"], "any");
    let verdicts = body["routes"].as_array().expect("routes");
    let of = |id: &str| {
        verdicts
            .iter()
            .find(|v| v["id"] == id)
            .cloned()
            .expect("verdict")
    };
    assert_eq!(of("port")["shadowed_by"], json!(["any"]), "{body}");
    assert_eq!(of("any")["shadowed_by"], json!([]));
    assert_eq!(
        of("sni")["shadowed_by"],
        json!([]),
        "plain routes never shadow sni routes"
    );
    let (status, route) = h.get("/v1/stream_routes/port").await;
    assert_eq!(status, 200);
    assert_eq!(route["shadowed_by"], json!(["any"]));
    let (_, list) = h.get("/v1/stream_routes").await;
    let shadowed: Vec<&Value> = list["list"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|r| r["shadowed_by"] != json!([]))
        .collect();
    assert_eq!(shadowed.len(), 1, "{list}");
}

#[tokio::test]
async fn match_reports_no_route_and_bad_input() {
    let echo = tcp_echo().await;
    let routes = vec![("b", route_to(echo, json!({"remote_addr": "10.0.0.0/8"})))];
    let h = Harness::start(routes, |_| {}).await;
    let (status, body) = h
        .get("/v1/match?client=192.168.1.1&server_addr=127.0.0.1&server_port=9100&protocol=udp&sni=x.test")
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["matched"], Value::Null);
    assert_eq!(
        body["routes"][0]["reason"],
        "remote_addr: 192.168.1.1 is not in 10.0.0.0/8"
    );
    assert_eq!(body["warnings"][0], "sni is ignored for udp");

    let (status, body) = h.get("/v1/match?client=10.1.2.3&server_port=9100").await;
    assert_eq!(status, 200, "server_addr is optional");
    assert_eq!(body["input"]["server_addr"], "127.0.0.1");
    assert_eq!(
        body["warnings"][0],
        "no stream_proxy.tcp listener on port 9100: no connection can arrive there"
    );

    let (status, body) = h
        .get("/v1/match?client=127.0.0.1&server_addr=127.0.0.1")
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error_msg"], "missing query argument server_port");
    let (status, _) = h
        .get("/v1/match?client=nope&server_addr=127.0.0.1&server_port=1")
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn match_warns_when_a_port_can_never_carry_an_sni() {
    let echo = tcp_echo().await;
    let routes = vec![
        ("sni", route_to(echo, json!({"sni": "db.test"}))),
        ("plain", route_to(echo, json!({}))),
    ];
    // A plain (no tls, no sni_preread) listener on a known port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let h = Harness::start(routes, |c| {
        c.stream.tcp[0].addr = SocketAddr::from(([127, 0, 0, 1], port));
    })
    .await;
    let (status, body) = h
        .get(&format!(
            "/v1/match?client=127.0.0.1&server_port={port}&sni=db.test"
        ))
        .await;
    assert_eq!(status, 200);
    let warnings: Vec<&str> = body["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        warnings.contains(&format!(
            "port {port} has neither tls nor sni_preread: its connections carry no sni, so sni \"db.test\" never reaches routing there"
        ).as_str()),
        "{warnings:?}"
    );
    assert!(
        warnings.contains(&format!(
            "stream routes [\"sni\"] set sni, but port {port} has neither tls nor sni_preread: they never match there"
        ).as_str()),
        "{warnings:?}"
    );
}

#[tokio::test]
async fn healthcheck_endpoints_use_apisix_error_texts() {
    let echo = tcp_echo().await;
    let checks = json!({"active": {"type": "tcp"}});
    let mut with_checks = route_to(echo, json!({}));
    with_checks["upstream"]["checks"] = checks;
    let routes = vec![("1", route_to(echo, json!({}))), ("hc", with_checks)];
    let h = Harness::start(routes, |_| {}).await;
    assert!(
        h.snapshot.load().route("hc").is_some(),
        "route with checks loads"
    );

    let cases = [
        ("/v1/healthcheck/foo/1", 400, "invalid src type foo"),
        (
            "/v1/healthcheck/stream_routes",
            404,
            "missing src id for src type stream_routes",
        ),
        (
            "/v1/healthcheck/stream_routes/9",
            404,
            "stream_routes[9] not found",
        ),
        (
            "/v1/healthcheck/stream_routes/1",
            404,
            "no checker for stream_routes[1]",
        ),
        ("/v1/healthcheck/upstreams/7", 404, "upstreams[7] not found"),
        ("/v1/healthcheck/services/7", 404, "services[7] not found"),
    ];
    for (path, code, msg) in cases {
        let (status, body) = h.get(path).await;
        assert_eq!(
            (status, body["error_msg"].as_str()),
            (code, Some(msg)),
            "{path}"
        );
    }

    let (status, one) = h.get("/v1/healthcheck/stream_routes/hc").await;
    assert_eq!(status, 200);
    assert_eq!(one["name"], "/apisix/stream_routes/hc");
    assert_eq!(one["type"], "tcp");
    assert_eq!(one["nodes"][0]["port"], echo.port());
    assert_eq!(one["nodes"][0]["status"], "healthy");

    let (status, all) = h.get("/v1/healthcheck").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = all
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, vec!["/apisix/stream_routes/hc"]);
}

#[tokio::test]
async fn apisix_endpoints_and_unknown_paths() {
    let echo = tcp_echo().await;
    let dns = testkit::dns::DnsServer::start(60).await;
    dns.set("db.internal", &["10.1.2.3".parse().expect("ip")]);
    let h = Harness::start(vec![("1", route_to(echo, json!({"name": "r1"})))], |c| {
        c.dns.servers = vec![dns.addr];
    })
    .await;
    let upstream = json!({"type": "roundrobin", "nodes": {"db.internal:3306": 1}});
    h.store
        .put("/apisix/upstreams/u1", &upstream, 0)
        .await
        .expect("put upstream");

    let (status, schema) = h.get("/v1/schema").await;
    assert_eq!(status, 200);
    assert!(schema["main"]["stream_route"].is_object());
    assert_eq!(schema["plugins"], json!({}));
    assert!(schema["stream_plugins"]["prometheus"]["schema"].is_object());
    assert!(
        schema["stream_plugins"].get("limit-conn").is_none(),
        "only enabled plugins"
    );

    let (status, list) = h.get("/v1/upstreams").await;
    assert_eq!(status, 200);
    assert_eq!(list[0]["key"], "/apisix/upstreams/u1");
    assert_eq!(list[0]["has_domain"], true);
    let resolved = eventually("db.internal resolved in /v1/upstreams", || async {
        let (_, list) = h.get("/v1/upstreams").await;
        let name = list[0]["dns"][0].clone();
        (name["state"] == "resolved").then_some(name)
    })
    .await;
    assert_eq!(resolved["host"], "db.internal");
    assert_eq!(resolved["addresses"], json!(["10.1.2.3"]));
    assert_eq!(resolved["ttl"], 60);
    let (status, one) = h.get("/v1/upstream/u1").await;
    assert_eq!(
        (status, one["value"]["type"].as_str()),
        (200, Some("roundrobin"))
    );
    let (status, missing) = h.get("/v1/upstream/nope").await;
    assert_eq!(
        (status, missing["error_msg"].as_str()),
        (404, Some("upstream[nope] not found"))
    );

    let (status, metas) = h.get("/v1/plugin_metadatas").await;
    assert_eq!((status, metas), (200, json!([])));
    let (status, meta) = h.get("/v1/plugin_metadata/syslog").await;
    assert_eq!(
        (status, meta["error_msg"].as_str()),
        (404, Some("plugin metadata[syslog] not found"))
    );

    let (status, routes) = h.get("/v1/stream_routes").await;
    assert_eq!(status, 200);
    assert_eq!(routes["total"], 1);
    assert_eq!(routes["list"][0]["name"], "r1");
    let (status, missing) = h.get("/v1/stream_routes/9").await;
    assert_eq!(
        (status, missing["error_msg"].as_str()),
        (404, Some("stream_route[9] not found"))
    );

    let (status, st) = h.get("/v1/status").await;
    assert_eq!(status, 200);
    assert_eq!(st["role"], "traditional");
    assert_eq!(st["config_provider"], "embedded");
    assert_eq!(st["store_reachable"], true);
    assert_eq!(st["listeners"][0]["protocol"], "tcp");
    assert_eq!(st["listeners"][1]["protocol"], "udp");
    assert!(st["config_revision"].as_i64().expect("revision") >= 1);

    for path in ["/v1/nope", "/v2/status", "/"] {
        let (status, body) = h.get(path).await;
        assert_eq!(
            (status, body),
            (404, json!({"error_msg": "not found"})),
            "{path}"
        );
    }
}

#[tokio::test]
async fn the_server_starts_the_control_api_export_server_and_access_log() {
    use apisix_gateway::server::{LifecycleEvent, Server};

    let dir = tempfile::tempdir().expect("tempdir");
    let server = within("start", Server::start(config(dir.path())))
        .await
        .expect("server starts");
    let control = server.observe().control_addr().expect("control api runs");
    let metrics = server.observe().metrics_addr().expect("export server runs");
    assert!(server.observe().access_log().is_some());
    let http = reqwest::Client::new();
    let status: Value = within("status", async {
        http.get(format!("http://{control}/v1/status"))
            .send()
            .await
            .expect("status answers")
            .json()
            .await
            .expect("json")
    })
    .await;
    assert_eq!(status["store_reachable"], true);
    let text = within("scrape", async {
        http.get(format!("http://{metrics}/apisix/prometheus/metrics"))
            .send()
            .await
            .expect("metrics answer")
            .text()
            .await
            .expect("text")
    })
    .await;
    assert!(text.contains("apisix_etcd_reachable 1"), "{text}");

    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let serving = tokio::spawn(server.serve(rx));
    tx.send(LifecycleEvent::ReopenLogs).await.expect("send");
    tx.send(LifecycleEvent::Shutdown).await.expect("send");
    within("shutdown", serving)
        .await
        .expect("serve task")
        .expect("clean shutdown");
    assert!(
        http.get(format!("http://{control}/v1/status"))
            .send()
            .await
            .is_err(),
        "the control api stops with the server"
    );
}

#[tokio::test]
async fn rejections_are_counted_on_their_route() {
    let closed = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        l.local_addr().expect("addr")
    };
    let routes = vec![
        (
            "down",
            route_to(closed, json!({"remote_addr": "127.0.0.1"})),
        ),
        (
            "nu",
            json!({"upstream_id": "missing", "remote_addr": "127.0.0.2"}),
        ),
    ];
    let h = Harness::start(routes, |_| {}).await;
    rejected_session("127.0.0.1", h.tcp).await;
    rejected_session("127.0.0.2", h.tcp).await;
    h.settle(2).await;

    let (_, down) = h.get("/v1/stream_routes/down").await;
    assert_eq!(down["stats"]["total"], 1);
    assert_eq!(down["stats"]["active"], 0);
    assert_eq!(down["stats"]["rejected"]["connect_failed"], 1);
    let (_, nu) = h.get("/v1/stream_routes/nu").await;
    assert_eq!(nu["upstream"], Value::Null);
    assert!(nu["upstream_error"].is_string());
    assert_eq!(nu["stats"]["rejected"]["no_upstream"], 1);
}

#[tokio::test]
async fn healthcheck_shows_probe_states_and_counters_over_http() {
    let echo = tcp_echo().await;
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let dead_addr = dead.local_addr().expect("addr");
    drop(dead);
    let checks = json!({"active": {"type": "tcp",
        "healthy": {"interval": 1}, "unhealthy": {"interval": 1, "tcp_failures": 2}}});
    let mut body = route_to(echo, json!({}));
    body["upstream"]["nodes"] = json!({echo.to_string(): 1, dead_addr.to_string(): 1});
    body["upstream"]["checks"] = checks;
    let h = Harness::start(vec![("hc", body)], |_| {}).await;
    let _health = apisix_gateway::health::HealthManager::start(h.snapshot.clone());

    let node_of = |report: &Value, port: u16| -> Value {
        report["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .find(|n| n["port"] == port)
            .cloned()
            .expect("node listed")
    };
    let report = eventually("dead node unhealthy", || async {
        let (status, report) = h.get("/v1/healthcheck/stream_routes/hc").await;
        assert_eq!(status, 200);
        (node_of(&report, dead_addr.port())["status"] == "unhealthy").then_some(report)
    })
    .await;
    let down = node_of(&report, dead_addr.port());
    assert_eq!(
        down["counter"],
        json!({"success": 0, "http_failure": 0, "tcp_failure": 2, "timeout_failure": 0})
    );
    assert_eq!(down["ip"], "127.0.0.1");
    assert_eq!(down["hostname"], "127.0.0.1");
    let up = node_of(&report, echo.port());
    assert_eq!(up["status"], "healthy");
    assert_eq!(
        up["counter"],
        json!({"success": 0, "http_failure": 0, "tcp_failure": 0, "timeout_failure": 0}),
        "a healthy node does not count successes"
    );

    let (status, all) = h.get("/v1/healthcheck").await;
    assert_eq!(status, 200);
    assert_eq!(all[0]["name"], "/apisix/stream_routes/hc");
    assert_eq!(all[0]["type"], "tcp");
    assert_eq!(node_of(&all[0], dead_addr.port())["status"], "unhealthy");
}
