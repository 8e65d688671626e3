//! The etcd store over TLS with a client certificate (mutual TLS), against a real etcd. The
//! private CA is trusted through `SSL_CERT_FILE` (this file holds the only test, so setting
//! the variable affects nothing else).

mod etcd_support;

use std::path::Path;
use std::process::Command;

use apisix_gateway::store::etcd::EtcdStore;
use apisix_gateway::store::Store;
use etcd_support::*;
use serde_json::json;

fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run openssl (install the openssl package)");
    assert!(status.success(), "openssl {args:?} failed");
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA.
fn certificates(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=test-ca",
        ],
    );
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n",
    )
    .expect("ext");
    for name in ["server", "client"] {
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
                "-subj",
                &format!("/CN={name}"),
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &format!("{name}.pem"),
                "-days",
                "2",
                "-extfile",
                "san.ext",
            ],
        );
    }
}

#[tokio::test]
async fn the_store_talks_to_etcd_over_mutual_tls() {
    let certs = tempfile::tempdir().expect("cert dir");
    certificates(certs.path());
    let p = |name: &str| certs.path().join(name);
    let etcd = Etcd::start_tls(&p("server.pem"), &p("server.key"), &p("ca.pem")).await;
    // Setting the variable is harmless: no other test runs in this binary.
    std::env::set_var("SSL_CERT_FILE", p("ca.pem"));

    let mut config = etcd.config("/apisix");
    assert!(config.hosts[0].starts_with("https://"));
    config.tls_cert = Some(p("client.pem"));
    config.tls_key = Some(p("client.key"));
    let store = EtcdStore::new(&config).expect("store");
    let put = eventually("a put over tls", WAIT, || async {
        store
            .put("/apisix/upstreams/tls", &json!({"id": "tls"}), 0)
            .await
            .ok()
    })
    .await;
    assert!(put.current.mod_revision > 0);
    assert!(store.reachable().await);

    // Without the client certificate etcd refuses the connection.
    config.tls_cert = None;
    config.tls_key = None;
    let anonymous = EtcdStore::new(&config).expect("store");
    assert!(anonymous.get("/apisix/upstreams/tls").await.is_err());
}
