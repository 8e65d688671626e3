//! The etcd store against a real etcd: revisions, CAS, gen_id, leases, the watch, outages and
//! compaction.

mod etcd_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use apisix_gateway::config::{EtcdAuth, Secret};
use apisix_gateway::store::etcd::{EtcdStore, INIT_DIRS};
use apisix_gateway::store::{Store, StoreError, WatchEvent};
use etcd_support::*;
use serde_json::{json, Value};
use tokio::sync::mpsc;

fn store(etcd: &Etcd) -> EtcdStore {
    EtcdStore::new(&etcd.config("/apisix")).expect("etcd store")
}

async fn next_event(rx: &mut mpsc::Receiver<WatchEvent>) -> WatchEvent {
    within("watch event", rx.recv()).await.expect("watch open")
}

/// Applies watch events to a map, as the snapshot watcher does.
fn apply(state: &mut BTreeMap<String, Value>, event: WatchEvent) {
    match event {
        WatchEvent::Snapshot { items, .. } => {
            *state = items.into_iter().map(|kv| (kv.key, kv.value)).collect();
        }
        WatchEvent::Put(kv) => {
            state.insert(kv.key, kv.value);
        }
        WatchEvent::Delete { key, .. } => {
            state.remove(&key);
        }
    }
}

#[tokio::test]
async fn writes_carry_etcd_revisions_and_store_apisix_shaped_json() {
    let etcd = Etcd::start().await;
    let store = store(&etcd);
    let value = json!({"id": "1", "server_port": 9100, "upstream": {"nodes": {"127.0.0.1:1995": 1}, "type": "roundrobin"}});
    let first = store
        .put("/apisix/stream_routes/1", &value, 0)
        .await
        .expect("put");
    assert_eq!(first.previous, None);
    assert_eq!(first.current.create_revision, first.current.mod_revision);
    let second = store
        .put(
            "/apisix/stream_routes/1",
            &json!({"id": "1", "server_port": 9101}),
            0,
        )
        .await
        .expect("update");
    assert_eq!(second.previous.as_ref().map(|p| &p.value), Some(&value));
    assert_eq!(
        second.current.create_revision,
        first.current.create_revision
    );
    assert!(second.current.mod_revision > first.current.mod_revision);

    let got = store
        .get("/apisix/stream_routes/1")
        .await
        .expect("get")
        .expect("present");
    assert_eq!(got.mod_revision, second.current.mod_revision);
    assert_eq!(got.create_revision, first.current.create_revision);

    // Read back with a plain etcd client: the value is the JSON document, as APISIX stores it.
    let mut raw = etcd.client().await;
    let resp = raw
        .get("/apisix/stream_routes/1", None)
        .await
        .expect("raw get");
    let stored: Value = serde_json::from_slice(resp.kvs()[0].value()).expect("json value");
    assert_eq!(stored, json!({"id": "1", "server_port": 9101}));

    store
        .put("/apisix/upstreams/1", &json!({"id": "1"}), 0)
        .await
        .expect("put upstream");
    let (items, revision) = store.list("/apisix/stream_routes/").await.expect("list");
    assert_eq!(items.len(), 1);
    assert!(revision > second.current.mod_revision);

    let deleted = store
        .delete("/apisix/stream_routes/1")
        .await
        .expect("delete");
    assert_eq!(deleted.map(|kv| kv.value), Some(stored));
    assert_eq!(
        store.get("/apisix/stream_routes/1").await.expect("get"),
        None
    );
    assert_eq!(
        store
            .delete("/apisix/stream_routes/1")
            .await
            .expect("delete"),
        None
    );
    assert!(store.reachable().await);
}

#[tokio::test]
async fn compare_and_put_conflicts_on_a_stale_revision() {
    let etcd = Etcd::start().await;
    let store = store(&etcd);
    let key = "/apisix/upstreams/cas";
    let created = store
        .cas(key, 0, &json!({"v": 1}), 0)
        .await
        .expect("create when absent");
    let again = store.cas(key, 0, &json!({"v": 2}), 0).await;
    assert!(matches!(again, Err(StoreError::Conflict)), "{again:?}");
    let updated = store
        .cas(key, created.current.mod_revision, &json!({"v": 3}), 0)
        .await
        .expect("update at the current revision");
    assert_eq!(updated.previous.map(|p| p.value), Some(json!({"v": 1})));
    let stale = store
        .cas(key, created.current.mod_revision, &json!({"v": 4}), 0)
        .await;
    assert!(matches!(stale, Err(StoreError::Conflict)), "{stale:?}");
    let now = store.get(key).await.expect("get").expect("present");
    assert_eq!(now.value, json!({"v": 3}));
}

#[tokio::test]
async fn next_id_is_the_revision_of_a_gen_id_write() {
    let etcd = Etcd::start().await;
    let store = store(&etcd);
    let a = store.next_id("/apisix").await.expect("id");
    let b = store.next_id("/apisix").await.expect("id");
    assert!(b > a);
    let gen = store
        .get("/apisix/gen_id")
        .await
        .expect("get")
        .expect("gen_id");
    assert_eq!(gen.mod_revision, b);
    let put = store
        .put("/apisix/upstreams/x", &json!({}), 0)
        .await
        .expect("put");
    assert_eq!(put.current.mod_revision, b + 1);
}

#[tokio::test]
async fn a_key_on_a_lease_disappears_when_the_lease_expires() {
    let etcd = Etcd::start().await;
    let store = store(&etcd);
    let lease = store
        .grant_lease(Duration::from_secs(1))
        .await
        .expect("lease");
    assert!(lease > 0);
    let put = store
        .put("/apisix/upstreams/ttl", &json!({"id": "ttl"}), lease)
        .await
        .expect("put on lease");
    assert_eq!(put.current.lease, lease);
    let mut rx = store.watch("/apisix/").await.expect("watch");
    assert!(matches!(
        next_event(&mut rx).await,
        WatchEvent::Snapshot { .. }
    ));
    // etcd expires leases with up to a few seconds of slack.
    match next_event(&mut rx).await {
        WatchEvent::Delete { key, .. } => assert_eq!(key, "/apisix/upstreams/ttl"),
        other => panic!("expected the lease deletion, got {other:?}"),
    }
    assert_eq!(store.get("/apisix/upstreams/ttl").await.expect("get"), None);
}

#[tokio::test]
async fn watch_sends_a_snapshot_then_puts_and_deletes_under_the_prefix() {
    let etcd = Etcd::start().await;
    let store = store(&etcd);
    store
        .put("/apisix/upstreams/1", &json!({"n": 1}), 0)
        .await
        .expect("put");
    store.put("/other/x", &json!(1), 0).await.expect("put");
    let mut rx = store.watch("/apisix/").await.expect("watch");
    match next_event(&mut rx).await {
        WatchEvent::Snapshot { items, revision } => {
            assert_eq!(items.len(), 1);
            assert_eq!(items[0].key, "/apisix/upstreams/1");
            assert!(revision >= items[0].mod_revision);
        }
        other => panic!("expected a snapshot, got {other:?}"),
    }
    store.put("/other/y", &json!(1), 0).await.expect("put");
    let put = store
        .put("/apisix/stream_routes/2", &json!({"n": 2}), 0)
        .await
        .expect("put");
    match next_event(&mut rx).await {
        WatchEvent::Put(kv) => {
            assert_eq!(kv.key, "/apisix/stream_routes/2");
            assert_eq!(kv.value, json!({"n": 2}));
            assert_eq!(kv.mod_revision, put.current.mod_revision);
        }
        other => panic!("expected the put, got {other:?}"),
    }
    store.delete("/apisix/upstreams/1").await.expect("delete");
    match next_event(&mut rx).await {
        WatchEvent::Delete { key, revision } => {
            assert_eq!(key, "/apisix/upstreams/1");
            assert!(revision > put.current.mod_revision);
        }
        other => panic!("expected the delete, got {other:?}"),
    }
}

#[tokio::test]
async fn init_dirs_are_written_once_as_apisix_placeholders() {
    let etcd = Etcd::start().await;
    let store = store(&etcd);
    store.ensure_init_dirs("/apisix").await.expect("init dirs");
    let mut raw = etcd.client().await;
    let resp = raw
        .get("/apisix/stream_routes/", None)
        .await
        .expect("raw get");
    assert_eq!(resp.kvs()[0].value(), b"init_dir");
    let first = resp.kvs()[0].mod_revision();
    store
        .ensure_init_dirs("/apisix")
        .await
        .expect("init dirs again");
    let (items, _) = store.list("/apisix/").await.expect("list");
    assert_eq!(items.len(), INIT_DIRS.len());
    let again = store
        .get("/apisix/stream_routes/")
        .await
        .expect("get")
        .expect("placeholder");
    assert_eq!(again.mod_revision, first, "an existing placeholder is kept");
    assert_eq!(again.value, json!("init_dir"));
}

#[tokio::test]
async fn writes_fail_fast_while_etcd_is_down_and_work_again_after_it_returns() {
    let mut etcd = Etcd::start().await;
    let store = store(&etcd);
    let mut rx = store.watch("/apisix/").await.expect("watch");
    let mut state = BTreeMap::new();
    apply(&mut state, next_event(&mut rx).await);
    store
        .put("/apisix/upstreams/before", &json!(1), 0)
        .await
        .expect("put");
    apply(&mut state, next_event(&mut rx).await);

    etcd.stop();
    let started = Instant::now();
    let err = store
        .put("/apisix/upstreams/down", &json!(2), 0)
        .await
        .expect_err("etcd is down");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(
        started.elapsed() < store.timeout() + Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
    assert!(!store.reachable().await);

    etcd.restart().await;
    eventually("writes work again", WAIT, || async {
        store
            .put("/apisix/upstreams/after", &json!(3), 0)
            .await
            .ok()
    })
    .await;
    assert!(store.reachable().await);
    // The watch reconnects and catches up (a fresh snapshot or the event itself).
    let converged = eventually("watch catches up", WAIT, || {
        let ready = match rx.try_recv() {
            Ok(event) => {
                apply(&mut state, event);
                state.contains_key("/apisix/upstreams/after")
            }
            Err(_) => false,
        };
        async move { ready.then_some(()) }
    })
    .await;
    assert_eq!(converged, ());
    assert!(state.contains_key("/apisix/upstreams/before"));
    assert!(!state.contains_key("/apisix/upstreams/down"));
}

#[tokio::test]
async fn the_watch_converges_after_an_outage_with_compaction() {
    let mut etcd = Etcd::start().await;
    let store = store(&etcd);
    let mut rx = store.watch("/apisix/").await.expect("watch");
    let mut state = BTreeMap::new();
    apply(&mut state, next_event(&mut rx).await);
    for i in 0..5 {
        store
            .put(&format!("/apisix/upstreams/{i}"), &json!(i), 0)
            .await
            .expect("put");
    }
    etcd.restart().await;
    // While the watcher reconnects: more changes, then compact the history it would need.
    let mut raw = etcd.client().await;
    raw.delete("/apisix/upstreams/0", None)
        .await
        .expect("delete");
    let last = raw
        .put("/apisix/upstreams/9", "{\"n\":9}", None)
        .await
        .expect("put");
    let revision = last.header().expect("header").revision();
    raw.compact(revision, None).await.expect("compact");

    let (expected, _) = store.list("/apisix/").await.expect("list");
    let expected: BTreeMap<String, Value> =
        expected.into_iter().map(|kv| (kv.key, kv.value)).collect();
    assert!(expected.contains_key("/apisix/upstreams/9"));
    eventually("watch converges", WAIT, || {
        while let Ok(event) = rx.try_recv() {
            apply(&mut state, event);
        }
        let done = state == expected;
        async move { done.then_some(()) }
    })
    .await;
}

#[tokio::test]
async fn user_and_password_authenticate_and_a_wrong_password_is_unavailable() {
    let etcd = Etcd::start().await;
    let mut raw = etcd.client().await;
    raw.user_add("root", "secret", None)
        .await
        .expect("add root");
    raw.user_grant_role("root", "root")
        .await
        .expect("grant root");
    raw.auth_enable().await.expect("enable auth");

    let mut config = etcd.config("/apisix");
    config.auth = Some(EtcdAuth {
        user: "root".into(),
        password: Secret("secret".into()),
    });
    let store = EtcdStore::new(&config).expect("store");
    store
        .put("/apisix/upstreams/auth", &json!({"id": "auth"}), 0)
        .await
        .expect("authenticated put");

    config.auth = Some(EtcdAuth {
        user: "root".into(),
        password: Secret("wrong".into()),
    });
    let wrong = EtcdStore::new(&config).expect("store");
    match wrong.get("/apisix/upstreams/auth").await {
        Err(StoreError::Unavailable(text)) => {
            assert!(text.contains("authentication failed"), "{text}")
        }
        other => panic!("expected an authentication failure, got {other:?}"),
    }
    assert!(!wrong.reachable().await);
}
