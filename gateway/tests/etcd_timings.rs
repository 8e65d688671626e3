//! `deployment.etcd` timings against a real etcd: `watch_timeout` re-creates an idle watch
//! from the same revision without a resync; `resync_delay` bounds the wait before a watch
//! that lost etcd catches up again.

mod etcd_support;

use std::time::{Duration, Instant};

use apisix_gateway::config::EtcdConfig;
use apisix_gateway::store::etcd::EtcdStore;
use apisix_gateway::store::{Store, WatchEvent};
use etcd_support::*;
use serde_json::json;

/// etcd's count of Watch streams opened so far (`grpc_server_started_total`).
async fn watch_streams_started(etcd: &Etcd) -> u64 {
    let url = format!("{}/metrics", etcd.endpoint());
    let text = within("etcd metrics", async {
        reqwest::get(&url)
            .await
            .expect("etcd /metrics")
            .text()
            .await
            .expect("metrics body")
    })
    .await;
    text.lines()
        .filter(|l| {
            l.starts_with("grpc_server_started_total") && l.contains("grpc_method=\"Watch\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

/// A store on `etcd` (prefix `/apisix`, its config changed by `tune`) watching `/apisix/`, past
/// the first snapshot.
async fn watching(
    etcd: &Etcd,
    tune: impl FnOnce(&mut EtcdConfig),
) -> (EtcdStore, tokio::sync::mpsc::Receiver<WatchEvent>) {
    let mut config = etcd.config("/apisix");
    tune(&mut config);
    let store = EtcdStore::new(&config).expect("store");
    let mut events = store.watch("/apisix/").await.expect("watch");
    let first = within("first snapshot", events.recv()).await;
    assert!(
        matches!(first, Some(WatchEvent::Snapshot { .. })),
        "{first:?}"
    );
    (store, events)
}

#[tokio::test]
async fn an_idle_watch_is_recreated_after_watch_timeout_without_a_resync() {
    let etcd = Etcd::start().await;
    let (store, mut events) = watching(&etcd, |config| {
        config.watch_timeout = Duration::from_secs(1)
    })
    .await;

    let before = watch_streams_started(&etcd).await;
    // Idle for more than two watch timeouts: the watch is re-created at least twice.
    eventually("the idle watch re-created twice", WAIT, || async {
        (watch_streams_started(&etcd).await >= before + 2).then_some(())
    })
    .await;

    // A change after the re-creations arrives as a plain Put: no resync (no new Snapshot).
    store
        .put("/apisix/upstreams/1", &json!({"id": "1"}), 0)
        .await
        .expect("put");
    let next = within("the put event", events.recv()).await;
    match next {
        Some(WatchEvent::Put(kv)) => assert_eq!(kv.key, "/apisix/upstreams/1"),
        other => panic!("expected a Put after the idle re-creations, got {other:?}"),
    }
}

#[tokio::test]
async fn a_lost_watch_resumes_within_resync_delay_once_etcd_is_back() {
    let mut etcd = Etcd::start().await;
    let (_store, mut events) =
        watching(&etcd, |config| config.resync_delay = Duration::from_secs(1)).await;

    etcd.stop();
    // Long enough for the backoff to reach its resync_delay cap.
    tokio::time::sleep(Duration::from_secs(3)).await;
    etcd.restart().await;
    let back = Instant::now();
    let mut raw = etcd.client().await;
    within(
        "a write once etcd is back",
        raw.put("/apisix/upstreams/back", "{}", None),
    )
    .await
    .expect("put");
    // The watch resumes from the revision it had reached: the write arrives as itself, not
    // inside a fresh snapshot.
    match within("the watch resumes after etcd came back", events.recv()).await {
        Some(WatchEvent::Put(kv)) => assert_eq!(kv.key, "/apisix/upstreams/back"),
        other => panic!("expected the put, got {other:?}"),
    }
    // resync_delay 1 s plus at most 50 % jitter, plus the reconnect itself.
    let took = back.elapsed();
    assert!(
        took < Duration::from_millis(1500 + 1500),
        "resume took {took:?}"
    );
}
