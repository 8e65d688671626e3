//! [`ControlClient`]: the Control API (`/v1/...`). Our endpoints (`/v1/status`,
//! `/v1/stream_routes`, `/v1/connections`, `/v1/match`) are returned as JSON as the gateway
//! sends them, so callers pick the fields they know and tolerate additions.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;

use super::{http_client, join, parse_base, send, ClientError};

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

/// A client of the Control API at `base_url` (e.g. `http://127.0.0.1:9090`).
#[derive(Debug, Clone)]
pub struct ControlClient {
    http: reqwest::Client,
    base: url::Url,
}

impl ControlClient {
    /// A client for `base_url`; `timeout` bounds each request.
    pub fn new(base_url: &str, timeout: Duration) -> Result<Self, ClientError> {
        Ok(ControlClient {
            http: http_client(timeout)?,
            base: parse_base(base_url)?,
        })
    }

    /// The base URL this client talks to.
    pub fn base_url(&self) -> &url::Url {
        &self.base
    }

    async fn get(&self, segments: &[&str], query: &[(&str, String)]) -> Result<Value, ClientError> {
        let mut all = vec!["v1"];
        all.extend_from_slice(segments);
        let mut url = join(&self.base, &all);
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        Ok(send(self.http.request(Method::GET, url.clone()), &url)
            .await?
            .1)
    }

    /// `GET /v1/status`: version, uptime, role, store, listeners.
    pub async fn status(&self) -> Result<Value, ClientError> {
        self.get(&["status"], &[]).await
    }

    /// `GET /v1/stream_routes`: loaded routes with live stats.
    pub async fn stream_routes(&self) -> Result<Value, ClientError> {
        self.get(&["stream_routes"], &[]).await
    }

    /// `GET /v1/stream_routes/<id>`: one loaded route with live stats.
    pub async fn stream_route(&self, id: &str) -> Result<Value, ClientError> {
        self.get(&["stream_routes", id], &[]).await
    }

    /// `GET /v1/connections[?route_id=&upstream=&client=]`: live connections.
    pub async fn connections(&self, filter: &ConnectionFilter) -> Result<Value, ClientError> {
        let mut query = Vec::new();
        if let Some(v) = &filter.route_id {
            query.push(("route_id", v.clone()));
        }
        if let Some(v) = &filter.upstream {
            query.push(("upstream", v.clone()));
        }
        if let Some(v) = &filter.client {
            query.push(("client", v.clone()));
        }
        self.get(&["connections"], &query).await
    }

    /// `DELETE /v1/connections/<id>`, with `X-API-KEY` when given.
    pub async fn kill_connection(
        &self,
        id: &str,
        api_key: Option<&str>,
    ) -> Result<Value, ClientError> {
        let url = join(&self.base, &["v1", "connections", id]);
        let mut req = self.http.delete(url.clone());
        if let Some(key) = api_key {
            req = req.header("X-API-KEY", key);
        }
        Ok(send(req, &url).await?.1)
    }

    /// `GET /v1/match?client=&server_addr=&server_port=&sni=&protocol=`.
    pub async fn match_route(&self, q: &MatchQuery) -> Result<Value, ClientError> {
        let mut query = vec![
            ("client", q.client.clone()),
            ("server_port", q.server_port.to_string()),
        ];
        if let Some(v) = &q.server_addr {
            query.push(("server_addr", v.clone()));
        }
        if let Some(v) = &q.sni {
            query.push(("sni", v.clone()));
        }
        if let Some(v) = &q.protocol {
            query.push(("protocol", v.clone()));
        }
        self.get(&["match"], &query).await
    }

    /// `GET /v1/healthcheck`: health of every checked upstream's nodes.
    pub async fn healthcheck(&self) -> Result<Value, ClientError> {
        self.get(&["healthcheck"], &[]).await
    }

    /// `GET /v1/status` timed: the round-trip time when the server answers.
    pub async fn ping(&self) -> Result<Duration, ClientError> {
        let start = Instant::now();
        self.status().await?;
        Ok(start.elapsed())
    }
}
