//! The Admin API's HTTP/1 server: [`crate::http_server`] (over TLS when `https_admin` is on)
//! answering with [`dispatch::handle`], then recording writes in the audit trail; after
//! shutdown, in-flight requests get up to [`DRAIN_TIMEOUT`] to finish.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Method, Request};
use tokio::net::TcpListener;

use super::audit::{self, AuditEntry, Caller};
use super::dispatch;
use super::request::QueryArgs;
use super::response::Reply;
use super::AdminContext;
use crate::http_server::tls::ReloadableTls;

/// How long connections may take to finish their request after shutdown.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves the Admin API on `listener` until `shutdown` resolves (plain HTTP).
pub async fn serve(
    listener: TcpListener,
    ctx: Arc<AdminContext>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_remote(listener, ctx, None, shutdown).await
}

/// Serves the Admin API on `listener`, over TLS when `tls` is set, until `shutdown` resolves.
pub async fn serve_remote(
    listener: TcpListener,
    ctx: Arc<AdminContext>,
    tls: Option<Arc<ReloadableTls>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let local = listener.local_addr()?;
    let scheme = match &tls {
        None => "http",
        Some(t) if t.files().mutual() => "https (mutual TLS)",
        Some(_) => "https",
    };
    tracing::info!(address = %local, scheme, "admin API listening");
    let cors = ctx.cors;
    crate::http_server::serve_tls(
        listener,
        shutdown,
        "admin API",
        DRAIN_TIMEOUT,
        tls,
        move |req: Request<Incoming>, peer: SocketAddr| {
            let ctx = ctx.clone();
            async move {
                let method = req.method().clone();
                let path = req.uri().path().to_owned();
                let caller = (ctx.audit.is_some() && audit::is_write(&method))
                    .then(|| {
                        let args = QueryArgs::parse(req.uri().query());
                        Caller::identify(&ctx.config.admin, req.headers(), &args)
                    });
                let reply = dispatch::handle(&ctx, peer.ip(), req).await;
                tracing::debug!(%peer, %method, path, status = reply.status.as_u16(), "admin API request");
                if let Some(caller) = caller {
                    record(&ctx, caller, peer, &method, &path, &reply).await;
                }
                reply.into_response(cors)
            }
        },
    )
    .await;
    Ok(())
}

/// Appends the audit line of one write; an accepted write carries the store's revision.
async fn record(
    ctx: &AdminContext,
    caller: Caller,
    peer: SocketAddr,
    method: &Method,
    path: &str,
    reply: &Reply,
) {
    let Some(log) = &ctx.audit else { return };
    let status = reply.status.as_u16();
    let mut entry = AuditEntry::new("admin", caller, peer, method, path, status, &reply.body);
    if reply.status.is_success() {
        // The revision right after the write: listing an empty prefix answers the store's
        // current revision without reading any object.
        let probe = format!("{}/.audit-revision/", ctx.key_prefix);
        entry.revision = ctx.store.list(&probe).await.ok().map(|(_, rev)| rev);
    }
    log.record(&entry);
}
