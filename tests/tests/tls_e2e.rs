//! TLS termination through the real gateway binary, configured only through the Admin API:
//! an SSL object and an SNI route make a `tls: true` port serve that certificate, the private
//! key is stored encrypted (the PUT reply shows the stored value) and never returned by GET,
//! and a certificate replaced through the Admin API is served to the next connection.

use std::net::SocketAddr;
use std::time::Duration;

use e2e::backends::TcpBackend;
use e2e::gateway::{Gateway, GatewayConfig};
use e2e::{ports, wait};
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::json;
use testkit::certs::{client_config, Ca};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

const APPLY: Duration = Duration::from_secs(5);

async fn tls_connect(
    ca: &Ca,
    addr: SocketAddr,
    sni: &str,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from(sni.to_owned()).expect("server name");
    tokio::time::timeout(
        Duration::from_secs(5),
        tokio_rustls::TlsConnector::from(client_config(ca.roots(), None, true)).connect(name, tcp),
    )
    .await
    .map_err(|_| std::io::Error::other("handshake timed out"))?
}

fn served(stream: &TlsStream<TcpStream>) -> CertificateDer<'static> {
    stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .cloned()
        .expect("a server certificate")
}

#[tokio::test]
async fn ssl_objects_from_the_admin_api_terminate_tls_on_a_tls_port() {
    let mut config = GatewayConfig::with_listeners(1, 0);
    config.tcp_tls_ports = vec![ports::free_port()];
    let tls_addr = SocketAddr::from(([127, 0, 0, 1], config.tcp_tls_ports[0]));
    let gw = Gateway::start(config).await.expect("start gateway");
    let backend = TcpBackend::greeting("db").await;
    let ca = Ca::new("e2e ca");
    let first = ca.leaf(&["db.example.test"]);

    let reply = gw
        .put_ok(
            "/ssls/1",
            json!({"cert": first.cert_pem, "key": first.key_pem, "snis": ["db.example.test"]}),
        )
        .await;
    let stored_key = reply["value"]["key"].as_str().expect("stored key");
    assert!(!stored_key.contains("PRIVATE KEY"), "key stored in clear");
    let get = gw.get("/ssls/1").await;
    assert_eq!(get.status, 200);
    assert!(
        get.json()["value"].get("key").is_none(),
        "GET shows the key"
    );
    assert!(!get.text.contains("PRIVATE KEY"));
    gw.put_ok(
        "/stream_routes/db",
        json!({"sni": "db.example.test", "upstream": {"nodes": {backend.node(): 1}}}),
    )
    .await;

    // The SSL and the route are two writes: a connection accepted between them finds the
    // certificate but no route yet (it is served with the configuration of its accept), so
    // wait for the greeting, not only the handshake.
    let mut stream = wait::until("tls route applies", APPLY, || async {
        let mut stream = tls_connect(&ca, tls_addr, "db.example.test").await.ok()?;
        let mut greeting = [0u8; 3];
        let read = stream.read_exact(&mut greeting);
        tokio::time::timeout(std::time::Duration::from_secs(2), read)
            .await
            .ok()?
            .ok()?;
        (&greeting == b"db\n").then_some(stream)
    })
    .await
    .expect("handshake with the stored certificate and the route's greeting");
    assert_eq!(served(&stream), first.der());
    stream.write_all(b"ping").await.expect("write");
    let mut echo = [0u8; 4];
    stream.read_exact(&mut echo).await.expect("echo");
    assert_eq!(&echo, b"ping");
    drop(stream);

    // An unknown SNI is refused at the handshake.
    assert!(tls_connect(&ca, tls_addr, "other.example.test")
        .await
        .is_err());

    // Replace the certificate through the Admin API: the next connection gets the new one.
    let second = ca.leaf(&["db.example.test"]);
    gw.put_ok(
        "/ssls/1",
        json!({"cert": second.cert_pem, "key": second.key_pem, "snis": ["db.example.test"]}),
    )
    .await;
    wait::until("new certificate served", APPLY, || async {
        let stream = tls_connect(&ca, tls_addr, "db.example.test").await.ok()?;
        (served(&stream) == second.der()).then_some(())
    })
    .await
    .expect("the replaced certificate is served");
}
