//! `HttpSource` against an in-process HTTP server that serves the fixture files: the wire
//! formats parse, the admin key is sent, server errors surface their `error_msg`, an Admin
//! API failure does not hide the Control API data, and the route test measures a real TCP
//! round trip and asks the Control API which route took it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use apisix_tui::source::{DataSource, HttpSource, SourceError, TestRequest};
use serde_json::json;
use testkit::http_double::{HttpDouble, Request, Router};
use testkit::ports::dead_addr;
use testkit::wait::within_for;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const WAIT: Duration = Duration::from_secs(5);

/// Starts the Admin and Control API double on port 0: its URL and the requests it saw.
fn serve(router: Router) -> (String, Arc<Mutex<Vec<Request>>>) {
    let double = HttpDouble::start(router);
    (double.url, double.seen)
}

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path).expect("fixture exists")
}

fn gateway_router(admin_ok: bool) -> Router {
    Arc::new(move |req: &Request| {
        let path = req.path.split('?').next().unwrap_or_default();
        match (req.method.as_str(), path) {
            ("GET", "/v1/status") => (200, fixture("status")),
            ("GET", "/v1/stream_routes") => (200, fixture("stream_routes")),
            ("GET", "/v1/connections") => (200, fixture("connections")),
            ("GET", "/apisix/admin/stream_routes") if admin_ok => (200, fixture("admin_stream_routes")),
            ("GET", "/apisix/admin/upstreams") if admin_ok => (200, fixture("admin_upstreams")),
            ("GET", p) if p.starts_with("/apisix/admin/") => {
                (401, json!({"error_msg": "failed to check token", "description": "wrong apikey"}).to_string())
            }
            ("PUT", "/apisix/admin/stream_routes/9") => {
                (400, json!({"error_msg": "invalid configuration: property \"server_port\" validation failed"}).to_string())
            }
            ("PUT", _) => (201, json!({"key": "/apisix/stream_routes/1", "value": {}}).to_string()),
            ("DELETE", "/v1/connections/c-1") => (200, json!({"killed": "c-1"}).to_string()),
            ("DELETE", p) if p.starts_with("/v1/connections/") => {
                (404, json!({"error_msg": "connection[c-x] not found"}).to_string())
            }
            ("DELETE", _) => (200, json!({"deleted": "1", "key": "/apisix/stream_routes/1"}).to_string()),
            _ => (404, json!({"error_msg": "not found"}).to_string()),
        }
    })
}

fn source(admin: &str, control: &str) -> HttpSource {
    HttpSource::new(admin, control, Some("k3y".into()), WAIT).expect("client builds")
}

#[tokio::test]
async fn snapshot_parses_every_fixture_and_sends_the_admin_key() {
    let (url, seen) = serve(gateway_router(true));
    let snap = within_for(WAIT, "snapshot", source(&url, &url).snapshot())
        .await
        .expect("snapshot");
    assert_eq!(snap.status.config_revision, 42);
    assert_eq!(snap.routes.len(), 3);
    assert_eq!(snap.routes[1].id, "2", "numeric ids become strings");
    assert_eq!(snap.connections.len(), 3);
    assert_eq!(snap.admin_routes.len(), 3);
    assert_eq!(snap.admin_upstreams[0].name.as_deref(), Some("mysql-pool"));
    assert_eq!(snap.admin_error, None);
    let seen = seen.lock().expect("log lock");
    let admin: Vec<_> = seen
        .iter()
        .filter(|r| r.path.starts_with("/apisix/admin/"))
        .collect();
    assert_eq!(admin.len(), 2, "both admin lists are read");
    assert!(admin.iter().all(|r| r.api_key.as_deref() == Some("k3y")));
}

#[tokio::test]
async fn admin_failure_keeps_control_data_and_reports_the_error() {
    let (url, _) = serve(gateway_router(false));
    let snap = within_for(WAIT, "snapshot", source(&url, &url).snapshot())
        .await
        .expect("snapshot");
    assert_eq!(snap.routes.len(), 3);
    assert!(snap
        .admin_error
        .as_deref()
        .is_some_and(|e| e.contains("failed to check token")));
}

#[tokio::test]
async fn unreachable_gateway_is_a_transport_error() {
    let url = format!("http://{}", dead_addr());
    let err = within_for(WAIT, "snapshot", source(&url, &url).snapshot())
        .await
        .expect_err("nothing listens");
    assert!(matches!(err, SourceError::Transport { .. }), "{err:?}");
}

#[tokio::test]
async fn writes_use_the_admin_and_control_paths_and_surface_error_msg() {
    let (url, seen) = serve(gateway_router(true));
    let src = source(&url, &url);
    src.put_route("1", &json!({"server_port": 9100}))
        .await
        .expect("put ok");
    let err = src
        .put_route("9", &json!({}))
        .await
        .expect_err("server refuses");
    assert_eq!(
        err,
        SourceError::Server {
            status: 400,
            message: "invalid configuration: property \"server_port\" validation failed".into()
        }
    );
    src.delete_route("1").await.expect("delete ok");
    src.kill_connection("c-1").await.expect("kill ok");
    let err = src
        .kill_connection("c-x")
        .await
        .expect_err("unknown connection");
    assert_eq!(err.to_string(), "connection[c-x] not found");
    let seen = seen.lock().expect("log lock");
    let put = seen.iter().find(|r| r.method == "PUT").expect("a put");
    assert_eq!(put.path, "/apisix/admin/stream_routes/1");
    assert_eq!(put.body, r#"{"server_port":9100}"#);
    assert!(seen
        .iter()
        .any(|r| r.method == "DELETE" && r.path == "/apisix/admin/stream_routes/1"));
    assert!(
        seen.iter()
            .filter(|r| r.method != "GET")
            .all(|r| r.api_key.as_deref() == Some("k3y")),
        "every write (kill included) carries the admin key"
    );
}

#[tokio::test]
async fn route_test_measures_the_round_trip_and_reports_the_route() {
    let echo = TcpListener::bind("127.0.0.1:0").await.expect("bind echo");
    let echo_addr = echo.local_addr().expect("echo addr").to_string();
    let client_addr = Arc::new(Mutex::new(String::new()));
    let seen_client = Arc::clone(&client_addr);
    tokio::spawn(async move {
        let (mut stream, peer) = echo.accept().await.expect("accept");
        *seen_client.lock().expect("lock") = peer.to_string();
        let mut buf = [0u8; 64];
        let n = stream.read(&mut buf).await.expect("read");
        stream.write_all(&buf[..n]).await.expect("echo back");
        // Keep the connection open until the client closes it.
        let _ = stream.read(&mut buf).await;
    });
    let client = Arc::clone(&client_addr);
    let control: Router = Arc::new(move |req: &Request| {
        let who = client.lock().expect("lock").clone();
        let query = req.path.replace("%3A", ":");
        assert!(
            query.contains(&format!("client={who}")),
            "{} asks for {who}",
            req.path
        );
        let body = json!({"list": [{"id": "c-1", "route_id": "1", "client": who,
            "upstream": "127.0.0.1:3306", "protocol": "tcp"}], "total": 1});
        (200, body.to_string())
    });
    let (url, _) = serve(control);
    let src = source(&url, &url);
    let request = TestRequest {
        route_id: "1".into(),
        addr: echo_addr,
        payload: "ping".into(),
    };
    let outcome = within_for(WAIT, "route test", src.run_test(&request)).await;
    assert_eq!(outcome.error, None);
    assert_eq!(outcome.reply.as_deref(), Some("ping"));
    assert!(outcome.connect_ms.is_some() && outcome.rtt_ms.is_some());
    assert_eq!(outcome.routed_to.as_deref(), Some("1"));
    assert_eq!(outcome.upstream.as_deref(), Some("127.0.0.1:3306"));

    let other = TestRequest {
        route_id: "2".into(),
        ..request
    };
    let failed = within_for(
        WAIT,
        "route test to a closed port",
        src.run_test(&TestRequest {
            addr: dead_addr().to_string(),
            ..other
        }),
    )
    .await;
    assert!(failed
        .error
        .as_deref()
        .is_some_and(|e| e.starts_with("connect ")));
}
