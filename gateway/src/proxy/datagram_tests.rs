//! Tests of the packet-info helpers: control messages turned into destinations, and real
//! wildcard-bound sockets that see each datagram's destination and reply from it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use nix::sys::socket::ControlMessageOwned;
use tokio::net::UdpSocket;
use tokio::time::timeout;

use super::{
    gso_run, recv_connected, send_connected, Destination, ListenSocket, RecvBatch, BATCH,
    GSO_MAX_SEGMENT,
};
use crate::proxy::listener::bind_udp;

const WAIT: Duration = Duration::from_secs(2);

fn v4_info(addr: Ipv4Addr, spec_dst: Ipv4Addr) -> ControlMessageOwned {
    ControlMessageOwned::Ipv4PacketInfo(libc::in_pktinfo {
        ipi_ifindex: 1,
        ipi_spec_dst: libc::in_addr {
            s_addr: u32::from(spec_dst).to_be(),
        },
        ipi_addr: libc::in_addr {
            s_addr: u32::from(addr).to_be(),
        },
    })
}

fn v6_info(addr: Ipv6Addr, ifindex: u32) -> ControlMessageOwned {
    ControlMessageOwned::Ipv6PacketInfo(libc::in6_pktinfo {
        ipi6_addr: libc::in6_addr {
            s6_addr: addr.octets(),
        },
        ipi6_ifindex: ifindex,
    })
}

#[test]
fn ipv4_packet_info_gives_the_destination_and_the_reply_source() {
    let ip = Ipv4Addr::new(127, 0, 0, 2);
    let dest = Destination::from_cmsg(9200, &v4_info(ip, ip)).expect("a packet-info message");
    assert_eq!(dest.addr, SocketAddr::from((ip, 9200)));
    assert_eq!(dest.reply_from(), Some(IpAddr::V4(ip)));
}

#[test]
fn a_broadcast_is_answered_from_the_interface_address() {
    let local = Ipv4Addr::new(10, 0, 0, 5);
    let dest = Destination::from_cmsg(53, &v4_info(Ipv4Addr::BROADCAST, local))
        .expect("a packet-info message");
    assert_eq!(dest.addr.ip(), IpAddr::V4(Ipv4Addr::BROADCAST));
    assert_eq!(dest.reply_from(), Some(IpAddr::V4(local)));
    let unknown = Destination::from_cmsg(53, &v4_info(Ipv4Addr::BROADCAST, Ipv4Addr::UNSPECIFIED))
        .expect("a packet-info message");
    assert_eq!(
        unknown.reply_from(),
        None,
        "no usable source: the kernel picks"
    );
}

#[test]
fn ipv6_packet_info_keeps_the_interface_only_for_link_local() {
    let global: Ipv6Addr = "2001:db8::1".parse().expect("literal");
    let dest = Destination::from_cmsg(9200, &v6_info(global, 3)).expect("a packet-info message");
    assert_eq!(dest.addr, SocketAddr::from((global, 9200)));
    assert_eq!(dest.reply_from(), Some(IpAddr::V6(global)));
    assert_eq!(dest.ifindex, 0);
    let link: Ipv6Addr = "fe80::1".parse().expect("literal");
    let dest = Destination::from_cmsg(9200, &v6_info(link, 3)).expect("a packet-info message");
    assert_eq!(dest.ifindex, 3);
    let multicast: Ipv6Addr = "ff02::1".parse().expect("literal");
    let dest = Destination::from_cmsg(9200, &v6_info(multicast, 3)).expect("packet info");
    assert_eq!(
        dest.reply_from(),
        None,
        "a multicast address cannot be a source"
    );
}

#[test]
fn other_control_messages_are_not_destinations() {
    assert_eq!(
        Destination::from_cmsg(1, &ControlMessageOwned::ScmRights(Vec::new())),
        None
    );
}

/// Receives one batch within [`WAIT`].
async fn recv_batch(listen: &ListenSocket, batch: &mut RecvBatch) {
    timeout(WAIT, listen.recv(batch))
        .await
        .expect("datagrams within the wait")
        .expect("recvmmsg");
}

/// Sends `payload` from a fresh client bound to `client_ip` to `to`; returns the client.
async fn send_from(client_ip: IpAddr, to: SocketAddr, payload: &[u8]) -> UdpSocket {
    let client = UdpSocket::bind((client_ip, 0)).await.expect("bind client");
    client.send_to(payload, to).await.expect("send");
    client
}

/// Waits for one datagram on `client`: its payload and source.
async fn reply(client: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buf = vec![0u8; 2048];
    let (n, from) = timeout(WAIT, client.recv_from(&mut buf))
        .await
        .expect("a reply within the wait")
        .expect("recv_from");
    (buf[..n].to_vec(), from)
}

#[tokio::test]
async fn a_wildcard_socket_sees_each_destination_and_replies_from_it() {
    let socket = bind_udp(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))).expect("bind 0.0.0.0");
    let listen = ListenSocket::new(socket).expect("packet info on");
    let port = listen.local_addr().port();
    let mut batch = RecvBatch::new();
    for last in [2u8, 3] {
        let to = SocketAddr::from(([127, 0, 0, last], port));
        let client = send_from(Ipv4Addr::LOCALHOST.into(), to, b"hello").await;
        recv_batch(&listen, &mut batch).await;
        let (payload, from, dest) = batch.iter().next().expect("one datagram");
        assert_eq!(payload, b"hello");
        assert_eq!(from, client.local_addr().expect("client address"));
        assert_eq!(
            dest.addr, to,
            "the destination is the address the client used"
        );
        listen
            .send_to(b"back", from, &dest)
            .await
            .expect("send from the destination");
        assert_eq!(reply(&client).await, (b"back".to_vec(), to));
    }
}

#[tokio::test]
async fn a_socket_bound_to_one_address_uses_it_as_the_destination() {
    let socket = bind_udp(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).expect("bind 127.0.0.1");
    let listen = ListenSocket::new(socket).expect("wrap");
    let local = listen.local_addr();
    let client = send_from(Ipv4Addr::LOCALHOST.into(), local, b"x").await;
    let mut batch = RecvBatch::new();
    recv_batch(&listen, &mut batch).await;
    let (_, from, dest) = batch.iter().next().expect("one datagram");
    assert_eq!(dest, Destination::bound(local));
    listen.send_to(b"y", from, &dest).await.expect("send");
    assert_eq!(reply(&client).await, (b"y".to_vec(), local));
}

#[tokio::test]
async fn queued_datagrams_are_all_read_in_order_and_intact() {
    let socket = bind_udp(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))).expect("bind 0.0.0.0");
    let listen = ListenSocket::new(socket).expect("packet info on");
    let to = SocketAddr::from(([127, 0, 0, 1], listen.local_addr().port()));
    let client = UdpSocket::bind("127.0.0.1:0").await.expect("bind client");
    let sent: Vec<Vec<u8>> = (0..(BATCH + 5))
        .map(|i| vec![i as u8; 100 + i * 50])
        .collect();
    for payload in &sent {
        client.send_to(payload, to).await.expect("send");
    }
    let mut got = Vec::new();
    let mut batch = RecvBatch::new();
    while got.len() < sent.len() {
        recv_batch(&listen, &mut batch).await;
        assert!(!batch.is_empty() && batch.len() <= BATCH);
        for (payload, _, dest) in batch.iter() {
            assert_eq!(dest.addr, to);
            got.push(payload.to_vec());
        }
    }
    assert_eq!(got, sent);
}

#[tokio::test]
async fn an_ipv6_wildcard_socket_sees_the_loopback_destination() {
    let Ok(probe) = std::net::UdpSocket::bind("[::1]:0") else {
        println!("skipped: ::1 is not configured on this machine");
        return;
    };
    drop(probe);
    let socket = bind_udp(SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0))).expect("bind [::]");
    let listen = ListenSocket::new(socket).expect("packet info on");
    let to = SocketAddr::from((Ipv6Addr::LOCALHOST, listen.local_addr().port()));
    let client = send_from(Ipv6Addr::LOCALHOST.into(), to, b"six").await;
    let mut batch = RecvBatch::new();
    recv_batch(&listen, &mut batch).await;
    let (payload, from, dest) = batch.iter().next().expect("one datagram");
    assert_eq!(payload, b"six");
    assert_eq!(dest.addr, to);
    listen.send_to(b"back", from, &dest).await.expect("send");
    assert_eq!(reply(&client).await, (b"back".to_vec(), to));
}

/// Sends `batch` with [`send_connected`] to a connected peer, which must get every datagram
/// intact and in order.
async fn send_batch_to_a_peer(batch: &[bytes::Bytes]) {
    let peer = UdpSocket::bind("127.0.0.1:0").await.expect("bind peer");
    let sender = UdpSocket::bind("127.0.0.1:0").await.expect("bind sender");
    sender
        .connect(peer.local_addr().expect("peer address"))
        .await
        .expect("connect");
    let (bytes, error) = send_connected(&sender, batch).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(bytes, batch.iter().map(|d| d.len() as u64).sum::<u64>());
    for want in batch {
        let (got, _) = reply(&peer).await;
        assert_eq!(&got[..], &want[..], "each datagram intact, in order");
    }
}

#[tokio::test]
async fn a_queued_batch_reaches_the_connected_peer_in_order() {
    let batch: Vec<bytes::Bytes> = (0..7u8)
        .map(|i| bytes::Bytes::from(vec![i; 10 + usize::from(i)]))
        .collect();
    send_batch_to_a_peer(&batch).await;
}

#[test]
fn gso_runs_are_same_size_datagrams_that_fit_one_segment() {
    let sizes = |sizes: &[usize]| -> Vec<Vec<u8>> { sizes.iter().map(|&n| vec![7u8; n]).collect() };
    assert_eq!(gso_run(&sizes(&[100, 100, 100, 7, 100])), 3);
    assert_eq!(
        gso_run(&sizes(&[100, 7])),
        1,
        "a run of one is a plain send"
    );
    assert_eq!(gso_run(&sizes(&[GSO_MAX_SEGMENT, GSO_MAX_SEGMENT])), 2);
    assert_eq!(
        gso_run(&sizes(&[GSO_MAX_SEGMENT + 1, GSO_MAX_SEGMENT + 1])),
        0,
        "larger datagrams could not cross a 1500-byte MTU as one segment"
    );
    assert_eq!(
        gso_run(&sizes(&[0, 0])),
        0,
        "empty datagrams are sent one by one"
    );
    assert_eq!(
        gso_run(&sizes(&[10; 100])),
        64,
        "a run is capped at 64 segments"
    );
    assert_eq!(gso_run::<Vec<u8>>(&[]), 0);
}

#[tokio::test]
async fn runs_sent_with_gso_arrive_as_the_original_datagrams() {
    // Runs (GSO), a lone one, oversized ones (one by one), and the pattern tells them apart.
    let sizes = [
        100, 100, 100, 100, 100, 7, 1500, 1500, 200, 200, 200, 200, 1, 1,
    ];
    let batch: Vec<bytes::Bytes> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| bytes::Bytes::from((0..n).map(|j| (i * 31 + j) as u8).collect::<Vec<u8>>()))
        .collect();
    send_batch_to_a_peer(&batch).await;
}

#[tokio::test]
async fn a_send_error_skips_one_datagram_not_the_batch() {
    // A closed port: the first send draws ICMP port unreachable, reported on a later send.
    let gone = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let to = gone.local_addr().expect("address");
    drop(gone);
    let sender = UdpSocket::bind("127.0.0.1:0").await.expect("bind sender");
    sender.connect(to).await.expect("connect");
    let _ = sender.send(b"first").await;
    let batch: Vec<bytes::Bytes> = (0..3).map(|_| bytes::Bytes::from_static(b"abcd")).collect();
    let (bytes, error) = timeout(WAIT, send_connected(&sender, &batch))
        .await
        .expect("sends do not wait");
    let error = error.expect("the pending ICMP error is reported");
    assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused);
    assert_eq!(bytes, 8, "the other two datagrams still went");
}

#[tokio::test]
async fn upstream_replies_are_read_in_batches_and_sent_on_from_the_destination() {
    let socket = bind_udp(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))).expect("bind 0.0.0.0");
    let listen = ListenSocket::new(socket).expect("packet info on");
    let to = SocketAddr::from(([127, 0, 0, 5], listen.local_addr().port()));
    let client = send_from(Ipv4Addr::LOCALHOST.into(), to, b"hi").await;
    let mut batch = RecvBatch::new();
    recv_batch(&listen, &mut batch).await;
    let (_, from, dest) = batch.iter().next().expect("one datagram");

    // The session's connected upstream socket, with three replies waiting.
    let node = UdpSocket::bind("127.0.0.1:0").await.expect("bind node");
    let session = UdpSocket::bind("127.0.0.1:0").await.expect("bind session");
    session
        .connect(node.local_addr().expect("node address"))
        .await
        .expect("connect");
    let session_addr = session.local_addr().expect("session address");
    let sent: Vec<Vec<u8>> = (1..=3u8).map(|i| vec![i; 50 * usize::from(i)]).collect();
    for reply in &sent {
        node.send_to(reply, session_addr).await.expect("send reply");
    }
    let mut replies = RecvBatch::with_slots(2);
    let mut got = Vec::new();
    while got.len() < sent.len() {
        timeout(WAIT, recv_connected(&session, &mut replies))
            .await
            .expect("replies within the wait")
            .expect("recvmmsg");
        assert!(replies.len() <= 2, "never more than the slots");
        let (bytes, error) = listen.send_batch(&replies, from, &dest).await;
        assert!(error.is_none(), "{error:?}");
        assert_eq!(
            bytes,
            replies.iter().map(|(p, _, _)| p.len() as u64).sum::<u64>()
        );
        got.extend(replies.iter().map(|(p, _, _)| p.to_vec()));
    }
    assert_eq!(got, sent);
    for want in &sent {
        assert_eq!(reply(&client).await, (want.clone(), to));
    }
}
