//! Client and upstream streams that are plain TCP or TLS, and the relay between them: two
//! plain sockets use the borrowed-halves relay, anything with TLS the generic one. A TLS peer
//! that closes its TCP side without `close_notify` reads as EOF (half-close is kept).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::proxy::relay::{relay, relay_tcp, RelayEngine, RelayOutcome, RelayTerms};

/// The client side of a connection.
#[derive(Debug)]
pub enum ClientStream {
    Plain(TcpStream),
    /// Terminated TLS: reads and writes are the decrypted bytes.
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

/// The upstream side of a connection.
#[derive(Debug)]
pub enum UpstreamStream {
    Plain(TcpStream),
    /// TLS to the upstream (`scheme: tls`).
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

macro_rules! delegate_io {
    ($ty:ident) => {
        impl AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    $ty::Plain(s) => Pin::new(s).poll_read(cx, buf),
                    // A peer that closes TCP without close_notify has still finished sending:
                    // EOF, so half-close works as on plain TCP (nginx does the same).
                    $ty::Tls(s) => match Pin::new(s.as_mut()).poll_read(cx, buf) {
                        Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                            Poll::Ready(Ok(()))
                        }
                        other => other,
                    },
                }
            }
        }

        impl AsyncWrite for $ty {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                match self.get_mut() {
                    $ty::Plain(s) => Pin::new(s).poll_write(cx, buf),
                    $ty::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
                }
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    $ty::Plain(s) => Pin::new(s).poll_flush(cx),
                    $ty::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
                }
            }

            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    $ty::Plain(s) => Pin::new(s).poll_shutdown(cx),
                    $ty::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
                }
            }
        }
    };
}

delegate_io!(ClientStream);
delegate_io!(UpstreamStream);

/// Relays `client` and `upstream` (see [`relay`]); plain TCP on both legs uses `engine`.
pub async fn relay_streams(
    engine: RelayEngine,
    client: ClientStream,
    upstream: UpstreamStream,
    terms: RelayTerms<'_>,
    killed: impl std::future::Future<Output = ()>,
) -> RelayOutcome {
    match (client, upstream) {
        (ClientStream::Plain(mut c), UpstreamStream::Plain(mut u)) => {
            relay_tcp(engine, &mut c, &mut u, terms, killed).await
        }
        (c, u) => relay(c, u, terms, killed).await,
    }
}
