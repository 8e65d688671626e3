//! The one HTTP/1 server loop of the Admin API, the Control API and the metrics export server:
//! accept until `shutdown` resolves, serve each connection on its own task (`TCP_NODELAY`, a
//! header read timeout), each request answered by `handler`; then stop accepting, let in-flight
//! requests finish for up to `drain`, and close what is left. [`serve_tls`] does the same
//! behind TLS ([`tls`]): each accepted connection first completes a handshake (bounded by
//! [`HANDSHAKE_TIMEOUT`]) with the certificate in force at that moment; a client that fails
//! it (plain HTTP, an untrusted or missing client certificate) is closed without an answer.

pub mod tls;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How long a client may take to send a request's headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a client may take to complete the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What answers each request: an async function of the request and the client address.
pub trait Handler: Clone + Send + Sync + 'static {
    /// The future of one answer.
    type Answer: Future<Output = Response<Full<Bytes>>> + Send + 'static;

    /// Answers `req` from `peer`.
    fn answer(&self, req: Request<Incoming>, peer: SocketAddr) -> Self::Answer;
}

impl<H, F> Handler for H
where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    type Answer = F;

    fn answer(&self, req: Request<Incoming>, peer: SocketAddr) -> F {
        self(req, peer)
    }
}

/// The Control API and the metrics export server: logs `"<title> listening"` (with the scheme),
/// serves until `shutdown` is cancelled, over TLS when `tls` is set, then drains for
/// [`crate::http_reply::DRAIN_TIMEOUT`].
pub async fn serve_until_cancelled(
    listener: TcpListener,
    shutdown: CancellationToken,
    (name, title): (&'static str, &'static str),
    tls: Option<std::sync::Arc<tls::ReloadableTls>>,
    handler: impl Handler,
) {
    if let Ok(addr) = listener.local_addr() {
        let scheme = if tls.is_some() { "https" } else { "http" };
        tracing::info!(address = %addr, scheme, "{title} listening");
    }
    let drain = crate::http_reply::DRAIN_TIMEOUT;
    serve_tls(
        listener,
        shutdown.cancelled_owned(),
        name,
        drain,
        tls,
        handler,
    )
    .await;
}

/// Serves `listener` as `name` (for logs) until `shutdown` resolves, then drains for `drain`.
pub async fn serve(
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    name: &'static str,
    drain: Duration,
    handler: impl Handler,
) {
    serve_tls(listener, shutdown, name, drain, None, handler).await;
}

/// [`serve`], over TLS when `tls` is set.
pub async fn serve_tls(
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    name: &'static str,
    drain: Duration,
    tls: Option<std::sync::Arc<tls::ReloadableTls>>,
    handler: impl Handler,
) {
    let local = listener.local_addr().ok();
    let stop = CancellationToken::new();
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let (handler, stop) = (handler.clone(), stop.clone());
                    match &tls {
                        None => connections.spawn(serve_connection(stream, peer, name, handler, stop)),
                        Some(tls) => connections.spawn(handshake_then_serve(
                            tls.acceptor(), stream, peer, name, handler, stop,
                        )),
                    };
                }
                Err(e) => {
                    // Per-connection failures (e.g. too many open files) must not stop the server.
                    tracing::warn!(server = name, error = %e, "accept failed");
                    tokio::select! {
                        () = &mut shutdown => break,
                        _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                    }
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    tracing::info!(server = name, address = ?local, "stopping");
    drop(listener);
    stop.cancel();
    let drained = tokio::time::timeout(drain, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            server = name,
            remaining = connections.len(),
            "connections still open after the drain timeout, closing them"
        );
        connections.abort_all();
    }
}

/// Completes the TLS handshake (within [`HANDSHAKE_TIMEOUT`], or until `stop`), then serves.
async fn handshake_then_serve(
    acceptor: tokio_rustls::TlsAcceptor,
    stream: TcpStream,
    peer: SocketAddr,
    name: &'static str,
    handler: impl Handler,
    stop: CancellationToken,
) {
    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream));
    let stream = tokio::select! {
        result = handshake => match result {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                tracing::info!(server = name, %peer, error = %e, "tls handshake failed");
                return;
            }
            Err(_) => {
                tracing::info!(server = name, %peer, "tls handshake timed out");
                return;
            }
        },
        _ = stop.cancelled() => return,
    };
    serve_connection(stream, peer, name, handler, stop).await;
}

/// Serves one connection; once `stop` is cancelled, finishes the current request and closes.
async fn serve_connection<S>(
    stream: S,
    peer: SocketAddr,
    name: &'static str,
    handler: impl Handler,
    stop: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| {
        let handler = handler.clone();
        async move { Ok::<_, Infallible>(handler.answer(req, peer).await) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        _ = stop.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(server = name, %peer, error = %e, "connection ended with an error");
    }
}
