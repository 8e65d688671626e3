//! The Admin API's HTTP/1 server: accepts connections until `shutdown` resolves, serves each on
//! its own task, then lets in-flight requests finish (bounded by [`DRAIN_TIMEOUT`]).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::dispatch;
use super::AdminContext;

/// How long a client may take to send a request's headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long connections may take to finish their request after shutdown.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves the Admin API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    ctx: Arc<AdminContext>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let local = listener.local_addr()?;
    tracing::info!(address = %local, "admin API listening");
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);

    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    connections.spawn(serve_connection(stream, peer, ctx.clone(), stop_rx.clone()));
                }
                Err(err) => {
                    // Per-connection failures (e.g. too many open files) must not stop the server.
                    tracing::warn!(address = %local, error = %err, "admin API: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }

    tracing::info!(address = %local, "admin API stopping");
    drop(listener);
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            remaining = connections.len(),
            "admin API: connections still open after the drain timeout, closing them"
        );
        connections.abort_all();
    }
    Ok(())
}

/// Serves one connection; on shutdown, finishes the current request and closes.
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    ctx: Arc<AdminContext>,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let cors = ctx.cors;
    let service = service_fn(move |req| {
        let ctx = ctx.clone();
        async move {
            let method = req.method().clone();
            let path = req.uri().path().to_owned();
            let reply = dispatch::handle(&ctx, peer.ip(), req).await;
            tracing::debug!(%peer, %method, path, status = reply.status.as_u16(), "admin API request");
            Ok::<_, Infallible>(reply.into_response(cors))
        }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = stopped(&mut stop) => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(err) = result {
        tracing::debug!(%peer, error = %err, "admin API: connection ended with an error");
    }
}

/// Resolves once shutdown was signalled (or the sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}
