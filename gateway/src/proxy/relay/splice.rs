//! The splice engine: one direction of a TCP → TCP relay that copies small exchanges and
//! splices bulk flows, driven by tokio readiness (`poll_read_ready`/`poll_write_ready` +
//! `try_io`).
//!
//! - **Small exchanges** (the default, and after any splice that moved less than
//!   [`SMALL_CHUNK`]): one `read(2)` into the worker's scratch buffer and one `write(2)` from it,
//!   as nginx and HAProxy do. A read that returns less than the buffer drained the socket, so the
//!   readiness is cleared right away (nginx's rule for edge-triggered epoll) instead of paying
//!   for one more `read` that only says `EAGAIN`; a FIN or new data raises it again.
//! - **Bulk flows** (after a read filled the whole scratch buffer): zero-copy `splice(2)`
//!   socket → pipe → socket; the payload never enters user space.
//!
//! Pipes come from a per-worker-thread pool ([`PipePool`]) and are held only while bytes sit in
//! them: a direction waits for its source to be readable (`poll_read_ready`) *before* it takes
//! a pipe, and gives the pipe back as soon as it has been drained to the destination. So idle
//! connections hold no pipe, and in-flight data per direction is bounded by one pipe
//! ([`PIPE_SIZE`]) or one scratch buffer, which is the back-pressure: the next read waits until
//! the destination took everything.
//!
//! No `unsafe`: `nix::fcntl::splice`, `nix::unistd::pipe2` and `nix::fcntl::fcntl` are safe
//! wrappers over the file descriptors (`AsFd`) that tokio's sockets expose, and reads go through
//! `socket2::SockRef`.
//!
//! If a pipe cannot be created (e.g. the fd limit is reached) the chunk is copied instead, so the
//! connection keeps working.
//!
//! A pipe given back after an error may still hold bytes, so on errors it is dropped (closed)
//! instead; only empty pipes return to the pool.

use std::cell::RefCell;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::task::{ready, Context, Poll};

use nix::fcntl::{fcntl, splice, FcntlArg, OFlag, SpliceFFlags};
use tokio::io::Interest;
use tokio::net::TcpStream;

use super::{with_scratch, Dir, Meter, Pump, CHUNKS_PER_POLL};

/// Capacity asked for each pooled pipe (the most one splice moves). If the kernel refuses
/// (per-user pipe page limits), the pipe keeps its default 64 KiB.
pub const PIPE_SIZE: usize = 256 * 1024;

/// Pipes kept per worker thread for reuse; more are closed when given back.
const POOL_MAX: usize = 64;

/// A splice that moves less than this switches the direction back to copying (small exchanges).
pub const SMALL_CHUNK: usize = 16 * 1024;

/// An empty pipe, both ends nonblocking.
#[derive(Debug)]
struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
}

impl Pipe {
    fn new() -> io::Result<Pipe> {
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
        // Best effort: a bigger pipe means fewer syscalls per megabyte.
        let _ = fcntl(write.as_raw_fd(), FcntlArg::F_SETPIPE_SZ(PIPE_SIZE as i32));
        Ok(Pipe { read, write })
    }
}

/// The per-worker pool of empty pipes.
struct PipePool;

thread_local! {
    static POOL: RefCell<Vec<Pipe>> = const { RefCell::new(Vec::new()) };
}

impl PipePool {
    /// An empty pipe from this thread's pool, or a new one.
    fn take() -> io::Result<Pipe> {
        match POOL.with(|pool| pool.borrow_mut().pop()) {
            Some(pipe) => Ok(pipe),
            None => Pipe::new(),
        }
    }

    /// Returns an *empty* pipe to this thread's pool (or closes it when the pool is full).
    fn give(pipe: Pipe) {
        POOL.with(|pool| {
            let mut pool = pool.borrow_mut();
            if pool.len() < POOL_MAX {
                pool.push(pipe);
            }
        });
    }
}

fn flags() -> SpliceFFlags {
    SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_NONBLOCK
}

fn write_zero() -> io::Error {
    io::Error::new(io::ErrorKind::WriteZero, "relay peer accepted no bytes")
}

/// One direction of the splice engine: `src` → pipe → `dst`.
pub(crate) struct SplicePump<'a> {
    src: &'a TcpStream,
    dst: &'a TcpStream,
    dir: Dir,
    /// The pipe, held only while it has bytes in it.
    pipe: Option<Pipe>,
    in_pipe: usize,
    /// Bytes copied in that the destination has not taken yet (empty, unallocated, unless the
    /// destination lagged).
    pending: Vec<u8>,
    pending_pos: usize,
    /// Splice the next chunk (a bulk flow) instead of copying it.
    bulk: bool,
    done: bool,
    total: u64,
    /// Of `total`, the bytes moved with `splice(2)`.
    spliced: u64,
}

impl<'a> SplicePump<'a> {
    /// A pump from `src` to `dst`, counting as `dir`.
    pub(crate) fn new(src: &'a TcpStream, dst: &'a TcpStream, dir: Dir) -> Self {
        SplicePump {
            src,
            dst,
            dir,
            pipe: None,
            in_pipe: 0,
            pending: Vec::new(),
            pending_pos: 0,
            bulk: false,
            done: false,
            total: 0,
            spliced: 0,
        }
    }

    fn wrote(&mut self, meter: &mut Meter<'_>, n: usize) {
        self.total += n as u64;
        meter.wrote(self.dir, n as u64);
    }

    /// Empties the pipe into `dst`; gives the pipe back once empty.
    fn poll_drain(&mut self, cx: &mut Context<'_>, meter: &mut Meter<'_>) -> Poll<io::Result<()>> {
        while self.in_pipe > 0 {
            let Some(pipe) = &self.pipe else {
                return Poll::Ready(Err(io::Error::other("relay pipe missing")));
            };
            ready!(self.dst.poll_write_ready(cx))?;
            let wrote = self.dst.try_io(Interest::WRITABLE, || {
                splice(&pipe.read, None, self.dst, None, self.in_pipe, flags())
                    .map_err(io::Error::from)
            });
            match wrote {
                Ok(0) => return Poll::Ready(Err(write_zero())),
                Ok(n) => {
                    self.in_pipe -= n;
                    self.spliced += n as u64;
                    self.wrote(meter, n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                // The pipe is dropped with the pump, content and all.
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        if let Some(pipe) = self.pipe.take() {
            PipePool::give(pipe);
        }
        Poll::Ready(Ok(()))
    }

    /// Writes out what a copied chunk left.
    fn poll_pending(
        &mut self,
        cx: &mut Context<'_>,
        meter: &mut Meter<'_>,
    ) -> Poll<io::Result<()>> {
        while self.pending_pos < self.pending.len() {
            ready!(self.dst.poll_write_ready(cx))?;
            match self.dst.try_write(&self.pending[self.pending_pos..]) {
                Ok(0) => return Poll::Ready(Err(write_zero())),
                Ok(n) => {
                    self.pending_pos += n;
                    self.wrote(meter, n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        self.pending = Vec::new();
        self.pending_pos = 0;
        Poll::Ready(Ok(()))
    }

    /// Copies one chunk: one read into the scratch buffer, then as much as the destination
    /// takes now; the rest goes to `pending`. `Ok(false)` at EOF.
    fn copy_chunk(&mut self, meter: &mut Meter<'_>) -> io::Result<bool> {
        with_scratch(|scratch| {
            let Some(read) = read_draining(self.src, scratch)? else {
                return Ok(true);
            };
            if read == 0 {
                return Ok(false);
            }
            meter.touch();
            // A full buffer means more is queued: a bulk flow, spliced from now on.
            self.bulk = read == scratch.len();
            let mut written = 0;
            while written < read {
                match self.dst.try_write(&scratch[written..read]) {
                    Ok(0) => return Err(write_zero()),
                    Ok(n) => written += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
            self.wrote(meter, written);
            if written < read {
                self.pending = scratch[written..read].to_vec();
                self.pending_pos = 0;
            }
            Ok(true)
        })
    }

    /// The source hit EOF: pass it on. When the other direction has already finished, the
    /// relay ends now and closing the socket sends the FIN, so no `shutdown(2)` is needed.
    fn finish(&mut self, meter: &mut Meter<'_>) -> Poll<io::Result<()>> {
        meter.touch();
        self.done = true;
        tracing::trace!(
            total = self.total, spliced = self.spliced, dir = ?self.dir,
            "relay direction finished"
        );
        if meter.peer_done {
            return Poll::Ready(Ok(()));
        }
        Poll::Ready(socket2::SockRef::from(self.dst).shutdown(std::net::Shutdown::Write))
    }
}

/// One nonblocking read from `src` into `buf`: `Ok(None)` when there was nothing to read.
///
/// A read that returns data but less than `buf` drained the socket's receive queue, so the
/// socket's readiness is cleared as if the read had said `EAGAIN` (tokio clears it only if no
/// new readiness event arrived meanwhile, and never clears a seen EOF): this saves the extra
/// `read(2)` per message that would only return `EAGAIN`.
fn read_draining(src: &TcpStream, buf: &mut [u8]) -> io::Result<Option<usize>> {
    let mut drained = None;
    let read = src.try_io(Interest::READABLE, || {
        let n = (&*socket2::SockRef::from(src)).read(buf)?;
        if n > 0 && n < buf.len() {
            drained = Some(n);
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    });
    match (read, drained) {
        (_, Some(n)) => Ok(Some(n)),
        (Ok(n), None) => Ok(Some(n)),
        (Err(e), None) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
        (Err(e), None) => Err(e),
    }
}

impl Pump for SplicePump<'_> {
    fn poll_pump(&mut self, cx: &mut Context<'_>, meter: &mut Meter<'_>) -> Poll<io::Result<()>> {
        if self.done {
            return Poll::Ready(Ok(()));
        }
        let mut chunks = 0;
        loop {
            ready!(self.poll_drain(cx, meter))?;
            ready!(self.poll_pending(cx, meter))?;
            if chunks == CHUNKS_PER_POLL {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            chunks += 1;
            // Wait with no pipe or buffer held: an idle direction owns nothing.
            ready!(self.src.poll_read_ready(cx))?;
            let pipe = if self.bulk {
                match PipePool::take() {
                    Ok(pipe) => Some(pipe),
                    Err(e) => {
                        tracing::debug!(error = %e, "no pipe for splice, copying this chunk");
                        None
                    }
                }
            } else {
                None
            };
            let Some(pipe) = pipe else {
                if !self.copy_chunk(meter)? {
                    return self.finish(meter);
                }
                continue;
            };
            let read = self.src.try_io(Interest::READABLE, || {
                splice(self.src, None, &pipe.write, None, PIPE_SIZE, flags())
                    .map_err(io::Error::from)
            });
            match read {
                Ok(0) => {
                    PipePool::give(pipe);
                    return self.finish(meter);
                }
                Ok(n) => {
                    meter.touch();
                    self.in_pipe = n;
                    self.pipe = Some(pipe);
                    self.bulk = n >= SMALL_CHUNK;
                }
                // Spurious readiness (now cleared); the pipe is still empty.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => PipePool::give(pipe),
                Err(e) => {
                    PipePool::give(pipe);
                    return Poll::Ready(Err(e));
                }
            }
        }
    }

    fn total(&self) -> u64 {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::super::ByteCounter;
    use super::*;

    struct NoCount;
    impl ByteCounter for NoCount {
        fn add_up(&self, _: u64) {}
        fn add_down(&self, _: u64) {}
    }

    async fn tcp_pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (a, b) = tokio::join!(TcpStream::connect(addr), listener.accept());
        (a.expect("connect"), b.expect("accept").0)
    }

    /// One pump from `feed`'s peer to `drain`'s peer, driven until EOF is passed on, while
    /// `talk` writes to `feed` and reads from `drain`. Returns the pump's (total, spliced).
    async fn pump_one_way<F, Fut>(talk: F) -> (u64, u64)
    where
        F: FnOnce(TcpStream, TcpStream) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let (feed, src) = tcp_pair().await;
        let (dst, drain) = tcp_pair().await;
        let talker = tokio::spawn(talk(feed, drain));
        let mut pump = SplicePump::new(&src, &dst, Dir::Up);
        let mut meter = Meter {
            last: tokio::time::Instant::now(),
            counter: &NoCount,
            busy: None,
            peer_done: false,
        };
        let pumped = std::future::poll_fn(|cx| pump.poll_pump(cx, &mut meter));
        tokio::time::timeout(Duration::from_secs(60), pumped)
            .await
            .expect("pump finished in time")
            .expect("pump ok");
        let moved = (pump.total, pump.spliced);
        talker.await.expect("talker");
        moved
    }

    #[tokio::test]
    async fn small_exchanges_are_copied_and_each_one_is_relayed_after_the_drained_read() {
        let (total, spliced) = pump_one_way(|mut feed, mut drain| async move {
            let mut got = [0u8; 100];
            for i in 0..64u8 {
                // Each message arrives after the previous read cleared the readiness.
                feed.write_all(&[i; 100]).await.expect("write");
                drain.read_exact(&mut got).await.expect("read");
                assert_eq!(got, [i; 100]);
            }
            // Data and FIN together: the short read must not hide the EOF.
            feed.write_all(b"last").await.expect("write");
            feed.shutdown().await.expect("shutdown");
            let mut rest = Vec::new();
            drain.read_to_end(&mut rest).await.expect("read to end");
            assert_eq!(rest, b"last");
        })
        .await;
        assert_eq!(total, 64 * 100 + 4);
        assert_eq!(
            spliced, 0,
            "small messages go through read/write, not splice"
        );
    }

    #[tokio::test]
    async fn a_bulk_flow_is_spliced_then_small_messages_are_copied_again() {
        const BULK: usize = 8 << 20;
        let (total, spliced) = pump_one_way(|mut feed, mut drain| async move {
            let data: Vec<u8> = (0..BULK).map(|i| (i % 251) as u8).collect();
            let writer = tokio::spawn(async move {
                feed.write_all(&data).await.expect("write bulk");
                feed
            });
            let mut got = vec![0u8; BULK];
            drain.read_exact(&mut got).await.expect("read bulk");
            assert!(got.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));
            let mut feed = writer.await.expect("writer");
            let mut small = [0u8; 10];
            for i in 0..8u8 {
                feed.write_all(&[i; 10]).await.expect("write");
                drain.read_exact(&mut small).await.expect("read");
                assert_eq!(small, [i; 10]);
            }
            feed.shutdown().await.expect("shutdown");
            let mut rest = Vec::new();
            drain.read_to_end(&mut rest).await.expect("read to end");
            assert!(rest.is_empty());
        })
        .await;
        assert_eq!(total, BULK as u64 + 80);
        assert!(
            spliced >= (BULK / 2) as u64,
            "most of a bulk flow is spliced: {spliced} of {total}"
        );
        assert!(
            spliced <= BULK as u64,
            "the small messages after it are copied"
        );
    }

    #[test]
    fn pool_reuses_given_back_pipes_and_is_bounded() {
        let pipes: Vec<Pipe> = (0..POOL_MAX + 3)
            .map(|_| PipePool::take().expect("pipe"))
            .collect();
        for pipe in pipes {
            PipePool::give(pipe);
        }
        let pooled = POOL.with(|pool| pool.borrow().len());
        assert_eq!(pooled, POOL_MAX);
        let fd = PipePool::take().expect("pipe").read.as_raw_fd();
        let pooled_after = POOL.with(|pool| pool.borrow().len());
        assert_eq!(pooled_after, POOL_MAX - 1);
        assert!(fd >= 0);
    }
}
