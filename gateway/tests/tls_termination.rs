//! TLS termination on `tls: true` stream ports: certificate selection by SNI, routing by SNI,
//! `fallback_sni`, aborted handshakes, certificate replacement, mTLS, `ssl_protocols` and
//! encrypted keys. Real rustls clients against an in-process listener.

mod tls_support;

use std::sync::Arc;

use apisix_gateway::session::RejectReason;
use apisix_gateway::tls::certs::CertIndex;
use apisix_gateway::tls::keyring::encrypt_key;
use apisix_gateway::tls::TlsSettings;
use serde_json::json;
use tls_support::*;

/// Two certs (exact `a.test`, wildcard `*.wild.test`), routes by SNI to tagged backends and a
/// catch-all route without SNI.
async fn two_cert_gateway(ca: &Ca, settings: TlsSettings) -> (Gateway, Leaf, Leaf) {
    let exact = ca.leaf(&["a.test"]);
    let wild = ca.leaf(&["*.wild.test"]);
    let items = vec![
        kv("ssls/1", ssl(&exact, &["a.test"]), 2),
        kv("ssls/2", ssl(&wild, &["*.wild.test"]), 3),
        kv(
            "stream_routes/exact",
            json!({"sni": "a.test", "upstream": upstream_to(tag_then_echo("exact").await)}),
            4,
        ),
        kv(
            "stream_routes/wild",
            json!({"sni": "*.wild.test", "upstream": upstream_to(tag_then_echo("wild").await)}),
            5,
        ),
        kv(
            "stream_routes/plain",
            json!({"upstream": upstream_to(tag_then_echo("plain").await)}),
            6,
        ),
    ];
    let gw = start(tls_listen(), snapshot_of(&items), settings).await;
    (gw, exact, wild)
}

#[tokio::test]
async fn exact_and_wildcard_sni_get_their_own_cert_and_route() {
    let ca = Ca::new("test ca");
    let (gw, exact, wild) = two_cert_gateway(&ca, TlsSettings::default()).await;
    let config = client_config(ca.roots(), None, true);

    let mut a = tls_connect(gw.addr, "a.test", config.clone())
        .await
        .expect("handshake for a.test");
    assert_eq!(served_cert(&a), exact.chain()[0].as_ref());
    assert_eq!(tag_and_echo(&mut a, "hello").await.expect("echo"), "exact");

    let mut w = tls_connect(gw.addr, "x.wild.test", config)
        .await
        .expect("handshake for a wildcard name");
    assert_eq!(served_cert(&w), wild.chain()[0].as_ref());
    assert_eq!(tag_and_echo(&mut w, "hi").await.expect("echo"), "wild");
}

#[tokio::test]
async fn terminated_connection_is_listed_as_tls_with_its_sni() {
    let ca = Ca::new("test ca");
    let (gw, _exact, _wild) = two_cert_gateway(&ca, TlsSettings::default()).await;
    let mut a = tls_connect(gw.addr, "a.test", client_config(ca.roots(), None, true))
        .await
        .expect("handshake for a.test");
    assert_eq!(tag_and_echo(&mut a, "hello").await.expect("echo"), "exact");
    let live = gw.ctx.registry.list();
    assert_eq!(live.len(), 1, "one live connection");
    let front = live[0].front().expect("front recorded");
    assert!(front.tls, "terminated by the gateway");
    assert_eq!(front.sni.as_deref(), Some("a.test"));
}

#[tokio::test]
async fn sni_without_sni_route_falls_through_to_plain_routes() {
    let ca = Ca::new("test ca");
    let other = ca.leaf(&["other.test"]);
    let items = vec![
        kv("ssls/1", ssl(&other, &["other.test"]), 2),
        kv(
            "stream_routes/plain",
            json!({"upstream": upstream_to(tag_then_echo("plain").await)}),
            3,
        ),
    ];
    let gw = start(tls_listen(), snapshot_of(&items), TlsSettings::default()).await;
    let mut s = tls_connect(gw.addr, "other.test", client_config(ca.roots(), None, true))
        .await
        .expect("handshake");
    assert_eq!(tag_and_echo(&mut s, "x").await.expect("echo"), "plain");
}

#[tokio::test]
async fn unknown_sni_aborts_the_handshake_and_is_counted() {
    let ca = Ca::new("test ca");
    let (gw, _, _) = two_cert_gateway(&ca, TlsSettings::default()).await;
    let result = tls_connect(
        gw.addr,
        "nobody.test",
        client_config(ca.roots(), None, true),
    )
    .await;
    assert!(result.is_err(), "handshake for an unknown SNI must fail");
    eventually("tls rejection counted", || {
        gw.ctx.stats.rejected_total(RejectReason::TlsHandshake) == 1
    })
    .await;
    // `*.wild.test` does not cover `wild.test` itself.
    let bare = tls_connect(gw.addr, "wild.test", client_config(ca.roots(), None, true)).await;
    assert!(bare.is_err(), "the bare suffix has no certificate");
}

#[tokio::test]
async fn no_sni_uses_fallback_sni_and_aborts_without_one() {
    let ca = Ca::new("test ca");
    let (gw, _, _) = two_cert_gateway(&ca, TlsSettings::default()).await;
    let no_sni = client_config(ca.roots(), None, false);
    assert!(
        tls_connect(gw.addr, "a.test", no_sni.clone())
            .await
            .is_err(),
        "no SNI and no fallback_sni: aborted"
    );
    eventually("rejection counted", || {
        gw.ctx.stats.rejected_total(RejectReason::TlsHandshake) == 1
    })
    .await;

    let mut settings = TlsSettings::default();
    settings.ssl.fallback_sni = Some("a.test".into());
    let (gw, exact, _) = two_cert_gateway(&ca, settings).await;
    let mut s = tls_connect(gw.addr, "a.test", no_sni)
        .await
        .expect("fallback_sni picks the cert");
    assert_eq!(served_cert(&s), exact.chain()[0].as_ref());
    assert_eq!(tag_and_echo(&mut s, "fb").await.expect("echo"), "exact");
}

#[tokio::test]
async fn replaced_certificate_is_served_to_the_next_connection() {
    let ca = Ca::new("test ca");
    let first = ca.leaf(&["a.test"]);
    let second = ca.leaf(&["a.test"]);
    let backend = tag_then_echo("b").await;
    let route = kv(
        "stream_routes/1",
        json!({"upstream": upstream_to(backend)}),
        1,
    );
    let gw = start(
        tls_listen(),
        snapshot_of(&[route.clone(), kv("ssls/1", ssl(&first, &["a.test"]), 2)]),
        TlsSettings::default(),
    )
    .await;
    let config = client_config(ca.roots(), None, true);
    let mut old = tls_connect(gw.addr, "a.test", config.clone())
        .await
        .expect("first handshake");
    assert_eq!(served_cert(&old), first.chain()[0].as_ref());

    gw.install(snapshot_of(&[
        route,
        kv("ssls/1", ssl(&second, &["a.test"]), 3),
    ]));
    let new = tls_connect(gw.addr, "a.test", config)
        .await
        .expect("second handshake");
    assert_eq!(served_cert(&new), second.chain()[0].as_ref());
    // The established connection is untouched.
    assert_eq!(tag_and_echo(&mut old, "still").await.expect("echo"), "b");
}

#[tokio::test]
async fn client_ca_requires_a_valid_client_certificate() {
    let ca = Ca::new("test ca");
    let client_ca = Ca::new("client ca");
    let server = ca.leaf(&["m.test"]);
    let mut object = ssl(&server, &["m.test"]);
    object["client"] = json!({"ca": client_ca.pem()});
    let items = vec![
        kv("ssls/1", object, 2),
        kv(
            "stream_routes/1",
            json!({"upstream": upstream_to(tag_then_echo("mtls").await)}),
            3,
        ),
    ];
    let gw = start(tls_listen(), snapshot_of(&items), TlsSettings::default()).await;

    let good = client_ca.leaf(&["client"]);
    let mut s = tls_connect(
        gw.addr,
        "m.test",
        client_config(ca.roots(), Some(&good), true),
    )
    .await
    .expect("handshake with a client certificate");
    assert_eq!(tag_and_echo(&mut s, "ok").await.expect("echo"), "mtls");

    // Without a certificate (TLS 1.3: the client learns on its first read).
    let outcome = async {
        let mut s = tls_connect(gw.addr, "m.test", client_config(ca.roots(), None, true)).await?;
        tag_and_echo(&mut s, "no").await
    }
    .await;
    assert!(
        outcome.is_err(),
        "a client without a certificate is refused"
    );
    // With a certificate from another CA.
    let stranger = Ca::new("stranger").leaf(&["client"]);
    let outcome = async {
        let mut s = tls_connect(
            gw.addr,
            "m.test",
            client_config(ca.roots(), Some(&stranger), true),
        )
        .await?;
        tag_and_echo(&mut s, "no").await
    }
    .await;
    assert!(
        outcome.is_err(),
        "a certificate from an unknown CA is refused"
    );
    eventually("both refusals counted", || {
        gw.ctx.stats.rejected_total(RejectReason::TlsHandshake) == 2
    })
    .await;
}

#[tokio::test]
async fn ssl_protocols_restricts_the_tls_version() {
    let ca = Ca::new("test ca");
    let leaf = ca.leaf(&["v.test"]);
    let mut object = ssl(&leaf, &["v.test"]);
    object["ssl_protocols"] = json!(["TLSv1.3"]);
    let items = vec![
        kv("ssls/1", object, 2),
        kv(
            "stream_routes/1",
            json!({"upstream": upstream_to(tag_then_echo("v").await)}),
            3,
        ),
    ];
    let gw = start(tls_listen(), snapshot_of(&items), TlsSettings::default()).await;
    let tls12_only = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS12])
    .expect("tls 1.2")
    .with_root_certificates(ca.roots())
    .with_no_client_auth();
    assert!(tls_connect(gw.addr, "v.test", Arc::new(tls12_only))
        .await
        .is_err());
    let s = tls_connect(gw.addr, "v.test", client_config(ca.roots(), None, true))
        .await
        .expect("tls 1.3 handshake");
    assert_eq!(
        s.get_ref().1.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
}

#[tokio::test]
async fn keys_encrypted_with_the_keyring_are_decrypted() {
    let ca = Ca::new("test ca");
    let leaf = ca.leaf(&["enc.test"]);
    let keyring = vec!["qeddd145sfvddff3".to_owned()];
    let mut snapshot = snapshot_of(&[kv(
        "stream_routes/1",
        json!({"upstream": upstream_to(tag_then_echo("enc").await)}),
        1,
    )]);
    let stored: model::types::Ssl = serde_json::from_value(json!({
        "cert": leaf.cert_pem,
        "key": encrypt_key(&leaf.key_pem, &keyring).expect("encrypt"),
        "snis": ["enc.test"],
    }))
    .expect("ssl object");
    snapshot.ssls.insert("1".into(), stored);
    // The cert index is built with the snapshot, with the configured keyring.
    snapshot.cert_index = Arc::new(CertIndex::build(&snapshot.ssls, &keyring));
    let mut settings = TlsSettings::default();
    settings.ssl.keyring = keyring;
    let gw = start(tls_listen(), snapshot, settings).await;
    let mut s = tls_connect(gw.addr, "enc.test", client_config(ca.roots(), None, true))
        .await
        .expect("handshake with a decrypted key");
    assert_eq!(tag_and_echo(&mut s, "k").await.expect("echo"), "enc");
}

#[tokio::test]
async fn client_closing_tcp_without_close_notify_still_gets_the_reply() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let ca = Ca::new("test ca");
    let leaf = ca.leaf(&["h.test"]);
    let items = vec![
        kv("ssls/1", ssl(&leaf, &["h.test"]), 1),
        kv(
            "stream_routes/1",
            json!({"upstream": upstream_to(tag_then_echo("half").await)}),
            2,
        ),
    ];
    let gw = start(tls_listen(), snapshot_of(&items), TlsSettings::default()).await;
    let mut s = tls_connect(gw.addr, "h.test", client_config(ca.roots(), None, true))
        .await
        .expect("handshake");
    s.write_all(b"abc").await.expect("write");
    s.flush().await.expect("flush");
    // FIN on the TCP socket, no close_notify.
    s.get_mut().0.shutdown().await.expect("tcp shutdown");
    let mut all = Vec::new();
    within("reply then eof", s.read_to_end(&mut all))
        .await
        .expect("clean end");
    assert_eq!(all, b"half:abc");
}
