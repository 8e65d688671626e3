//! A data plane on the standalone YAML file: it serves the file's routes, follows edits, waits
//! for `#END`, skips invalid items and refuses writes.

mod etcd_support;

use std::path::Path;
use std::time::Duration;

use apisix_gateway::store::yaml::{YamlStore, READ_ONLY};
use apisix_gateway::store::{Store, StoreError, WatchEvent};
use etcd_support::*;
use serde_json::json;

fn write_yaml(prefix: &Path, body: &str) {
    let path = prefix.join("conf").join("apisix.yaml");
    // Write then rename, so the poller never sees a half-written file.
    let tmp = prefix.join("conf").join("apisix.yaml.tmp");
    std::fs::write(&tmp, body).expect("write yaml");
    std::fs::rename(&tmp, &path).expect("rename yaml");
}

fn routes_yaml(backend: std::net::SocketAddr, end: bool) -> String {
    format!(
        "stream_routes:\n  - id: 1\n    upstream_id: 1\n  - id: bad\n    upstream_id: 1\n    plugins:\n      x-rewrite: {{}}\nupstreams:\n  - id: 1\n    type: roundrobin\n    nodes:\n      \"{backend}\": 1\n{}",
        if end { "#END\n" } else { "" }
    )
}

#[tokio::test]
async fn a_yaml_data_plane_serves_the_file_and_follows_edits() {
    let first = tag_each_read("one").await;
    let second = tag_each_read("two").await;
    let dir = tempfile::tempdir().expect("dir");
    let config = gateway_config(
        dir.path(),
        "data_plane",
        "yaml",
        "http://127.0.0.1:1",
        free_port(),
    );
    write_yaml(dir.path(), &routes_yaml(first, true));
    let gw = Gateway::start(config, None).await;
    let stream = gw.stream.expect("stream listener");
    let reply = eventually("the file's route is served", Duration::from_secs(3), || {
        try_round_trip(stream, b"a")
    })
    .await;
    assert_eq!(reply, b"one:a");

    write_yaml(dir.path(), &routes_yaml(second, true));
    let reply = eventually(
        "the edited file is picked up",
        Duration::from_secs(4),
        || async {
            try_round_trip(stream, b"c")
                .await
                .filter(|r| r.starts_with(b"two"))
        },
    )
    .await;
    assert_eq!(reply, b"two:c");

    // Removing every route stops proxying.
    write_yaml(dir.path(), "upstreams: []\n#END\n");
    eventually("the route is removed", Duration::from_secs(4), || async {
        try_round_trip(stream, b"d").await.is_none().then_some(())
    })
    .await;
    gw.stop().await;
}

#[tokio::test]
async fn the_yaml_store_is_read_only_and_sends_a_snapshot_per_version() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::create_dir_all(dir.path().join("conf")).expect("conf");
    write_yaml(
        dir.path(),
        "upstreams:\n  - id: 1\n    type: roundrobin\n    nodes: {\"127.0.0.1:1\": 1}\n#END\n",
    );
    let store = YamlStore::open(&dir.path().join("conf").join("apisix.yaml"), "/apisix");
    let got = store
        .get("/apisix/upstreams/1")
        .await
        .expect("get")
        .expect("present");
    assert_eq!(got.value["type"], "roundrobin");
    let first_revision = got.mod_revision;
    let err = store
        .put("/apisix/upstreams/2", &json!({}), 0)
        .await
        .expect_err("read-only");
    assert!(
        matches!(&err, StoreError::Unavailable(m) if m == READ_ONLY),
        "{err:?}"
    );
    assert!(store.next_id("/apisix").await.is_err());

    let mut rx = store.watch("/apisix/").await.expect("watch");
    match within("first snapshot", rx.recv()).await.expect("open") {
        WatchEvent::Snapshot { items, .. } => assert_eq!(items.len(), 1),
        other => panic!("expected a snapshot, got {other:?}"),
    }
    // An incomplete version (no #END) is skipped: the next snapshot is the complete one.
    write_yaml(dir.path(), "upstreams: []\n");
    write_yaml(
        dir.path(),
        "upstreams:\n  - id: 1\n    type: roundrobin\n    nodes: {\"127.0.0.1:1\": 1}\n  - id: 2\n    type: chash\n    key: remote_addr\n    nodes: {\"127.0.0.1:2\": 1}\n#END\n",
    );
    match within("next snapshot", rx.recv()).await.expect("open") {
        WatchEvent::Snapshot { items, revision } => {
            assert_eq!(items.len(), 2);
            assert!(revision > first_revision);
            // The unchanged item keeps its revisions.
            assert_eq!(items[0].mod_revision, first_revision);
            assert_eq!(items[1].create_revision, revision);
        }
        other => panic!("expected a snapshot, got {other:?}"),
    }
}
