//! Typed HTTP client of the gateway's Admin API ([`AdminClient`]) and Control API
//! ([`ControlClient`]), used by `apisixctl` and `apisix-tui`.
//!
//! Both wrap one `reqwest::Client` with a per-request timeout; `https://` URLs use the TLS
//! settings of [`tls::ClientTls`] (rustls), and a failed handshake is one
//! [`ClientError::Tls`] with its reason (unknown issuer, name mismatch, expired, client
//! certificate required). Every call
//! maps a non-2xx answer to [`ClientError::Status`], carrying the HTTP status and the server's
//! `error_msg` (or `message` for APISIX's `{"message":"Key not found"}`), so callers can print
//! `error: <status> <error_msg>` without parsing bodies themselves.

mod admin;
mod control;
pub mod tls;

use std::time::Duration;

use serde_json::Value;

pub use admin::{AdminClient, PutOutcome, PutResult};
pub use control::{ConnectionFilter, ControlClient, ControlGet, MatchQuery};
pub use tls::ClientTls;

/// The Admin API URL `apisixctl` and `apisix-tui` use when none is given.
pub const DEFAULT_ADMIN_URL: &str = "http://127.0.0.1:9180";
/// The Control API URL `apisixctl` and `apisix-tui` use when none is given.
pub const DEFAULT_CONTROL_URL: &str = "http://127.0.0.1:9090";

/// A failed Admin or Control API call.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with a non-2xx status; `message` is its `error_msg`, `message`,
    /// or the raw body when it is not JSON.
    #[error("{status} {message}")]
    Status {
        status: u16,
        message: String,
        /// The whole body as JSON (`Value::String` when it was not JSON).
        body: Value,
    },
    /// The request did not get an answer (connection refused, timeout, DNS...).
    #[error("cannot reach {url}: {reason}")]
    Transport { url: String, reason: String },
    /// The server answered 2xx with a body we could not read.
    #[error("unexpected response from {url}: {reason}")]
    Decode { url: String, reason: String },
    /// The configured base URL is not a usable http URL.
    #[error("invalid url {url}: {reason}")]
    Url { url: String, reason: String },
    /// The TLS handshake failed: `reason` says why in one line.
    #[error("tls handshake with {url} failed: {reason}")]
    Tls { url: String, reason: String },
    /// The TLS settings cannot be used (a file missing, half a client certificate...).
    #[error("tls settings: {reason}")]
    TlsSetup { reason: String },
}

impl ClientError {
    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the server said the object does not exist (404).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// Whether the server could not be reached at all (a failed TLS handshake included).
    pub fn is_transport(&self) -> bool {
        matches!(
            self,
            ClientError::Transport { .. } | ClientError::Tls { .. }
        )
    }
}

/// The parsed `base_url` and an HTTP client for it (`tls` applies when it is `https://`).
fn endpoint(
    base_url: &str,
    timeout: Duration,
    tls: &ClientTls,
) -> Result<(url::Url, reqwest::Client), ClientError> {
    let base = parse_base(base_url)?;
    let http = http_client(timeout, &base, tls)?;
    Ok((base, http))
}

/// Builds the shared reqwest client; `tls` applies when `base` is `https://`.
fn http_client(
    timeout: Duration,
    base: &url::Url,
    tls: &ClientTls,
) -> Result<reqwest::Client, ClientError> {
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("apisixctl/", env!("CARGO_PKG_VERSION")));
    if base.scheme() == "https" {
        builder = builder.use_preconfigured_tls(tls.rustls_config()?);
    }
    builder.build().map_err(|e| ClientError::Url {
        url: String::new(),
        reason: chain(&e),
    })
}

/// Parses a base URL (`http://host:port[/prefix]`), accepting a bare `host:port`.
fn parse_base(base: &str) -> Result<url::Url, ClientError> {
    let with_scheme = if base.contains("://") {
        base.to_owned()
    } else {
        format!("http://{base}")
    };
    let url = url::Url::parse(&with_scheme).map_err(|e| ClientError::Url {
        url: base.to_owned(),
        reason: e.to_string(),
    })?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(ClientError::Url {
            url: base.to_owned(),
            reason: "only http:// and https:// are supported".to_owned(),
        });
    }
    if url.host_str().is_none() {
        return Err(ClientError::Url {
            url: base.to_owned(),
            reason: "missing host".to_owned(),
        });
    }
    Ok(url)
}

/// `base` joined with percent-encoded path segments (the base path is kept as a prefix).
fn join(base: &url::Url, segments: &[&str]) -> url::Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty();
        path.extend(segments);
    }
    url
}

/// An error and its sources on one line (`a: b: c`), leaving out reqwest's wrapper texts
/// that repeat the URL (`error sending request for url (...)`, `client error (Connect)`).
fn chain(err: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = current {
        let text = e.to_string();
        let wrapper =
            text.starts_with("error sending request") || text.starts_with("client error (");
        if !wrapper && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    if parts.is_empty() {
        err.to_string()
    } else {
        parts.join(": ")
    }
}

/// Sends a request and returns the status and the body parsed as JSON (`Null` when empty,
/// `Value::String` when not JSON), mapping non-2xx to [`ClientError::Status`].
async fn send(req: reqwest::RequestBuilder, url: &url::Url) -> Result<(u16, Value), ClientError> {
    let resp = req.send().await.map_err(|e| transport_error(&e, url))?;
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.map_err(|e| ClientError::Transport {
        url: url.to_string(),
        reason: chain(&e),
    })?;
    let body = parse_body(&bytes);
    if (200..300).contains(&status) {
        Ok((status, body))
    } else {
        Err(ClientError::Status {
            status,
            message: error_message(&body),
            body,
        })
    }
}

/// A request that got no answer: [`ClientError::Tls`] when TLS failed, else `Transport`
/// (with a hint when an `http://` URL reached a TLS port).
fn transport_error(err: &reqwest::Error, url: &url::Url) -> ClientError {
    if let Some(reason) = tls::handshake_problem(err) {
        return ClientError::Tls {
            url: url.to_string(),
            reason,
        };
    }
    let mut reason = chain(err);
    if url.scheme() == "http" && reason.contains("invalid HTTP version") {
        reason.push_str(" (the server may serve HTTPS here: try https://)");
    }
    ClientError::Transport {
        url: url.to_string(),
        reason,
    }
}

fn parse_body(bytes: &[u8]) -> Value {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Value::Null;
    }
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).trim().to_owned()))
}

/// The human message of an error body: `error_msg` (+ `description`), `message`, or the text.
fn error_message(body: &Value) -> String {
    match body {
        Value::Object(map) => {
            let main = map
                .get("error_msg")
                .or_else(|| map.get("message"))
                .and_then(Value::as_str);
            match (main, map.get("description").and_then(Value::as_str)) {
                (Some(m), Some(d)) => format!("{m}: {d}"),
                (Some(m), None) => m.to_owned(),
                _ => body.to_string(),
            }
        }
        Value::String(s) => s.clone(),
        Value::Null => String::from("(empty body)"),
        other => other.to_string(),
    }
}

fn decode<T: serde::de::DeserializeOwned>(url: &url::Url, body: Value) -> Result<T, ClientError> {
    serde_json::from_value(body).map_err(|e| ClientError::Decode {
        url: url.to_string(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_message_prefers_error_msg_and_appends_description() {
        let body =
            serde_json::json!({"error_msg":"failed to check token","description":"wrong apikey"});
        assert_eq!(error_message(&body), "failed to check token: wrong apikey");
        let nf = serde_json::json!({"message":"Key not found"});
        assert_eq!(error_message(&nf), "Key not found");
        assert_eq!(
            error_message(&Value::String("invalid subsystem passed".into())),
            "invalid subsystem passed"
        );
    }

    #[test]
    fn status_error_displays_status_then_message() {
        let err = ClientError::Status {
            status: 400,
            message: "missing configurations".into(),
            body: Value::Null,
        };
        assert_eq!(err.to_string(), "400 missing configurations");
        assert!(!err.is_not_found());
    }

    #[test]
    fn base_url_accepts_bare_host_port_and_keeps_prefix() {
        let base = parse_base("127.0.0.1:9180").expect("valid");
        assert_eq!(
            join(&base, &["apisix", "admin", "stream_routes", "a b"]).as_str(),
            "http://127.0.0.1:9180/apisix/admin/stream_routes/a%20b"
        );
        let prefixed = parse_base("http://gw/prefix/").expect("valid");
        assert_eq!(
            join(&prefixed, &["v1", "status"]).path(),
            "/prefix/v1/status"
        );
        assert!(parse_base("https://x").is_ok());
        assert!(parse_base("ftp://x").is_err());
    }

    #[test]
    fn non_json_bodies_become_strings_and_empty_is_null() {
        assert_eq!(parse_body(b"  \n"), Value::Null);
        assert_eq!(parse_body(b"done"), Value::String("done".into()));
        assert_eq!(parse_body(br#"{"a":1}"#), serde_json::json!({"a":1}));
    }
}
