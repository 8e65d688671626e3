//! The byte relay between a client and its upstream, both directions at once.
//!
//! Two engines sit behind the same outcome type:
//! - [`relay_tcp`] (plain TCP on both legs): zero-copy `splice(2)` socket → pipe → socket
//!   through a per-worker pipe pool ([`splice`]); the payload never enters user space.
//! - [`relay`] / [`relay_halves`] (any `AsyncRead + AsyncWrite`, e.g. TLS): reads into a
//!   per-worker 64 KiB scratch buffer and writes from it in the same poll ([`copy`]).
//!
//! Neither holds a data buffer while a connection is idle: a pipe is taken from the pool, and
//! a heap buffer allocated, only while bytes are in flight (a read returned data that the other
//! side has not accepted yet). In-flight data per direction is bounded (one pipe, or one
//! scratch-sized chunk), so a slow side applies back-pressure instead of growing memory.
//!
//! Shared semantics: an EOF from one side becomes `shutdown(Write)` on the other while the
//! other direction keeps going (half-close); the relay ends when both directions are done, on
//! the idle timeout (no read or write in either direction for that long), when killed, or on the
//! first I/O error. Byte counts are added to the connection's counters as they are written and
//! returned at the end.
//!
//! `APISIX_GATEWAY_RELAY=copy` in the environment makes [`relay_tcp`] use the copy engine too
//! (for benchmarking the two side by side).

mod copy;
mod splice;
#[cfg(test)]
mod tests;

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Size of the per-worker scratch buffer of the copy engine (the most one read moves).
pub const RELAY_BUFFER_SIZE: usize = 64 * 1024;

/// Capacity asked for each pooled pipe of the splice engine (the most one splice moves).
pub const PIPE_SIZE: usize = splice::PIPE_SIZE;

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

/// Which engine [`relay_tcp_with`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpRelayMode {
    /// Zero-copy `splice(2)` through a pooled pipe (Linux).
    Splice,
    /// Read/write through the per-worker scratch buffer.
    Copy,
}

impl TcpRelayMode {
    /// The engine [`relay_tcp`] uses: splice unless `APISIX_GATEWAY_RELAY=copy`.
    pub fn from_env() -> Self {
        static MODE: OnceLock<TcpRelayMode> = OnceLock::new();
        *MODE.get_or_init(|| match std::env::var("APISIX_GATEWAY_RELAY").as_deref() {
            Ok("copy") => TcpRelayMode::Copy,
            _ => TcpRelayMode::Splice,
        })
    }
}

/// Time of the last read or write in either direction, in ms since the relay started.
pub(crate) struct Activity {
    start: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Activity {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    /// Something moved now.
    pub(crate) fn touch(&self) {
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

/// Relays between `client` and `upstream` (any streams, e.g. TLS) with the copy engine until
/// both are done, `idle` passes without traffic, `killed` resolves, or an error occurs.
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

/// Relays two plain TCP streams, zero-copy with `splice(2)` (see [`TcpRelayMode::from_env`]).
pub async fn relay_tcp(
    client: &mut TcpStream,
    upstream: &mut TcpStream,
    idle: Duration,
    counter: &dyn ByteCounter,
    killed: impl std::future::Future<Output = ()>,
) -> RelayOutcome {
    relay_tcp_with(
        TcpRelayMode::from_env(),
        client,
        upstream,
        idle,
        counter,
        killed,
    )
    .await
}

/// [`relay_tcp`] with an explicit engine.
pub async fn relay_tcp_with(
    mode: TcpRelayMode,
    client: &mut TcpStream,
    upstream: &mut TcpStream,
    idle: Duration,
    counter: &dyn ByteCounter,
    killed: impl std::future::Future<Output = ()>,
) -> RelayOutcome {
    match mode {
        TcpRelayMode::Copy => {
            relay_halves(client.split(), upstream.split(), idle, counter, killed).await
        }
        TcpRelayMode::Splice => {
            let (client, upstream) = (&*client, &*upstream);
            let activity = Activity::new();
            let totals = Totals::default();
            let up = splice::pump(client, upstream, &activity, |n| {
                totals.up.fetch_add(n, Ordering::Relaxed);
                counter.add_up(n);
            });
            let down = splice::pump(upstream, client, &activity, |n| {
                totals.down.fetch_add(n, Ordering::Relaxed);
                counter.add_down(n);
            });
            finish(up, down, &activity, idle, killed, &totals).await
        }
    }
}

/// [`relay`] over already split `(read, write)` halves of each side (copy engine).
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
    let activity = Activity::new();
    let totals = Totals::default();
    let up = copy::pump(client_read, upstream_write, &activity, |n| {
        totals.up.fetch_add(n, Ordering::Relaxed);
        counter.add_up(n);
    });
    let down = copy::pump(upstream_read, client_write, &activity, |n| {
        totals.down.fetch_add(n, Ordering::Relaxed);
        counter.add_down(n);
    });
    finish(up, down, &activity, idle, killed, &totals).await
}

/// Bytes written so far each way.
#[derive(Default)]
struct Totals {
    up: AtomicU64,
    down: AtomicU64,
}

/// Runs both directions against the idle timer and the kill signal.
async fn finish(
    up: impl std::future::Future<Output = io::Result<u64>>,
    down: impl std::future::Future<Output = io::Result<u64>>,
    activity: &Activity,
    idle: Duration,
    killed: impl std::future::Future<Output = ()>,
    totals: &Totals,
) -> RelayOutcome {
    // Stop at the first error; otherwise wait for both directions to finish.
    let both = async { tokio::try_join!(up, down) };
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
        bytes_up: totals.up.load(Ordering::Relaxed),
        bytes_down: totals.down.load(Ordering::Relaxed),
    }
}
