//! Response helpers of the Control API and the metrics export server (both served by
//! [`crate::http_server`]).

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use serde::Serialize;

/// A response with a body and content type.
pub fn reply(
    status: StatusCode,
    content_type: &str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

/// A JSON response of `value` (a `serde_json::Value` or a `model::control` type).
pub fn json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response<Full<Bytes>> {
    match serde_json::to_string(value) {
        Ok(body) => reply(status, "application/json", body),
        // Our types have string keys only; this is a bug, said as APISIX would.
        Err(e) => reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            "application/json",
            serde_json::json!({ "error_msg": format!("failed to encode the response: {e}") })
                .to_string(),
        ),
    }
}

/// APISIX's error body: `{"error_msg": msg}`.
pub fn error(status: StatusCode, msg: impl Into<String>) -> Response<Full<Bytes>> {
    json(status, &serde_json::json!({ "error_msg": msg.into() }))
}

/// How long Control API and metrics requests may take to finish after shutdown (less than the
/// observability services wait for these servers to stop).
pub const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);
