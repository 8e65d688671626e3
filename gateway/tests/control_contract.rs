//! The Control API's JSON contract (docs/control-api.md) against its `model::control` types:
//! each endpoint's body, read from a running gateway, survives `Value → type → Value`
//! byte for byte (same fields, same order). A field the gateway sends that the type lacks,
//! or one the type has that the gateway does not send, fails here, while the CLI and the
//! dashboard keep reading tolerantly (the types deny no unknown fields).

mod observe_support;

use model::control::{
    Checker, Connection, ControlList, Killed, MatchReport, RouteInfo, Status, UpstreamEntry,
};
use observe_support::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

/// Parses `body` as `T` and checks that `T` writes it back unchanged.
fn assert_exact<T: DeserializeOwned + Serialize>(what: &str, body: &Value) -> T {
    let typed: T = serde_json::from_value(body.clone())
        .unwrap_or_else(|e| panic!("{what}: does not parse as its type: {e}\n{body:#}"));
    let again = serde_json::to_string(&typed).expect("serializes");
    assert_eq!(
        again,
        body.to_string(),
        "{what}: the type does not write back what the gateway sent"
    );
    typed
}

#[tokio::test]
async fn every_endpoint_body_is_exactly_its_model_type() {
    let echo = tcp_echo().await;
    let mut checked = route_to(echo, json!({"remote_addr": "127.0.0.1", "name": "checked"}));
    checked["upstream"]["checks"] = json!({"active": {"type": "tcp"}});
    let routes = vec![
        ("hc", checked),
        (
            "nu",
            json!({"upstream_id": "missing", "remote_addr": "127.0.0.2"}),
        ),
    ];
    let dns = testkit::dns::DnsServer::start(60).await;
    dns.set("db.test", &["127.0.0.1".parse().expect("ip")]);
    let h = Harness::start(routes, |c| c.dns.servers = vec![dns.addr]).await;
    let upstream = json!({"nodes": {"db.test:3306": 1, "127.0.0.1:3306": 1}});
    h.store
        .put("/apisix/upstreams/u1", &upstream, 0)
        .await
        .expect("put upstream");
    let mut stream = connect_from("127.0.0.1", h.tcp).await;
    assert_eq!(round_trip(&mut stream, b"hello").await, b"hello");

    let (_, body) = h.get("/v1/status").await;
    let status: Status = assert_exact("/v1/status", &body);
    assert!(!status.listeners.is_empty());

    let (_, body) = h.get("/v1/stream_routes").await;
    let routes: ControlList<RouteInfo> = assert_exact("/v1/stream_routes", &body);
    assert_eq!(routes.total, 2);
    let (_, body) = h.get("/v1/stream_routes/hc").await;
    let route: RouteInfo = assert_exact("/v1/stream_routes/hc", &body);
    assert_eq!(route.stats.throughput.bytes_in.len(), 60);
    let (_, body) = h.get("/v1/stream_routes/nu").await;
    let unrouted: RouteInfo = assert_exact("/v1/stream_routes/nu", &body);
    assert!(unrouted.upstream.is_none() && unrouted.upstream_error.is_some());

    let body = eventually("db.test resolved", || async {
        let (_, body) = h.get("/v1/upstreams").await;
        (body[0]["dns"][0]["state"] == "resolved").then_some(body)
    })
    .await;
    let upstreams: Vec<UpstreamEntry> = assert_exact("/v1/upstreams", &body);
    assert_eq!(upstreams[0].dns[0].addresses, ["127.0.0.1"]);
    let (_, body) = h.get("/v1/upstream/u1").await;
    assert_exact::<UpstreamEntry>("/v1/upstream/u1", &body);

    let (_, body) = h.get("/v1/connections").await;
    let conns: ControlList<Connection> = assert_exact("/v1/connections", &body);
    assert_eq!(conns.list[0].route_id, "hc");

    let port = h.tcp.port();
    let (_, body) = h
        .get(&format!("/v1/match?client=127.0.0.1&server_port={port}"))
        .await;
    let report: MatchReport = assert_exact("/v1/match", &body);
    assert_eq!(report.matched.as_deref(), Some("hc"));
    let (_, body) = h
        .get(&format!(
            "/v1/match?client=10.0.0.1&server_port={port}&sni=a.test"
        ))
        .await;
    let report: MatchReport = assert_exact("/v1/match (no route)", &body);
    assert_eq!(report.matched, None);

    let (_, body) = h.get("/v1/healthcheck").await;
    let checkers: Vec<Checker> = assert_exact("/v1/healthcheck", &body);
    assert_eq!(checkers.len(), 1);
    let (_, body) = h.get("/v1/healthcheck/stream_routes/hc").await;
    let checker: Checker = assert_exact("/v1/healthcheck/stream_routes/hc", &body);
    assert_eq!(checker.check_type, "tcp");

    let id = conns.list[0].id.clone();
    let (status, body) = h
        .delete(&format!("/v1/connections/{id}"), Some(ADMIN_KEY))
        .await;
    assert_eq!(status, 200, "{body}");
    let killed: Killed = assert_exact("DELETE /v1/connections/{id}", &body);
    assert_eq!(killed.killed, id);
}
