//! PROXY protocol on stream ports: v1 and v2 headers in (the header's source becomes
//! `remote_addr` when the sender is trusted), missing headers refused, and headers sent to
//! upstreams (`proxy_protocol_to_upstream`).

mod tls_support;

use apisix_gateway::config::ProxyProtocolVersion;
use apisix_gateway::proxy_protocol::encode;
use apisix_gateway::session::RejectReason;
use apisix_gateway::tls::TlsSettings;
use serde_json::json;
use tls_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Routes: `remote_addr: 10.9.9.9` → "header", `remote_addr: 127.0.0.1` → "real".
async fn address_routes() -> Vec<apisix_gateway::store::KeyValue> {
    vec![
        kv(
            "stream_routes/header",
            json!({"remote_addr": "10.9.9.9", "upstream": upstream_to(tag_then_echo("header").await)}),
            1,
        ),
        kv(
            "stream_routes/real",
            json!({"remote_addr": "127.0.0.1", "upstream": upstream_to(tag_then_echo("real").await)}),
            2,
        ),
    ]
}

/// A PROXY v1 header claiming client 10.9.9.9:40000, then the tagged echo.
async fn send_v1_from_10_9_9_9(gw: &Gateway) -> std::io::Result<String> {
    let header = format!(
        "PROXY TCP4 10.9.9.9 {} 40000 {}\r\n",
        gw.addr.ip(),
        gw.addr.port()
    );
    send_header_then_echo(gw, header.as_bytes()).await
}

async fn send_header_then_echo(gw: &Gateway, header: &[u8]) -> std::io::Result<String> {
    let mut s = within("connect", TcpStream::connect(gw.addr)).await?;
    s.write_all(header).await?;
    tag_and_echo(&mut s, "payload").await
}

#[tokio::test]
async fn v1_header_source_is_the_remote_addr_for_routing() {
    let gw = start(
        pp_listen(true, None),
        snapshot_of(&address_routes().await),
        TlsSettings::default(),
    )
    .await;
    assert_eq!(send_v1_from_10_9_9_9(&gw).await.expect("echo"), "header");
}

#[tokio::test]
async fn v2_header_source_is_the_remote_addr_for_routing() {
    let gw = start(
        pp_listen(true, None),
        snapshot_of(&address_routes().await),
        TlsSettings::default(),
    )
    .await;
    let header = encode(
        ProxyProtocolVersion::V2,
        "10.9.9.9:40000".parse().expect("addr"),
        gw.addr,
    );
    assert_eq!(
        send_header_then_echo(&gw, &header).await.expect("echo"),
        "header"
    );
}

#[tokio::test]
async fn header_from_a_peer_outside_real_ip_from_is_not_believed() {
    let settings = TlsSettings {
        real_ip_from: vec!["192.0.2.0/24".parse().expect("cidr")],
        ..TlsSettings::default()
    };
    let gw = start(
        pp_listen(true, None),
        snapshot_of(&address_routes().await),
        settings,
    )
    .await;
    assert_eq!(
        send_v1_from_10_9_9_9(&gw).await.expect("echo"),
        "real",
        "the untrusted sender's claimed address must not be used"
    );
}

#[tokio::test]
async fn missing_header_on_a_proxy_protocol_port_is_refused() {
    let gw = start(
        pp_listen(true, None),
        snapshot_of(&address_routes().await),
        TlsSettings::default(),
    )
    .await;
    let mut s = within("connect", TcpStream::connect(gw.addr))
        .await
        .expect("connect");
    s.write_all(b"hello without a header\r\n")
        .await
        .expect("write");
    let mut got = Vec::new();
    let read = within("close", s.read_to_end(&mut got)).await;
    assert!(read.is_err() || got.is_empty(), "nothing relayed");
    eventually("refusal counted", || {
        gw.ctx.stats.rejected_total(RejectReason::ProxyProtocol) == 1
    })
    .await;
}

async fn header_sent_upstream(version: ProxyProtocolVersion) {
    let (backend, mut headers) = pp_backend().await;
    let items = vec![kv(
        "stream_routes/1",
        json!({"upstream": upstream_to(backend)}),
        1,
    )];
    let gw = start(
        pp_listen(false, Some(version)),
        snapshot_of(&items),
        TlsSettings::default(),
    )
    .await;
    let mut s = within("connect", TcpStream::connect(gw.addr))
        .await
        .expect("connect");
    let client = s.local_addr().expect("client addr");
    assert_eq!(tag_and_echo(&mut s, "data").await.expect("echo"), "pp");
    let header = within("header", headers.recv()).await.expect("a header");
    let want = match version {
        ProxyProtocolVersion::V1 => 1,
        ProxyProtocolVersion::V2 => 2,
    };
    assert_eq!(header.version, want);
    assert_eq!(header.source, Some(client));
    assert_eq!(header.destination, Some(gw.addr));
}

#[tokio::test]
async fn v1_header_is_sent_to_the_upstream() {
    header_sent_upstream(ProxyProtocolVersion::V1).await;
}

#[tokio::test]
async fn v2_header_is_sent_to_the_upstream() {
    header_sent_upstream(ProxyProtocolVersion::V2).await;
}

#[tokio::test]
async fn header_in_is_forwarded_as_the_client_upstream() {
    let (backend, mut headers) = pp_backend().await;
    let items = vec![kv(
        "stream_routes/1",
        json!({"upstream": upstream_to(backend)}),
        1,
    )];
    let gw = start(
        pp_listen(true, Some(ProxyProtocolVersion::V2)),
        snapshot_of(&items),
        TlsSettings::default(),
    )
    .await;
    assert_eq!(send_v1_from_10_9_9_9(&gw).await.expect("echo"), "pp");
    let got = within("header", headers.recv()).await.expect("a header");
    assert_eq!(got.source, Some("10.9.9.9:40000".parse().expect("addr")));
}
