//! Admin API replies: JSON bodies with APISIX's trailing `\n`, plain-text bodies, nginx's HTML
//! error pages, and the headers every reply carries (`Server: APISIX/<version> (apisix-gateway/
//! <ours>)`, `X-API-VERSION: v3` on handler replies, CORS when enabled). Store failures convert
//! into 503 replies so handlers can use `?`.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde::Serialize;
use serde_json::json;

use crate::store::StoreError;

const JSON: &str = "application/json";
const TEXT: &str = "text/plain; charset=utf-8";
const HTML: &str = "text/html";

/// The `Server` header of every Admin API reply. APISIX sends `APISIX/<version>`, and clients
/// read the version from it (ADC: `/APISIX\/(.*)/`, then gates features on it), so we advertise
/// the APISIX release whose Admin API we match (REFERENCE.md's snapshot, 3.18.0), followed by
/// our own name and version as a comment.
pub(crate) const SERVER: &str = concat!(
    "APISIX/3.18.0 (apisix-gateway/",
    env!("CARGO_PKG_VERSION"),
    ")"
);

/// One reply before it becomes a hyper response.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: StatusCode,
    pub body: Bytes,
    content_type: Option<&'static str>,
    /// Whether to send `X-API-VERSION: v3` (resource handler replies, not 401s).
    api_version: bool,
    /// `OPTIONS` preflight answer: the extra CORS headers.
    preflight: bool,
    /// Extra headers (standalone mode's `X-Digest` / `X-Last-Modified`).
    extra: Vec<(&'static str, HeaderValue)>,
}

/// The result of a handler: the error side is a finished reply too.
pub(crate) type HandlerResult = Result<Reply, Reply>;

impl Reply {
    fn new(status: StatusCode, body: Bytes, content_type: Option<&'static str>) -> Self {
        Reply {
            status,
            body,
            content_type,
            api_version: false,
            preflight: false,
            extra: Vec::new(),
        }
    }

    /// A body of `content_type`, written as is.
    pub fn with_body(status: StatusCode, body: Bytes, content_type: &'static str) -> Self {
        Reply::new(status, body, Some(content_type))
    }

    /// Adds header `name: value` (skipped when `value` is not a valid header value).
    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        if let Ok(value) = HeaderValue::from_str(value) {
            self.extra.push((name, value));
        }
        self
    }

    /// A JSON body followed by `\n`, as APISIX writes it.
    pub fn json(status: StatusCode, value: &impl Serialize) -> Self {
        let mut body = serde_json::to_vec(value).unwrap_or_else(|err| {
            tracing::error!(error = %err, "admin: failed to encode a reply");
            b"{}".to_vec()
        });
        body.push(b'\n');
        Reply::new(status, Bytes::from(body), Some(JSON))
    }

    /// `{"error_msg": msg}`.
    pub fn error(status: StatusCode, msg: impl Into<String>) -> Self {
        Reply::json(status, &json!({ "error_msg": msg.into() }))
    }

    /// 400 `{"error_msg": msg}`.
    pub fn bad_request(msg: impl Into<String>) -> Self {
        Reply::error(StatusCode::BAD_REQUEST, msg)
    }

    /// 404 `{"message":"Key not found"}` (APISIX uses `message` here, not `error_msg`).
    pub fn key_not_found() -> Self {
        Reply::json(
            StatusCode::NOT_FOUND,
            &json!({ "message": "Key not found" }),
        )
    }

    /// 401 `{"error_msg":"failed to check token","description": why}`.
    pub fn unauthorized(why: &str) -> Self {
        Reply::json(
            StatusCode::UNAUTHORIZED,
            &json!({ "error_msg": "failed to check token", "description": why }),
        )
    }

    /// A plain string body, written as is (no trailing newline).
    pub fn plain(status: StatusCode, text: &str) -> Self {
        Reply::new(status, Bytes::copy_from_slice(text.as_bytes()), Some(TEXT))
    }

    /// An empty body.
    pub fn empty(status: StatusCode) -> Self {
        Reply::new(status, Bytes::new(), None)
    }

    /// nginx's own error page for `status` (403 from `allow_admin`, 404 outside the API).
    pub fn nginx_page(status: StatusCode) -> Self {
        let line = format!(
            "{} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("Error")
        );
        let page = format!(
            "<html>\r\n<head><title>{line}</title></head>\r\n<body>\r\n<center><h1>{line}</h1></center>\r\n<hr><center>openresty</center>\r\n</body>\r\n</html>\r\n"
        );
        Reply::new(status, Bytes::from(page), Some(HTML))
    }

    /// The answer to a CORS preflight (`OPTIONS`).
    pub fn cors_preflight() -> Self {
        let mut reply = Reply::new(StatusCode::OK, Bytes::new(), Some(TEXT));
        reply.preflight = true;
        reply
    }

    /// Marks a resource handler reply: it will carry `X-API-VERSION: v3`.
    pub fn versioned(mut self) -> Self {
        self.api_version = true;
        self
    }

    /// The hyper response; `cors` adds APISIX's CORS headers.
    pub fn into_response(self, cors: bool) -> Response<Full<Bytes>> {
        let mut response = Response::new(Full::new(self.body));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        if let Some(content_type) = self.content_type {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        }
        headers.insert(hyper::header::SERVER, HeaderValue::from_static(SERVER));
        if self.api_version {
            headers.insert("x-api-version", HeaderValue::from_static("v3"));
        }
        for (name, value) in self.extra {
            headers.insert(name, value);
        }
        if cors {
            let pairs: &[(&str, &str)] = if self.preflight {
                &[
                    ("access-control-allow-origin", "*"),
                    (
                        "access-control-allow-methods",
                        "POST, GET, PUT, OPTIONS, DELETE, PATCH",
                    ),
                    ("access-control-max-age", "3600"),
                    ("access-control-allow-headers", "*"),
                    ("access-control-allow-credentials", "true"),
                ]
            } else {
                &[
                    ("access-control-allow-origin", "*"),
                    ("access-control-allow-credentials", "true"),
                    ("access-control-expose-headers", "*"),
                    ("access-control-max-age", "3600"),
                ]
            };
            for (name, value) in pairs {
                headers.insert(*name, HeaderValue::from_static(value));
            }
        }
        response
    }
}

impl From<StoreError> for Reply {
    /// Any store failure is a 503 with the store's message (APISIX: the etcd error).
    fn from(err: StoreError) -> Self {
        tracing::warn!(error = %err, "admin: store request failed");
        Reply::error(StatusCode::SERVICE_UNAVAILABLE, err.to_string()).versioned()
    }
}

impl From<model::ValidationError> for Reply {
    /// A rejected write: 400 with model's exact message.
    fn from(err: model::ValidationError) -> Self {
        Reply::bad_request(err.message).versioned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_reply_ends_with_newline() {
        let reply = Reply::error(StatusCode::BAD_REQUEST, "boom");
        assert_eq!(&reply.body[..], b"{\"error_msg\":\"boom\"}\n");
    }

    #[test]
    fn nginx_403_page_names_the_status() {
        let reply = Reply::nginx_page(StatusCode::FORBIDDEN);
        let text = String::from_utf8(reply.body.to_vec()).expect("page is ascii");
        assert!(text.contains("<center><h1>403 Forbidden</h1></center>"));
    }

    #[test]
    fn server_header_advertises_the_apisix_release_then_ours() {
        let response = Reply::empty(StatusCode::OK).into_response(false);
        let server = response.headers()["server"].to_str().expect("ascii header");
        assert_eq!(
            server,
            format!(
                "APISIX/3.18.0 (apisix-gateway/{})",
                env!("CARGO_PKG_VERSION")
            )
        );
    }

    #[test]
    fn only_versioned_replies_carry_the_api_version_header() {
        let plain = Reply::unauthorized("missing apikey").into_response(false);
        assert!(plain.headers().get("x-api-version").is_none());
        let versioned = Reply::key_not_found().versioned().into_response(false);
        assert_eq!(versioned.headers()["x-api-version"], "v3");
    }
}
