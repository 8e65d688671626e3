//! Tests of the embedded store: revisions, CAS, leases, watches, persistence, durability.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::time::timeout;

use super::db::{now_millis, Shared};
use super::*;

const WAIT: Duration = Duration::from_secs(10);

fn open(dir: &tempfile::TempDir) -> EmbeddedStore {
    EmbeddedStore::open(dir.path()).expect("open store")
}

async fn next_event(rx: &mut mpsc::Receiver<WatchEvent>) -> WatchEvent {
    timeout(WAIT, rx.recv())
        .await
        .expect("watch event in time")
        .expect("watch open")
}

/// Applies watch events to a map, as a snapshot consumer would.
fn apply(state: &mut BTreeMap<String, Value>, event: &WatchEvent) {
    match event {
        WatchEvent::Snapshot { items, .. } => {
            state.clear();
            for kv in items {
                state.insert(kv.key.clone(), kv.value.clone());
            }
        }
        WatchEvent::Put(kv) => {
            state.insert(kv.key.clone(), kv.value.clone());
        }
        WatchEvent::Delete { key, .. } => {
            state.remove(key);
        }
    }
}

#[tokio::test]
async fn every_write_bumps_the_global_revision() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    assert_eq!(store.revision(), 0);
    let a = store
        .put("/apisix/upstreams/1", &json!({"a": 1}), 0)
        .await
        .expect("put");
    assert_eq!(a.current.mod_revision, 1);
    let b = store
        .put("/apisix/upstreams/2", &json!({"b": 1}), 0)
        .await
        .expect("put");
    assert_eq!(b.current.mod_revision, 2);
    store.delete("/apisix/upstreams/1").await.expect("delete");
    assert_eq!(store.revision(), 3);
    assert_eq!(store.next_id("/apisix").await.expect("id"), 4);
    let (_, rev) = store.list("/apisix/").await.expect("list");
    assert_eq!(rev, 4);
    // Deleting a missing key writes nothing.
    assert_eq!(
        store.delete("/apisix/upstreams/404").await.expect("delete"),
        None
    );
    assert_eq!(store.revision(), 4);
}

#[tokio::test]
async fn updates_keep_create_revision_and_move_mod_revision() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    store.put("/apisix/other", &json!(0), 0).await.expect("put");
    let first = store
        .put("/apisix/stream_routes/1", &json!({"v": 1}), 0)
        .await
        .expect("put");
    assert_eq!(first.previous, None);
    assert_eq!(
        (first.current.create_revision, first.current.mod_revision),
        (2, 2)
    );
    let second = store
        .put("/apisix/stream_routes/1", &json!({"v": 2}), 0)
        .await
        .expect("put");
    assert_eq!(
        second.previous.as_ref().map(|p| p.value.clone()),
        Some(json!({"v": 1}))
    );
    assert_eq!(
        (second.current.create_revision, second.current.mod_revision),
        (2, 3)
    );
    let got = store
        .get("/apisix/stream_routes/1")
        .await
        .expect("get")
        .expect("present");
    assert_eq!(got, second.current);
    // Recreated after a delete: a new create revision.
    store
        .delete("/apisix/stream_routes/1")
        .await
        .expect("delete");
    let again = store
        .put("/apisix/stream_routes/1", &json!({"v": 3}), 0)
        .await
        .expect("put");
    assert_eq!(
        (again.current.create_revision, again.current.mod_revision),
        (5, 5)
    );
}

#[tokio::test]
async fn compare_and_put_writes_only_on_the_expected_revision() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let key = "/apisix/upstreams/1";
    let created = store
        .cas(key, 0, &json!({"v": 1}), 0)
        .await
        .expect("create");
    assert_eq!(created.current.mod_revision, 1);
    // "Only if absent" now conflicts.
    let err = store
        .cas(key, 0, &json!({"v": 9}), 0)
        .await
        .expect_err("exists");
    assert!(matches!(err, StoreError::Conflict));
    // A stale revision conflicts and changes nothing.
    store.put(key, &json!({"v": 2}), 0).await.expect("put");
    let err = store
        .cas(key, 1, &json!({"v": 9}), 0)
        .await
        .expect_err("stale");
    assert!(matches!(err, StoreError::Conflict));
    assert_eq!(err.to_string(), "value changed before overwritten");
    assert_eq!(store.revision(), 2);
    let updated = store.cas(key, 2, &json!({"v": 3}), 0).await.expect("cas");
    assert_eq!(updated.current.mod_revision, 3);
    assert_eq!(updated.current.create_revision, 1);
    // Expecting a revision for a missing key conflicts too.
    let err = store
        .cas("/apisix/upstreams/2", 3, &json!(1), 0)
        .await
        .expect_err("absent");
    assert!(matches!(err, StoreError::Conflict));
}

#[tokio::test]
async fn list_returns_sorted_keys_under_the_prefix_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    for key in [
        "/apisix/upstreams/2",
        "/apisix/upstreams/1",
        "/apisix/upstreamsX",
        "/apisix/ssls/1",
    ] {
        store.put(key, &json!(key), 0).await.expect("put");
    }
    let (items, rev) = store.list("/apisix/upstreams/").await.expect("list");
    let keys: Vec<_> = items.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["/apisix/upstreams/1", "/apisix/upstreams/2"]);
    assert_eq!(rev, 4);
}

#[tokio::test]
async fn watch_sends_snapshot_then_put_and_delete_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    store
        .put("/apisix/stream_routes/1", &json!({"v": 1}), 0)
        .await
        .expect("put");
    store
        .put("/apisix/ssls/1", &json!({}), 0)
        .await
        .expect("put");
    let mut rx = store.watch("/apisix/stream_routes/").await.expect("watch");
    match next_event(&mut rx).await {
        WatchEvent::Snapshot { items, revision } => {
            assert_eq!(revision, 2);
            assert_eq!(items.len(), 1);
            assert_eq!(items[0].key, "/apisix/stream_routes/1");
        }
        other => panic!("expected a snapshot, got {other:?}"),
    }
    store
        .put("/apisix/ssls/2", &json!({}), 0)
        .await
        .expect("put outside the prefix");
    store
        .put("/apisix/stream_routes/2", &json!({"v": 2}), 0)
        .await
        .expect("put");
    store
        .delete("/apisix/stream_routes/1")
        .await
        .expect("delete");
    match next_event(&mut rx).await {
        WatchEvent::Put(kv) => assert_eq!(
            (kv.key.as_str(), kv.mod_revision),
            ("/apisix/stream_routes/2", 4)
        ),
        other => panic!("expected a put, got {other:?}"),
    }
    assert_eq!(
        next_event(&mut rx).await,
        WatchEvent::Delete {
            key: "/apisix/stream_routes/1".into(),
            revision: 5
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn watch_under_concurrent_writes_has_no_gaps_or_duplicates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(open(&dir));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..25 {
                    let key = format!("/apisix/upstreams/{w}-{}", i % 5);
                    store.put(&key, &json!(i), 0).await.expect("put");
                    if i % 7 == 0 {
                        store.delete(&key).await.expect("delete");
                    }
                }
            })
        })
        .collect();
    // Start watching while the writers run.
    let mut rx = store.watch("/apisix/").await.expect("watch");
    for w in writers {
        w.await.expect("writer");
    }
    let last = store.revision();
    let mut state = BTreeMap::new();
    let first = next_event(&mut rx).await;
    let WatchEvent::Snapshot {
        revision: mut seen, ..
    } = first
    else {
        panic!("first event must be a snapshot, got {first:?}");
    };
    apply(&mut state, &first);
    while seen < last {
        let event = next_event(&mut rx).await;
        let revision = db::event_revision(&event);
        if let WatchEvent::Snapshot { .. } = event {
            // A resync after lagging (the buffers are tiny in tests): it replaces everything.
            assert!(
                revision >= seen,
                "a resync never goes back: {revision} < {seen}"
            );
        } else {
            assert_eq!(
                revision,
                seen + 1,
                "events must follow each other without gaps: {event:?}"
            );
        }
        seen = revision;
        apply(&mut state, &event);
    }
    let (items, _) = store.list("/apisix/").await.expect("list");
    let expected: BTreeMap<_, _> = items.into_iter().map(|kv| (kv.key, kv.value)).collect();
    assert_eq!(state, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_watcher_that_keeps_up_sees_every_revision_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(open(&dir));
    let mut rx = store.watch("/apisix/").await.expect("watch");
    let first = next_event(&mut rx).await;
    assert_eq!(
        first,
        WatchEvent::Snapshot {
            items: vec![],
            revision: 0
        }
    );
    let reader = tokio::spawn(async move {
        let mut revisions = Vec::new();
        while revisions.len() < 60 {
            match next_event(&mut rx).await {
                WatchEvent::Snapshot { .. } => return None,
                event => revisions.push(db::event_revision(&event)),
            }
        }
        Some(revisions)
    });
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..20 {
                    store
                        .put(&format!("/apisix/ssls/{w}-{i}"), &json!(i), 0)
                        .await
                        .expect("put");
                }
            })
        })
        .collect();
    for w in writers {
        w.await.expect("writer");
    }
    // Forwarding is far faster than durable writes, so a reader that keeps reading is never
    // resynced and sees every revision exactly once, in order.
    let revisions = reader
        .await
        .expect("reader")
        .expect("a watcher that keeps up is never resynced");
    assert_eq!(revisions, (1..=60).collect::<Vec<i64>>());
}

#[tokio::test]
async fn a_watcher_that_falls_behind_gets_a_fresh_snapshot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let mut rx = store.watch("/apisix/").await.expect("watch");
    let mut state = BTreeMap::new();
    apply(&mut state, &next_event(&mut rx).await);
    // More writes than the watcher channel plus the broadcast buffer can hold.
    for i in 0..200 {
        store
            .put(&format!("/apisix/upstreams/{}", i % 50), &json!(i), 0)
            .await
            .expect("put");
    }
    let last = store.revision();
    let mut snapshots = 0;
    let mut seen = 0;
    while seen < last {
        let event = next_event(&mut rx).await;
        if matches!(event, WatchEvent::Snapshot { .. }) {
            snapshots += 1;
        } else {
            assert!(
                db::event_revision(&event) > seen,
                "no duplicates after a resync"
            );
        }
        seen = db::event_revision(&event);
        apply(&mut state, &event);
    }
    assert!(
        snapshots >= 1,
        "a lagging watcher must be resynced with a snapshot"
    );
    let (items, _) = store.list("/apisix/").await.expect("list");
    let expected: BTreeMap<_, _> = items.into_iter().map(|kv| (kv.key, kv.value)).collect();
    assert_eq!(state, expected);
}

#[tokio::test]
async fn watch_channel_closes_when_the_store_is_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let mut rx = store.watch("/apisix/").await.expect("watch");
    next_event(&mut rx).await;
    drop(store);
    let closed = timeout(WAIT, rx.recv()).await.expect("closed in time");
    assert_eq!(closed, None);
}

#[tokio::test]
async fn expired_lease_deletes_its_keys_and_emits_delete() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    store
        .put("/apisix/stream_routes/keep", &json!({}), 0)
        .await
        .expect("put");
    let mut rx = store.watch("/apisix/").await.expect("watch");
    next_event(&mut rx).await;
    let lease = store
        .grant_lease(Duration::from_millis(300))
        .await
        .expect("lease");
    assert!(lease > 0);
    let put = store
        .put("/apisix/stream_routes/ttl", &json!({}), lease)
        .await
        .expect("put");
    assert_eq!(put.current.lease, lease);
    assert_eq!(
        next_event(&mut rx).await,
        WatchEvent::Put(put.current.clone())
    );
    assert_eq!(
        next_event(&mut rx).await,
        WatchEvent::Delete {
            key: "/apisix/stream_routes/ttl".into(),
            revision: put.current.mod_revision + 1
        }
    );
    assert_eq!(
        store.get("/apisix/stream_routes/ttl").await.expect("get"),
        None
    );
    assert!(store
        .get("/apisix/stream_routes/keep")
        .await
        .expect("get")
        .is_some());
    // The lease is gone: attaching to it fails.
    let err = store
        .put("/apisix/stream_routes/x", &json!({}), lease)
        .await
        .expect_err("revoked");
    assert!(err.to_string().contains("lease not found"), "{err}");
}

#[tokio::test]
async fn rewriting_a_key_without_lease_detaches_it_from_the_lease() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let mut rx = store.watch("/apisix/").await.expect("watch");
    next_event(&mut rx).await;
    // Long enough for the three writes below even on a loaded machine.
    let lease = store
        .grant_lease(Duration::from_secs(2))
        .await
        .expect("lease");
    store.put("/apisix/a", &json!(1), lease).await.expect("put");
    store.put("/apisix/a", &json!(2), 0).await.expect("put");
    let b = store.put("/apisix/b", &json!(1), lease).await.expect("put");
    for _ in 0..3 {
        assert!(matches!(next_event(&mut rx).await, WatchEvent::Put(_)));
    }
    // Only b goes when the lease expires.
    assert_eq!(
        next_event(&mut rx).await,
        WatchEvent::Delete {
            key: "/apisix/b".into(),
            revision: b.current.mod_revision + 1
        }
    );
    let a = store.get("/apisix/a").await.expect("get").expect("a stays");
    assert_eq!((a.value, a.lease), (json!(2), 0));
}

#[tokio::test]
async fn leases_that_expired_while_closed_are_expired_at_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        // Write through the raw database so no reaper runs.
        let shared = Shared::open(&dir.path().join(DB_FILE_NAME)).expect("open");
        let lease = shared.grant_lease(now_millis() - 1000).expect("lease");
        shared
            .write(|tx| tx.put("/apisix/ttl", &json!(1), lease))
            .expect("put");
        shared
            .write(|tx| tx.put("/apisix/keep", &json!(1), 0))
            .expect("put");
    }
    let store = open(&dir);
    // Already gone right after open, before the reaper had a chance to run.
    let (items, rev) = store.list("/apisix/").await.expect("list");
    let keys: Vec<_> = items.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["/apisix/keep"]);
    assert_eq!(rev, 3);
}

#[tokio::test]
async fn a_file_in_redbs_older_format_is_upgraded_on_open_and_keeps_its_data() {
    const PROBE: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("format_probe");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(DB_FILE_NAME);
    {
        // redb 2's default: the v2 file format.
        let db = redb::Database::create(&path).expect("v2 file");
        let txn = db.begin_write().expect("write");
        txn.open_table(PROBE)
            .expect("table")
            .insert("kept", 7)
            .expect("insert");
        txn.commit().expect("commit");
    }
    let store = open(&dir);
    store
        .put("/apisix/upstreams/1", &json!({"id": "1"}), 0)
        .await
        .expect("put after the upgrade");
    drop(store);

    let mut db = super::db::open_database(&path).expect("reopen");
    assert!(
        !db.upgrade().expect("upgrade check"),
        "already in the v3 format"
    );
    let txn = db.begin_read().expect("read");
    let probe = txn.open_table(PROBE).expect("table");
    assert_eq!(probe.get("kept").expect("get").map(|v| v.value()), Some(7));
    drop((probe, txn, db));
    let store = open(&dir);
    let kv = store.get("/apisix/upstreams/1").await.expect("get");
    assert_eq!(kv.map(|kv| kv.value), Some(json!({"id": "1"})));
}
