//! The Prometheus export server (`plugin_attr.prometheus.export_addr`): like APISIX, it serves
//! the metrics on every path (`export_uri` is where scrapers are pointed by convention), in
//! the text format 0.0.4 unless the request's `Accept` asks for OpenMetrics.

use std::sync::Arc;

use hyper::StatusCode;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::text::{self, Exposition};
use super::MetricsContext;
use crate::http_reply as http;

/// The OpenMetrics content type prometheus-client produces.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serves metrics on `listener` until `shutdown` is cancelled.
pub async fn serve(listener: TcpListener, ctx: Arc<MetricsContext>, shutdown: CancellationToken) {
    let names = ("prometheus export", "prometheus export server");
    crate::http_server::serve_until_cancelled(
        listener,
        shutdown,
        names,
        None,
        move |req: hyper::Request<hyper::body::Incoming>, _peer| {
            let ctx = ctx.clone();
            let accept = req
                .headers()
                .get(hyper::header::ACCEPT)
                .and_then(|v| v.to_str().ok());
            let format = text::negotiate(accept);
            async move {
                let content_type = match format {
                    Exposition::Text => text::CONTENT_TYPE,
                    Exposition::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
                };
                http::reply(StatusCode::OK, content_type, ctx.render(format).await)
            }
        },
    )
    .await
}
