//! Reading a connection's first bytes without consuming them: [`peek_until`] peeks in a loop
//! (bounded size, bounded time) until a decoder says it has seen enough. Used for the PROXY
//! protocol header (to learn its exact length before reading it) and the TLS ClientHello
//! (`sni_preread`, which must leave every byte in place).

use std::io;
use std::time::Duration;

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
        let mut seen = 0usize;
        let mut backoff = Duration::from_millis(1);
        loop {
            let n = stream.peek(&mut buf).await?;
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
            // `peek` does not clear readiness, so a second peek with nothing new would spin:
            // wait a little (growing) before looking again.
            if n == seen {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_millis(50));
            } else {
                backoff = Duration::from_millis(1);
            }
            seen = n;
        }
    };
    tokio::time::timeout(limit, work).await.map_err(|_| {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no complete header within {limit:?}"),
        )
    })?
}
