//! The TLS load tools against a real rustls server on loopback: resumption is seen, and a
//! refused or non-TLS target fails with the step named.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;

use super::rate::{measure, RatePlan};
use super::server::serve_tls_echo;

/// A self-signed rustls server configuration for `bench.test`, sending `tickets` session
/// tickets after each handshake (rustls' default is 2; 0 turns resumption off).
fn server_config(tickets: usize) -> Arc<rustls::ServerConfig> {
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["bench.test".to_owned()])
        .expect("params")
        .self_signed(&key)
        .expect("cert");
    let mut config = rustls::ServerConfig::builder_with_provider(super::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("tls 1.3")
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .expect("server config");
    config.send_tls13_tickets = tickets;
    Arc::new(config)
}

/// A TLS echo (closing after one echo) on a loopback port; stops with the test's runtime.
async fn tls_echo_server(tickets: usize) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(serve_tls_echo(listener, server_config(tickets), true));
    addr
}

fn plan(target: std::net::SocketAddr, resume: bool) -> RatePlan {
    RatePlan {
        target,
        sni: "bench.test".into(),
        concurrency: 4,
        duration: Duration::from_millis(300),
        resume,
    }
}

#[tokio::test]
async fn with_resume_every_timed_handshake_resumes_and_without_none_does() {
    let addr = tls_echo_server(2).await;
    let resumed = measure(&plan(addr, true)).await.expect("resumed run");
    assert!(resumed.handshakes > 0);
    assert_eq!(resumed.resumed, resumed.handshakes, "{resumed:?}");
    assert_eq!(resumed.errors, 0, "{resumed:?}");

    let full = measure(&plan(addr, false)).await.expect("full run");
    assert!(full.handshakes > 0);
    assert_eq!(full.resumed, 0, "{full:?}");
}

#[tokio::test]
async fn a_server_without_tickets_shows_as_not_resumed() {
    let addr = tls_echo_server(0).await;
    let rate = measure(&plan(addr, true)).await.expect("run");
    assert_eq!(rate.resumed, 0, "{rate:?}");
}

#[tokio::test]
async fn a_refused_target_fails_naming_the_connect() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let err = measure(&plan(addr, false)).await.expect_err("refused");
    let text = format!("{err:#}");
    assert!(
        text.contains(&format!("cannot connect to {addr}")),
        "{text}"
    );
    let bulk = super::bulk::download(addr, "bench.test", 2, Duration::from_millis(100))
        .await
        .expect_err("refused");
    assert!(
        format!("{bulk:#}").contains("stream 0: cannot connect"),
        "{bulk:#}"
    );
}

#[tokio::test]
async fn a_target_that_is_not_tls_fails_naming_the_handshake() {
    // A server that answers the ClientHello with plain text and closes.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        while let Ok((mut stream, _)) = listener.accept().await {
            let _ = stream.write_all(b"HTTP/1.0 400 Bad Request\r\n\r\n").await;
        }
    });
    let err = measure(&plan(addr, false)).await.expect_err("not tls");
    let text = format!("{err:#}");
    assert!(
        text.contains(&format!(
            "tls handshake with {addr} (sni bench.test) failed"
        )),
        "{text}"
    );
}
