//! Durability tests of the embedded store: reopen, id monotonicity, kill -9.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;
use tokio::time::timeout;

use super::*;

fn open(dir: &tempfile::TempDir) -> EmbeddedStore {
    EmbeddedStore::open(dir.path()).expect("open store")
}

#[tokio::test]
async fn data_and_revisions_persist_across_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (id, lease) = {
        let store = open(&dir);
        store
            .put(
                "/apisix/upstreams/1",
                &json!({"nodes": {"127.0.0.1:1980": 1}}),
                0,
            )
            .await
            .expect("put");
        store
            .put("/apisix/upstreams/1", &json!({"nodes": {}}), 0)
            .await
            .expect("put");
        let id = store.next_id("/apisix").await.expect("id");
        let lease = store
            .grant_lease(Duration::from_secs(3600))
            .await
            .expect("lease");
        store
            .put("/apisix/stream_routes/t", &json!(1), lease)
            .await
            .expect("put");
        (id, lease)
    };
    let store = open(&dir);
    assert_eq!(store.revision(), 4);
    let kv = store
        .get("/apisix/upstreams/1")
        .await
        .expect("get")
        .expect("present");
    assert_eq!(
        (kv.value, kv.create_revision, kv.mod_revision),
        (json!({"nodes": {}}), 1, 2)
    );
    let leased = store
        .get("/apisix/stream_routes/t")
        .await
        .expect("get")
        .expect("present");
    assert_eq!(leased.lease, lease);
    // Ids and leases never repeat after a restart.
    assert!(store.next_id("/apisix").await.expect("id") > id);
    assert!(
        store
            .grant_lease(Duration::from_secs(1))
            .await
            .expect("lease")
            > lease
    );
}

#[tokio::test]
async fn generated_ids_increase_across_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ids = Vec::new();
    for _ in 0..3 {
        let store = open(&dir);
        ids.push(store.next_id("/apisix").await.expect("id"));
        ids.push(store.next_id("/apisix/").await.expect("id"));
    }
    assert_eq!(ids, [1, 2, 3, 4, 5, 6]);
    let store = open(&dir);
    let gen = store
        .get("/apisix/gen_id")
        .await
        .expect("get")
        .expect("gen_id key");
    assert_eq!(gen.mod_revision, 6);
}

#[test]
fn open_without_a_runtime_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = EmbeddedStore::open(dir.path()).expect_err("no runtime");
    assert!(err.to_string().contains("tokio runtime"), "{err}");
}

/// The environment variable that turns [`kill9_child_writer`] into the writing child.
const KILL9_DIR_ENV: &str = "APISIX_GATEWAY_KILL9_DATA_DIR";

/// The child half of [`acknowledged_writes_survive_kill_9`]: writes keys forever, printing
/// `ACK <key>` after each write returned. Ignored unless run by the parent.
#[tokio::test]
#[ignore = "child process of acknowledged_writes_survive_kill_9"]
async fn kill9_child_writer() {
    let Some(dir) = std::env::var_os(KILL9_DIR_ENV) else {
        return;
    };
    let store = EmbeddedStore::open(std::path::Path::new(&dir)).expect("child open");
    for i in 0..1_000_000u64 {
        let key = format!("/apisix/upstreams/{i:08}");
        store
            .put(&key, &json!({"i": i}), 0)
            .await
            .expect("child put");
        println!("ACK {key}");
    }
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("test executable");
    let mut child = Command::new(exe)
        .args([
            "store::embedded::durability_tests::kill9_child_writer",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .args(["--test-threads", "1"])
        .env(KILL9_DIR_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("child stdout");
    let acked = tokio::task::spawn_blocking(move || {
        let mut acked = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("read child stdout");
            if let Some(key) = line.strip_prefix("ACK ") {
                acked.push(key.to_string());
                if acked.len() >= 40 {
                    break;
                }
            }
        }
        acked
    });
    let acked = timeout(Duration::from_secs(60), acked)
        .await
        .expect("child acks in time")
        .expect("reader");
    // SIGKILL while the child is in the middle of writing.
    child.kill().expect("kill -9 the child");
    child.wait().expect("reap the child");
    assert!(
        acked.len() >= 40,
        "the child must have acknowledged writes: {acked:?}"
    );
    let store = open(&dir);
    for key in &acked {
        assert!(
            store.get(key).await.expect("get").is_some(),
            "acknowledged {key} lost after kill -9"
        );
    }
    assert!(store.revision() >= acked.len() as i64);
}
