//! TCP proxying through the real gateway: byte-exact relay, half-close, concurrency, upstream
//! failures, route matching (remote_addr CIDR, server_port) and how fast route updates apply.
//! Balancing is in `proxy_balancing.rs`, reload and shutdown in `proxy_lifecycle.rs`.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use e2e::backends::TcpBackend;
use e2e::client;
use e2e::gateway::{Gateway, GatewayConfig};
use e2e::ports;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long a route write may take to reach the data path in these tests.
const APPLY: Duration = Duration::from_secs(5);

fn nodes(backends: &[&TcpBackend]) -> Value {
    let mut map = serde_json::Map::new();
    for b in backends {
        map.insert(b.node(), json!(1));
    }
    Value::Object(map)
}

fn loopback(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// Starts a gateway with one catch-all route to `backend` and waits until it greets.
async fn gateway_to(backend: &TcpBackend) -> Gateway {
    let gw = Gateway::start_default().await.expect("start gateway");
    gw.put_ok(
        "/stream_routes/1",
        json!({"upstream": {"type": "roundrobin", "nodes": nodes(&[backend])}}),
    )
    .await;
    gw
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_mib_is_relayed_byte_exact_in_both_directions() {
    let probe = TcpBackend::greeting("probe").await;
    let echo = TcpBackend::echo("echo").await;
    let gw = gateway_to(&probe).await;
    client::wait_for_greeting(gw.tcp_addr(0), "probe", APPLY)
        .await
        .expect("route live");
    gw.put_ok(
        "/stream_routes/1",
        json!({"upstream": {"type": "roundrobin", "nodes": nodes(&[&echo])}}),
    )
    .await;
    // Wait until a connection reaches the echo server.
    let accepted_before = echo.accepted();
    let stream = e2e::wait::until("route to the echo backend", APPLY, || async {
        let mut s = client::connect(gw.tcp_addr(0)).await.ok()?;
        client::echo_roundtrip(&mut s, b"x").await.ok()?;
        (echo.accepted() > accepted_before).then_some(s)
    })
    .await
    .expect("echo route live");

    let payload: Vec<u8> = (0..1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let (mut rd, mut wr) = stream.into_split();
    let to_send = payload.clone();
    let writer = tokio::spawn(async move {
        wr.write_all(&to_send).await?;
        wr.shutdown().await?;
        Ok::<_, std::io::Error>(())
    });
    let mut back = Vec::with_capacity(payload.len());
    tokio::time::timeout(Duration::from_secs(30), rd.read_to_end(&mut back))
        .await
        .expect("1 MiB echoed within 30 s")
        .expect("read until EOF");
    writer.await.expect("writer task").expect("write 1 MiB");
    assert_eq!(back.len(), payload.len(), "byte count differs");
    assert!(back == payload, "bytes were reordered, duplicated or lost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_close_reaches_the_backend_and_the_reply_still_arrives() {
    let backend = TcpBackend::reply_after_eof("eof").await;
    let gw = gateway_to(&backend).await;
    let reply = e2e::wait::until("a reply after half-close", APPLY, || async {
        let mut s = client::connect(gw.tcp_addr(0)).await.ok()?;
        s.write_all(b"hello world").await.ok()?;
        s.shutdown().await.ok()?;
        let mut out = String::new();
        tokio::time::timeout(Duration::from_secs(3), s.read_to_string(&mut out))
            .await
            .ok()?
            .ok()?;
        (!out.is_empty()).then_some(out)
    })
    .await
    .expect("half-closed client gets the reply");
    assert_eq!(reply, "got 11 bytes\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_connections_all_echo() {
    let backend = TcpBackend::greeting("g").await;
    let gw = gateway_to(&backend).await;
    client::wait_for_greeting(gw.tcp_addr(0), "g", APPLY)
        .await
        .expect("route live");
    let addr = gw.tcp_addr(0);
    // Open all 200 first, then exchange data on each, so they are really concurrent.
    let mut streams = Vec::new();
    for _ in 0..200 {
        let mut s = client::connect(addr).await.expect("connect");
        assert_eq!(client::read_line(&mut s).await.expect("greeting"), "g");
        streams.push(s);
    }
    assert!(
        backend.active() >= 200,
        "backend sees {} live connections",
        backend.active()
    );
    let tasks: Vec<_> = streams
        .into_iter()
        .enumerate()
        .map(|(i, mut s)| {
            tokio::spawn(async move {
                let payload = format!("connection {i} ").repeat(64);
                client::echo_roundtrip(&mut s, payload.as_bytes()).await
            })
        })
        .collect();
    let mut failed = 0;
    for t in tasks {
        if !matches!(t.await, Ok(Ok(()))) {
            failed += 1;
        }
    }
    assert_eq!(failed, 0, "{failed} of 200 concurrent connections failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_is_down_closes_the_client_without_data() {
    let gw = Gateway::start_default().await.expect("start gateway");
    let dead = ports::dead_addr();
    gw.put_ok(
        "/stream_routes/1",
        json!({"upstream": {"type": "roundrobin", "nodes": {dead.to_string(): 1}}}),
    )
    .await;
    for _ in 0..3 {
        let mut s = client::connect(gw.tcp_addr(0))
            .await
            .expect("the gateway accepts");
        client::expect_closed_without_data(&mut s, Duration::from_secs(10))
            .await
            .expect("client closed when the upstream is down");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_matching_route_closes_the_client_without_data() {
    let backend = TcpBackend::greeting("g").await;
    let gw = gateway_to(&backend).await;
    client::wait_for_greeting(gw.tcp_addr(0), "g", APPLY)
        .await
        .expect("route live");
    gw.delete("/stream_routes/1").await;
    e2e::wait::until("the deleted route to stop matching", APPLY, || async {
        let mut s = client::connect(gw.tcp_addr(0)).await.ok()?;
        client::expect_closed_without_data(&mut s, Duration::from_secs(2))
            .await
            .ok()
    })
    .await
    .expect("no route: closed without data");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_addr_cidr_admits_matching_clients_only() {
    let backend = TcpBackend::greeting("inside").await;
    let gw = Gateway::start_default().await.expect("start gateway");
    gw.put_ok(
        "/stream_routes/1",
        json!({"remote_addr": "127.0.0.4/30", "upstream": {"type": "roundrobin", "nodes": nodes(&[&backend])}}),
    )
    .await;
    let addr = gw.tcp_addr(0);
    e2e::wait::until("route for 127.0.0.4/30", APPLY, || async {
        client::greeting_from(loopback(5), addr)
            .await
            .ok()
            .filter(|g| g == "inside")
    })
    .await
    .expect("127.0.0.5 is inside 127.0.0.4/30");
    assert_eq!(
        client::greeting_from(loopback(7), addr)
            .await
            .expect("127.0.0.7"),
        "inside"
    );
    for outside in [1, 3, 8, 9] {
        let mut s = client::connect_from(loopback(outside), addr)
            .await
            .expect("connect");
        client::expect_closed_without_data(&mut s, Duration::from_secs(5))
            .await
            .unwrap_or_else(|e| panic!("127.0.0.{outside} must not match: {e:#}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_port_picks_the_route_per_listener() {
    let a = TcpBackend::greeting("a").await;
    let b = TcpBackend::greeting("b").await;
    let gw = Gateway::start(GatewayConfig::with_listeners(2, 0))
        .await
        .expect("start");
    let (p0, p1) = (gw.config.tcp_ports[0], gw.config.tcp_ports[1]);
    gw.put_ok(
        "/stream_routes/a",
        json!({"server_port": p0, "upstream": {"type": "roundrobin", "nodes": nodes(&[&a])}}),
    )
    .await;
    gw.put_ok(
        "/stream_routes/b",
        json!({"server_port": p1, "upstream": {"type": "roundrobin", "nodes": nodes(&[&b])}}),
    )
    .await;
    client::wait_for_greeting(gw.tcp_addr(0), "a", APPLY)
        .await
        .expect("listener 0 -> a");
    client::wait_for_greeting(gw.tcp_addr(1), "b", APPLY)
        .await
        .expect("listener 1 -> b");
    for _ in 0..5 {
        assert_eq!(client::greeting(gw.tcp_addr(0)).await.expect("greet"), "a");
        assert_eq!(client::greeting(gw.tcp_addr(1)).await.expect("greet"), "b");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_addr_matches_the_accepting_address() {
    let a = TcpBackend::greeting("a").await;
    let gw = Gateway::start_default().await.expect("start gateway");
    gw.put_ok("/stream_routes/other", json!({"server_addr": "127.0.0.111", "upstream": {"type": "roundrobin", "nodes": {ports::dead_addr().to_string(): 1}}})).await;
    gw.put_ok("/stream_routes/mine", json!({"server_addr": "127.0.0.1", "upstream": {"type": "roundrobin", "nodes": nodes(&[&a])}})).await;
    client::wait_for_greeting(gw.tcp_addr(0), "a", APPLY)
        .await
        .expect("server_addr 127.0.0.1 matches");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_addr_is_the_address_the_client_reached_on_a_wildcard_listener() {
    let a = TcpBackend::greeting("a").await;
    let mut config = GatewayConfig::new();
    config.tcp_listen_any = true;
    let gw = Gateway::start(config).await.expect("start gateway");
    gw.put_ok("/stream_routes/mine", json!({"server_addr": "127.0.0.1", "upstream": {"type": "roundrobin", "nodes": nodes(&[&a])}})).await;
    client::wait_for_greeting(gw.tcp_addr(0), "a", APPLY)
        .await
        .expect("server_addr 127.0.0.1 matches a connection to 127.0.0.1 on a 0.0.0.0 listener");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_on_a_wildcard_listener_show_the_address_the_client_reached() {
    let a = TcpBackend::greeting("a").await;
    let mut config = GatewayConfig::new();
    config.tcp_listen_any = true;
    let gw = Gateway::start(config).await.expect("start gateway");
    gw.put_ok(
        "/stream_routes/1",
        json!({"upstream": {"type": "roundrobin", "nodes": nodes(&[&a])}}),
    )
    .await;
    let reached = std::net::SocketAddr::new(loopback(9), gw.config.tcp_ports[0]);
    client::wait_for_greeting(reached, "a", APPLY)
        .await
        .expect("route live");
    let mut s = client::connect(reached).await.expect("connect");
    assert_eq!(client::read_line(&mut s).await.expect("greeting"), "a");
    let me = s.local_addr().expect("client address");
    let listed = gw
        .control_get(&format!("/v1/connections?client={me}"))
        .await
        .json();
    assert_eq!(listed["list"][0]["server"], reached.to_string());
    assert_eq!(
        listed["list"][0]["listener"],
        format!("0.0.0.0:{}", gw.config.tcp_ports[0])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_update_applies_within_one_second() {
    let a = TcpBackend::greeting("a").await;
    let b = TcpBackend::greeting("b").await;
    let gw = gateway_to(&a).await;
    client::wait_for_greeting(gw.tcp_addr(0), "a", APPLY)
        .await
        .expect("route to a");
    gw.put_ok(
        "/stream_routes/1",
        json!({"upstream": {"type": "roundrobin", "nodes": nodes(&[&b])}}),
    )
    .await;
    let acknowledged = Instant::now();
    client::wait_for_greeting(gw.tcp_addr(0), "b", Duration::from_secs(1))
        .await
        .expect("the update reached the data path within 1 s");
    assert!(acknowledged.elapsed() <= Duration::from_millis(1500));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_is_closed_after_the_upstream_timeout() {
    let backend = TcpBackend::greeting("idle").await;
    let gw = Gateway::start_default().await.expect("start gateway");
    gw.put_ok(
        "/stream_routes/1",
        json!({"upstream": {"type": "roundrobin", "nodes": nodes(&[&backend]), "timeout": {"connect": 1, "send": 1, "read": 1}}}),
    )
    .await;
    client::wait_for_greeting(gw.tcp_addr(0), "idle", APPLY)
        .await
        .expect("route live");
    let mut s = client::connect(gw.tcp_addr(0)).await.expect("connect");
    assert_eq!(client::read_line(&mut s).await.expect("greeting"), "idle");
    client::echo_roundtrip(&mut s, b"still active")
        .await
        .expect("echo before idling");
    let idle_for = client::expect_closed(&mut s, Duration::from_secs(6))
        .await
        .expect("closed after ~1 s idle");
    assert!(
        idle_for >= Duration::from_millis(800),
        "closed too early: {idle_for:?}"
    );
}

/// A gateway started with `APISIX_GATEWAY_RELAY=<engine>` (`None`: the default relay, which
/// copies small exchanges and splices bulk flows), routing everything to `echo` once a
/// connection reaches it.
async fn gateway_with_relay(engine: Option<&str>, echo: &TcpBackend) -> Gateway {
    let mut config = GatewayConfig::new();
    if let Some(engine) = engine {
        config
            .env
            .push(("APISIX_GATEWAY_RELAY".into(), engine.into()));
    }
    let gw = Gateway::start(config).await.expect("start gateway");
    gw.put_ok(
        "/stream_routes/1",
        json!({"upstream": {"type": "roundrobin", "nodes": nodes(&[echo])}}),
    )
    .await;
    e2e::wait::until("route to the echo backend", APPLY, || async {
        let mut s = client::connect(gw.tcp_addr(0)).await.ok()?;
        client::echo_roundtrip(&mut s, b"x").await.ok()
    })
    .await
    .expect("echo route live");
    gw
}

/// `len` pseudo-random bytes (xorshift), different for each `seed`.
fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_relay_engines_move_random_bytes_exactly_after_a_client_half_close() {
    for engine in [None, Some("copy")] {
        let echo = TcpBackend::echo("echo").await;
        let gw = gateway_with_relay(engine, &echo).await;
        // Small exchanges first (the copy path of the default relay), then a bulk flow.
        let mut stream = client::connect(gw.tcp_addr(0)).await.expect("connect");
        for i in 0..32u64 {
            let message = random_bytes(i, 1 + (i as usize * 37) % 500);
            client::echo_roundtrip(&mut stream, &message)
                .await
                .unwrap_or_else(|e| panic!("{engine:?}: message {i} echoed: {e:#}"));
        }
        let payload = random_bytes(99, 8 << 20);
        let (mut rd, mut wr) = stream.into_split();
        let to_send = payload.clone();
        let writer = tokio::spawn(async move {
            wr.write_all(&to_send).await?;
            // Half-close: the echoes of everything sent must still come back.
            wr.shutdown().await
        });
        let mut back = Vec::with_capacity(payload.len());
        tokio::time::timeout(Duration::from_secs(60), rd.read_to_end(&mut back))
            .await
            .unwrap_or_else(|_| panic!("{engine:?}: 8 MiB echoed within 60 s"))
            .expect("read until EOF");
        writer.await.expect("writer task").expect("write 8 MiB");
        assert_eq!(back.len(), payload.len(), "{engine:?}: byte count differs");
        assert!(
            back == payload,
            "{engine:?}: bytes reordered, duplicated or lost"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_relay_engines_end_a_transfer_killed_from_the_control_api() {
    for engine in [None, Some("copy")] {
        let echo = TcpBackend::echo("echo").await;
        let gw = gateway_with_relay(engine, &echo).await;
        let stream = client::connect(gw.tcp_addr(0)).await.expect("connect");
        let me = stream.local_addr().expect("client address");
        let (mut rd, mut wr) = stream.into_split();
        // Keep a bulk transfer going until the gateway closes the connection.
        let writer = tokio::spawn(async move {
            let chunk = random_bytes(7, 64 * 1024);
            while wr.write_all(&chunk).await.is_ok() {}
        });
        let reader = tokio::spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            let mut total = 0u64;
            loop {
                match rd.read(&mut buf).await {
                    Ok(0) | Err(_) => return total,
                    Ok(n) => total += n as u64,
                }
            }
        });
        let listed = e2e::wait::until("the transfer to be listed and moving", APPLY, || async {
            let body = gw
                .control_get(&format!("/v1/connections?client={me}"))
                .await
                .json();
            let conn = body["list"][0].clone();
            (conn["bytes_in"].as_u64().unwrap_or(0) > 1 << 20).then_some(conn)
        })
        .await
        .unwrap_or_else(|e| panic!("{engine:?}: {e:#}"));
        let id = listed["id"].as_str().expect("connection id");
        let killed = gw.control_delete(&format!("/v1/connections/{id}")).await;
        assert_eq!(killed.status, 200, "{engine:?}: {}", killed.text);
        let received = tokio::time::timeout(Duration::from_secs(10), reader)
            .await
            .unwrap_or_else(|_| panic!("{engine:?}: the client sees the kill within 10 s"))
            .expect("reader task");
        assert!(received > 0, "{engine:?}: bytes flowed before the kill");
        tokio::time::timeout(Duration::from_secs(10), writer)
            .await
            .unwrap_or_else(|_| panic!("{engine:?}: the writer stops after the kill"))
            .expect("writer task");
        let after = gw
            .control_get(&format!("/v1/connections?client={me}"))
            .await
            .json();
        assert_eq!(
            after["total"], 0,
            "{engine:?}: the connection is gone: {after}"
        );
    }
}
