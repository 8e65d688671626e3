//! Reading a connection's first bytes without consuming them: [`peek_until`] peeks each time
//! the socket becomes readable with new bytes (bounded size, bounded time) until a decoder
//! says it has seen enough. Used for the PROXY protocol header (to learn its exact length
//! before reading it) and the TLS ClientHello (`sni_preread`, which must leave every byte in
//! place).

use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

use nix::sys::socket::{recv, MsgFlags};
use tokio::io::Interest;
use tokio::net::TcpStream;

/// What a decoder makes of the bytes peeked so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peeked<T> {
    /// Decided.
    Done(T),
    /// Not enough bytes yet.
    NeedMore,
}

/// Peeks at `stream` until `decode` returns [`Peeked::Done`], at most `max` bytes and `limit`
/// time. `decode` always sees every byte available so far (from the first). Fails with
/// `TimedOut` after `limit`, `UnexpectedEof` when the peer closes first, and `InvalidData`
/// when `max` bytes were not enough.
pub async fn peek_until<T>(
    stream: &TcpStream,
    max: usize,
    limit: Duration,
    mut decode: impl FnMut(&[u8]) -> Peeked<T>,
) -> io::Result<T> {
    let work = async {
        let mut buf = vec![0u8; max];
        let mut n = stream.peek(&mut buf).await?;
        let mut watch: Option<TcpStream> = None;
        loop {
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed before the header was complete",
                ));
            }
            if let Peeked::Done(value) = decode(&buf[..n]) {
                return Ok(value);
            }
            if n >= max {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("no complete header within the first {max} bytes"),
                ));
            }
            let watch = match watch.as_ref() {
                Some(watch) => watch,
                None => watch.insert(watch_readable(stream)?),
            };
            n = peek_more(watch, &mut buf, n).await?;
        }
    };
    tokio::time::timeout(limit, work).await.map_err(|_| {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no complete header within {limit:?}"),
        )
    })?
}

/// A second registration of the socket with the reactor (a duplicate descriptor of the same
/// socket), used only to wait for new bytes. A peek leaves the bytes, and so the readiness, in
/// place; to wait for *more*, the waiter must clear a readiness that still has bytes behind
/// it. Doing that on the stream's own registration would leave the stream's later reads
/// waiting for bytes that are already there, so it is done on this one. Dropping it
/// deregisters and closes the duplicate only (a close is not a shutdown: the socket stays
/// open through the original descriptor).
fn watch_readable(stream: &TcpStream) -> io::Result<TcpStream> {
    let duplicate = std::net::TcpStream::from(stream.as_fd().try_clone_to_owned()?);
    // The duplicate shares the original's file status flags, so it is non-blocking already.
    TcpStream::from_std(duplicate)
}

/// Waits until the socket holds more than `seen` bytes, then peeks them all into `buf`; 0 when
/// the peer closed its side with nothing new. No timer: each look follows a wakeup from the
/// kernel (new bytes or the peer's FIN).
async fn peek_more(watch: &TcpStream, buf: &mut [u8], seen: usize) -> io::Result<usize> {
    loop {
        let ready = watch.ready(Interest::READABLE).await?;
        let peeked = watch.try_io(Interest::READABLE, || {
            let flags = MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT;
            let n = recv(watch.as_raw_fd(), buf, flags).map_err(io::Error::from)?;
            if n != 0 && n <= seen {
                // Nothing new: clear this registration's readiness and wait again.
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Ok(n)
        });
        match peeked {
            Ok(n) => return Ok(n),
            // Closed readiness is never cleared: nothing more will come.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && ready.is_read_closed() => {
                return Ok(0)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}
