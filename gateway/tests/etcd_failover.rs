//! The etcd store on a real three-member cluster: requests fail over when a member dies, the
//! watch resumes on another member without missing or repeating an event, quorum loss answers
//! within the timeout and heals without a new store, and retried writes keep their meaning.

mod etcd_support;

use std::time::{Duration, Instant};

use apisix_gateway::config::EtcdConfig;
use apisix_gateway::store::etcd::EtcdStore;
use apisix_gateway::store::{Store, StoreError, WatchEvent};

use etcd_support::*;
use serde_json::json;
use tokio::sync::mpsc;

/// The request timeout the tests give the store (the fleet tests' too): more than a leader
/// election takes on a loaded machine.
const TIMEOUT: Duration = Duration::from_secs(5);

fn config(hosts: Vec<String>) -> EtcdConfig {
    let mut config = Etcd::config_for(hosts, "/apisix");
    config.timeout = TIMEOUT;
    config
}

fn cluster_store(hosts: Vec<String>) -> EtcdStore {
    EtcdStore::new(&config(hosts)).expect("etcd store")
}

async fn next_event(rx: &mut mpsc::Receiver<WatchEvent>) -> WatchEvent {
    within("a watch event", rx.recv())
        .await
        .expect("the watch stays open")
}

#[tokio::test]
async fn requests_fail_over_when_the_leader_then_a_follower_dies_and_heal_with_quorum() {
    let mut cluster = EtcdCluster::start(3).await;
    let store = cluster_store(cluster.endpoints());
    store
        .put("/apisix/upstreams/warm", &json!({"n": 0}), 0)
        .await
        .expect("first write");

    // Kill the leader in the middle of a stream of writes and reads: every one succeeds.
    let leader = cluster.wait_leader().await;
    let mut failures = Vec::new();
    for n in 0..40 {
        if n == 10 {
            cluster.kill(leader);
        }
        let key = format!("/apisix/upstreams/{n}");
        if let Err(err) = store.put(&key, &json!({"n": n}), 0).await {
            failures.push(format!("put {n}: {err}"));
        }
        match store.get(&key).await {
            Ok(Some(kv)) if kv.value == json!({"n": n}) => {}
            other => failures.push(format!("get {n}: {other:?}")),
        }
        assert!(store.reachable().await, "reachable while a quorum is up");
    }
    assert!(failures.is_empty(), "{failures:?}\n{}", cluster.logs());

    // Kill a follower too: no quorum. Writes answer Unavailable within the timeout.
    let follower = (0..3).find(|&i| i != leader).expect("a follower");
    cluster.kill(follower);
    let started = Instant::now();
    let lost = store.put("/apisix/upstreams/lost", &json!(1), 0).await;
    let took = started.elapsed();
    assert!(matches!(lost, Err(StoreError::Unavailable(_))), "{lost:?}");
    assert!(took <= TIMEOUT + Duration::from_secs(1), "took {took:?}");
    assert!(!store.reachable().await, "no quorum: unreachable");

    // Quorum back: the same store writes again, without a restart.
    cluster.restart(leader);
    cluster.wait_leader().await;
    eventually("writes succeed again", Duration::from_secs(20), || async {
        store
            .put("/apisix/upstreams/healed", &json!(1), 0)
            .await
            .ok()
    })
    .await;
    assert!(store.reachable().await);
}

#[tokio::test]
async fn the_watch_resumes_on_another_member_without_missing_or_repeating_events() {
    let mut cluster = EtcdCluster::start(3).await;
    // The store prefers the first endpoint: its watch runs on member 0.
    let store = cluster_store(cluster.endpoints());
    let mut rx = store.watch("/apisix/").await.expect("watch");
    let WatchEvent::Snapshot {
        revision: start, ..
    } = next_event(&mut rx).await
    else {
        panic!("the first event is a snapshot");
    };
    // The writer fails over between members 1 and 2 (a write may land twice when its
    // answer was lost: the oracle is etcd's own history, not the list of writes).
    let writer = cluster_store(vec![cluster.endpoint(1), cluster.endpoint(2)]);
    for n in 0..30 {
        if n == 10 {
            cluster.kill(0);
        }
        // This test is about the watch: a write that meets the election window (longer than
        // the store's timeout only on a starved machine) is tried again; the oracle is etcd's
        // history, so a write that landed twice is accounted for.
        let key = format!("/apisix/stream_routes/{n}");
        let mut tries = 0;
        while let Err(e) = writer.put(&key, &json!({}), 0).await {
            tries += 1;
            assert!(tries < 3, "write with a quorum up: {e:?}");
        }
    }
    let last = cluster.revision().await;
    let expected = history(&cluster, start + 1, last).await;
    assert!(expected.len() >= 30, "{expected:?}");
    let mut seen = Vec::new();
    while seen.len() < expected.len() {
        match next_event(&mut rx).await {
            WatchEvent::Put(kv) => seen.push((kv.key, kv.mod_revision)),
            other => panic!("only puts are expected after the snapshot, got {other:?}"),
        }
    }
    assert_eq!(seen, expected, "every change once, in order");
    // Nothing else is pending: no duplicate arrives late.
    let late = tokio::time::timeout(Duration::from_millis(500), rx.recv()).await;
    assert!(late.is_err(), "unexpected late event {late:?}");
}

/// The puts under `/apisix/` from `from` to `to` (revisions), as etcd's history has them.
async fn history(cluster: &EtcdCluster, from: i64, to: i64) -> Vec<(String, i64)> {
    let mut client = cluster.client(1).await;
    let options = etcd_client::WatchOptions::new()
        .with_prefix()
        .with_start_revision(from);
    let mut stream = within("oracle watch", client.watch("/apisix/", Some(options)))
        .await
        .expect("oracle watch");
    let mut out = Vec::new();
    while out.last().is_none_or(|(_, rev)| *rev < to) {
        let resp = within("oracle events", stream.message())
            .await
            .expect("oracle stream")
            .expect("oracle message");
        for event in resp.events() {
            let kv = event.kv().expect("event kv");
            out.push((
                String::from_utf8_lossy(kv.key()).into_owned(),
                kv.mod_revision(),
            ));
        }
    }
    out
}

#[tokio::test]
async fn a_watch_that_lost_every_member_resumes_from_its_revision_once_a_quorum_is_back() {
    let mut cluster = EtcdCluster::start(3).await;
    let store = cluster_store(cluster.endpoints());
    let mut rx = store.watch("/apisix/").await.expect("watch");
    assert!(matches!(
        next_event(&mut rx).await,
        WatchEvent::Snapshot { .. }
    ));
    for i in 0..3 {
        cluster.kill(i);
    }
    for i in 0..3 {
        cluster.restart(i);
    }
    cluster.wait_leader().await;
    let mut writer = cluster.client(2).await;
    within(
        "write after the restart",
        writer.put("/apisix/upstreams/after", "{}", None),
    )
    .await
    .expect("write with the cluster back");
    // The first event after the outage is the write itself, not a fresh snapshot: the watch
    // resumed from the revision it had reached.
    match next_event(&mut rx).await {
        WatchEvent::Put(kv) => assert_eq!(kv.key, "/apisix/upstreams/after"),
        other => panic!("expected the put, got {other:?}"),
    }
}

/// A store whose first member sits behind a relay that can swallow its answers, warmed so that
/// member 0 is the one it talks to.
async fn store_behind_relay(cluster: &EtcdCluster) -> (EtcdStore, SwallowRelay) {
    let relay = SwallowRelay::start(endpoint_addr(&cluster.endpoint(0))).await;
    let hosts = vec![relay.endpoint(), cluster.endpoint(1), cluster.endpoint(2)];
    let store = cluster_store(hosts);
    store.get("/apisix/warm").await.expect("warm-up read");
    (store, relay)
}

#[tokio::test]
async fn a_put_retried_after_a_lost_answer_reports_its_own_creation() {
    let cluster = EtcdCluster::start(3).await;
    let (store, relay) = store_behind_relay(&cluster).await;
    relay.swallow(true);
    let outcome = store
        .put(
            "/apisix/stream_routes/00000000000000000042",
            &json!({"id": "42"}),
            0,
        )
        .await
        .expect("the retry on another member succeeds");
    assert_eq!(outcome.previous, None, "created, not updated (201)");
    assert_eq!(outcome.current.create_revision, {
        let got = store
            .get("/apisix/stream_routes/00000000000000000042")
            .await
            .expect("get")
            .expect("present");
        got.create_revision
    });
    // POST: one id, one object, whatever the retries.
    let (items, _) = store.list("/apisix/stream_routes/").await.expect("list");
    assert_eq!(items.len(), 1, "{items:?}");
}

#[tokio::test]
async fn a_compare_and_swap_retried_after_a_lost_answer_succeeds_once_and_still_guards() {
    let cluster = EtcdCluster::start(3).await;
    let (store, relay) = store_behind_relay(&cluster).await;
    let key = "/apisix/upstreams/1";
    let first = store.put(key, &json!({"v": 1}), 0).await.expect("put");
    relay.swallow(true);
    let swapped = store
        .cas(key, first.current.mod_revision, &json!({"v": 2}), 0)
        .await
        .expect("the retried swap finds its own write");
    assert_eq!(swapped.current.value, json!({"v": 2}));
    // A swap on the old revision is still refused: retries never turn a CAS into a blind write.
    let stale = store
        .cas(key, first.current.mod_revision, &json!({"v": 3}), 0)
        .await;
    assert!(matches!(stale, Err(StoreError::Conflict)), "{stale:?}");
    let now = store.get(key).await.expect("get").expect("present");
    assert_eq!(now.value, json!({"v": 2}));
}

#[tokio::test]
async fn a_delete_retried_after_a_lost_answer_reports_its_own_deletion() {
    let cluster = EtcdCluster::start(3).await;
    let (store, relay) = store_behind_relay(&cluster).await;
    let key = "/apisix/services/1";
    store.put(key, &json!({"v": 1}), 0).await.expect("put");
    // The delete reads the key (passes), then deletes it in a transaction (answer swallowed).
    relay.swallow_after(1);
    // The first attempt deletes the key but its answer is lost; the retry on another member
    // finds the key gone after this request's own attempt: deleted (200), not 404.
    let deleted = store.delete(key).await.expect("the retry answers");
    assert_eq!(deleted.map(|kv| kv.value), Some(json!({"v": 1})));
    assert_eq!(store.get(key).await.expect("get"), None);
    // A key that was already gone is still None (the Admin API's 404 `Key not found`).
    assert_eq!(store.delete(key).await.expect("delete"), None);
}

/// A gateway of `role` on every member of `cluster` (the config template quotes one host;
/// the joined list fills it as several).
async fn cluster_gateway(cluster: &EtcdCluster, role: &str) -> Gateway {
    let dir = tempfile::tempdir().expect("gateway dir");
    let hosts = cluster.endpoints().join("\", \"");
    let mut config = gateway_config(dir.path(), role, "etcd", &hosts, free_port());
    // Longer than a leader election on a loaded machine (the template's 2 s is not).
    config.etcd.timeout = TIMEOUT;
    Gateway::start(config, Some(dir)).await
}

fn route_to(backend: std::net::SocketAddr, tag: u32) -> String {
    format!(r#"{{"desc":"r{tag}","upstream":{{"type":"roundrobin","nodes":{{"{backend}":1}}}}}}"#)
}

#[tokio::test]
async fn every_admin_request_succeeds_while_a_quorum_is_up_and_answers_503_in_time_without_one() {
    let mut cluster = EtcdCluster::start(3).await;
    let backend = tag_each_read("b").await;
    let admin = cluster_gateway(&cluster, "traditional").await;
    let data_plane = cluster_gateway(&cluster, "data_plane").await;
    let stream = data_plane.stream.expect("data plane listener");

    let leader = cluster.wait_leader().await;
    let mut failed = Vec::new();
    for n in 0..24u32 {
        if n == 8 {
            cluster.kill(leader);
        }
        let path = format!("/apisix/admin/stream_routes/{}", n % 4);
        let calls = [
            ("PUT", path.clone(), Some(route_to(backend, n))),
            ("GET", path.clone(), None),
            (
                "POST",
                "/apisix/admin/upstreams".to_owned(),
                Some(r#"{"nodes":{"127.0.0.1:1":1}}"#.to_owned()),
            ),
        ];
        for (method, path, body) in calls {
            let (status, text) = admin.admin_call(method, &path, body.as_deref()).await;
            if !(200..300).contains(&status) {
                failed.push(format!("{method} {path}: {status} {text}"));
            }
            if method == "POST" && status == 201 {
                let id = serde_json::from_str::<serde_json::Value>(&text).expect("json")["value"]
                    ["id"]
                    .as_str()
                    .expect("generated id")
                    .to_owned();
                let (status, text) = admin
                    .admin_call("DELETE", &format!("/apisix/admin/upstreams/{id}"), None)
                    .await;
                if status != 200 {
                    failed.push(format!("DELETE upstream {id}: {status} {text}"));
                }
            }
        }
    }
    assert!(failed.is_empty(), "{failed:#?}\n{}", cluster.logs());
    // The data plane serves the newest route.
    eventually("the data plane proxies", Duration::from_secs(5), || {
        try_round_trip(stream, b"x")
    })
    .await;

    // Quorum lost: writes answer 503 with an error_msg within the timeout; the data plane
    // keeps proxying with its last snapshot.
    let follower = (0..3).find(|&i| i != leader).expect("a follower");
    cluster.kill(follower);
    let started = Instant::now();
    let (status, text) = admin
        .admin_call(
            "PUT",
            "/apisix/admin/stream_routes/9",
            Some(&route_to(backend, 9)),
        )
        .await;
    assert_eq!(status, 503, "{text}");
    let body: serde_json::Value = serde_json::from_str(&text).expect("json error");
    assert!(body["error_msg"].is_string(), "{text}");
    assert!(
        started.elapsed() < TIMEOUT + Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        try_round_trip(stream, b"still").await.as_deref(),
        Some(&b"b:still"[..])
    );

    // Quorum back: writes succeed and reach the data plane, without restarting anything.
    cluster.restart(leader);
    cluster.wait_leader().await;
    let (status, text) = eventually("writes succeed again", Duration::from_secs(20), || async {
        let (status, text) = admin
            .admin_call(
                "PUT",
                "/apisix/admin/stream_routes/9",
                Some(&route_to(backend, 9)),
            )
            .await;
        (status == 201).then_some((status, text))
    })
    .await;
    assert_eq!(status, 201, "{text}");
    admin.stop().await;
    data_plane.stop().await;
}
