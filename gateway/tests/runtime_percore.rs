//! The per-core runtime layout: TCP listeners get one `SO_REUSEPORT` socket per worker, each
//! served by that worker's `current_thread` runtime; UDP runs on worker 0. Its own test binary:
//! the workers are process-wide.

mod proxy_support;

use std::time::Duration;

use apisix_gateway::proxy::listener::ListenerSet;
use apisix_gateway::runtime::{self, RuntimeLayout};
use proxy_support::*;
use tokio::net::{TcpStream, UdpSocket};

/// Listening sockets on `port` in /proc/net/tcp (state 0A = LISTEN).
fn listening_sockets(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("read /proc/net/tcp");
    let local = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            cols.len() > 3 && cols[1].ends_with(&local) && cols[3] == "0A"
        })
        .count()
}

#[test]
fn per_core_workers_each_listen_with_reuseport_and_relay_tcp_and_udp() {
    let (rt, workers) = runtime::build(RuntimeLayout::PerCore, 2).expect("per-core runtime");
    assert_eq!(workers.handles().map(<[_]>::len), Some(2));
    rt.block_on(async {
        let (tcp_up, _closed) = tcp_echo().await;
        let udp_up = udp_echo().await;
        let mut set = ListenerSet::new(context_to(vec![tcp_up], Duration::from_secs(5)))
            .with_workers(workers.clone());
        set.reconcile(&[tcp_entry("127.0.0.1:0")], &[])
            .await
            .expect("bind tcp");
        let mut udp_set = ListenerSet::new(context_to(vec![udp_up], Duration::from_secs(5)))
            .with_workers(workers.clone());
        udp_set
            .reconcile(&[], &["127.0.0.1:0".parse().expect("addr")])
            .await
            .expect("bind udp");
        let addr = set.tcp_addrs()[0];
        within("both worker listeners", async {
            while listening_sockets(addr.port()) < 2 {
                tokio::task::yield_now().await;
            }
        })
        .await;
        assert_eq!(listening_sockets(addr.port()), 2);

        for i in 0..20u8 {
            let mut stream = within("connect", TcpStream::connect(addr))
                .await
                .expect("connect");
            let msg = [i; 100];
            assert_eq!(round_trip(&mut stream, &msg).await, msg);
        }

        let udp_addr = udp_set.udp_addrs()[0];
        let client = UdpSocket::bind("127.0.0.1:0").await.expect("udp client");
        client.connect(udp_addr).await.expect("udp connect");
        client.send(b"ping").await.expect("udp send");
        let mut buf = [0u8; 16];
        let n = within("udp reply", client.recv(&mut buf))
            .await
            .expect("udp recv");
        assert_eq!(&buf[..n], b"ping");

        udp_set.stop_all().await;
        set.stop_all().await;
        assert_eq!(
            listening_sockets(addr.port()),
            0,
            "all worker listeners closed"
        );
    });
}
