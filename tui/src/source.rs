//! Where the dashboard's data comes from: the [`DataSource`] trait (one snapshot of the
//! gateway, plus the write actions and the route test), and [`HttpSource`], its implementation
//! over the Admin and Control APIs with the typed clients of `model::client` (the same HTTP
//! code as `apisixctl`). State and render tests use fixture snapshots instead.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use model::client::{AdminClient, ClientError, ClientTls, ConnectionFilter, ControlClient};
use model::control::{Connection, RouteInfo, Status};
use model::ResourceKind;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::admin_lists::{admin_routes, admin_upstreams, AdminRoute, AdminUpstream};

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

impl From<ClientError> for SourceError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Status {
                status, message, ..
            } => SourceError::Server { status, message },
            ClientError::Transport { url, reason } | ClientError::Url { url, reason } => {
                SourceError::Transport {
                    url,
                    message: reason,
                }
            }
            ClientError::Decode { url, reason } => SourceError::Transport {
                url,
                message: format!("unexpected body: {reason}"),
            },
            ClientError::Tls { url, reason } => SourceError::Transport {
                url,
                message: format!("tls: {reason}"),
            },
            ClientError::TlsSetup { reason } => SourceError::Transport {
                url: String::new(),
                message: format!("tls settings: {reason}"),
            },
        }
    }
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

/// [`DataSource`] over HTTP with `model::client`'s [`AdminClient`] and [`ControlClient`].
#[derive(Debug, Clone)]
pub struct HttpSource {
    admin: AdminClient,
    control: ControlClient,
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
        Self::with_tls(
            admin_url,
            control_url,
            admin_key,
            timeout,
            &ClientTls::default(),
        )
    }

    /// [`HttpSource::new`] with `tls` for `https://` URLs.
    pub fn with_tls(
        admin_url: &str,
        control_url: &str,
        admin_key: Option<String>,
        timeout: Duration,
        tls: &ClientTls,
    ) -> Result<Self, SourceError> {
        Ok(Self {
            admin: AdminClient::with_tls(admin_url, admin_key.clone(), timeout, tls)?,
            control: ControlClient::with_tls(control_url, timeout, tls)?,
            admin_key,
            timeout,
        })
    }

    async fn admin_lists(&self) -> Result<(Vec<AdminRoute>, Vec<AdminUpstream>), SourceError> {
        let routes = self.admin.list(ResourceKind::StreamRoutes).await?;
        let upstreams = self.admin.list(ResourceKind::Upstreams).await?;
        Ok((admin_routes(routes), admin_upstreams(upstreams)))
    }

    async fn lookup_connection(&self, client: &str) -> Option<Connection> {
        let filter = ConnectionFilter {
            client: Some(client.to_owned()),
            ..ConnectionFilter::default()
        };
        let list = self.control.connections(&filter).await.ok()?;
        list.list.into_iter().find(|c| c.client == client)
    }
}

#[async_trait]
impl DataSource for HttpSource {
    async fn snapshot(&self) -> Result<Snapshot, SourceError> {
        let status = self.control.status().await?;
        let routes = self.control.stream_routes().await?;
        let connections = self
            .control
            .connections(&ConnectionFilter::default())
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
        self.control
            .kill_connection(id, self.admin_key.as_deref())
            .await
            .map(drop)
            .map_err(SourceError::from)
    }

    async fn put_route(&self, id: &str, body: &Value) -> Result<(), SourceError> {
        self.admin
            .put(ResourceKind::StreamRoutes, id, body)
            .await
            .map(drop)
            .map_err(SourceError::from)
    }

    async fn delete_route(&self, id: &str) -> Result<(), SourceError> {
        self.admin
            .delete(ResourceKind::StreamRoutes, id, false)
            .await
            .map(drop)
            .map_err(SourceError::from)
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
