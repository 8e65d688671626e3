//! The etcd store over TLS against a real etcd, certificates made by the test with rcgen:
//! the server is verified with `apisix.ssl.ssl_trusted_certificate` (mutual TLS works, a
//! wrong CA fails with a clear error), and `deployment.etcd.tls.verify: false` accepts a
//! self-signed server.

mod etcd_support;

use std::path::Path;

use apisix_gateway::config::EtcdConfig;
use apisix_gateway::store::etcd::EtcdStore;
use apisix_gateway::store::{Store, StoreError};
use etcd_support::*;
use serde_json::json;
use testkit::certs::{Ca, Leaf};

/// `config` trusting only `ca` (as `ssl_trusted_certificate: <ca>`, no `system`).
fn trusting(mut config: EtcdConfig, ca: &Path) -> EtcdConfig {
    config.tls.trusted.files = vec![ca.to_path_buf()];
    config.tls.trusted.system_roots = false;
    config
}

async fn put_eventually(store: &EtcdStore) {
    let put = eventually("a put over tls", WAIT, || async {
        store
            .put("/apisix/upstreams/tls", &json!({"id": "tls"}), 0)
            .await
            .ok()
    })
    .await;
    assert!(put.current.mod_revision > 0);
    assert!(store.reachable().await);
}

#[tokio::test]
async fn mutual_tls_verified_with_ssl_trusted_certificate() {
    let dir = tempfile::tempdir().expect("cert dir");
    let ca = Ca::new("etcd-test-ca");
    let ca_pem = ca.write(dir.path(), "ca");
    let (server_cert, server_key) = ca
        .server_and_client_leaf("server")
        .write(dir.path(), "server");
    let (client_cert, client_key) = ca
        .server_and_client_leaf("client")
        .write(dir.path(), "client");
    let etcd = Etcd::start_tls(&server_cert, &server_key, &ca_pem).await;

    let mut config = trusting(etcd.config("/apisix"), &ca_pem);
    assert!(config.hosts[0].starts_with("https://"));
    config.tls.cert = Some(client_cert);
    config.tls.key = Some(client_key);
    let store = EtcdStore::new(&config).expect("store");
    put_eventually(&store).await;

    // Without the client certificate etcd refuses the connection.
    config.tls.cert = None;
    config.tls.key = None;
    let anonymous = EtcdStore::new(&config).expect("store");
    assert!(anonymous.get("/apisix/upstreams/tls").await.is_err());
}

#[tokio::test]
async fn a_wrong_ca_fails_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("cert dir");
    let ca = Ca::new("etcd-test-ca");
    let (server_cert, server_key) = ca
        .server_and_client_leaf("server")
        .write(dir.path(), "server");
    let etcd = Etcd::start_tls_server_only(&server_cert, &server_key).await;
    let other_ca = Ca::new("some-other-ca").write(dir.path(), "other-ca");

    let store = EtcdStore::new(&trusting(etcd.config("/apisix"), &other_ca)).expect("store");
    let err = store
        .get("/apisix/upstreams/x")
        .await
        .expect_err("a server signed by another CA must be refused");
    let StoreError::Unavailable(text) = err else {
        panic!("expected Unavailable, got {err:?}");
    };
    assert!(
        text.contains("invalid peer certificate") && text.contains("UnknownIssuer"),
        "the error names the certificate problem: {text}"
    );
    assert!(!store.reachable().await);

    // The right CA works against the same server.
    let ca_pem = ca.write(dir.path(), "ca");
    let good = EtcdStore::new(&trusting(etcd.config("/apisix"), &ca_pem)).expect("store");
    put_eventually(&good).await;
}

#[tokio::test]
async fn verify_false_accepts_a_self_signed_server() {
    let dir = tempfile::tempdir().expect("cert dir");
    let (server_cert, server_key) =
        Leaf::self_signed_server_and_client("self-signed-etcd").write(dir.path(), "server");
    let etcd = Etcd::start_tls_server_only(&server_cert, &server_key).await;

    // Verified against the system store only, the self-signed server is refused...
    let mut config = etcd.config("/apisix");
    config.tls.trusted.files = Vec::new();
    config.tls.trusted.system_roots = true;
    let strict = EtcdStore::new(&config).expect("store");
    assert!(strict.get("/apisix/upstreams/x").await.is_err());

    // ...and accepted with verify: false.
    config.tls.verify = false;
    let store = EtcdStore::new(&config).expect("store");
    put_eventually(&store).await;
}
