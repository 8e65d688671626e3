//! Admin API and Control API helpers for a running test gateway: a small request builder
//! (key in header / query / cookie / none, JSON or raw body) and the [`Reply`] it returns.

use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::Value;

use crate::STEP_TIMEOUT;

/// How a request presents the admin key.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyAuth {
    /// `X-API-KEY: <key>`.
    Header(String),
    /// `?api_key=<key>`.
    Query(String),
    /// `Cookie: x_api_key=<key>`.
    Cookie(String),
    /// No key at all.
    None,
}

/// One HTTP answer: status, headers and the body as text (see [`Reply::json`]).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Reply {
    /// The body parsed as JSON; panics (naming the body) when it is not JSON.
    pub fn json(&self) -> Value {
        self.try_json().unwrap_or_else(|| {
            panic!(
                "expected a JSON body, got status {} body {:?}",
                self.status, self.text
            )
        })
    }

    /// The body parsed as JSON, if it is JSON.
    pub fn try_json(&self) -> Option<Value> {
        serde_json::from_str(&self.text).ok()
    }

    /// `error_msg` of a JSON error body, or "" when absent.
    pub fn error_msg(&self) -> String {
        self.try_json()
            .and_then(|v| {
                v.get("error_msg")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_default()
    }
}

/// A pending Admin API request; finish it with [`AdminRequest::send`].
#[derive(Debug)]
pub struct AdminRequest {
    client: reqwest::Client,
    method: Method,
    url: String,
    auth: KeyAuth,
    body: Option<Vec<u8>>,
}

impl AdminRequest {
    pub(crate) fn new(client: reqwest::Client, method: Method, url: String, auth: KeyAuth) -> Self {
        AdminRequest {
            client,
            method,
            url,
            auth,
            body: None,
        }
    }

    /// Replaces the way the key is presented.
    pub fn auth(mut self, auth: KeyAuth) -> Self {
        self.auth = auth;
        self
    }

    /// A JSON body.
    pub fn json(mut self, body: &Value) -> Self {
        self.body = Some(body.to_string().into_bytes());
        self
    }

    /// A raw body (bad JSON, oversized bodies).
    pub fn raw(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Sends the request; an error only for transport failures (any HTTP status is a reply).
    pub async fn try_send(self) -> anyhow::Result<Reply> {
        let mut url = self.url;
        let mut req = self.client.request(self.method.clone(), &url);
        match &self.auth {
            KeyAuth::Header(key) => req = req.header("X-API-KEY", key),
            KeyAuth::Query(key) => {
                url.push(if url.contains('?') { '&' } else { '?' });
                url.push_str("api_key=");
                url.push_str(key);
                req = self.client.request(self.method.clone(), &url);
            }
            KeyAuth::Cookie(key) => req = req.header("Cookie", format!("x_api_key={key}")),
            KeyAuth::None => {}
        }
        if let Some(body) = self.body {
            req = req.header("Content-Type", "application/json").body(body);
        }
        let resp = req
            .timeout(STEP_TIMEOUT)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{} {url}: {e}", self.method))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp
            .text()
            .await
            .map_err(|e| anyhow::anyhow!("{} {url}: reading the body: {e}", self.method))?;
        Ok(Reply {
            status,
            headers,
            text,
        })
    }

    /// Sends the request; panics on transport failures.
    pub async fn send(self) -> Reply {
        let what = format!("{} {}", self.method, self.url);
        self.try_send()
            .await
            .unwrap_or_else(|e| panic!("admin request {what} failed: {e:#}"))
    }
}

/// The Admin API of one gateway, detached from the [`crate::gateway::Gateway`] handle so that
/// spawned tasks can keep sending requests (see [`crate::gateway::Gateway::admin_handle`]).
#[derive(Debug, Clone)]
pub struct AdminHandle {
    client: reqwest::Client,
    /// `http://<ip>:<port>/apisix/admin`.
    base: String,
    auth: KeyAuth,
}

impl AdminHandle {
    pub(crate) fn new(client: reqwest::Client, base: String, auth: KeyAuth) -> Self {
        AdminHandle { client, base, auth }
    }

    /// A request to `/apisix/admin<path>` with the gateway's admin key.
    pub fn request(&self, method: Method, path: &str) -> AdminRequest {
        AdminRequest::new(
            self.client.clone(),
            method,
            format!("{}{path}", self.base),
            self.auth.clone(),
        )
    }
}

/// A plain HTTP client for the test's own calls: no proxy from the environment, short timeouts.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(STEP_TIMEOUT)
        .connect_timeout(STEP_TIMEOUT)
        .build()
        .expect("building a reqwest client with static settings")
}

/// Like [`http_client`], over TLS with `tls` (trust and client certificate).
pub fn https_client(tls: std::sync::Arc<rustls::ClientConfig>) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(STEP_TIMEOUT)
        .connect_timeout(STEP_TIMEOUT)
        .use_preconfigured_tls((*tls).clone())
        .build()
        .expect("building a reqwest client with static settings")
}

/// What a reply must look like (see [`check_reply`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    /// Only the status is checked.
    Status,
    /// The JSON body has exactly this `error_msg` (other keys allowed).
    ErrorMsg(String),
    /// `error_msg` starts with this text.
    ErrorMsgPrefix(String),
    /// The body is exactly this JSON value.
    Json(Value),
    /// The body, with surrounding whitespace trimmed, is exactly this text.
    Text(String),
}

/// Checks `reply` against `status` and `expect`; the error names what differed.
pub fn check_reply(reply: &Reply, status: u16, expect: &Expect) -> Result<(), String> {
    if reply.status != status {
        return Err(format!(
            "status {} (expected {status}), body {:?}",
            reply.status, reply.text
        ));
    }
    let body = reply.try_json();
    let msg = body
        .as_ref()
        .and_then(|v| v.get("error_msg"))
        .and_then(Value::as_str);
    let ok = match expect {
        Expect::Status => true,
        Expect::ErrorMsg(want) => msg == Some(want.as_str()),
        Expect::ErrorMsgPrefix(want) => msg.is_some_and(|m| m.starts_with(want.as_str())),
        Expect::Json(want) => body.as_ref() == Some(want),
        Expect::Text(want) => reply.text.trim() == want,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("body {:?}, expected {expect:?}", reply.text))
    }
}
