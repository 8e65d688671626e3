//! The flows against real echo servers on loopback (no gateway between): they count what they
//! verified and close cleanly, and a server that changes one byte is caught.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;

use super::tally::{get, Tally};
use super::{bulk, churn, datagrams, held};

/// Bound of every wait in these tests.
const BOUND: Duration = Duration::from_secs(20);

/// `gwbench echo` (TCP and UDP on one port), serving once it accepts connections.
async fn echo_server(once: bool) -> SocketAddr {
    let port = crate::ports::free(1).expect("a free port")[0];
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    tokio::spawn(crate::echo::serve(Some(addr), Some(addr), once));
    tokio::time::timeout(BOUND, async {
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the echo server listens");
    addr
}

/// A TCP and UDP echo server that flips the lowest bit of byte 100 of each connection's
/// stream (and of each datagram).
async fn corrupting_server() -> SocketAddr {
    let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind tcp");
    let addr = tcp.local_addr().expect("tcp address");
    let udp = UdpSocket::bind(addr)
        .await
        .expect("bind udp on the same port");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = tcp.accept().await {
            tokio::spawn(async move {
                let (mut buf, mut seen) = (vec![0u8; 4096], 0usize);
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 {
                        return;
                    }
                    if (seen..seen + n).contains(&100) {
                        buf[100 - seen] ^= 1;
                    }
                    seen += n;
                    if stream.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        while let Ok((n, peer)) = udp.recv_from(&mut buf).await {
            if n > 100 {
                buf[100] ^= 1;
            }
            let _ = udp.send_to(&buf[..n], peer).await;
        }
    });
    addr
}

/// Runs `flow` for `time`, then stops it and waits (bounded) until it returned.
async fn run_for<F>(time: Duration, flow: impl FnOnce(CancellationToken) -> F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let stop = CancellationToken::new();
    let task = tokio::spawn(flow(stop.clone()));
    tokio::time::sleep(time).await;
    stop.cancel();
    tokio::time::timeout(BOUND, task)
        .await
        .expect("the flow stops in time")
        .expect("the flow does not panic");
}

#[tokio::test]
async fn held_connections_echo_their_pattern_and_close_cleanly() {
    let target = echo_server(false).await;
    let tally = Arc::new(Tally::default());
    let plan = held::HeldPlan {
        target,
        count: 20,
        echo_every: Duration::from_millis(50),
    };
    let stop = CancellationToken::new();
    let (ramped_tx, ramped) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(held::run(plan, tally.clone(), stop.clone(), ramped_tx));
    tokio::time::timeout(BOUND, ramped)
        .await
        .expect("ramped in time")
        .expect("ramp reported");
    assert_eq!(get(&tally.held_open), 20, "all open after the ramp");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.cancel();
    tokio::time::timeout(BOUND, task)
        .await
        .expect("closes in time")
        .expect("no panic");
    assert_eq!(get(&tally.held_opened), 20);
    assert_eq!(get(&tally.held_open), 0, "all closed");
    assert!(
        get(&tally.held_echoes) >= 40,
        "several echoes each: {}",
        get(&tally.held_echoes)
    );
    assert_eq!(tally.messages(), Vec::<String>::new());
}

#[tokio::test]
async fn churn_is_paced_and_each_connection_verified() {
    let target = echo_server(true).await;
    let tally = Arc::new(Tally::default());
    let t = tally.clone();
    run_for(Duration::from_secs(1), move |stop| {
        churn::run(target, 200.0, t, stop)
    })
    .await;
    let done = get(&tally.churn_done);
    assert!((100..=220).contains(&done), "about 200 in 1 s, got {done}");
    assert_eq!(tally.messages(), Vec::<String>::new());
}

#[tokio::test]
async fn bulk_flows_get_every_byte_back_across_connections() {
    let target = echo_server(false).await;
    let tally = Arc::new(Tally::default());
    let plan = bulk::BulkPlan {
        target,
        flows: 2,
        rate: 2_000_000.0,
        conn_bytes: 150_000,
    };
    let t = tally.clone();
    run_for(Duration::from_millis(500), move |stop| {
        bulk::run(plan, t, stop)
    })
    .await;
    assert_eq!(tally.messages(), Vec::<String>::new());
    assert!(
        get(&tally.bulk_conns) >= 4,
        "each flow reconnects after 150 kB"
    );
    assert!(
        get(&tally.bulk_bytes) >= 600_000,
        "{}",
        get(&tally.bulk_bytes)
    );
}

#[tokio::test]
async fn udp_sessions_get_each_datagram_back() {
    let target = echo_server(false).await;
    let tally = Arc::new(Tally::default());
    let t = tally.clone();
    run_for(Duration::from_millis(500), move |stop| {
        datagrams::run(target, 4, Duration::from_millis(50), t, stop)
    })
    .await;
    assert_eq!(tally.messages(), Vec::<String>::new());
    assert_eq!(get(&tally.udp_sessions), 4);
    assert!(
        get(&tally.udp_datagrams) >= 16,
        "{}",
        get(&tally.udp_datagrams)
    );
}

#[tokio::test]
async fn one_changed_byte_is_an_error_in_every_flow() {
    let target = corrupting_server().await;
    let tally = Arc::new(Tally::default());
    let (t, u) = (tally.clone(), tally.clone());
    let plan = bulk::BulkPlan {
        target,
        flows: 1,
        rate: 1_000_000.0,
        conn_bytes: 1_000,
    };
    run_for(Duration::from_millis(300), move |stop| {
        bulk::run(plan, t, stop)
    })
    .await;
    run_for(Duration::from_millis(300), move |stop| {
        datagrams::run(target, 1, Duration::from_millis(50), u, stop)
    })
    .await;
    let messages = tally.messages();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("bulk") && m.contains("differs at byte 100")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("udp") && m.contains("a different one came back")),
        "{messages:?}"
    );
}
