//! The byte relay between a client and its upstream, both directions at once.
//!
//! Each direction reads into its own fixed 64 KiB buffer and writes it all before reading
//! again, so a slow side applies back-pressure instead of growing memory. An EOF from one side
//! becomes `shutdown(Write)` on the other while the other direction keeps going (half-close);
//! the relay ends when both directions are done, on the idle timeout (no read or write in
//! either direction for that long), when killed, or on the first I/O error. Byte counts are
//! added to the connection's counters as they flow and returned at the end.
//!
//! This is the portable buffered relay; a zero-copy `splice(2)` variant can replace it later
//! behind the same [`relay`] signature.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

/// Size of each direction's buffer.
pub const RELAY_BUFFER_SIZE: usize = 64 * 1024;

/// Why a relay ended.
#[derive(Debug)]
pub enum RelayEnd {
    /// Both sides closed their write direction.
    Closed,
    /// Nothing moved for the idle timeout.
    IdleTimeout,
    /// Killed from outside (registry, shutdown).
    Killed,
    /// An I/O error on either side (e.g. a reset).
    Error(io::Error),
}

/// The result of a relay: how it ended and the bytes moved each way.
#[derive(Debug)]
pub struct RelayOutcome {
    pub end: RelayEnd,
    /// Client → upstream.
    pub bytes_up: u64,
    /// Upstream → client.
    pub bytes_down: u64,
}

/// Where the relay reports bytes as they flow (the connection's live counters).
pub trait ByteCounter: Sync {
    /// `n` more bytes from the client to the upstream.
    fn add_up(&self, n: u64);
    /// `n` more bytes from the upstream to the client.
    fn add_down(&self, n: u64);
}

impl ByteCounter for crate::proxy::registry::ConnectionHandle {
    fn add_up(&self, n: u64) {
        crate::proxy::registry::ConnectionHandle::add_up(self, n)
    }
    fn add_down(&self, n: u64) {
        crate::proxy::registry::ConnectionHandle::add_down(self, n)
    }
}

/// Time of the last read or write in either direction, in ms since the relay started.
struct Activity {
    start: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn touch(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last_ms.fetch_max(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }

    /// Resolves once nothing happened for `idle`.
    async fn idle_for(&self, idle: Duration) {
        loop {
            let deadline = self.last() + idle;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

/// Copies `reader` to `writer` until EOF (then shuts `writer` down) or an error.
async fn pump<R, W>(
    mut reader: R,
    mut writer: W,
    activity: &Activity,
    count: impl Fn(u64),
) -> io::Result<u64>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; RELAY_BUFFER_SIZE];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buf).await?;
        activity.touch();
        if n == 0 {
            writer.shutdown().await?;
            return Ok(total);
        }
        writer.write_all(&buf[..n]).await?;
        activity.touch();
        total += n as u64;
        count(n as u64);
    }
}

/// Relays between `client` and `upstream` until both are done, `idle` passes without
/// traffic, `killed` resolves, or an error occurs.
pub async fn relay<C, U>(
    client: C,
    upstream: U,
    idle: Duration,
    counter: &dyn ByteCounter,
    killed: impl std::future::Future<Output = ()>,
) -> RelayOutcome
where
    C: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    let (client_read, client_write) = tokio::io::split(client);
    let (upstream_read, upstream_write) = tokio::io::split(upstream);
    relay_halves(
        (client_read, client_write),
        (upstream_read, upstream_write),
        idle,
        counter,
        killed,
    )
    .await
}

/// Relays two TCP streams using their borrowed halves (no lock between the halves).
pub async fn relay_tcp(
    client: &mut tokio::net::TcpStream,
    upstream: &mut tokio::net::TcpStream,
    idle: Duration,
    counter: &dyn ByteCounter,
    killed: impl std::future::Future<Output = ()>,
) -> RelayOutcome {
    relay_halves(client.split(), upstream.split(), idle, counter, killed).await
}

/// [`relay`] over already split `(read, write)` halves of each side.
pub async fn relay_halves<CR, CW, UR, UW>(
    (client_read, client_write): (CR, CW),
    (upstream_read, upstream_write): (UR, UW),
    idle: Duration,
    counter: &dyn ByteCounter,
    killed: impl std::future::Future<Output = ()>,
) -> RelayOutcome
where
    CR: AsyncRead + Unpin,
    CW: AsyncWrite + Unpin,
    UR: AsyncRead + Unpin,
    UW: AsyncWrite + Unpin,
{
    let activity = Activity {
        start: Instant::now(),
        last_ms: AtomicU64::new(0),
    };
    let up_bytes = AtomicU64::new(0);
    let down_bytes = AtomicU64::new(0);
    let up = pump(client_read, upstream_write, &activity, |n| {
        up_bytes.fetch_add(n, Ordering::Relaxed);
        counter.add_up(n);
    });
    let down = pump(upstream_read, client_write, &activity, |n| {
        down_bytes.fetch_add(n, Ordering::Relaxed);
        counter.add_down(n);
    });
    let both = async {
        // Stop at the first error; otherwise wait for both directions to finish.
        tokio::try_join!(up, down)
    };
    let end = tokio::select! {
        result = both => match result {
            Ok(_) => RelayEnd::Closed,
            Err(e) => RelayEnd::Error(e),
        },
        _ = activity.idle_for(idle) => RelayEnd::IdleTimeout,
        _ = killed => RelayEnd::Killed,
    };
    RelayOutcome {
        end,
        bytes_up: up_bytes.load(Ordering::Relaxed),
        bytes_down: down_bytes.load(Ordering::Relaxed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoCount;
    impl ByteCounter for NoCount {
        fn add_up(&self, _: u64) {}
        fn add_down(&self, _: u64) {}
    }

    #[tokio::test]
    async fn half_close_is_propagated_and_bytes_counted() {
        let (client, mut client_peer) = tokio::io::duplex(1024);
        let (upstream, mut upstream_peer) = tokio::io::duplex(1024);
        let task = tokio::spawn(async move {
            relay(
                client,
                upstream,
                Duration::from_secs(30),
                &NoCount,
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
        let outcome = tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("relay ends")
            .expect("task");
        assert!(matches!(outcome.end, RelayEnd::Closed));
        assert_eq!((outcome.bytes_up, outcome.bytes_down), (4, 5));
    }

    #[tokio::test(start_paused = true)]
    async fn idle_relay_times_out() {
        let (client, _client_peer) = tokio::io::duplex(1024);
        let (upstream, _upstream_peer) = tokio::io::duplex(1024);
        let outcome = relay(
            client,
            upstream,
            Duration::from_secs(3),
            &NoCount,
            std::future::pending(),
        )
        .await;
        assert!(matches!(outcome.end, RelayEnd::IdleTimeout));
    }
}
