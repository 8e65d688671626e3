//! UDP proxying through the real gateway: per-client sessions that reach a real UDP echo
//! backend, replies coming back from the listening address, and routing by server_port so
//! TCP and UDP routes stay apart.

use std::net::SocketAddr;
use std::time::Duration;

use e2e::backends::{TcpBackend, UdpEcho};
use e2e::client;
use e2e::gateway::{Gateway, GatewayConfig};
use serde_json::json;
use tokio::net::UdpSocket;
use tokio::time::timeout;

const APPLY: Duration = Duration::from_secs(5);

/// Sends `payload` from `sock` to `to` and waits up to 1 s for a reply; returns it and its source.
async fn exchange(
    sock: &UdpSocket,
    to: SocketAddr,
    payload: &[u8],
) -> Option<(Vec<u8>, SocketAddr)> {
    sock.send_to(payload, to).await.ok()?;
    let mut buf = vec![0u8; 65536];
    let (n, from) = timeout(Duration::from_secs(1), sock.recv_from(&mut buf))
        .await
        .ok()?
        .ok()?;
    Some((buf[..n].to_vec(), from))
}

async fn client_socket() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind a UDP client")
}

/// Waits until a fresh client gets an echo through the gateway's UDP listener.
async fn wait_udp_live(gw: &Gateway) {
    let addr = gw.udp_addr(0);
    e2e::wait::until("the UDP route to answer", APPLY, || async {
        let sock = client_socket().await;
        exchange(&sock, addr, b"probe")
            .await
            .filter(|(b, _)| b == b"probe")
    })
    .await
    .expect("UDP route live");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_udp_clients_each_get_their_own_echo() {
    let backend = UdpEcho::start().await;
    let gw = Gateway::start_default().await.expect("start gateway");
    gw.put_ok(
        "/stream_routes/udp",
        json!({"upstream": {"type": "roundrobin", "nodes": {backend.node(): 1}}}),
    )
    .await;
    wait_udp_live(&gw).await;
    let addr = gw.udp_addr(0);
    let peers_before = backend.peers();

    let (c1, c2) = (client_socket().await, client_socket().await);
    for round in 0..5 {
        let p1 = format!("client one, datagram {round}");
        let p2 = format!("client two, datagram {round}");
        let (r1, from1) = exchange(&c1, addr, p1.as_bytes())
            .await
            .expect("reply to client one");
        let (r2, from2) = exchange(&c2, addr, p2.as_bytes())
            .await
            .expect("reply to client two");
        assert_eq!(r1, p1.as_bytes());
        assert_eq!(r2, p2.as_bytes());
        assert_eq!(from1, addr, "replies come from the listening address");
        assert_eq!(from2, addr, "replies come from the listening address");
    }
    assert_eq!(
        backend.peers() - peers_before,
        2,
        "one upstream session per client, reused for later datagrams"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_datagram_is_relayed_intact() {
    let backend = UdpEcho::start().await;
    let gw = Gateway::start_default().await.expect("start gateway");
    gw.put_ok(
        "/stream_routes/udp",
        json!({"upstream": {"type": "roundrobin", "nodes": {backend.node(): 1}}}),
    )
    .await;
    wait_udp_live(&gw).await;
    let sock = client_socket().await;
    let payload: Vec<u8> = (0..60_000u32).map(|i| (i % 253) as u8).collect();
    let (back, _) = exchange(&sock, gw.udp_addr(0), &payload)
        .await
        .expect("reply");
    assert!(back == payload, "60 000-byte datagram changed in transit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_port_keeps_udp_and_tcp_routes_apart() {
    let udp = UdpEcho::start().await;
    let tcp = TcpBackend::greeting("tcp").await;
    let gw = Gateway::start(GatewayConfig::with_listeners(1, 1))
        .await
        .expect("start gateway");
    let (tcp_port, udp_port) = (gw.config.tcp_ports[0], gw.config.udp_ports[0]);
    gw.put_ok("/stream_routes/tcp", json!({"server_port": tcp_port, "upstream": {"type": "roundrobin", "nodes": {tcp.node(): 1}}})).await;
    gw.put_ok("/stream_routes/udp", json!({"server_port": udp_port, "upstream": {"type": "roundrobin", "nodes": {udp.node(): 1}}})).await;
    wait_udp_live(&gw).await;
    client::wait_for_greeting(gw.tcp_addr(0), "tcp", APPLY)
        .await
        .expect("tcp route");
    assert!(udp.datagrams() > 0);
}
