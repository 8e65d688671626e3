//! SNI preread passthrough (`sni_preread: true`: route by the ClientHello's SNI, forward the
//! untouched TLS bytes) and TLS to upstreams (`scheme: tls`, `tls.verify`, client certs).

mod tls_support;

use apisix_gateway::session::RejectReason;
use apisix_gateway::tls::TlsSettings;
use serde_json::json;
use tls_support::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[tokio::test]
async fn preread_routes_by_sni_and_passes_tls_through_to_the_upstream() {
    let ca = Ca::new("backend ca");
    let backend_leaf = ca.leaf(&["echo.test"]);
    let (backend, mut seen) = tls_backend("tls-echo", &backend_leaf, None).await;
    let items = vec![
        kv(
            "stream_routes/sni",
            json!({"sni": "echo.test", "upstream": upstream_to(backend)}),
            1,
        ),
        kv(
            "stream_routes/plain",
            json!({"upstream": upstream_to(tag_then_echo("plain").await)}),
            2,
        ),
    ];
    let gw = start(
        preread_listen(),
        snapshot_of(&items),
        TlsSettings::default(),
    )
    .await;

    // The client verifies the upstream's own certificate: the gateway never terminates.
    let mut s = tls_connect(gw.addr, "echo.test", client_config(ca.roots(), None, true))
        .await
        .expect("end-to-end handshake with the upstream");
    assert_eq!(served_cert(&s), backend_leaf.chain()[0].as_ref());
    assert_eq!(
        tag_and_echo(&mut s, "secret").await.expect("echo"),
        "tls-echo"
    );
    let hello = within("backend handshake", seen.recv())
        .await
        .expect("backend saw a handshake");
    assert_eq!(hello.sni.as_deref(), Some("echo.test"));

    // A non-TLS client on the same port routes as "no SNI".
    let mut plain = within("connect", TcpStream::connect(gw.addr))
        .await
        .expect("connect");
    assert_eq!(
        tag_and_echo(&mut plain, "GET /").await.expect("echo"),
        "plain"
    );
}

#[tokio::test]
async fn preread_client_that_closes_before_sending_anything_is_counted() {
    let gw = start(preread_listen(), snapshot_of(&[]), TlsSettings::default()).await;
    let s = within("connect", TcpStream::connect(gw.addr))
        .await
        .expect("connect");
    drop(s);
    eventually("preread failure counted", || {
        gw.ctx.stats.rejected_total(RejectReason::TlsHandshake) == 1
    })
    .await;
}

#[tokio::test]
async fn preread_client_without_a_complete_hello_routes_without_sni_after_the_timeout() {
    let items = vec![kv(
        "stream_routes/plain",
        json!({"upstream": upstream_to(tag_then_echo("late").await)}),
        1,
    )];
    let gw = start(
        preread_listen(),
        snapshot_of(&items),
        TlsSettings::default(),
    )
    .await;
    let mut s = within("connect", TcpStream::connect(gw.addr))
        .await
        .expect("connect");
    // Three bytes of a record header, then nothing until the preread gives up (5 s).
    s.write_all(b"\x16\x03\x01").await.expect("partial record");
    let tag = read_text(&mut s, "late:".len()).await.expect("routed late");
    assert_eq!(tag, "late:");
}

/// A gateway on a plain port routing everything to a `scheme: tls` upstream.
async fn tls_upstream_gateway(
    backend: std::net::SocketAddr,
    tls: serde_json::Value,
    settings: TlsSettings,
) -> Gateway {
    let mut upstream = upstream_to(backend);
    upstream["scheme"] = json!("tls");
    upstream["tls"] = tls;
    let items = vec![kv("stream_routes/1", json!({ "upstream": upstream }), 1)];
    start(listen(), snapshot_of(&items), settings).await
}

fn trusting(ca: &Ca, dir: &tempfile::TempDir) -> TlsSettings {
    let path = dir.path().join("ca.pem");
    std::fs::write(&path, ca.pem()).expect("write ca");
    let mut settings = TlsSettings::default();
    settings.ssl.trusted = apisix_gateway::config::TrustedCas {
        files: vec![path],
        system_roots: false,
    };
    settings
}

#[tokio::test]
async fn tls_upstream_with_verify_accepts_a_trusted_certificate_and_sends_no_sni_for_an_ip() {
    let ca = Ca::new("upstream ca");
    let (backend, mut seen) = tls_backend("up", &ca.leaf(&["127.0.0.1"]), None).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = tls_upstream_gateway(backend, json!({"verify": true}), trusting(&ca, &dir)).await;
    let mut s = within("connect", TcpStream::connect(gw.addr))
        .await
        .expect("connect");
    assert_eq!(tag_and_echo(&mut s, "ping").await.expect("echo"), "up");
    let hello = within("backend handshake", seen.recv())
        .await
        .expect("seen");
    assert_eq!(hello.sni, None);
}

#[tokio::test]
async fn tls_upstream_with_verify_refuses_an_untrusted_certificate() {
    let ca = Ca::new("upstream ca");
    let stranger = Ca::new("stranger");
    let (backend, _seen) = tls_backend("up", &stranger.leaf(&["127.0.0.1"]), None).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = tls_upstream_gateway(backend, json!({"verify": true}), trusting(&ca, &dir)).await;
    let mut s = within("connect", TcpStream::connect(gw.addr))
        .await
        .expect("connect");
    assert!(tag_and_echo(&mut s, "ping").await.is_err());
    eventually("upstream failure counted", || {
        gw.ctx
            .stats
            .rejected_total(RejectReason::UpstreamUnavailable)
            == 1
    })
    .await;
}

#[tokio::test]
async fn failed_upstream_tls_handshake_retries_the_next_node() {
    let ca = Ca::new("upstream ca");
    let stranger = Ca::new("stranger");
    let (bad, _bad_seen) = tls_backend("bad", &stranger.leaf(&["127.0.0.1"]), None).await;
    let (good, _good_seen) = tls_backend("good", &ca.leaf(&["127.0.0.1"]), None).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut upstream = upstream_to(bad);
    upstream["nodes"] = json!({ bad.to_string(): 1, good.to_string(): 1 });
    upstream["scheme"] = json!("tls");
    upstream["tls"] = json!({"verify": true});
    let items = vec![kv("stream_routes/1", json!({ "upstream": upstream }), 1)];
    let gw = start(listen(), snapshot_of(&items), trusting(&ca, &dir)).await;
    // Round robin sends about half of the connections to the untrusted node first: each of
    // them must fail over to the trusted one instead of being closed.
    for i in 0..6 {
        let mut s = within("connect", TcpStream::connect(gw.addr))
            .await
            .expect("connect");
        let tag = tag_and_echo(&mut s, "ping").await.expect("echo");
        assert_eq!(tag, "good", "connection {i} reached {tag}");
    }
    assert_eq!(
        gw.ctx
            .stats
            .rejected_total(RejectReason::UpstreamUnavailable),
        0
    );
}

#[tokio::test]
async fn tls_upstream_without_verify_accepts_any_certificate() {
    let stranger = Ca::new("stranger");
    let (backend, _seen) = tls_backend("up", &stranger.leaf(&["elsewhere.test"]), None).await;
    let gw = tls_upstream_gateway(backend, json!({}), TlsSettings::default()).await;
    let mut s = within("connect", TcpStream::connect(gw.addr))
        .await
        .expect("connect");
    assert_eq!(tag_and_echo(&mut s, "ping").await.expect("echo"), "up");
}

#[tokio::test]
async fn tls_upstream_presents_the_client_certificate() {
    let client_ca = Ca::new("client ca");
    let client = client_ca.leaf(&["gateway"]);
    let (backend, mut seen) =
        tls_backend("mtls", &Ca::new("s").leaf(&["127.0.0.1"]), Some(&client_ca)).await;
    let gw = tls_upstream_gateway(
        backend,
        json!({"client_cert": client.cert_pem, "client_key": client.key_pem}),
        TlsSettings::default(),
    )
    .await;
    let mut s = within("connect", TcpStream::connect(gw.addr))
        .await
        .expect("connect");
    assert_eq!(tag_and_echo(&mut s, "ping").await.expect("echo"), "mtls");
    assert!(within("seen", seen.recv()).await.expect("seen").client_cert);
}

#[tokio::test]
async fn terminated_client_sni_is_sent_to_the_tls_upstream() {
    let ca = Ca::new("ca");
    let front = ca.leaf(&["a.test"]);
    let (backend, mut seen) = tls_backend("re", &ca.leaf(&["a.test"]), None).await;
    let mut upstream = upstream_to(backend);
    upstream["scheme"] = json!("tls");
    let items = vec![
        kv("ssls/1", ssl(&front, &["a.test"]), 1),
        kv("stream_routes/1", json!({ "upstream": upstream }), 2),
    ];
    let gw = start(tls_listen(), snapshot_of(&items), TlsSettings::default()).await;
    let mut s = tls_connect(gw.addr, "a.test", client_config(ca.roots(), None, true))
        .await
        .expect("handshake");
    assert_eq!(tag_and_echo(&mut s, "again").await.expect("echo"), "re");
    let hello = within("seen", seen.recv()).await.expect("seen");
    assert_eq!(hello.sni.as_deref(), Some("a.test"));
}

#[tokio::test]
async fn tls_upstream_takes_the_client_certificate_from_a_client_ssl_object() {
    let client_ca = Ca::new("client ca");
    let client = client_ca.leaf(&["gateway"]);
    let (backend, mut seen) = tls_backend(
        "by-id",
        &Ca::new("s").leaf(&["127.0.0.1"]),
        Some(&client_ca),
    )
    .await;
    let mut upstream = upstream_to(backend);
    upstream["scheme"] = json!("tls");
    upstream["tls"] = json!({"client_cert_id": "9"});
    let items = vec![
        kv(
            "ssls/9",
            json!({"type": "client", "cert": client.cert_pem, "key": client.key_pem}),
            1,
        ),
        kv("stream_routes/1", json!({ "upstream": upstream }), 2),
    ];
    let snapshot = snapshot_of(&items);
    assert!(snapshot.route("1").is_some(), "the route compiles");
    let gw = start(listen(), snapshot, TlsSettings::default()).await;
    let mut s = within("connect", TcpStream::connect(gw.addr))
        .await
        .expect("connect");
    assert_eq!(tag_and_echo(&mut s, "ping").await.expect("echo"), "by-id");
    assert!(within("seen", seen.recv()).await.expect("seen").client_cert);
}

#[tokio::test]
async fn preread_uses_fallback_sni_for_tls_clients_only() {
    let ca = Ca::new("backend ca");
    let leaf = ca.leaf(&["fb.test"]);
    let (backend, _seen) = tls_backend("fb", &leaf, None).await;
    let items = vec![
        kv(
            "stream_routes/sni",
            json!({"sni": "fb.test", "upstream": upstream_to(backend)}),
            1,
        ),
        kv(
            "stream_routes/plain",
            json!({"upstream": upstream_to(tag_then_echo("plain").await)}),
            2,
        ),
    ];
    let mut settings = TlsSettings::default();
    settings.ssl.fallback_sni = Some("fb.test".into());
    let gw = start(preread_listen(), snapshot_of(&items), settings).await;
    let mut s = tls_connect(gw.addr, "fb.test", client_config(ca.roots(), None, false))
        .await
        .expect("a TLS client without SNI reaches the fallback route");
    assert_eq!(tag_and_echo(&mut s, "x").await.expect("echo"), "fb");
    let mut plain = within("connect", TcpStream::connect(gw.addr))
        .await
        .expect("connect");
    assert_eq!(tag_and_echo(&mut plain, "y").await.expect("echo"), "plain");
}
