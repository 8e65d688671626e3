//! In-process UDP proxy tests: sessions per client, replies from the listening address.

mod proxy_support;

use std::time::Duration;

use apisix_gateway::proxy::listener::ListenerSet;
use apisix_gateway::session::RejectReason;
use proxy_support::*;
use tokio::net::UdpSocket;

async fn client() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").await.expect("bind client")
}

async fn ask(socket: &UdpSocket, proxy: std::net::SocketAddr, msg: &[u8]) -> Vec<u8> {
    socket.send_to(msg, proxy).await.expect("send");
    let mut buf = vec![0u8; 2048];
    let (n, from) = within("udp reply", socket.recv_from(&mut buf))
        .await
        .expect("recv");
    assert_eq!(from, proxy, "the reply comes from the listening address");
    buf.truncate(n);
    buf
}

#[tokio::test]
async fn two_clients_get_their_own_echoes_through_reused_sessions() {
    let backend = udp_echo().await;
    let ctx = context_to(vec![backend], Duration::from_secs(60));
    let mut set = ListenerSet::new(ctx.clone());
    set.reconcile(&[], &["127.0.0.1:0".parse().expect("addr")])
        .await
        .expect("bind udp");
    let proxy = set.udp_addrs()[0];

    let a = client().await;
    let b = client().await;
    assert_eq!(ask(&a, proxy, b"from a 1").await, b"from a 1");
    assert_eq!(ask(&b, proxy, b"from b 1").await, b"from b 1");
    assert_eq!(ask(&a, proxy, b"from a 2").await, b"from a 2");
    assert_eq!(ask(&b, proxy, b"from b 2").await, b"from b 2");

    assert_eq!(ctx.stats.udp_sessions_total(), 2);
    let live = ctx.registry.list();
    assert_eq!(live.len(), 2);
    assert!(live.iter().all(|s| s.node() == Some(backend)));
    assert_eq!(live.iter().map(|s| s.bytes_up()).sum::<u64>(), 32);
}

#[tokio::test]
async fn idle_udp_session_expires() {
    let backend = udp_echo().await;
    let ctx = context_to(vec![backend], Duration::from_millis(200));
    let mut set = ListenerSet::new(ctx.clone());
    set.reconcile(&[], &["127.0.0.1:0".parse().expect("addr")])
        .await
        .expect("bind udp");
    let proxy = set.udp_addrs()[0];
    let a = client().await;
    assert_eq!(ask(&a, proxy, b"hi").await, b"hi");
    assert!(
        ctx.registry.wait_empty(WAIT).await,
        "session did not expire"
    );
    // A new datagram after expiry starts a new session.
    assert_eq!(ask(&a, proxy, b"again").await, b"again");
    assert_eq!(ctx.stats.udp_sessions_total(), 2);
}

#[tokio::test]
async fn full_session_table_turns_new_clients_away() {
    let backend = udp_echo().await;
    let ctx = context_to(vec![backend], Duration::from_secs(60));
    let mut set = ListenerSet::new(ctx.clone()).with_udp_max_sessions(1);
    set.reconcile(&[], &["127.0.0.1:0".parse().expect("addr")])
        .await
        .expect("bind udp");
    let proxy = set.udp_addrs()[0];
    let a = client().await;
    let b = client().await;
    assert_eq!(ask(&a, proxy, b"a").await, b"a");
    b.send_to(b"b", proxy).await.expect("send b");
    // The listener handles datagrams in arrival order: once a's next reply is back, b's
    // datagram has been seen and turned away.
    assert_eq!(ask(&a, proxy, b"a2").await, b"a2");
    assert_eq!(ctx.stats.rejected_total(RejectReason::SessionTableFull), 1);
    assert_eq!(ctx.registry.len(), 1);
}
