//! Where the dashboard's data comes from: the [`DataSource`] trait (one snapshot of the
//! gateway, plus the write actions and the route test), and [`HttpSource`], its reqwest
//! implementation over the Admin and Control APIs. State and render tests use fixture
//! snapshots instead; `model::client` can replace `HttpSource` later behind the same trait.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::control_api::{
    admin_routes, admin_upstreams, AdminRoute, AdminUpstream, Connection, ControlList, RouteInfo,
    Status,
};

/// Everything one refresh reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// `GET /v1/status`.
    pub status: Status,
    /// `GET /v1/stream_routes`.
    pub routes: Vec<RouteInfo>,
    /// `GET /v1/connections`.
    pub connections: Vec<Connection>,
    /// `GET /apisix/admin/stream_routes`.
    pub admin_routes: Vec<AdminRoute>,
    /// `GET /apisix/admin/upstreams`.
    pub admin_upstreams: Vec<AdminUpstream>,
    /// Why the Admin API part is missing (wrong key, admin down), if it is.
    pub admin_error: Option<String>,
}

/// The innermost cause of a reqwest error ("Connection refused (os error 111)"), which says
/// more than its outer "error sending request".
fn describe(e: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    if e.is_timeout() {
        format!("timed out ({cause})")
    } else {
        cause.to_string()
    }
}

/// A failed call, with the server's `error_msg` when it sent one.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SourceError {
    /// Could not reach the server or read its answer.
    #[error("{url}: {message}")]
    Transport {
        /// The URL called.
        url: String,
        /// The cause.
        message: String,
    },
    /// The server answered with an error status.
    #[error("{message}")]
    Server {
        /// HTTP status.
        status: u16,
        /// `error_msg` of the body, or the body itself.
        message: String,
    },
}

/// What the tester runs: connect to `addr`, send `payload`, wait for a reply.
#[derive(Debug, Clone, PartialEq)]
pub struct TestRequest {
    /// The route under test.
    pub route_id: String,
    /// The gateway listener to connect to (`host:port`).
    pub addr: String,
    /// Bytes to send; empty sends nothing.
    pub payload: String,
}

/// The result of a route test.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TestOutcome {
    /// Time to establish the TCP connection.
    pub connect_ms: Option<f64>,
    /// Time from sending the payload to the first reply byte.
    pub rtt_ms: Option<f64>,
    /// The first reply bytes, lossily decoded.
    pub reply: Option<String>,
    /// The route the Control API saw taking the connection.
    pub routed_to: Option<String>,
    /// The upstream node that took it.
    pub upstream: Option<String>,
    /// What went wrong, if anything.
    pub error: Option<String>,
}

/// The dashboard's view of a gateway.
#[async_trait]
pub trait DataSource: Send + Sync + 'static {
    /// Reads status, routes, connections and the admin lists. Fails when the Control API
    /// cannot be read; an Admin API failure is reported in [`Snapshot::admin_error`].
    async fn snapshot(&self) -> Result<Snapshot, SourceError>;
    /// `DELETE /v1/connections/{id}`.
    async fn kill_connection(&self, id: &str) -> Result<(), SourceError>;
    /// `PUT /apisix/admin/stream_routes/{id}`.
    async fn put_route(&self, id: &str, body: &Value) -> Result<(), SourceError>;
    /// `DELETE /apisix/admin/stream_routes/{id}`.
    async fn delete_route(&self, id: &str) -> Result<(), SourceError>;
    /// Connects through the gateway and reports what happened.
    async fn run_test(&self, request: &TestRequest) -> TestOutcome;
}

/// [`DataSource`] over HTTP with reqwest.
#[derive(Debug, Clone)]
pub struct HttpSource {
    http: reqwest::Client,
    admin_url: String,
    control_url: String,
    admin_key: Option<String>,
    timeout: Duration,
}

impl HttpSource {
    /// A source for these base URLs; `timeout` bounds every request and test step.
    pub fn new(
        admin_url: &str,
        control_url: &str,
        admin_key: Option<String>,
        timeout: Duration,
    ) -> Result<Self, SourceError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| SourceError::Transport {
                url: admin_url.to_owned(),
                message: e.to_string(),
            })?;
        Ok(Self {
            http,
            admin_url: admin_url.trim_end_matches('/').to_owned(),
            control_url: control_url.trim_end_matches('/').to_owned(),
            admin_key,
            timeout,
        })
    }

    fn with_key(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.admin_key {
            Some(key) => req.header("X-API-KEY", key),
            None => req,
        }
    }

    async fn send(&self, url: String, req: reqwest::RequestBuilder) -> Result<Value, SourceError> {
        let transport = |e: reqwest::Error| SourceError::Transport {
            url: url.clone(),
            message: describe(&e),
        };
        let resp = self.with_key(req).send().await.map_err(transport)?;
        let status = resp.status();
        let text = resp.text().await.map_err(transport)?;
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(body);
        }
        let message = body
            .get("error_msg")
            .or_else(|| body.get("message"))
            .and_then(Value::as_str)
            .map_or_else(|| format!("{url}: status {status}: {text}"), str::to_owned);
        Err(SourceError::Server {
            status: status.as_u16(),
            message,
        })
    }

    async fn get<T: DeserializeOwned>(&self, url: String) -> Result<T, SourceError> {
        let body = self.send(url.clone(), self.http.get(&url)).await?;
        serde_json::from_value(body).map_err(|e| SourceError::Transport {
            url,
            message: format!("unexpected body: {e}"),
        })
    }

    async fn admin_lists(&self) -> Result<(Vec<AdminRoute>, Vec<AdminUpstream>), SourceError> {
        let routes: model::envelope::List = self
            .get(format!("{}/apisix/admin/stream_routes", self.admin_url))
            .await?;
        let upstreams: model::envelope::List = self
            .get(format!("{}/apisix/admin/upstreams", self.admin_url))
            .await?;
        Ok((admin_routes(routes), admin_upstreams(upstreams)))
    }

    async fn lookup_connection(&self, client: &str) -> Option<Connection> {
        let url = format!("{}/v1/connections?client={client}", self.control_url);
        let list: ControlList<Connection> = self.get(url).await.ok()?;
        list.list.into_iter().find(|c| c.client == client)
    }
}

#[async_trait]
impl DataSource for HttpSource {
    async fn snapshot(&self) -> Result<Snapshot, SourceError> {
        let status: Status = self.get(format!("{}/v1/status", self.control_url)).await?;
        let routes: ControlList<RouteInfo> = self
            .get(format!("{}/v1/stream_routes", self.control_url))
            .await?;
        let connections: ControlList<Connection> = self
            .get(format!("{}/v1/connections", self.control_url))
            .await?;
        let (admin_routes, admin_upstreams, admin_error) = match self.admin_lists().await {
            Ok((r, u)) => (r, u, None),
            Err(e) => (Vec::new(), Vec::new(), Some(format!("admin api: {e}"))),
        };
        Ok(Snapshot {
            status,
            routes: routes.list,
            connections: connections.list,
            admin_routes,
            admin_upstreams,
            admin_error,
        })
    }

    async fn kill_connection(&self, id: &str) -> Result<(), SourceError> {
        let url = format!("{}/v1/connections/{id}", self.control_url);
        self.send(url.clone(), self.http.delete(&url))
            .await
            .map(drop)
    }

    async fn put_route(&self, id: &str, body: &Value) -> Result<(), SourceError> {
        let url = format!("{}/apisix/admin/stream_routes/{id}", self.admin_url);
        self.send(url.clone(), self.http.put(&url).json(body))
            .await
            .map(drop)
    }

    async fn delete_route(&self, id: &str) -> Result<(), SourceError> {
        let url = format!("{}/apisix/admin/stream_routes/{id}", self.admin_url);
        self.send(url.clone(), self.http.delete(&url))
            .await
            .map(drop)
    }

    async fn run_test(&self, request: &TestRequest) -> TestOutcome {
        let mut outcome = TestOutcome::default();
        let started = Instant::now();
        let connect = tokio::time::timeout(self.timeout, TcpStream::connect(&request.addr)).await;
        let mut stream = match connect {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                outcome.error = Some(format!("connect {}: {e}", request.addr));
                return outcome;
            }
            Err(_) => {
                outcome.error = Some(format!("connect {}: timed out", request.addr));
                return outcome;
            }
        };
        outcome.connect_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
        if !request.payload.is_empty() {
            let sent = Instant::now();
            if let Err(e) = stream.write_all(request.payload.as_bytes()).await {
                outcome.error = Some(format!("send to {}: {e}", request.addr));
                return outcome;
            }
            let mut buf = vec![0u8; 4096];
            match tokio::time::timeout(self.timeout, stream.read(&mut buf)).await {
                Ok(Ok(0)) => outcome.error = Some("connection closed without a reply".into()),
                Ok(Ok(n)) => {
                    outcome.rtt_ms = Some(sent.elapsed().as_secs_f64() * 1000.0);
                    outcome.reply = Some(String::from_utf8_lossy(&buf[..n]).into_owned());
                }
                Ok(Err(e)) => outcome.error = Some(format!("read from {}: {e}", request.addr)),
                Err(_) => outcome.error = Some("no reply before the timeout".into()),
            }
        }
        if let Ok(local) = stream.local_addr() {
            if let Some(conn) = self.lookup_connection(&local.to_string()).await {
                outcome.routed_to = Some(conn.route_id);
                outcome.upstream = conn.upstream;
            }
        }
        if outcome.error.is_none() {
            if let Some(routed) = &outcome.routed_to {
                if routed != &request.route_id {
                    outcome.error = Some(format!(
                        "routed to stream_route {routed}, not {}",
                        request.route_id
                    ));
                }
            }
        }
        outcome
    }
}
