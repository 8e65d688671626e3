//! The Control API (`apisix.control`, default `127.0.0.1:9090`; DESIGN.md §4, REFERENCE.md §7;
//! the JSON contract of our endpoints is docs/control-api.md).
//!
//! APISIX's endpoints ([`apisix`]): `GET /v1/schema`, `/v1/healthcheck[/{type}/{id}]`,
//! `/v1/upstreams`, `/v1/upstream/{id}`, `/v1/plugin_metadatas`, `/v1/plugin_metadata/{name}`.
//! Ours: `GET /v1/status`, `/v1/stream_routes[/{id}]`, `/v1/match` ([`routes`]);
//! `GET /v1/connections`, `DELETE /v1/connections/{id}` ([`connections`]; the delete needs an
//! admin key when `admin_key_required`, checked by the Admin API's own key check).
//! Anything else is 404 `{"error_msg":"not found"}`.
//!
//! With `apisix.control.tls` the API is served over TLS ([`serve_remote`]); connection kills
//! are recorded in the Admin API's audit trail ([`crate::admin::audit`]).

mod apisix;
mod connections;
mod routes;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use percent_encoding::percent_decode_str;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::admin::request::QueryArgs;
use crate::config::Config;
use crate::http_reply as http;
use crate::proxy::ProxyContext;
use crate::snapshot::SharedSnapshot;
use crate::store::Store;

/// What the Control API reads.
pub struct ControlContext {
    pub config: Arc<Config>,
    pub proxy: Arc<ProxyContext>,
    pub snapshot: SharedSnapshot,
    pub store: Option<Arc<dyn Store>>,
    /// When the gateway started (for `uptime_secs`).
    pub started: Instant,
    /// The Admin API's audit trail, where connection kills are recorded.
    pub audit: Option<crate::admin::audit::AuditLog>,
}

impl std::fmt::Debug for ControlContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlContext").finish_non_exhaustive()
    }
}

impl ControlContext {
    /// The store key prefix (`/apisix`).
    fn key_prefix(&self) -> String {
        let trimmed = self.config.etcd.prefix.trim_matches('/');
        if trimmed.is_empty() {
            String::new()
        } else {
            format!("/{trimmed}")
        }
    }
}

/// One parsed request.
pub(crate) struct Call {
    pub method: Method,
    /// Percent-decoded path segments after `/v1`.
    pub segments: Vec<String>,
    pub args: QueryArgs,
    pub headers: hyper::HeaderMap,
    /// The client's address.
    pub peer: SocketAddr,
}

/// Serves the Control API on `listener` until `shutdown` is cancelled.
pub async fn serve(listener: TcpListener, ctx: Arc<ControlContext>, shutdown: CancellationToken) {
    serve_remote(listener, ctx, None, shutdown).await;
}

/// [`serve`], over TLS when `tls` is set.
pub async fn serve_remote(
    listener: TcpListener,
    ctx: Arc<ControlContext>,
    tls: Option<Arc<crate::http_server::tls::ReloadableTls>>,
    shutdown: CancellationToken,
) {
    let names = ("control api", "control API");
    crate::http_server::serve_until_cancelled(listener, shutdown, names, tls, move |req, peer| {
        let ctx = ctx.clone();
        async move { handle(&ctx, req, peer).await }
    })
    .await
}

/// Answers one request.
pub async fn handle(
    ctx: &ControlContext,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Response<Full<Bytes>> {
    let path = percent_decode_str(req.uri().path())
        .decode_utf8_lossy()
        .into_owned();
    let Some(rest) = path
        .strip_prefix("/v1/")
        .or(if path == "/v1" { Some("") } else { None })
    else {
        return not_found();
    };
    let call = Call {
        method: req.method().clone(),
        segments: rest.split('/').map(str::to_owned).collect(),
        args: QueryArgs::parse(req.uri().query()),
        headers: req.headers().clone(),
        peer,
    };
    let response = dispatch(ctx, &call).await;
    tracing::debug!(%peer, method = %call.method, path, status = response.status().as_u16(), "control API request");
    response
}

async fn dispatch(ctx: &ControlContext, call: &Call) -> Response<Full<Bytes>> {
    let segs: Vec<&str> = call.segments.iter().map(String::as_str).collect();
    match (&call.method, segs.as_slice()) {
        (&Method::GET, ["schema"]) => apisix::schema(ctx),
        (&Method::GET, ["healthcheck"]) => apisix::healthcheck_all(ctx),
        (&Method::GET, ["healthcheck", kind]) => apisix::healthcheck_one(ctx, kind, ""),
        (&Method::GET, ["healthcheck", kind, id]) => apisix::healthcheck_one(ctx, kind, id),
        (&Method::GET, ["upstreams"]) => apisix::upstreams(ctx).await,
        (&Method::GET, ["upstream", id]) => apisix::upstream(ctx, id).await,
        (&Method::GET, ["plugin_metadatas"]) => apisix::plugin_metadatas(ctx),
        (&Method::GET, ["plugin_metadata", name]) => apisix::plugin_metadata(ctx, name),
        (&Method::GET, ["status"]) => routes::status(ctx).await,
        (&Method::GET, ["stream_routes"]) => routes::stream_routes(ctx),
        (&Method::GET, ["stream_routes", id]) => routes::stream_route(ctx, id),
        (&Method::GET, ["match"]) => routes::explain(ctx, &call.args),
        (&Method::GET, ["connections"]) => connections::list(ctx, &call.args),
        (&Method::DELETE, ["connections", id]) => connections::kill(ctx, call, id),
        _ => not_found(),
    }
}

/// 404 `{"error_msg":"not found"}`.
fn not_found() -> Response<Full<Bytes>> {
    http::error(StatusCode::NOT_FOUND, "not found")
}
