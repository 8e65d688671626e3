//! The splice engine: one direction of a zero-copy TCP → TCP relay, socket → pipe → socket
//! with `splice(2)`, driven by tokio readiness (`poll_read_ready`/`poll_write_ready` + `try_io`).
//!
//! Pipes come from a per-worker-thread pool ([`PipePool`]) and are held only while bytes sit in
//! them: a direction waits for its source to be readable (`poll_read_ready`) *before* it takes
//! a pipe, and gives the pipe back as soon as it has been drained to the destination. So idle connections hold
//! no pipe, and in-flight data per direction is bounded by one pipe ([`PIPE_SIZE`]), which is
//! the back-pressure: the next splice-in waits until the destination took everything.
//!
//! No `unsafe`: `nix::fcntl::splice`, `nix::unistd::pipe2` and `nix::fcntl::fcntl` are safe
//! wrappers over the file descriptors (`AsFd`) that tokio's sockets expose.
//!
//! If a pipe cannot be created (e.g. the fd limit is reached) the chunk is moved with a plain
//! read/write through a short-lived heap buffer instead, so the connection keeps working.
//!
//! A pipe given back after an error may still hold bytes, so on errors it is dropped (closed)
//! instead; only empty pipes return to the pool.

use std::cell::RefCell;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::task::{ready, Context, Poll};

use nix::fcntl::{fcntl, splice, FcntlArg, OFlag, SpliceFFlags};
use tokio::io::Interest;
use tokio::net::TcpStream;

use super::{Dir, Meter, Pump, CHUNKS_PER_POLL};

/// Capacity asked for each pooled pipe (the most one splice moves). If the kernel refuses
/// (per-user pipe page limits), the pipe keeps its default 64 KiB.
pub const PIPE_SIZE: usize = 256 * 1024;

/// Pipes kept per worker thread for reuse; more are closed when given back.
const POOL_MAX: usize = 64;

/// Size of the fallback buffer used when no pipe can be had.
const FALLBACK_CHUNK: usize = 16 * 1024;

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
    /// Bytes read without a pipe (no pipe could be created), not yet written.
    fallback: Vec<u8>,
    fallback_pos: usize,
    done: bool,
    total: u64,
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
            fallback: Vec::new(),
            fallback_pos: 0,
            done: false,
            total: 0,
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

    /// Writes out what the fallback read left.
    fn poll_fallback(
        &mut self,
        cx: &mut Context<'_>,
        meter: &mut Meter<'_>,
    ) -> Poll<io::Result<()>> {
        while self.fallback_pos < self.fallback.len() {
            ready!(self.dst.poll_write_ready(cx))?;
            match self.dst.try_write(&self.fallback[self.fallback_pos..]) {
                Ok(0) => return Poll::Ready(Err(write_zero())),
                Ok(n) => {
                    self.fallback_pos += n;
                    self.wrote(meter, n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        self.fallback = Vec::new();
        self.fallback_pos = 0;
        Poll::Ready(Ok(()))
    }

    /// The source hit EOF: pass it on.
    fn finish(&mut self, meter: &mut Meter<'_>) -> Poll<io::Result<()>> {
        meter.touch();
        self.done = true;
        Poll::Ready(socket2::SockRef::from(self.dst).shutdown(std::net::Shutdown::Write))
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
            ready!(self.poll_fallback(cx, meter))?;
            if chunks == CHUNKS_PER_POLL {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            chunks += 1;
            // Wait with no pipe held: an idle direction owns nothing.
            ready!(self.src.poll_read_ready(cx))?;
            let pipe = match PipePool::take() {
                Ok(pipe) => pipe,
                Err(e) => {
                    tracing::debug!(error = %e, "no pipe for splice, copying this chunk");
                    let mut buf = vec![0u8; FALLBACK_CHUNK];
                    match self.src.try_read(&mut buf) {
                        Ok(0) => return self.finish(meter),
                        Ok(n) => {
                            meter.touch();
                            buf.truncate(n);
                            self.fallback = buf;
                            self.fallback_pos = 0;
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) => return Poll::Ready(Err(e)),
                    }
                    continue;
                }
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
    use super::*;

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
