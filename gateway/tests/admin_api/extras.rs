//! Helper endpoints, store failures, the untouched-store rule, the admin key file and shutdown.

use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::Ordering;

use apisix_gateway::admin::{ensure_admin_key, ADMIN_KEY_FILE};
use serde_json::json;

use crate::admin_support::{test_config, Server, ADMIN_KEY};
use crate::upstream;

#[tokio::test]
async fn plugin_list_gives_enabled_stream_plugins_by_priority() {
    let server = Server::start().await;
    let answer = server
        .call("GET", "/apisix/admin/plugins/list?subsystem=stream", None)
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.json(),
        json!([
            "ip-restriction",
            "limit-conn",
            "mqtt-proxy",
            "traffic-split",
            "syslog"
        ])
    );
    let bad = server
        .call("GET", "/apisix/admin/plugins/list?subsystem=tcp", None)
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.text, "invalid subsystem passed");
}

#[tokio::test]
async fn plugin_schema_lookup_errors() {
    let server = Server::start_with(|c| c.stream.plugins = vec!["limit-conn".into()]).await;
    let disabled = server
        .call(
            "GET",
            "/apisix/admin/plugins/ip-restriction?subsystem=stream",
            None,
        )
        .await;
    assert_eq!(disabled.status, 404);
    assert_eq!(
        disabled.text,
        "{\"error_msg\":\"plugin not found in subsystem stream\"}\n"
    );
    let bad_subsystem = server
        .call(
            "GET",
            "/apisix/admin/plugins/limit-conn?subsystem=udp",
            None,
        )
        .await;
    assert_eq!(bad_subsystem.status, 400);
    assert_eq!(
        bad_subsystem.text,
        "{\"error_msg\":\"unsupported subsystem: udp\"}\n"
    );
}

#[tokio::test]
async fn plugin_reload_answers_done_only_to_put() {
    let server = Server::start().await;
    let put = server
        .call("PUT", "/apisix/admin/plugins/reload", None)
        .await;
    assert_eq!(put.status, 200);
    assert_eq!(put.text, "done");
    let get = server
        .call("GET", "/apisix/admin/plugins/reload", None)
        .await;
    assert_eq!(get.status, 405);
}

#[tokio::test]
async fn schema_validate_accepts_objects_and_rejects_other_json() {
    let server = Server::start().await;
    let body = json!({"server_port": 9100, "upstream": upstream()});
    let ok = server
        .call(
            "POST",
            "/apisix/admin/schema/validate/stream_routes",
            Some(&body),
        )
        .await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.text, "");
    let bad = server
        .call(
            "POST",
            "/apisix/admin/schema/validate/stream_routes",
            Some(&json!([1])),
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.json()["error_msg"].is_string());
    let unknown = server
        .call("POST", "/apisix/admin/schema/validate/routes", Some(&body))
        .await;
    assert_eq!(unknown.status, 404);
    assert!(server.store.dump().is_empty());
}

#[tokio::test]
async fn store_failure_is_503_with_its_message() {
    let server = Server::start().await;
    server.store.unavailable.store(true, Ordering::SeqCst);
    let get = server.call("GET", "/apisix/admin/upstreams", None).await;
    assert_eq!(get.status, 503);
    assert_eq!(
        get.text,
        "{\"error_msg\":\"connection refused: store is down\"}\n"
    );
    let put = server
        .call("PUT", "/apisix/admin/upstreams/1", Some(&upstream()))
        .await;
    assert_eq!(put.status, 503);
}

#[tokio::test]
async fn every_client_error_leaves_the_store_untouched() {
    let server = Server::start().await;
    server.store.seed("/apisix/upstreams/u1", upstream());
    server.store.seed(
        "/apisix/stream_routes/r1",
        json!({"id": "r1", "upstream_id": "u1"}),
    );
    let before = server.store.dump();
    let revision = server.store.revision();

    let failing = [
        ("PUT", "/apisix/admin/upstreams/2", Some("{oops".to_owned())),
        (
            "PUT",
            "/apisix/admin/upstreams/2?ttl=x",
            Some(upstream().to_string()),
        ),
        ("PUT", "/apisix/admin/upstreams/2", None),
        (
            "PUT",
            "/apisix/admin/upstreams",
            Some(upstream().to_string()),
        ),
        (
            "POST",
            "/apisix/admin/plugin_metadata",
            Some("{}".to_owned()),
        ),
        (
            "PATCH",
            "/apisix/admin/stream_routes/r1",
            Some("{}".to_owned()),
        ),
        (
            "PATCH",
            "/apisix/admin/upstreams/u1",
            Some("[1]".to_owned()),
        ),
        ("DELETE", "/apisix/admin/upstreams/u1", None),
        ("DELETE", "/apisix/admin/upstreams", None),
        ("GET", "/apisix/admin/upstreams?page=1&page_size=1", None),
        ("PUT", "/apisix/admin/routes/1", Some("{}".to_owned())),
    ];
    for (method, path, body) in failing {
        let answer = server.raw(method, path, Some(ADMIN_KEY), body).await;
        assert!(
            (400..500).contains(&answer.status),
            "{method} {path} gave {}",
            answer.status
        );
    }
    assert_eq!(server.store.revision(), revision);
    assert_eq!(server.store.dump(), before);
}

#[test]
fn admin_key_is_generated_once_with_mode_0600_and_reused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = test_config(dir.path().to_owned());
    config.admin.keys[0].key.clear();

    let path = ensure_admin_key(&mut config)
        .expect("key file written")
        .expect("a key was needed");
    assert_eq!(path, dir.path().join(ADMIN_KEY_FILE));
    let generated = config.admin.keys[0].key.clone();
    assert_eq!(generated.len(), 32);
    assert!(generated.chars().all(|c| c.is_ascii_alphanumeric()));
    let mode = std::fs::metadata(&path).expect("file").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(
        std::fs::read_to_string(&path).expect("readable").trim(),
        generated
    );

    let mut restarted = test_config(dir.path().to_owned());
    restarted.admin.keys[0].key.clear();
    ensure_admin_key(&mut restarted).expect("key file read");
    assert_eq!(restarted.admin.keys[0].key, generated);
}

#[test]
fn configured_admin_key_needs_no_key_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = test_config(dir.path().to_owned());
    assert_eq!(ensure_admin_key(&mut config).expect("no io"), None);
    assert_eq!(config.admin.keys[0].key, ADMIN_KEY);
    assert!(!dir.path().join(ADMIN_KEY_FILE).exists());
}

#[tokio::test]
async fn serve_returns_after_shutdown() {
    let server = Server::start().await;
    let answer = server.call("GET", "/apisix/admin/upstreams", None).await;
    assert_eq!(answer.status, 200);
    server.stop().await.expect("serve ended cleanly");
}

#[test]
fn empty_key_list_gets_a_generated_admin_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = test_config(dir.path().to_owned());
    config.admin.keys.clear();
    ensure_admin_key(&mut config)
        .expect("key file written")
        .expect("a key was needed");
    assert_eq!(config.admin.keys.len(), 1);
    assert_eq!(config.admin.keys[0].role, "admin");
    assert_eq!(config.admin.keys[0].key.len(), 32);
}

#[test]
fn key_file_is_not_used_when_keys_are_not_required() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = test_config(dir.path().to_owned());
    config.admin.key_required = false;
    config.admin.keys[0].key.clear();
    assert_eq!(ensure_admin_key(&mut config).expect("no io"), None);
    assert!(config.admin.keys[0].key.is_empty());
}
