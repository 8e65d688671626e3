//! Listener reconcile and graceful drain, in process.

mod proxy_support;

use std::time::Duration;

use apisix_gateway::server::drain;
use proxy_support::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[tokio::test]
async fn reconcile_adds_and_removes_listeners_without_touching_connections() {
    let (backend, _closed) = tcp_echo().await;
    let ctx = context_to(vec![backend], Duration::from_secs(60));
    let first = tcp_entry("127.0.0.1:0");
    let second = tcp_entry("127.0.0.2:0");
    let mut set = apisix_gateway::proxy::listener::ListenerSet::new(ctx.clone());
    set.reconcile(std::slice::from_ref(&first), &[])
        .await
        .expect("bind first");
    let first_addr = set.tcp_addr_of(&first).expect("first bound");
    let mut established = within("connect", TcpStream::connect(first_addr))
        .await
        .expect("connect");
    assert_eq!(round_trip(&mut established, b"before").await, b"before");

    // Add a listener: the first keeps running, the connection keeps working.
    let report = set
        .reconcile(&[first.clone(), second.clone()], &[])
        .await
        .expect("add second");
    assert_eq!(report.tcp_added.len(), 1);
    assert!(report.tcp_removed.is_empty());
    assert_eq!(set.tcp_addr_of(&first), Some(first_addr));
    let second_addr = set.tcp_addr_of(&second).expect("second bound");
    let mut other = within("connect", TcpStream::connect(second_addr))
        .await
        .expect("connect second");
    assert_eq!(round_trip(&mut other, b"new port").await, b"new port");
    assert_eq!(round_trip(&mut established, b"during").await, b"during");

    // Remove the first listener: new connections are refused, the old one carries on.
    let report = set
        .reconcile(std::slice::from_ref(&second), &[])
        .await
        .expect("remove first");
    assert_eq!(report.tcp_removed, vec![first_addr]);
    let refused = within("connect to removed", TcpStream::connect(first_addr))
        .await
        .expect_err("the removed listener is closed");
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    assert_eq!(round_trip(&mut established, b"after").await, b"after");
}

#[tokio::test]
async fn reconcile_with_an_unbindable_address_changes_nothing() {
    let ctx = context_to(vec![], Duration::from_secs(60));
    let mut set = apisix_gateway::proxy::listener::ListenerSet::new(ctx);
    let first = tcp_entry("127.0.0.1:0");
    set.reconcile(std::slice::from_ref(&first), &[])
        .await
        .expect("bind first");
    // 192.0.2.0/24 (TEST-NET-1) is not a local address.
    let err = set
        .reconcile(&[tcp_entry("192.0.2.1:9100")], &[])
        .await
        .expect_err("cannot bind a foreign address");
    assert!(
        err.to_string()
            .starts_with("failed to listen on tcp 192.0.2.1:9100: "),
        "{err}"
    );
    assert!(set.tcp_addr_of(&first).is_some());
}

#[tokio::test]
async fn graceful_drain_waits_for_a_live_connection() {
    let (backend, _closed) = tcp_echo().await;
    let ctx = context_to(vec![backend], Duration::from_secs(60));
    let (mut set, proxy) = start_tcp_proxy(ctx.clone()).await;
    let mut stream = within("connect", TcpStream::connect(proxy))
        .await
        .expect("connect");
    assert_eq!(round_trip(&mut stream, b"live").await, b"live");

    let registry = ctx.registry.clone();
    let (stopped_tx, stopped_rx) = tokio::sync::oneshot::channel();
    let draining = tokio::spawn(async move {
        set.stop_all().await;
        let _ = stopped_tx.send(());
        drain(&mut set, &registry, WAIT).await
    });
    within("listeners stopped", stopped_rx)
        .await
        .expect("stopped");
    // The listener is gone but the live connection still works and the drain waits for it.
    assert!(TcpStream::connect(proxy).await.is_err());
    assert_eq!(round_trip(&mut stream, b"still here").await, b"still here");
    assert!(!draining.is_finished());

    stream.shutdown().await.expect("client done");
    let rest = read_until_closed(&mut stream)
        .await
        .expect("echo side closes");
    assert!(rest.is_empty());
    let report = within("drain", draining).await.expect("drain task");
    assert_eq!(report.killed, 0);
}

#[tokio::test]
async fn drain_kills_what_outlives_the_grace_period() {
    let (backend, mut closed) = tcp_echo().await;
    let ctx = context_to(vec![backend], Duration::from_secs(60));
    let (mut set, proxy) = start_tcp_proxy(ctx.clone()).await;
    let mut stream = within("connect", TcpStream::connect(proxy))
        .await
        .expect("connect");
    assert_eq!(round_trip(&mut stream, b"stuck").await, b"stuck");
    let report = within(
        "drain",
        drain(&mut set, &ctx.registry, Duration::from_millis(100)),
    )
    .await;
    assert_eq!(report.killed, 1);
    assert!(read_until_closed(&mut stream)
        .await
        .expect("closed")
        .is_empty());
    within("backend leg closed", closed.recv())
        .await
        .expect("backend saw close");
}
