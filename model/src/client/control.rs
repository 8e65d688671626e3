//! [`ControlClient`]: the Control API (`/v1/...`). Each endpoint's answer comes back as its
//! [`crate::control`] type (tolerant: unknown fields are ignored, missing ones default);
//! [`ControlClient::body`] returns any of them as the JSON the gateway sent, for callers that
//! pass answers through unchanged (`apisixctl -o json`).

use std::time::{Duration, Instant};

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{decode, endpoint, join, send, ClientError, ClientTls};
use crate::control::{Checker, Connection, ControlList, Killed, MatchReport, RouteInfo, Status};

/// Filters of `GET /v1/connections`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionFilter {
    pub route_id: Option<String>,
    pub upstream: Option<String>,
    pub client: Option<String>,
}

/// The question of `GET /v1/match`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchQuery {
    /// `IP[:port]` of the client.
    pub client: String,
    pub server_addr: Option<String>,
    pub server_port: u16,
    pub sni: Option<String>,
    /// `tcp` or `udp`.
    pub protocol: Option<String>,
}

/// A `GET` of the Control API, for [`ControlClient::body`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlGet<'a> {
    /// `GET /v1/status`.
    Status,
    /// `GET /v1/stream_routes`.
    StreamRoutes,
    /// `GET /v1/stream_routes/<id>`.
    StreamRoute(&'a str),
    /// `GET /v1/connections[?route_id=&upstream=&client=]`.
    Connections(&'a ConnectionFilter),
    /// `GET /v1/match?client=&server_addr=&server_port=&sni=&protocol=`.
    Match(&'a MatchQuery),
    /// `GET /v1/healthcheck`.
    Healthcheck,
}

impl ControlGet<'_> {
    /// The path segments after `/v1` and the query pairs.
    fn target(&self) -> (Vec<&str>, Vec<(&'static str, String)>) {
        match *self {
            ControlGet::Status => (vec!["status"], Vec::new()),
            ControlGet::StreamRoutes => (vec!["stream_routes"], Vec::new()),
            ControlGet::StreamRoute(id) => (vec!["stream_routes", id], Vec::new()),
            ControlGet::Connections(f) => {
                let pairs = [
                    ("route_id", &f.route_id),
                    ("upstream", &f.upstream),
                    ("client", &f.client),
                ];
                (vec!["connections"], present(&pairs))
            }
            ControlGet::Match(q) => {
                let mut query = vec![
                    ("client", q.client.clone()),
                    ("server_port", q.server_port.to_string()),
                ];
                let optional = [
                    ("server_addr", &q.server_addr),
                    ("sni", &q.sni),
                    ("protocol", &q.protocol),
                ];
                query.extend(present(&optional));
                (vec!["match"], query)
            }
            ControlGet::Healthcheck => (vec!["healthcheck"], Vec::new()),
        }
    }
}

/// The pairs whose value is set.
fn present(pairs: &[(&'static str, &Option<String>)]) -> Vec<(&'static str, String)> {
    pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (*k, v.clone())))
        .collect()
}

/// A client of the Control API at `base_url` (e.g. `http://127.0.0.1:9090`).
#[derive(Debug, Clone)]
pub struct ControlClient {
    http: reqwest::Client,
    base: url::Url,
}

impl ControlClient {
    /// A client for `base_url`; `timeout` bounds each request.
    pub fn new(base_url: &str, timeout: Duration) -> Result<Self, ClientError> {
        Self::with_tls(base_url, timeout, &ClientTls::default())
    }

    /// [`ControlClient::new`] with `tls` for `https://` URLs.
    pub fn with_tls(
        base_url: &str,
        timeout: Duration,
        tls: &ClientTls,
    ) -> Result<Self, ClientError> {
        let (base, http) = endpoint(base_url, timeout, tls)?;
        Ok(ControlClient { http, base })
    }

    /// The base URL this client talks to.
    pub fn base_url(&self) -> &url::Url {
        &self.base
    }

    /// The answer to `what` as the gateway sent it.
    pub async fn body(&self, what: ControlGet<'_>) -> Result<Value, ClientError> {
        Ok(self.fetch(what).await?.1)
    }

    async fn fetch(&self, what: ControlGet<'_>) -> Result<(url::Url, Value), ClientError> {
        let (segments, query) = what.target();
        let mut all = vec!["v1"];
        all.extend(segments);
        let mut url = join(&self.base, &all);
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in &query {
                pairs.append_pair(k, v);
            }
        }
        let body = send(self.http.request(Method::GET, url.clone()), &url)
            .await?
            .1;
        Ok((url, body))
    }

    async fn typed<T: DeserializeOwned>(&self, what: ControlGet<'_>) -> Result<T, ClientError> {
        let (url, body) = self.fetch(what).await?;
        decode(&url, body)
    }

    /// `GET /v1/status`: version, uptime, role, store, listeners.
    pub async fn status(&self) -> Result<Status, ClientError> {
        self.typed(ControlGet::Status).await
    }

    /// `GET /v1/stream_routes`: loaded routes with live stats.
    pub async fn stream_routes(&self) -> Result<ControlList<RouteInfo>, ClientError> {
        self.typed(ControlGet::StreamRoutes).await
    }

    /// `GET /v1/stream_routes/<id>`: one loaded route with live stats.
    pub async fn stream_route(&self, id: &str) -> Result<RouteInfo, ClientError> {
        self.typed(ControlGet::StreamRoute(id)).await
    }

    /// `GET /v1/connections[?route_id=&upstream=&client=]`: live connections.
    pub async fn connections(
        &self,
        filter: &ConnectionFilter,
    ) -> Result<ControlList<Connection>, ClientError> {
        self.typed(ControlGet::Connections(filter)).await
    }

    /// `DELETE /v1/connections/<id>`, with `X-API-KEY` when given.
    pub async fn kill_connection(
        &self,
        id: &str,
        api_key: Option<&str>,
    ) -> Result<Killed, ClientError> {
        let url = join(&self.base, &["v1", "connections", id]);
        let mut req = self.http.delete(url.clone());
        if let Some(key) = api_key {
            req = req.header("X-API-KEY", key);
        }
        let body = send(req, &url).await?.1;
        decode(&url, body)
    }

    /// `GET /v1/match?client=&server_addr=&server_port=&sni=&protocol=`.
    pub async fn match_route(&self, q: &MatchQuery) -> Result<MatchReport, ClientError> {
        self.typed(ControlGet::Match(q)).await
    }

    /// `GET /v1/healthcheck`: health of every checked upstream's nodes.
    pub async fn healthcheck(&self) -> Result<Vec<Checker>, ClientError> {
        self.typed(ControlGet::Healthcheck).await
    }

    /// `GET /v1/status` timed: the round-trip time when the server answers.
    pub async fn ping(&self) -> Result<Duration, ClientError> {
        let start = Instant::now();
        self.body(ControlGet::Status).await?;
        Ok(start.elapsed())
    }
}
