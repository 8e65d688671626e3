//! Snapshot compilation (selection, service merge, upstream resolution, order, state carried
//! over) and the watcher.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

use super::*;
use crate::balancer::PickState;
use crate::conn::{ConnInfo, Transport};
use crate::route::MISSING_UPSTREAM;
use crate::store::{KeyValue, PutOutcome, Store, StoreError, StoreResult, WatchEvent};

fn kv(key: &str, value: Value, create: i64, modified: i64) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value,
        create_revision: create,
        mod_revision: modified,
        lease: 0,
    }
}

/// The context of a gateway with the plugins and xRPC protocols the tests use enabled.
fn ctx() -> model::CheckContext {
    model::CheckContext {
        stream_plugins: vec![
            "ip-restriction".into(),
            "limit-conn".into(),
            "syslog".into(),
        ],
        xrpc_protocols: vec!["redis".into()],
        ..Default::default()
    }
}

fn build(items: &[KeyValue]) -> Snapshot {
    compile(items, "/apisix", &ctx(), None)
}

/// A `limit-conn` configuration that passes the plugin schema.
fn limit_conn(conn: u64) -> Value {
    json!({"conn": conn, "burst": 0, "default_conn_delay": 0.1, "key": "remote_addr"})
}

/// A PEM block whose body is a DER sequence (enough for the stored-object check).
fn pem(label: &str) -> String {
    use base64::Engine;
    let mut der = vec![0x30u8, 0x81, 0x80];
    der.extend(std::iter::repeat_n(0x02u8, 128));
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----\n")
}

fn up_key(route: &ResolvedRoute) -> Option<&str> {
    route.upstream.as_ref().map(|u| u.key.as_str())
}

fn any_conn() -> ConnInfo {
    ConnInfo {
        remote: "127.0.0.1:1000".parse().expect("addr"),
        local: "127.0.0.1:9100".parse().expect("addr"),
        sni: None,
        transport: Transport::Tcp,
    }
}

fn nodes() -> Value {
    json!({"127.0.0.1:1980": 1})
}

#[test]
fn compile_takes_only_objects_under_the_prefix() {
    let snap = build(&[
        kv("/apisix/stream_routes", json!("init_dir"), 1, 1),
        kv(
            "/apisix/stream_routes/1",
            json!({"upstream": {"nodes": nodes()}}),
            2,
            2,
        ),
        kv("/apisix/routes/1", json!({"uri": "/"}), 3, 3),
        kv("/apisix2/stream_routes/2", json!({}), 4, 4),
        kv("/apisix/stream_routes/3", json!("not an object"), 5, 5),
        kv("/apisix/stream_routes/a/b", json!({}), 6, 6),
        kv(
            "/apisix/ssls/s1",
            json!({"snis": ["a.com"], "cert": pem("CERTIFICATE"),
            "key": pem("PRIVATE KEY")}),
            7,
            7,
        ),
        kv("/apisix/services/svc", json!({"plugins": {}}), 8, 8),
        kv(
            "/apisix/plugin_metadata/syslog",
            json!({"log_format": {"host": "$host"}}),
            9,
            12,
        ),
    ]);
    assert_eq!(snap.routes.len(), 1);
    assert!(snap.route("1").is_some());
    assert_eq!(snap.revision, 12);
    assert_eq!(snap.ssls["s1"].snis, ["a.com"]);
    assert!(snap.services.contains_key("svc"));
    assert_eq!(
        snap.plugin_metadata["syslog"],
        json!({"log_format": {"host": "$host"}})
    );
}

#[test]
fn upstream_id_wins_over_inline_upstream() {
    let snap = build(&[
        kv("/apisix/upstreams/u1", json!({"nodes": nodes()}), 1, 1),
        kv(
            "/apisix/stream_routes/r",
            json!({"upstream_id": "u1", "upstream": {"nodes": nodes()}}),
            2,
            2,
        ),
    ]);
    let route = snap.route("r").expect("route");
    assert_eq!(up_key(route), Some("upstreams/u1"));
    assert!(Arc::ptr_eq(
        route.upstream.as_ref().expect("up"),
        &snap.upstreams["u1"]
    ));
}

#[test]
fn integer_ids_resolve_references() {
    let snap = build(&[
        kv(
            "/apisix/upstreams/1",
            json!({"id": 1, "nodes": nodes()}),
            1,
            1,
        ),
        kv(
            "/apisix/stream_routes/2",
            json!({"id": 2, "upstream_id": 1}),
            2,
            2,
        ),
    ]);
    assert_eq!(up_key(snap.route("2").expect("route")), Some("upstreams/1"));
}

#[test]
fn service_fills_plugins_and_upstream_the_route_lacks() {
    let snap = build(&[
        kv("/apisix/upstreams/su", json!({"nodes": nodes()}), 1, 1),
        kv(
            "/apisix/services/s",
            json!({"upstream_id": "su",
            "plugins": {"limit-conn": limit_conn(1), "ip-restriction": {"whitelist": ["1.1.1.1"]}}}),
            2,
            2,
        ),
        kv(
            "/apisix/stream_routes/r",
            json!({"service_id": "s",
            "plugins": {"limit-conn": limit_conn(9)}}),
            3,
            3,
        ),
    ]);
    let route = snap.route("r").expect("route");
    assert_eq!(up_key(route), Some("upstreams/su"));
    assert_eq!(
        route.plugins["limit-conn"],
        limit_conn(9),
        "route plugin wins"
    );
    assert!(
        route.plugins.contains_key("ip-restriction"),
        "service fills the gap"
    );
}

#[test]
fn route_upstream_wins_over_service_upstream() {
    let snap = build(&[
        kv("/apisix/upstreams/ru", json!({"nodes": nodes()}), 1, 1),
        kv(
            "/apisix/services/s",
            json!({"upstream": {"nodes": nodes()}}),
            2,
            2,
        ),
        kv(
            "/apisix/stream_routes/by_id",
            json!({"service_id": "s", "upstream_id": "ru"}),
            3,
            3,
        ),
        kv(
            "/apisix/stream_routes/inline",
            json!({"service_id": "s", "upstream": {"nodes": nodes()}}),
            4,
            4,
        ),
        kv(
            "/apisix/stream_routes/inherit",
            json!({"service_id": "s"}),
            5,
            5,
        ),
    ]);
    assert_eq!(
        up_key(snap.route("by_id").expect("r")),
        Some("upstreams/ru")
    );
    assert_eq!(
        up_key(snap.route("inline").expect("r")),
        Some("stream_routes/inline")
    );
    assert_eq!(
        up_key(snap.route("inherit").expect("r")),
        Some("services/s")
    );
}

#[test]
fn missing_references_keep_the_route_without_upstream() {
    let snap = build(&[
        kv(
            "/apisix/stream_routes/no_svc",
            json!({"service_id": "9", "upstream": {"nodes": nodes()}}),
            1,
            1,
        ),
        kv(
            "/apisix/stream_routes/no_up",
            json!({"upstream_id": "7"}),
            2,
            2,
        ),
        kv("/apisix/stream_routes/nothing", json!({}), 3, 3),
        kv("/apisix/services/empty", json!({}), 4, 4),
        kv(
            "/apisix/stream_routes/empty_svc",
            json!({"service_id": "empty"}),
            5,
            5,
        ),
    ]);
    let reason = |id: &str| {
        let route = snap.route(id).expect("route kept");
        assert!(route.upstream.is_none());
        route.upstream_error.clone().expect("a reason")
    };
    assert_eq!(
        reason("no_svc"),
        "failed to fetch service configuration by id: 9"
    );
    assert_eq!(reason("no_up"), "failed to find upstream by id: 7");
    assert_eq!(reason("nothing"), MISSING_UPSTREAM);
    assert_eq!(reason("empty_svc"), MISSING_UPSTREAM);
    assert_eq!(snap.routes.len(), 4);
}

#[test]
fn undecodable_objects_are_skipped() {
    let snap = build(&[
        kv("/apisix/upstreams/bad", json!({"nodes": "nope"}), 1, 1),
        kv(
            "/apisix/stream_routes/bad",
            json!({"server_port": "x"}),
            2,
            2,
        ),
        kv(
            "/apisix/stream_routes/r",
            json!({"upstream_id": "bad"}),
            3,
            3,
        ),
    ]);
    assert!(snap.upstreams.is_empty());
    assert!(snap.route("bad").is_none());
    assert_eq!(
        snap.route("r")
            .and_then(|r| r.upstream_error.clone())
            .as_deref(),
        Some("failed to find upstream by id: bad")
    );
}

#[test]
fn routes_load_in_creation_order() {
    let snap = build(&[
        kv("/apisix/stream_routes/a", json!({}), 30, 30),
        kv("/apisix/stream_routes/b", json!({}), 10, 40),
        kv("/apisix/stream_routes/d", json!({}), 20, 20),
        kv("/apisix/stream_routes/c", json!({}), 20, 20),
    ]);
    let order: Vec<&str> = snap.routes.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(order, ["b", "c", "d", "a"]);
    assert_eq!(
        snap.routes.find(&any_conn()).map(|r| r.id.as_str()),
        Some("b")
    );
}

#[test]
fn subordinate_routes_are_kept_out_of_matching() {
    let snap = build(&[
        kv(
            "/apisix/stream_routes/top",
            json!({"protocol": {"name": "redis"}}),
            1,
            1,
        ),
        kv(
            "/apisix/stream_routes/sub",
            json!({"protocol": {"name": "redis", "superior_id": "top"}}),
            2,
            2,
        ),
    ]);
    assert_eq!(snap.routes.len(), 1);
    assert!(snap.route("sub").is_some());
}

#[test]
fn unchanged_upstreams_keep_their_balancer_state() {
    let two = json!({"nodes": {"10.0.0.1:1": 1, "10.0.0.2:1": 1}});
    let items = vec![
        kv("/apisix/upstreams/u", two.clone(), 1, 1),
        kv("/apisix/stream_routes/r", json!({"upstream": two}), 2, 2),
    ];
    let first = build(&items);
    let shared = first.upstreams["u"].clone();
    let picked = shared
        .pick(&any_conn(), &mut PickState::default())
        .expect("node");
    shared.session_started(&picked);

    let mut changed = items.clone();
    changed.push(kv("/apisix/stream_routes/other", json!({}), 3, 3));
    let second = compile(&changed, "/apisix", &ctx(), Some(&first));
    assert!(Arc::ptr_eq(&second.upstreams["u"], &shared));
    let inline = second
        .route("r")
        .and_then(|r| r.upstream.clone())
        .expect("inline");
    assert!(Arc::ptr_eq(
        &inline,
        first
            .route("r")
            .and_then(|r| r.upstream.as_ref())
            .expect("inline")
    ));
    let next = second.upstreams["u"]
        .pick(&any_conn(), &mut PickState::default())
        .expect("node");
    assert_ne!(next, picked, "round robin continues where it was");
    assert_eq!(second.upstreams["u"].active_sessions(&picked), 1);

    changed[0] = kv(
        "/apisix/upstreams/u",
        json!({"nodes": {"10.0.0.3:1": 1}}),
        1,
        4,
    );
    let third = compile(&changed, "/apisix", &ctx(), Some(&second));
    assert!(!Arc::ptr_eq(&third.upstreams["u"], &shared));
}

#[test]
fn ten_thousand_routes_compile_and_match() {
    let mut items = vec![kv("/apisix/upstreams/u", json!({"nodes": nodes()}), 1, 1)];
    for i in 0..10_000i64 {
        let body = json!({"upstream_id": "u", "server_port": 10_000 + i % 1000,
            "remote_addr": format!("10.{}.0.0/16", i / 1000)});
        items.push(kv(
            &format!("/apisix/stream_routes/{i}"),
            body,
            2 + i,
            2 + i,
        ));
    }
    let started = std::time::Instant::now();
    let snap = build(&items);
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(snap.routes.len(), 10_000);
    let mut conn = any_conn();
    conn.remote = "10.7.1.1:5".parse().expect("addr");
    conn.local.set_port(10_123);
    let route = snap.routes.find(&conn).expect("a route");
    assert_eq!(route.id, "7123");
    assert_eq!(
        route.upstream.as_ref().map(|u| u.key.as_str()),
        Some("upstreams/u")
    );
}

#[test]
fn disabled_health_checks_leave_upstreams_unchecked() {
    let checks = json!({"active": {"type": "tcp"}, "passive": {"type": "tcp"}});
    let items = vec![kv(
        "/apisix/upstreams/u",
        json!({"nodes": nodes(), "checks": checks}),
        1,
        1,
    )];
    let checked = build(&items);
    assert!(checked.upstreams["u"].health_checked());
    let options = CompileOptions {
        health_checks: false,
        ..CompileOptions::default()
    };
    let unchecked = compile_with(&items, "/apisix", &ctx(), &options, Some(&checked));
    assert!(!unchecked.upstreams["u"].health_checked());
    let mut config = crate::config::Config::defaults(std::path::Path::new("/gw"));
    config.disable_upstream_healthcheck = true;
    assert!(!CompileOptions::from_config(&config).health_checks);
}

#[test]
fn dns_ttl_option_reaches_runtimes_and_a_change_rebuilds_them() {
    let items = vec![kv("/apisix/upstreams/u", json!({"nodes": nodes()}), 1, 1)];
    let first = build(&items);
    assert_eq!(
        first.upstreams["u"].dns_ttl(),
        crate::balancer::DEFAULT_DNS_TTL
    );
    let options = CompileOptions {
        dns_ttl: Duration::from_secs(5),
        ..CompileOptions::default()
    };
    let second = compile_with(&items, "/apisix", &ctx(), &options, Some(&first));
    assert_eq!(second.upstreams["u"].dns_ttl(), Duration::from_secs(5));
    assert!(!Arc::ptr_eq(&second.upstreams["u"], &first.upstreams["u"]));
    let third = compile_with(&items, "/apisix", &ctx(), &options, Some(&second));
    assert!(Arc::ptr_eq(&third.upstreams["u"], &second.upstreams["u"]));
}

#[test]
fn watcher_applies_snapshot_put_and_delete() {
    let mut w = SnapshotWatcher::new("/apisix", ctx());
    w.apply(WatchEvent::Snapshot {
        items: vec![kv("/apisix/stream_routes/1", json!({}), 1, 1)],
        revision: 5,
    });
    w.apply(WatchEvent::Put(kv(
        "/apisix/stream_routes/2",
        json!({}),
        6,
        6,
    )));
    assert_eq!(w.build(None).routes.len(), 2);
    w.apply(WatchEvent::Delete {
        key: "/apisix/stream_routes/1".into(),
        revision: 7,
    });
    let snap = w.build(None);
    assert_eq!(snap.revision, 7);
    assert!(snap.route("1").is_none());
    w.apply(WatchEvent::Snapshot {
        items: vec![],
        revision: 9,
    });
    assert!(w.build(None).routes.is_empty());
}

/// A store whose only working call is `watch`, fed by the test.
struct FeedStore(Mutex<Option<mpsc::Receiver<WatchEvent>>>);

#[async_trait]
impl Store for FeedStore {
    async fn get(&self, _: &str) -> StoreResult<Option<KeyValue>> {
        Err(StoreError::Unavailable("test store".into()))
    }
    async fn list(&self, _: &str) -> StoreResult<(Vec<KeyValue>, i64)> {
        Err(StoreError::Unavailable("test store".into()))
    }
    async fn put(&self, _: &str, _: &Value, _: i64) -> StoreResult<PutOutcome> {
        Err(StoreError::Unavailable("test store".into()))
    }
    async fn cas(&self, _: &str, _: i64, _: &Value, _: i64) -> StoreResult<PutOutcome> {
        Err(StoreError::Unavailable("test store".into()))
    }
    async fn delete(&self, _: &str) -> StoreResult<Option<KeyValue>> {
        Err(StoreError::Unavailable("test store".into()))
    }
    async fn next_id(&self, _: &str) -> StoreResult<i64> {
        Err(StoreError::Unavailable("test store".into()))
    }
    async fn grant_lease(&self, _: Duration) -> StoreResult<i64> {
        Err(StoreError::Unavailable("test store".into()))
    }
    async fn watch(&self, prefix: &str) -> StoreResult<mpsc::Receiver<WatchEvent>> {
        assert_eq!(prefix, "/apisix/");
        let rx = self.0.lock().expect("lock").take();
        rx.ok_or_else(|| StoreError::Unavailable("watched twice".into()))
    }
    async fn reachable(&self) -> bool {
        true
    }
}

async fn wait_for_revision(target: &SharedSnapshot, revision: i64) {
    tokio::time::timeout(Duration::from_secs(1), async {
        while target.load().revision < revision {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("change applied within 1 s");
}

#[tokio::test]
async fn run_watcher_swaps_snapshots_and_stops_with_the_store() {
    let (tx, rx) = mpsc::channel(64);
    let store: Arc<dyn Store> = Arc::new(FeedStore(Mutex::new(Some(rx))));
    let target = shared_empty();
    let (ready_tx, ready_rx) = oneshot::channel();
    let task = tokio::spawn(run_watcher(
        store,
        "/apisix".into(),
        ctx(),
        target.clone(),
        Some(ready_tx),
    ));
    let up = kv("/apisix/upstreams/u", json!({"nodes": nodes()}), 1, 1);
    tx.send(WatchEvent::Snapshot {
        items: vec![up.clone()],
        revision: 3,
    })
    .await
    .expect("send");
    tokio::time::timeout(Duration::from_secs(5), ready_rx)
        .await
        .expect("ready in time")
        .expect("ready sent");
    assert_eq!(target.load().revision, 3);
    let runtime = target.load().upstreams["u"].clone();

    for i in 0..20 {
        let route = kv(
            &format!("/apisix/stream_routes/{i}"),
            json!({"upstream_id": "u"}),
            4 + i,
            4 + i,
        );
        tx.send(WatchEvent::Put(route)).await.expect("send");
    }
    tx.send(WatchEvent::Delete {
        key: "/apisix/stream_routes/0".into(),
        revision: 30,
    })
    .await
    .expect("send");
    wait_for_revision(&target, 30).await;
    let snap = target.load_full();
    assert_eq!(snap.routes.len(), 19);
    assert!(Arc::ptr_eq(&snap.upstreams["u"], &runtime), "state kept");

    drop(tx);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("watcher stops when the watch closes")
        .expect("no panic");
}
