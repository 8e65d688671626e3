//! In-process relay tests over real loopback TCP, for both engines (splice and copy), plus
//! the generic copy relay over in-memory duplex streams.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::time::timeout;

use super::*;

const WAIT: Duration = Duration::from_secs(60);
const MODES: [RelayEngine; 2] = [RelayEngine::Splice, RelayEngine::Copy];

#[derive(Default)]
struct Counts {
    up: AtomicU64,
    down: AtomicU64,
}

impl ByteCounter for Counts {
    fn add_up(&self, n: u64) {
        self.up.fetch_add(n, Ordering::Relaxed);
    }
    fn add_down(&self, n: u64) {
        self.down.fetch_add(n, Ordering::Relaxed);
    }
}

/// A connected loopback pair `(a, b)`.
async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (a, b) = tokio::join!(TcpStream::connect(addr), listener.accept());
    let a = a.expect("connect");
    let (b, _) = b.expect("accept");
    a.set_nodelay(true).expect("nodelay");
    b.set_nodelay(true).expect("nodelay");
    (a, b)
}

/// A running relay: the client's and the upstream's far ends, the counters, the kill switch.
struct Harness {
    client: TcpStream,
    upstream: TcpStream,
    counts: Arc<Counts>,
    kill: Arc<Notify>,
    task: tokio::task::JoinHandle<RelayOutcome>,
}

async fn start(mode: RelayEngine, idle: Duration) -> Harness {
    let (client, mut client_side) = tcp_pair().await;
    let (mut upstream_side, upstream) = tcp_pair().await;
    let counts = Arc::new(Counts::default());
    let kill = Arc::new(Notify::new());
    let (c, k) = (counts.clone(), kill.clone());
    let task = tokio::spawn(async move {
        relay_tcp(
            mode,
            &mut client_side,
            &mut upstream_side,
            RelayTerms::new(idle, c.as_ref()),
            k.notified(),
        )
        .await
    });
    Harness {
        client,
        upstream,
        counts,
        kill,
        task,
    }
}

async fn outcome(task: tokio::task::JoinHandle<RelayOutcome>) -> RelayOutcome {
    timeout(WAIT, task)
        .await
        .expect("relay ends in time")
        .expect("relay task")
}

/// Deterministic pseudo-random bytes (xorshift), cheap enough for 64 MiB in debug builds.
struct Pattern(u64);

impl Pattern {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            chunk.copy_from_slice(&self.0.to_le_bytes()[..chunk.len()]);
        }
    }
}

/// Writes `len` pattern bytes (chunks of 8-byte multiples keep the pattern aligned), then
/// shuts down the write side.
async fn send_pattern(mut w: impl AsyncWriteExt + Unpin, seed: u64, len: usize) {
    let mut pattern = Pattern(seed);
    let mut buf = vec![0u8; 96 * 1024];
    let mut left = len;
    while left > 0 {
        let n = left.min(buf.len());
        pattern.fill(&mut buf[..n]);
        w.write_all(&buf[..n]).await.expect("send");
        left -= n;
    }
    w.shutdown().await.expect("shutdown");
}

/// Reads to EOF and checks the bytes are exactly `len` pattern bytes.
async fn expect_pattern(mut r: impl AsyncReadExt + Unpin, seed: u64, len: usize) {
    let mut pattern = Pattern(seed);
    let mut want = vec![0u8; 96 * 1024];
    let mut got = vec![0u8; 96 * 1024];
    let mut seen = 0usize;
    while seen < len {
        let n = (len - seen).min(want.len());
        r.read_exact(&mut got[..n]).await.expect("receive");
        pattern.fill(&mut want[..n]);
        assert!(got[..n] == want[..n], "bytes differ after offset {seen}");
        seen += n;
    }
    assert_eq!(r.read(&mut got).await.expect("eof"), 0, "no extra bytes");
}

async fn byte_exact_both_ways(mode: RelayEngine, up_len: usize, down_len: usize) {
    let h = start(mode, WAIT).await;
    let (client_r, client_w) = h.client.into_split();
    let (upstream_r, upstream_w) = h.upstream.into_split();
    let work = async {
        tokio::join!(
            send_pattern(client_w, 1, up_len),
            expect_pattern(upstream_r, 1, up_len),
            send_pattern(upstream_w, 2, down_len),
            expect_pattern(client_r, 2, down_len),
        )
    };
    timeout(WAIT, work).await.expect("transfer in time");
    let out = outcome(h.task).await;
    assert!(
        matches!(out.end, RelayEnd::Closed),
        "{mode:?}: {:?}",
        out.end
    );
    assert_eq!(
        (out.bytes_up, out.bytes_down),
        (up_len as u64, down_len as u64)
    );
    assert_eq!(h.counts.up.load(Ordering::Relaxed), up_len as u64);
    assert_eq!(h.counts.down.load(Ordering::Relaxed), down_len as u64);
}

#[tokio::test]
async fn both_engines_relay_random_bytes_exactly_from_1_byte_to_64_mib() {
    for mode in MODES {
        for (up, down) in [(1, 1), (1000, 7), (65_537, 300_001), (1 << 20, 3 << 20)] {
            byte_exact_both_ways(mode, up, down).await;
        }
        byte_exact_both_ways(mode, 64 << 20, 64 << 20).await;
    }
}

#[tokio::test]
async fn client_half_close_lets_the_upstream_keep_sending() {
    for mode in MODES {
        let mut h = start(mode, WAIT).await;
        h.client.write_all(b"request").await.expect("write");
        h.client.shutdown().await.expect("half-close");
        let mut got = Vec::new();
        timeout(WAIT, h.upstream.read_to_end(&mut got))
            .await
            .expect("upstream sees eof")
            .expect("read");
        assert_eq!(got, b"request");
        h.upstream.write_all(b"late reply").await.expect("write");
        h.upstream.shutdown().await.expect("shutdown");
        let mut back = Vec::new();
        timeout(WAIT, h.client.read_to_end(&mut back))
            .await
            .expect("client reads")
            .expect("read");
        assert_eq!(back, b"late reply");
        let out = outcome(h.task).await;
        assert!(matches!(out.end, RelayEnd::Closed));
        assert_eq!((out.bytes_up, out.bytes_down), (7, 10));
    }
}

#[tokio::test]
async fn upstream_half_close_lets_the_client_keep_sending() {
    for mode in MODES {
        let mut h = start(mode, WAIT).await;
        h.upstream.write_all(b"banner").await.expect("write");
        h.upstream.shutdown().await.expect("half-close");
        let mut got = Vec::new();
        timeout(WAIT, h.client.read_to_end(&mut got))
            .await
            .expect("client sees eof")
            .expect("read");
        assert_eq!(got, b"banner");
        h.client.write_all(b"still talking").await.expect("write");
        h.client.shutdown().await.expect("shutdown");
        let mut back = Vec::new();
        timeout(WAIT, h.upstream.read_to_end(&mut back))
            .await
            .expect("upstream reads")
            .expect("read");
        assert_eq!(back, b"still talking");
        let out = outcome(h.task).await;
        assert!(matches!(out.end, RelayEnd::Closed));
        assert_eq!((out.bytes_up, out.bytes_down), (13, 6));
    }
}

/// Writes until a write makes no progress for `stall`; returns the bytes written.
async fn write_until_stalled(w: &mut TcpStream, stall: Duration, cap: usize) -> usize {
    let chunk = vec![0x5au8; 64 * 1024];
    let mut sent = 0;
    while sent < cap {
        match timeout(stall, w.write(&chunk)).await {
            Ok(n) => sent += n.expect("write"),
            Err(_) => break,
        }
    }
    sent
}

#[tokio::test]
async fn a_slow_reader_stalls_the_writer_instead_of_growing_memory() {
    const CAP: usize = 512 << 20;
    for mode in MODES {
        let mut h = start(mode, WAIT).await;
        // The upstream reads nothing: only kernel socket buffers and one pipe / one chunk in
        // the relay may hold data, so the client must stall long before CAP.
        let sent = write_until_stalled(&mut h.client, Duration::from_millis(500), CAP).await;
        assert!(sent < CAP, "{mode:?}: writer never stalled");
        // Now drain and check everything arrives.
        h.client.shutdown().await.expect("shutdown");
        let mut got = 0usize;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = timeout(WAIT, h.upstream.read(&mut buf))
                .await
                .expect("drain in time")
                .expect("read");
            if n == 0 {
                break;
            }
            assert!(buf[..n].iter().all(|&b| b == 0x5a));
            got += n;
        }
        assert_eq!(got, sent, "{mode:?}");
        h.upstream.shutdown().await.expect("shutdown");
        let out = outcome(h.task).await;
        assert_eq!(out.bytes_up, sent as u64);
    }
}

#[tokio::test]
async fn an_upstream_reset_ends_the_relay_with_an_error_and_closes_the_client() {
    for mode in MODES {
        let mut h = start(mode, WAIT).await;
        h.client.write_all(b"hello").await.expect("write");
        let mut five = [0u8; 5];
        timeout(WAIT, h.upstream.read_exact(&mut five))
            .await
            .expect("arrives")
            .expect("read");
        socket2::SockRef::from(&h.upstream)
            .set_linger(Some(Duration::ZERO))
            .expect("linger");
        drop(h.upstream); // RST
        let out = outcome(h.task).await;
        assert!(
            matches!(out.end, RelayEnd::Error(_)),
            "{mode:?}: {:?}",
            out.end
        );
        assert_eq!(out.bytes_up, 5);
        let mut rest = Vec::new();
        let closed = timeout(WAIT, h.client.read_to_end(&mut rest))
            .await
            .expect("client is closed");
        assert!(closed.is_err() || rest.is_empty());
    }
}

#[tokio::test]
async fn kill_during_a_transfer_ends_the_relay_with_counts_so_far() {
    for mode in MODES {
        let mut h = start(mode, WAIT).await;
        let sent = write_until_stalled(&mut h.client, Duration::from_millis(300), 512 << 20).await;
        assert!(sent > 0);
        h.kill.notify_one();
        let out = outcome(h.task).await;
        assert!(
            matches!(out.end, RelayEnd::Killed),
            "{mode:?}: {:?}",
            out.end
        );
        assert_eq!(out.bytes_up, h.counts.up.load(Ordering::Relaxed));
        assert!(out.bytes_up <= sent as u64);
        // The relay dropped its sockets: the upstream sees the end after the data.
        let mut sink = vec![0u8; 256 * 1024];
        let mut got = 0u64;
        loop {
            match timeout(WAIT, h.upstream.read(&mut sink))
                .await
                .expect("upstream sees the end")
            {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n as u64,
            }
        }
        assert!(got <= out.bytes_up);
    }
}

#[tokio::test]
async fn an_idle_tcp_relay_times_out() {
    for mode in MODES {
        let mut h = start(mode, Duration::from_millis(200)).await;
        h.client.write_all(b"x").await.expect("write");
        let out = outcome(h.task).await;
        assert!(matches!(out.end, RelayEnd::IdleTimeout), "{mode:?}");
        assert_eq!(out.bytes_up, 1);
        let mut one = [0u8; 1];
        h.upstream.read_exact(&mut one).await.expect("read");
    }
}

#[tokio::test]
async fn relay_futures_hold_no_inline_data_buffer() {
    let (mut a, _a2) = tcp_pair().await;
    let (mut b, _b2) = tcp_pair().await;
    let counts = Counts::default();
    for mode in MODES {
        let terms = RelayTerms::new(WAIT, &counts);
        let fut = relay_tcp(mode, &mut a, &mut b, terms, std::future::pending());
        let size = std::mem::size_of_val(&fut);
        assert!(size < 1024, "{mode:?}: relay future is {size} bytes");
        drop(fut);
    }
}

#[tokio::test]
async fn generic_relay_propagates_half_close_and_counts_bytes() {
    let (client, mut client_peer) = tokio::io::duplex(1024);
    let (upstream, mut upstream_peer) = tokio::io::duplex(1024);
    let task = tokio::spawn(async move {
        relay(
            client,
            upstream,
            RelayTerms::new(Duration::from_secs(30), &Counts::default()),
            std::future::pending(),
        )
        .await
    });
    client_peer.write_all(b"ping").await.expect("write");
    client_peer.shutdown().await.expect("shutdown");
    let mut got = Vec::new();
    upstream_peer.read_to_end(&mut got).await.expect("read");
    assert_eq!(got, b"ping");
    upstream_peer.write_all(b"pong!").await.expect("write");
    upstream_peer.shutdown().await.expect("shutdown");
    let mut back = Vec::new();
    client_peer.read_to_end(&mut back).await.expect("read");
    assert_eq!(back, b"pong!");
    let outcome = outcome(task).await;
    assert!(matches!(outcome.end, RelayEnd::Closed));
    assert_eq!((outcome.bytes_up, outcome.bytes_down), (4, 5));
}

#[tokio::test(start_paused = true)]
async fn idle_generic_relay_times_out() {
    let (client, _client_peer) = tokio::io::duplex(1024);
    let (upstream, _upstream_peer) = tokio::io::duplex(1024);
    let outcome = relay(
        client,
        upstream,
        RelayTerms::new(Duration::from_secs(3), &Counts::default()),
        std::future::pending(),
    )
    .await;
    assert!(matches!(outcome.end, RelayEnd::IdleTimeout));
}
