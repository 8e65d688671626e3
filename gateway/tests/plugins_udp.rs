//! Stream plugins on UDP sessions: ip-restriction admits or refuses the session.

mod plugins_support;

use plugins_support::*;
use serde_json::json;
use testkit::backends::udp_echo;
use tokio::net::UdpSocket;

fn route(echo: std::net::SocketAddr, list: &str) -> serde_json::Value {
    json!({"plugins": {"ip-restriction": {list: ["127.0.0.0/8"]}},
           "upstream": {"nodes": nodes(&[echo]), "type": "roundrobin"}})
}

#[tokio::test]
async fn ip_restriction_admits_whitelisted_udp_client() {
    let echo = udp_echo().await;
    let gw = Gateway::start(&[("stream_routes/1", route(echo, "whitelist"))], false).await;
    let client = UdpSocket::bind("127.0.0.1:0").await.expect("bind client");
    client.send_to(b"ping", gw.udp).await.expect("send");
    let mut buf = [0u8; 16];
    let (n, _) = within("udp echo", client.recv_from(&mut buf))
        .await
        .expect("recv");
    assert_eq!(&buf[..n], b"ping");
}

#[tokio::test]
async fn ip_restriction_ends_blacklisted_udp_session() {
    let echo = udp_echo().await;
    let gw = Gateway::start(&[("stream_routes/1", route(echo, "blacklist"))], false).await;
    let client = UdpSocket::bind("127.0.0.1:0").await.expect("bind client");
    client.send_to(b"ping", gw.udp).await.expect("send");
    let observe = gw.proxy.sessions.clone();
    eventually("refused session finished", || {
        observe.sessions_finished() == 1
    })
    .await;
    assert!(gw.proxy.registry.is_empty(), "no live session remains");
}
