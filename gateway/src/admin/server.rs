//! The Admin API's HTTP/1 server: [`crate::http_server`] answering with [`dispatch::handle`];
//! after shutdown, in-flight requests get up to [`DRAIN_TIMEOUT`] to finish.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::Request;
use tokio::net::TcpListener;

use super::dispatch;
use super::AdminContext;

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
    let cors = ctx.cors;
    crate::http_server::serve(
        listener,
        shutdown,
        "admin API",
        DRAIN_TIMEOUT,
        move |req: Request<Incoming>, peer: SocketAddr| {
            let ctx = ctx.clone();
            async move {
                let method = req.method().clone();
                let path = req.uri().path().to_owned();
                let reply = dispatch::handle(&ctx, peer.ip(), req).await;
                tracing::debug!(%peer, %method, path, status = reply.status.as_u16(), "admin API request");
                reply.into_response(cors)
            }
        },
    )
    .await;
    Ok(())
}
