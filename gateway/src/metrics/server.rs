//! The Prometheus export server (`plugin_attr.prometheus.export_addr`): like APISIX, it serves
//! the metrics on every path (`export_uri` is where scrapers are pointed by convention).

use std::sync::Arc;

use hyper::StatusCode;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::MetricsContext;
use crate::http_reply as http;

/// The OpenMetrics content type prometheus-client produces.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serves metrics on `listener` until `shutdown` is cancelled.
pub async fn serve(listener: TcpListener, ctx: Arc<MetricsContext>, shutdown: CancellationToken) {
    let names = ("prometheus export", "prometheus export server");
    crate::http_server::serve_until_cancelled(
        listener,
        shutdown,
        names,
        None,
        move |_req, _peer| {
            let ctx = ctx.clone();
            async move { http::reply(StatusCode::OK, CONTENT_TYPE, ctx.render().await) }
        },
    )
    .await
}
