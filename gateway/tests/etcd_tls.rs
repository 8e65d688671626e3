//! The etcd store over TLS against a real etcd, certificates made by the test with rcgen:
//! the server is verified with `apisix.ssl.ssl_trusted_certificate` (mutual TLS works, a
//! wrong CA fails with a clear error), and `deployment.etcd.tls.verify: false` accepts a
//! self-signed server.

mod etcd_support;

use std::path::{Path, PathBuf};

use apisix_gateway::config::EtcdConfig;
use apisix_gateway::store::etcd::EtcdStore;
use apisix_gateway::store::{Store, StoreError};
use etcd_support::*;
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use serde_json::json;

/// A CA that can sign leaves.
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().expect("ca key");
        let cert = params.self_signed(&key).expect("self-signed ca");
        Ca { cert, key }
    }

    /// Writes `<name>.pem` / `<name>.key`, a leaf for 127.0.0.1 and localhost signed by this CA.
    fn leaf(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let (params, key) = leaf_params(name);
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("signed leaf");
        write_pair(dir, name, &cert.pem(), &key.serialize_pem())
    }

    fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(format!("{name}.pem"));
        std::fs::write(&path, self.cert.pem()).expect("write ca");
        path
    }
}

fn leaf_params(name: &str) -> (CertificateParams, KeyPair) {
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .expect("leaf params");
    params.distinguished_name.push(DnType::CommonName, name);
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    (params, KeyPair::generate().expect("leaf key"))
}

fn write_pair(dir: &Path, name: &str, cert: &str, key: &str) -> (PathBuf, PathBuf) {
    let (c, k) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&c, cert).expect("write cert");
    std::fs::write(&k, key).expect("write key");
    (c, k)
}

/// `config` trusting only `ca` (as `ssl_trusted_certificate: <ca>`, no `system`).
fn trusting(mut config: EtcdConfig, ca: &Path) -> EtcdConfig {
    config.tls_trusted_certificates = vec![ca.to_path_buf()];
    config.tls_system_roots = false;
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
    let (server_cert, server_key) = ca.leaf(dir.path(), "server");
    let (client_cert, client_key) = ca.leaf(dir.path(), "client");
    let etcd = Etcd::start_tls(&server_cert, &server_key, &ca_pem).await;

    let mut config = trusting(etcd.config("/apisix"), &ca_pem);
    assert!(config.hosts[0].starts_with("https://"));
    config.tls_cert = Some(client_cert);
    config.tls_key = Some(client_key);
    let store = EtcdStore::new(&config).expect("store");
    put_eventually(&store).await;

    // Without the client certificate etcd refuses the connection.
    config.tls_cert = None;
    config.tls_key = None;
    let anonymous = EtcdStore::new(&config).expect("store");
    assert!(anonymous.get("/apisix/upstreams/tls").await.is_err());
}

#[tokio::test]
async fn a_wrong_ca_fails_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("cert dir");
    let ca = Ca::new("etcd-test-ca");
    let (server_cert, server_key) = ca.leaf(dir.path(), "server");
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
    let (params, key) = leaf_params("self-signed-etcd");
    let cert = params.self_signed(&key).expect("self-signed server");
    let (server_cert, server_key) =
        write_pair(dir.path(), "server", &cert.pem(), &key.serialize_pem());
    let etcd = Etcd::start_tls_server_only(&server_cert, &server_key).await;

    // Verified against the system store only, the self-signed server is refused...
    let mut config = etcd.config("/apisix");
    config.tls_trusted_certificates = Vec::new();
    config.tls_system_roots = true;
    let strict = EtcdStore::new(&config).expect("store");
    assert!(strict.get("/apisix/upstreams/x").await.is_err());

    // ...and accepted with verify: false.
    config.tls_verify = false;
    let store = EtcdStore::new(&config).expect("store");
    put_eventually(&store).await;
}
