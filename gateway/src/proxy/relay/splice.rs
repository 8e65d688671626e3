//! The splice engine: one direction of a zero-copy TCP → TCP relay, socket → pipe → socket
//! with `splice(2)`, driven by tokio readiness (`readable()`/`writable()` + `try_io`).
//!
//! Pipes come from a per-worker-thread pool ([`PipePool`]) and are held only while bytes sit in
//! them: a direction waits for its source to be readable *before* it takes a pipe, and gives
//! the pipe back as soon as it has been drained to the destination. So idle connections hold
//! no pipe, and in-flight data per direction is bounded by one pipe ([`PIPE_SIZE`]), which is
//! the back-pressure: the next splice-in waits until the destination took everything.
//!
//! No `unsafe`: `nix::fcntl::splice`, `nix::unistd::pipe2` and `nix::fcntl::fcntl` are safe
//! wrappers over the file descriptors (`AsFd`) that tokio's sockets expose.
//!
//! If a pipe cannot be created (e.g. the fd limit is reached) the chunk is moved with a plain
//! read/write through a short-lived heap buffer instead, so the connection keeps working.

use std::cell::RefCell;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::fcntl::{fcntl, splice, FcntlArg, OFlag, SpliceFFlags};
use tokio::io::Interest;
use tokio::net::TcpStream;

use super::Activity;

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

/// Moves `src` to `dst` until EOF (then shuts `dst`'s write side down) or an error; returns
/// the bytes written and reports each written chunk to `count`.
pub(super) async fn pump(
    src: &TcpStream,
    dst: &TcpStream,
    activity: &Activity,
    count: impl Fn(u64),
) -> io::Result<u64> {
    let mut total = 0u64;
    loop {
        // Wait with no pipe held: an idle direction owns nothing.
        src.readable().await?;
        let pipe = match PipePool::take() {
            Ok(pipe) => pipe,
            Err(e) => {
                tracing::debug!(error = %e, "no pipe for splice, copying this chunk");
                match copy_chunk(src, dst, activity, &count).await? {
                    Some(n) => {
                        total += n;
                        continue;
                    }
                    None => return shutdown_write(dst).map(|()| total),
                }
            }
        };
        let read = src.try_io(Interest::READABLE, || {
            splice(src, None, &pipe.write, None, PIPE_SIZE, flags()).map_err(io::Error::from)
        });
        let mut in_pipe = match read {
            Ok(0) => {
                PipePool::give(pipe);
                activity.touch();
                return shutdown_write(dst).map(|()| total);
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                // Spurious readiness; the pipe is still empty.
                PipePool::give(pipe);
                continue;
            }
            Err(e) => {
                PipePool::give(pipe);
                return Err(e);
            }
        };
        activity.touch();
        // Drain the pipe completely before reading again (bounded in-flight data). On an error
        // the pipe is dropped (closed) with its content rather than returned.
        while in_pipe > 0 {
            dst.writable().await?;
            let wrote = dst.try_io(Interest::WRITABLE, || {
                splice(&pipe.read, None, dst, None, in_pipe, flags()).map_err(io::Error::from)
            });
            match wrote {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "relay peer accepted no bytes",
                    ))
                }
                Ok(n) => {
                    in_pipe -= n;
                    total += n as u64;
                    count(n as u64);
                    activity.touch();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
        PipePool::give(pipe);
    }
}

/// Closes the write direction of `dst` (half-close).
fn shutdown_write(dst: &TcpStream) -> io::Result<()> {
    socket2::SockRef::from(dst).shutdown(std::net::Shutdown::Write)
}

/// Moves one chunk with read/write when no pipe is available. `None` at EOF.
async fn copy_chunk(
    src: &TcpStream,
    dst: &TcpStream,
    activity: &Activity,
    count: &impl Fn(u64),
) -> io::Result<Option<u64>> {
    let mut buf = vec![0u8; FALLBACK_CHUNK];
    let n = loop {
        src.readable().await?;
        match src.try_read(&mut buf) {
            Ok(n) => break n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    };
    activity.touch();
    if n == 0 {
        return Ok(None);
    }
    let mut written = 0;
    while written < n {
        dst.writable().await?;
        match dst.try_write(&buf[written..n]) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "relay peer accepted no bytes",
                ))
            }
            Ok(m) => {
                written += m;
                count(m as u64);
                activity.touch();
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(Some(n as u64))
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
