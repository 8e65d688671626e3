//! TLS session resumption on `tls: true` ports: a client that keeps its session cache resumes
//! its next connection (TLS 1.3 PSK from the gateway's session tickets), also after the
//! certificate index was rebuilt by a configuration change, and the bytes relay exactly; a
//! replaced certificate ends resumption. Real rustls clients against an in-process listener.

mod tls_support;

use apisix_gateway::store::KeyValue;
use apisix_gateway::tls::TlsSettings;
use rustls::HandshakeKind;
use serde_json::json;
use tls_support::*;

/// How the handshake of `stream` went.
fn kind(stream: &tokio_rustls::client::TlsStream<tokio::net::TcpStream>) -> HandshakeKind {
    stream.get_ref().1.handshake_kind().expect("handshake done")
}

/// 48 KiB of text that shows any reordered, lost or doubled byte.
fn payload() -> String {
    (0..6000).map(|i| format!("{i:07}\n")).collect()
}

/// A gateway with one SSL object for `r.test` and a route to a backend tagging its echoes
/// `r`, after a first full handshake and echo of `data` through it.
struct Resumable {
    gw: Gateway,
    ca: Ca,
    leaf: Leaf,
    route: KeyValue,
    object: KeyValue,
    /// The client configuration (rustls keeps sessions in memory by default) now holding the
    /// gateway's tickets.
    config: std::sync::Arc<rustls::ClientConfig>,
}

async fn after_a_first_connection(data: &str) -> Resumable {
    let ca = Ca::new("test ca");
    let leaf = ca.leaf(&["r.test"]);
    let route = kv(
        "stream_routes/1",
        json!({"upstream": upstream_to(tag_then_echo("r").await)}),
        1,
    );
    let object = kv("ssls/1", ssl(&leaf, &["r.test"]), 2);
    let gw = start(
        tls_listen(),
        snapshot_of(&[route.clone(), object.clone()]),
        TlsSettings::default(),
    )
    .await;
    let config = client_config(ca.roots(), None, true);
    let mut first = tls_connect(gw.addr, "r.test", config.clone())
        .await
        .expect("first handshake");
    assert_eq!(kind(&first), HandshakeKind::Full);
    // Reading the echo also takes in the tickets the gateway sent after the handshake.
    assert_eq!(tag_and_echo(&mut first, data).await.expect("echo"), "r");
    Resumable {
        gw,
        ca,
        leaf,
        route,
        object,
        config,
    }
}

#[tokio::test]
async fn second_connection_with_the_same_session_cache_resumes_and_relays_exactly() {
    let data = payload();
    let r = after_a_first_connection(&data).await;
    let mut second = tls_connect(r.gw.addr, "r.test", r.config.clone())
        .await
        .expect("second handshake");
    assert_eq!(
        kind(&second),
        HandshakeKind::Resumed,
        "resumed from a ticket"
    );
    assert_eq!(served_cert(&second), r.leaf.chain()[0].as_ref());
    assert_eq!(tag_and_echo(&mut second, &data).await.expect("echo"), "r");
}

#[tokio::test]
async fn resumption_survives_a_rebuilt_index_but_not_a_replaced_certificate() {
    let data = payload();
    let Resumable {
        gw,
        ca,
        route,
        object,
        config,
        ..
    } = after_a_first_connection("one").await;

    // Another SSL object: every SSL object's rustls config is built anew.
    let other = ca.leaf(&["o.test"]);
    gw.install(snapshot_of(&[
        route.clone(),
        object,
        kv("ssls/2", ssl(&other, &["o.test"]), 3),
    ]));
    let mut second = tls_connect(gw.addr, "r.test", config.clone())
        .await
        .expect("handshake after the rebuild");
    assert_eq!(
        kind(&second),
        HandshakeKind::Resumed,
        "tickets outlive the rebuild"
    );
    assert_eq!(tag_and_echo(&mut second, &data).await.expect("echo"), "r");

    // A new certificate for the same object: its old tickets no longer resume.
    let replaced = ca.leaf(&["r.test"]);
    gw.install(snapshot_of(&[
        route,
        kv("ssls/1", ssl(&replaced, &["r.test"]), 4),
    ]));
    let mut third = tls_connect(gw.addr, "r.test", config)
        .await
        .expect("handshake after the replacement");
    assert_eq!(kind(&third), HandshakeKind::Full, "a full handshake");
    assert_eq!(served_cert(&third), replaced.chain()[0].as_ref());
    assert_eq!(tag_and_echo(&mut third, &data).await.expect("echo"), "r");
}
