//! `GET /v1/connections`: the live TCP connections and UDP sessions, and the answer of
//! `DELETE /v1/connections/{id}`.

use serde::{Deserialize, Serialize};

/// One live connection or UDP session.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Connection {
    /// Connection id: `c-` and 16 hex digits.
    pub id: String,
    /// The route that took it.
    #[serde(deserialize_with = "super::id_or_empty")]
    pub route_id: String,
    /// The listening socket's address (as the metrics' `listen_addr`).
    pub listener: String,
    /// The address the client reached (`$server_addr:$server_port`), never a wildcard.
    pub server: String,
    /// Client `ip:port`.
    pub client: String,
    /// Upstream node `ip:port`; `None` while connecting.
    pub upstream: Option<String>,
    /// Key of the upstream runtime (`upstreams/1`, or the owner's key for an inline one).
    pub upstream_key: String,
    /// `tcp`, `udp` or `tls` (TLS terminated by the gateway).
    pub protocol: String,
    /// The client's SNI, when one was seen.
    pub sni: Option<String>,
    /// Unix seconds.
    pub started_at: f64,
    /// Seconds open.
    pub age_secs: f64,
    /// Bytes client → upstream.
    pub bytes_in: u64,
    /// Bytes upstream → client.
    pub bytes_out: u64,
    /// Seconds since the last byte either way.
    pub last_activity_secs_ago: f64,
}

/// `DELETE /v1/connections/{id}`: `{"killed": "c-..."}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Killed {
    /// The id of the closed connection.
    pub killed: String,
}
