//! The byte relay between a client and its upstream, both directions at once.
//!
//! Two engines sit behind the same outcome type:
//! - [`relay_tcp`] (plain TCP on both legs): `read`/`write` through the per-worker scratch
//!   buffer for small exchanges, and zero-copy `splice(2)` socket → pipe → socket through a
//!   per-worker pipe pool once a flow turns bulk ([`splice`]); bulk payload never enters user
//!   space.
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
//! `apisix.data_plane.relay: copy` (or `APISIX_GATEWAY_RELAY=copy` when benchmarking) makes
//! [`relay_tcp`] use the copy engine too; the caller passes the engine in.

mod copy;
mod splice;
#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::proxy::busy_poll::BusyPoll;
use crate::session::RelayEnd;

use self::copy::CopyPump;
use self::splice::SplicePump;

/// Size of the per-worker scratch buffer of the copy engine (the most one read moves).
pub const RELAY_BUFFER_SIZE: usize = 64 * 1024;

/// Capacity asked for each pooled pipe of the splice engine (the most one splice moves).
pub const PIPE_SIZE: usize = splice::PIPE_SIZE;

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

/// Which engine [`relay_tcp`] uses: `apisix.data_plane.relay` (see [`RelayEngine`]).
pub use crate::config::RelayEngine;

/// Which way a pump moves bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    /// Client → upstream.
    Up,
    /// Upstream → client.
    Down,
}

thread_local! {
    /// The worker's read buffer, borrowed only inside one synchronous step.
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0u8; RELAY_BUFFER_SIZE].into_boxed_slice());
}

/// Runs `f` on this worker's [`RELAY_BUFFER_SIZE`] scratch buffer (or on a temporary one, if a
/// reader or writer itself runs a relay inside its poll and the scratch is taken).
pub(crate) fn with_scratch<T>(f: impl FnOnce(&mut [u8]) -> T) -> T {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => f(&mut scratch),
        Err(_) => f(&mut vec![0u8; RELAY_BUFFER_SIZE]),
    })
}

/// What the pumps report to: the time of the last activity (for the idle timeout) and the
/// connection's live counters.
pub(crate) struct Meter<'c> {
    last: Instant,
    counter: &'c dyn ByteCounter,
    /// The low-latency mode, when on: told of every read and write.
    pub(crate) busy: Option<&'c BusyPoll>,
    /// The other direction has finished (its EOF passed on): when this one finishes too, the
    /// relay ends.
    pub(crate) peer_done: bool,
}

impl Meter<'_> {
    /// Something was read (or an EOF seen) now.
    pub(crate) fn touch(&mut self) {
        self.last = Instant::now();
        if let Some(busy) = self.busy {
            busy.touch(self.last);
        }
    }

    /// `n` bytes were written out in direction `dir`.
    pub(crate) fn wrote(&mut self, dir: Dir, n: u64) {
        self.touch();
        match dir {
            Dir::Up => self.counter.add_up(n),
            Dir::Down => self.counter.add_down(n),
        }
    }
}

/// One direction of a relay, driven by polling (no nested futures, so a relay's state stays
/// a few hundred bytes).
pub(crate) trait Pump {
    /// Moves bytes until the source's EOF has been passed on as a write shutdown (`Ready(Ok)`),
    /// an error, or nothing can move right now (`Pending`, wakers registered).
    fn poll_pump(&mut self, cx: &mut Context<'_>, meter: &mut Meter<'_>) -> Poll<io::Result<()>>;
    /// Bytes written so far.
    fn total(&self) -> u64;
}

/// Chunks one pump moves per poll before it yields to the rest of the relay and the runtime.
pub(crate) const CHUNKS_PER_POLL: usize = 16;

/// What a relay reports to and how long it may stay idle, shared by every engine.
#[derive(Clone, Copy)]
pub struct RelayTerms<'a> {
    /// No read or write in either direction for this long ends the relay.
    pub idle: Duration,
    /// The connection's live counters.
    pub counter: &'a dyn ByteCounter,
    /// The low-latency mode (`apisix.stream_proxy.busy_poll_us`), when on.
    pub busy: Option<&'a BusyPoll>,
}

impl<'a> RelayTerms<'a> {
    /// `idle` and `counter`, the low-latency mode off.
    pub fn new(idle: Duration, counter: &'a dyn ByteCounter) -> Self {
        RelayTerms {
            idle,
            counter,
            busy: None,
        }
    }
}

/// Runs both pumps against the idle timer and the kill signal.
async fn drive<P: Pump, Q: Pump, K: Future<Output = ()>>(
    mut up: P,
    mut down: Q,
    terms: RelayTerms<'_>,
    killed: K,
) -> RelayOutcome {
    let RelayTerms {
        idle,
        counter,
        busy,
    } = terms;
    let mut killed = pin!(killed);
    let mut meter = Meter {
        last: Instant::now(),
        counter,
        busy,
        peer_done: false,
    };
    let mut timer = pin!(tokio::time::sleep(idle));
    let (mut up_done, mut down_done) = (false, false);
    let end = std::future::poll_fn(|cx| {
        if killed.as_mut().poll(cx).is_ready() {
            return Poll::Ready(RelayEnd::Killed);
        }
        if let Err(e) = step(&mut up, &mut up_done, down_done, cx, &mut meter) {
            return Poll::Ready(RelayEnd::Error(e));
        }
        if let Err(e) = step(&mut down, &mut down_done, up_done, cx, &mut meter) {
            return Poll::Ready(RelayEnd::Error(e));
        }
        if up_done && down_done {
            return Poll::Ready(RelayEnd::Closed);
        }
        // The timer is not moved on every chunk: when it fires, it is re-armed from the last
        // activity, or the relay is idle.
        while timer.as_mut().poll(cx).is_ready() {
            let deadline = meter.last + idle;
            if Instant::now() >= deadline {
                return Poll::Ready(RelayEnd::IdleTimeout);
            }
            timer.as_mut().reset(deadline);
        }
        Poll::Pending
    })
    .await;
    RelayOutcome {
        end,
        bytes_up: up.total(),
        bytes_down: down.total(),
    }
}

/// Polls one direction unless it is `done` (set when its EOF has been passed on); an error
/// ends the relay.
fn step<P: Pump>(
    pump: &mut P,
    done: &mut bool,
    peer_done: bool,
    cx: &mut Context<'_>,
    meter: &mut Meter<'_>,
) -> io::Result<()> {
    if !*done {
        meter.peer_done = peer_done;
        if let Poll::Ready(result) = pump.poll_pump(cx, meter) {
            result?;
            *done = true;
        }
    }
    Ok(())
}

/// Relays between `client` and `upstream` (any streams, e.g. TLS) with the copy engine until
/// both are done, `idle` passes without traffic, `killed` resolves, or an error occurs.
pub async fn relay<C, U>(
    client: C,
    upstream: U,
    terms: RelayTerms<'_>,
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
        terms,
        killed,
    )
    .await
}

/// Relays two plain TCP streams with the engine `mode`.
pub fn relay_tcp<'a>(
    mode: RelayEngine,
    client: &'a mut TcpStream,
    upstream: &'a mut TcpStream,
    terms: RelayTerms<'a>,
    killed: impl Future<Output = ()> + 'a,
) -> impl Future<Output = RelayOutcome> + 'a {
    let (up, down) = match mode {
        RelayEngine::Splice => {
            let (client, upstream): (&TcpStream, &TcpStream) = (client, upstream);
            (
                TcpPump::Splice(SplicePump::new(client, upstream, Dir::Up)),
                TcpPump::Splice(SplicePump::new(upstream, client, Dir::Down)),
            )
        }
        RelayEngine::Copy => {
            let (client_read, client_write) = client.split();
            let (upstream_read, upstream_write) = upstream.split();
            (
                TcpPump::Copy(CopyPump::new(client_read, upstream_write, Dir::Up)),
                TcpPump::Copy(CopyPump::new(upstream_read, client_write, Dir::Down)),
            )
        }
    };
    drive(up, down, terms, killed)
}

/// Either engine over borrowed TCP streams.
enum TcpPump<'a> {
    Splice(SplicePump<'a>),
    Copy(CopyPump<tokio::net::tcp::ReadHalf<'a>, tokio::net::tcp::WriteHalf<'a>>),
}

impl Pump for TcpPump<'_> {
    fn poll_pump(&mut self, cx: &mut Context<'_>, meter: &mut Meter<'_>) -> Poll<io::Result<()>> {
        match self {
            TcpPump::Splice(pump) => pump.poll_pump(cx, meter),
            TcpPump::Copy(pump) => pump.poll_pump(cx, meter),
        }
    }

    fn total(&self) -> u64 {
        match self {
            TcpPump::Splice(pump) => pump.total(),
            TcpPump::Copy(pump) => pump.total(),
        }
    }
}

/// [`relay`] over already split `(read, write)` halves of each side (copy engine).
pub async fn relay_halves<CR, CW, UR, UW>(
    (client_read, client_write): (CR, CW),
    (upstream_read, upstream_write): (UR, UW),
    terms: RelayTerms<'_>,
    killed: impl std::future::Future<Output = ()>,
) -> RelayOutcome
where
    CR: AsyncRead + Unpin,
    CW: AsyncWrite + Unpin,
    UR: AsyncRead + Unpin,
    UW: AsyncWrite + Unpin,
{
    drive(
        CopyPump::new(client_read, upstream_write, Dir::Up),
        CopyPump::new(upstream_read, client_write, Dir::Down),
        terms,
        killed,
    )
    .await
}
