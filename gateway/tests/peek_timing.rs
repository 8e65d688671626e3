//! How fast the first-bytes peek decides (issue #19, defects found in review): a short non-TLS
//! greeting on an `sni_preread` port is decided by its first byte, and a PROXY header arriving
//! in pieces is read as soon as its last piece lands (the peek waits for readability, it does
//! not sleep between looks).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use apisix_gateway::proxy_protocol::{self, peek::Peeked};
use apisix_gateway::tls::sni::{client_hello_sni, preread_sni, PREREAD_TIMEOUT};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

/// A connected (client, server) pair on loopback.
async fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
    let client = client.expect("connect");
    let (server, _) = accepted.expect("accept");
    client.set_nodelay(true).expect("nodelay");
    (client, server)
}

#[test]
fn a_first_byte_other_than_a_handshake_record_is_not_tls() {
    assert_eq!(client_hello_sni(b"w"), Peeked::Done(None));
    assert_eq!(client_hello_sni(b"who\n"), Peeked::Done(None));
    // 0x16 then a major version other than 3: not TLS either.
    assert_eq!(client_hello_sni(b"\x16\x02"), Peeked::Done(None));
    // A TLS record prefix is still undecided.
    assert_eq!(client_hello_sni(b"\x16"), Peeked::NeedMore);
    assert_eq!(client_hello_sni(b"\x16\x03\x01"), Peeked::NeedMore);
}

#[tokio::test]
async fn a_short_non_tls_greeting_is_routed_without_waiting_for_the_preread_timeout() {
    let (mut client, server) = pair().await;
    client.write_all(b"who\n").await.expect("write");
    let started = Instant::now();
    let sni = tokio::time::timeout(PREREAD_TIMEOUT, preread_sni(&server))
        .await
        .expect("decided before the preread timeout")
        .expect("peek");
    assert_eq!(sni, None);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
}

/// Sends a PROXY v1 header in two pieces with `gap` between them and returns how long the
/// reader took after the second piece was written.
async fn delay_after_last_piece(gap: Duration) -> Duration {
    let (mut client, mut server) = pair().await;
    let header = b"PROXY TCP4 10.1.2.3 10.9.9.9 5555 9100\r\n";
    let (first, rest) = header.split_at(20);
    client.write_all(first).await.expect("first piece");
    let reader = tokio::spawn(async move {
        let header = proxy_protocol::read_header(&mut server).await;
        (header, Instant::now())
    });
    // The gap lets a sleeping peek loop back off to its longest sleep.
    tokio::time::sleep(gap).await;
    let sent = Instant::now();
    client.write_all(rest).await.expect("last piece");
    let (header, done) = tokio::time::timeout(Duration::from_secs(5), reader)
        .await
        .expect("header read in time")
        .expect("reader task");
    let header = header.expect("valid header");
    let source: SocketAddr = "10.1.2.3:5555".parse().expect("addr");
    assert_eq!(header.source, Some(source));
    done.saturating_duration_since(sent)
}

#[tokio::test]
async fn a_proxy_header_in_pieces_is_read_as_soon_as_the_last_piece_arrives() {
    // A 1–50 ms sleeping peek loop adds 25 ms per header on average; waiting for readability
    // adds scheduling time only. The two slowest rounds are left out, so a machine that stalls
    // the test twice does not fail it (the sleeping loop's eight fastest still add ~160 ms).
    let mut each = Vec::new();
    // Gaps of varied length, so the last piece lands at varied points of a sleep.
    for round in 0..10 {
        each.push(delay_after_last_piece(Duration::from_millis(103 + 9 * round)).await);
    }
    each.sort();
    let fastest: Duration = each[..8].iter().sum();
    assert!(
        fastest < Duration::from_millis(60),
        "the eight fastest of ten headers added {fastest:?}: {each:?}"
    );
}

#[tokio::test]
async fn an_mqtt_connect_in_pieces_gives_its_client_id_once_complete() {
    use apisix_gateway::plugins::mqtt::{connect_packet, MqttProxy};
    let plugin =
        MqttProxy::compile(&serde_json::json!({"protocol_name": "MQTT", "protocol_level": 4}));
    let packet = connect_packet("MQTT", 4, "device-7");
    let (mut client, server) = pair().await;
    let reader = tokio::spawn(async move { plugin.preread(&server).await });
    for piece in packet.chunks(3) {
        client.write_all(piece).await.expect("piece");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let id = tokio::time::timeout(Duration::from_secs(5), reader)
        .await
        .expect("decided in time")
        .expect("reader task");
    assert_eq!(id, Ok("device-7".to_owned()));

    // A client that closes mid-packet is refused at once, not after the peek timeout.
    let (mut client, server) = pair().await;
    let plugin = MqttProxy::compile(&serde_json::json!({}));
    client.write_all(&packet[..6]).await.expect("partial");
    client.shutdown().await.expect("half close");
    let started = Instant::now();
    let refused = plugin.preread(&server).await;
    assert_eq!(refused, Err(503));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
}
