//! UDP proxying through the real gateway: per-client sessions that reach a real UDP echo
//! backend, replies coming back from the listening address, routing by server_port so
//! TCP and UDP routes stay apart, and on wildcard listeners (`0.0.0.0`, `[::]`) routing by
//! the address each datagram was sent to, with replies sent from that address.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
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

/// A route matching datagrams sent to `server_addr`, to the tagged backend `to`.
fn route_by_server_addr(server_addr: &str, to: &UdpEcho) -> serde_json::Value {
    json!({"server_addr": server_addr, "upstream": {"type": "roundrobin", "nodes": {to.node(): 1}}})
}

/// Waits until datagrams sent to `to` get answers tagged `tag`.
async fn wait_tagged(to: SocketAddr, tag: &str) {
    let want = format!("{tag}:probe").into_bytes();
    e2e::wait::until(&format!("{to} to answer as {tag}"), APPLY, || async {
        let sock = UdpSocket::bind((unspecified_like(to.ip()), 0)).await.ok()?;
        exchange(&sock, to, b"probe")
            .await
            .filter(|(b, _)| *b == want)
    })
    .await
    .expect("route by server_addr live");
}

fn unspecified_like(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::from([127, 0, 0, 1]),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wildcard_udp_listener_routes_by_and_replies_from_the_address_the_client_used() {
    let a = UdpEcho::tagged("a").await;
    let b = UdpEcho::tagged("b").await;
    let mut config = GatewayConfig::new();
    config.udp_listen_any = true;
    let gw = Gateway::start(config).await.expect("start gateway");
    let port = gw.config.udp_ports[0];
    gw.put_ok("/stream_routes/to-a", route_by_server_addr("127.0.0.2", &a))
        .await;
    gw.put_ok("/stream_routes/to-b", route_by_server_addr("127.0.0.3", &b))
        .await;
    let (to_a, to_b) = (
        SocketAddr::from(([127, 0, 0, 2], port)),
        SocketAddr::from(([127, 0, 0, 3], port)),
    );
    wait_tagged(to_a, "a").await;
    wait_tagged(to_b, "b").await;

    // One unconnected client socket talks to both addresses: two sessions, each answered by
    // its own backend, from the address it was sent to.
    let client = client_socket().await;
    for round in 0..3 {
        for (to, tag) in [(to_a, "a"), (to_b, "b")] {
            let payload = format!("round {round} to {to}");
            let (reply, from) = exchange(&client, to, payload.as_bytes())
                .await
                .unwrap_or_else(|| panic!("a reply from {to}"));
            assert_eq!(reply, format!("{tag}:{payload}").into_bytes());
            assert_eq!(
                from, to,
                "the reply comes from the address the client sent to"
            );
        }
    }

    // The live sessions show the address the client reached, and the listener they came in on.
    let client_addr = client.local_addr().expect("client address").to_string();
    let listed = gw
        .control_get(&format!("/v1/connections?client={client_addr}"))
        .await
        .json();
    let sessions = listed["list"].as_array().expect("a list");
    let field = |name: &str| -> Vec<String> {
        let mut values: Vec<String> = sessions
            .iter()
            .map(|c| c[name].as_str().unwrap_or_default().to_string())
            .collect();
        values.sort();
        values
    };
    assert_eq!(field("server"), vec![to_a.to_string(), to_b.to_string()]);
    assert_eq!(field("listener"), vec![format!("0.0.0.0:{port}"); 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ipv6_wildcard_udp_listener_routes_by_the_loopback_address() {
    if std::net::UdpSocket::bind("[::1]:0").is_err() {
        println!("skipped: ::1 is not configured on this machine");
        return;
    }
    let six = UdpEcho::tagged("six").await;
    let other = UdpEcho::tagged("other").await;
    let mut config = GatewayConfig::new();
    config.udp_listen_any = true;
    config.udp_ipv6 = true;
    let gw = Gateway::start(config).await.expect("start gateway");
    gw.put_ok(
        "/stream_routes/other",
        route_by_server_addr("2001:db8::1", &other),
    )
    .await;
    gw.put_ok("/stream_routes/six", route_by_server_addr("::1", &six))
        .await;
    let to = gw.udp_addr(0);
    wait_tagged(to, "six").await;
    let client = UdpSocket::bind("[::1]:0").await.expect("bind [::1]:0");
    let (reply, from) = exchange(&client, to, b"hello").await.expect("a reply");
    assert_eq!(reply, b"six:hello");
    assert_eq!(
        from, to,
        "the reply comes from the address the client sent to"
    );
    assert_eq!(other.datagrams(), 0, "the 2001:db8::1 route never matched");
}

/// A gateway with a wildcard UDP listener (`0.0.0.0`) and one route, without conditions, to
/// `echo`.
async fn wildcard_gateway_to(echo: &UdpEcho) -> Gateway {
    let mut config = GatewayConfig::new();
    config.udp_listen_any = true;
    let gw = Gateway::start(config).await.expect("start gateway");
    gw.put_ok(
        "/stream_routes/all",
        json!({"upstream": {"type": "roundrobin", "nodes": {echo.node(): 1}}}),
    )
    .await;
    gw
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wildcard_udp_listener_replies_from_the_address_the_client_used_without_conditions() {
    let echo = UdpEcho::tagged("any").await;
    let gw = wildcard_gateway_to(&echo).await;
    let to = SocketAddr::from(([127, 0, 0, 7], gw.config.udp_ports[0]));
    wait_tagged(to, "any").await;
    let client = client_socket().await;
    let (reply, from) = exchange(&client, to, b"x").await.expect("a reply");
    assert_eq!(reply, b"any:x");
    assert_eq!(
        from, to,
        "not the kernel's pick (127.0.0.1) but the address sent to"
    );
}

/// The ids of the live sessions of `client`, from the Control API.
async fn session_ids(gw: &Gateway, client: &UdpSocket) -> Vec<String> {
    let client = client.local_addr().expect("client address");
    let listed = gw
        .control_get(&format!("/v1/connections?client={client}"))
        .await
        .json();
    listed["list"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|c| c["id"].to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_udp_session_lives_while_busy_and_ends_after_the_idle_timeout() {
    let echo = UdpEcho::start().await;
    let gw = Gateway::start_default().await.expect("start gateway");
    gw.put_ok(
        "/stream_routes/udp",
        json!({"upstream": {"type": "roundrobin", "nodes": {echo.node(): 1}, "timeout": {"connect": 1, "send": 1, "read": 1}}}),
    )
    .await;
    wait_udp_live(&gw).await;
    let client = client_socket().await;
    // A datagram every 300 ms for 1.8 s: longer than the 1 s timeout, one session throughout.
    let busy = std::time::Instant::now();
    let mut seen = std::collections::HashSet::new();
    while busy.elapsed() < Duration::from_millis(1800) {
        let (reply, _) = exchange(&client, gw.udp_addr(0), b"tick")
            .await
            .expect("a reply while busy");
        assert_eq!(reply, b"tick");
        seen.extend(session_ids(&gw, &client).await);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(seen.len(), 1, "one session while busy: {seen:?}");
    let idle = std::time::Instant::now();
    e2e::wait::until(
        "the idle session to end",
        Duration::from_secs(5),
        || async { session_ids(&gw, &client).await.is_empty().then_some(()) },
    )
    .await
    .expect("the session ends after the idle timeout");
    assert!(
        idle.elapsed() >= Duration::from_millis(600),
        "ended too early: {:?} after the last datagram",
        idle.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_datagrams_comes_back_complete_and_in_order() {
    let echo = UdpEcho::start().await;
    let gw = wildcard_gateway_to(&echo).await;
    let to = SocketAddr::from(([127, 0, 0, 4], gw.config.udp_ports[0]));
    let probe = client_socket().await;
    e2e::wait::until("the UDP route to answer", APPLY, || async {
        exchange(&probe, to, b"probe")
            .await
            .filter(|(b, _)| b == b"probe")
    })
    .await
    .expect("UDP route live");
    // Sent back to back, so both legs see several datagrams waiting at once.
    let sent: Vec<Vec<u8>> = (0..64u32)
        .map(|i| {
            format!("datagram {i:02} ")
                .repeat(1 + i as usize % 7)
                .into_bytes()
        })
        .collect();
    for payload in &sent {
        probe.send_to(payload, to).await.expect("send");
    }
    let mut buf = vec![0u8; 65536];
    for want in &sent {
        let (n, from) = timeout(Duration::from_secs(2), probe.recv_from(&mut buf))
            .await
            .expect("every datagram comes back")
            .expect("recv_from");
        assert_eq!(&buf[..n], &want[..], "in order and intact");
        assert_eq!(from, to);
    }
}
