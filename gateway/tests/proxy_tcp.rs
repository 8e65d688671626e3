//! In-process TCP proxy tests: real sockets on 127.0.0.1, real backends.

mod proxy_support;

use std::sync::Arc;
use std::time::Duration;

use apisix_gateway::proxy::ProxyContext;
use apisix_gateway::session::RejectReason;
use proxy_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const LONG_IDLE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn one_mebibyte_is_echoed_byte_exact_both_ways() {
    let (backend, _closed) = tcp_echo().await;
    let (_set, proxy) = start_tcp_proxy(context_to(vec![backend], LONG_IDLE)).await;
    let stream = within("connect", TcpStream::connect(proxy))
        .await
        .expect("connect");
    let payload: Vec<u8> = (0..1024 * 1024u32)
        .map(|i| (i * 7 + i / 251) as u8)
        .collect();
    let (mut r, mut w) = stream.into_split();
    let to_send = payload.clone();
    let writer = tokio::spawn(async move {
        w.write_all(&to_send).await.expect("write 1 MiB");
        w.shutdown().await.expect("shutdown write");
    });
    let mut back = Vec::new();
    within("1 MiB echo", r.read_to_end(&mut back))
        .await
        .expect("read echo");
    within("writer", writer).await.expect("writer task");
    assert_eq!(back.len(), payload.len());
    assert!(back == payload, "echoed bytes differ from what was sent");
}

#[tokio::test]
async fn client_half_close_still_receives_the_reply() {
    let backend = count_then_reply().await;
    let (_set, proxy) = start_tcp_proxy(context_to(vec![backend], LONG_IDLE)).await;
    let mut stream = within("connect", TcpStream::connect(proxy))
        .await
        .expect("connect");
    stream.write_all(b"hello world").await.expect("write");
    stream.shutdown().await.expect("shut down write side");
    let reply = read_until_closed(&mut stream)
        .await
        .expect("reply after half-close");
    assert_eq!(reply, b"got 11 bytes");
}

#[tokio::test]
async fn two_hundred_concurrent_connections_are_each_echoed() {
    let (backend, _closed) = tcp_echo().await;
    let ctx = context_to(vec![backend], LONG_IDLE);
    let (_set, proxy) = start_tcp_proxy(ctx.clone()).await;
    let mut tasks = Vec::new();
    for i in 0..200 {
        tasks.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(proxy).await.expect("connect");
            let msg = format!("connection {i} says hello");
            let back = round_trip(&mut stream, msg.as_bytes()).await;
            assert_eq!(back, msg.as_bytes());
        }));
    }
    for task in tasks {
        within("concurrent connection", task).await.expect("task");
    }
    assert_eq!(ctx.stats.tcp_accepted_total(), 200);
}

#[tokio::test]
async fn upstream_down_closes_the_client_without_data() {
    let down = dead_addr();
    let ctx = context_to(vec![down], LONG_IDLE);
    let (_set, proxy) = start_tcp_proxy(ctx.clone()).await;
    let mut stream = within("connect", TcpStream::connect(proxy))
        .await
        .expect("connect");
    let got = read_until_closed(&mut stream).await.expect("clean close");
    assert!(got.is_empty());
    assert_eq!(
        ctx.stats.rejected_total(RejectReason::UpstreamUnavailable),
        1
    );
    assert!(ctx.registry.is_empty());
}

#[tokio::test]
async fn a_failed_node_is_retried_on_the_next_one() {
    let down = dead_addr();
    let (backend, _closed) = tcp_echo().await;
    let (_set, proxy) = start_tcp_proxy(context_to(vec![down, backend], LONG_IDLE)).await;
    let mut stream = within("connect", TcpStream::connect(proxy))
        .await
        .expect("connect");
    assert_eq!(round_trip(&mut stream, b"retry").await, b"retry");
}

#[tokio::test]
async fn no_route_closes_the_client_and_counts_the_reason() {
    let ctx = Arc::new(ProxyContext::new(Arc::new(FixedRoutes(Err(
        RejectReason::NoRoute,
    )))));
    let (_set, proxy) = start_tcp_proxy(ctx.clone()).await;
    let mut stream = within("connect", TcpStream::connect(proxy))
        .await
        .expect("connect");
    let got = read_until_closed(&mut stream).await.expect("clean close");
    assert!(got.is_empty());
    assert_eq!(ctx.stats.rejected_total(RejectReason::NoRoute), 1);
}

#[tokio::test]
async fn idle_connection_is_closed_after_the_idle_timeout() {
    let (backend, mut closed) = tcp_echo().await;
    let (_set, proxy) =
        start_tcp_proxy(context_to(vec![backend], Duration::from_millis(300))).await;
    let mut stream = within("connect", TcpStream::connect(proxy))
        .await
        .expect("connect");
    assert_eq!(round_trip(&mut stream, b"once").await, b"once");
    let started = std::time::Instant::now();
    let got = read_until_closed(&mut stream)
        .await
        .expect("closed by idle timeout");
    assert!(got.is_empty());
    assert!(started.elapsed() >= Duration::from_millis(250));
    within("backend leg closed", closed.recv())
        .await
        .expect("backend saw close");
}

#[tokio::test]
async fn killing_a_connection_from_the_registry_closes_both_legs() {
    let (backend, mut closed) = tcp_echo().await;
    let ctx = context_to(vec![backend], LONG_IDLE);
    let (_set, proxy) = start_tcp_proxy(ctx.clone()).await;
    let mut stream = within("connect", TcpStream::connect(proxy))
        .await
        .expect("connect");
    assert_eq!(round_trip(&mut stream, b"alive").await, b"alive");

    let live = ctx.registry.list();
    assert_eq!(live.len(), 1);
    let conn = &live[0];
    assert_eq!(conn.routed.route_id, "1");
    assert_eq!(conn.node(), Some(backend));
    assert_eq!(
        conn.routed.client,
        stream.local_addr().expect("client addr")
    );
    assert_eq!((conn.bytes_up(), conn.bytes_down()), (5, 5));

    assert!(ctx.registry.kill(conn.id));
    let got = read_until_closed(&mut stream)
        .await
        .expect("closed by kill");
    assert!(got.is_empty());
    within("backend leg closed", closed.recv())
        .await
        .expect("backend saw close");
    assert!(ctx.registry.wait_empty(WAIT).await);
}

/// What one idle connection costs lives mostly in its task's future: the set-up steps are boxed
/// and freed before the relay, so the future must stay well under the 4 KiB per idle connection
/// of the benchmark target (the rest is the session record, the registry entry and two socket
/// registrations).
#[tokio::test]
async fn a_connection_task_future_stays_small() {
    let (echo, _accepted) = tcp_echo().await;
    let ctx = context_to(vec![echo], Duration::from_secs(30));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let local = listener.local_addr().expect("address");
    let (client, accepted) = tokio::join!(TcpStream::connect(local), listener.accept());
    let _client = client.expect("connect");
    let (stream, remote) = accepted.expect("accept");
    let listen = tcp_entry("127.0.0.1:0");
    let task = apisix_gateway::proxy::tcp::serve_connection(stream, remote, local, ctx, &listen);
    let size = std::mem::size_of_val(&task);
    println!("connection task future: {size} bytes");
    assert!(size <= 2560, "the connection task future is {size} bytes");
}
