//! Serde views of the Control API contract (`docs/control-api.md`) and of the Admin API lists
//! the dashboard reads. Every field has a default so a newer or older gateway that adds or
//! drops a field still parses; ids may arrive as strings or numbers.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

fn id_or_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    Ok(v.as_ref()
        .and_then(model::types::id_string)
        .unwrap_or_default())
}

fn opt_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    Ok(v.as_ref().and_then(model::types::id_string))
}

/// `GET /v1/status`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Status {
    /// Gateway version.
    pub version: String,
    /// Seconds since the gateway started.
    pub uptime_secs: f64,
    /// `traditional`, `data_plane` or `control_plane`.
    pub role: String,
    /// `embedded`, `etcd` or `yaml`.
    pub config_provider: String,
    /// Whether the config store answers.
    pub store_reachable: bool,
    /// The revision of the loaded configuration.
    pub config_revision: i64,
    /// The stream listeners.
    pub listeners: Vec<Listener>,
}

/// One stream listener of [`Status`].
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Listener {
    /// `tcp` or `udp`.
    pub protocol: String,
    /// `ip:port`.
    pub addr: String,
    /// TLS termination on this listener.
    pub tls: bool,
    /// SNI is read without terminating TLS.
    pub sni_preread: bool,
    /// PROXY protocol expected.
    pub proxy_protocol: bool,
}

/// `{"list": [...], "total": N}` of the Control API.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct ControlList<T> {
    /// The items.
    pub list: Vec<T>,
    /// Their count.
    pub total: usize,
}

impl<T> Default for ControlList<T> {
    fn default() -> Self {
        Self {
            list: Vec::new(),
            total: 0,
        }
    }
}

/// One loaded stream route with live stats (`GET /v1/stream_routes`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct RouteInfo {
    /// Route id.
    #[serde(deserialize_with = "id_or_empty")]
    pub id: String,
    /// Optional name.
    pub name: Option<String>,
    /// Match conditions.
    #[serde(rename = "match")]
    pub matcher: RouteMatch,
    /// The resolved upstream with node health.
    pub upstream: Option<RouteUpstream>,
    /// Why `upstream` is `null` (new connections are then closed).
    pub upstream_error: Option<String>,
    /// Enabled stream plugins.
    pub plugins: Vec<String>,
    /// Live counters.
    pub stats: RouteStats,
}

/// The match conditions of a route; `None` means "any".
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct RouteMatch {
    /// Client address or CIDR.
    pub remote_addr: Option<String>,
    /// Local address the client connected to.
    pub server_addr: Option<String>,
    /// Local port the client connected to.
    pub server_port: Option<u16>,
    /// TLS server name.
    pub sni: Option<String>,
    /// TLS server names (any of them).
    pub snis: Option<Vec<String>>,
}

/// The upstream a route resolved to.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct RouteUpstream {
    /// Store key: `upstreams/1` for a stored upstream; the owner's key (`stream_routes/3`,
    /// `services/2`) or nothing for an inline one.
    pub key: Option<String>,
    /// Balancer type.
    #[serde(rename = "type")]
    pub balancer: Option<String>,
    /// Nodes with health and live sessions.
    pub nodes: Vec<NodeInfo>,
}

impl RouteUpstream {
    /// The id of the stored upstream (`upstreams/1` → `1`); `None` for an inline upstream.
    pub fn stored_id(&self) -> Option<&str> {
        let key = self.key.as_deref()?;
        let rest = key.trim_start_matches('/').trim_start_matches("apisix/");
        rest.strip_prefix("upstreams/")
    }
}

/// One upstream node with health.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct NodeInfo {
    /// Host or IP.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Balancer weight.
    pub weight: u32,
    /// Priority group.
    pub priority: i64,
    /// Health-check verdict; `None` when unknown.
    pub healthy: Option<bool>,
    /// Live sessions to this node.
    pub active_sessions: u64,
}

impl NodeInfo {
    /// `host:port`.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// Live counters of a route.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct RouteStats {
    /// Open connections.
    pub active: u64,
    /// Connections since start.
    pub total: u64,
    /// Rejections by reason.
    pub rejected: Rejected,
    /// Bytes client → upstream.
    pub bytes_in: u64,
    /// Bytes upstream → client.
    pub bytes_out: u64,
    /// Per-second series of the last minute.
    pub throughput: Throughput,
}

/// Rejected connections by reason.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Rejected {
    /// No upstream node available.
    pub no_upstream: u64,
    /// Every upstream connect failed.
    pub connect_failed: u64,
    /// A plugin refused the connection.
    pub plugin: u64,
}

/// Recent per-interval series, oldest first.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct Throughput {
    /// Seconds per sample.
    pub interval_secs: u64,
    /// Bytes client → upstream per sample.
    pub bytes_in: Vec<u64>,
    /// Bytes upstream → client per sample.
    pub bytes_out: Vec<u64>,
    /// New connections per sample.
    pub connections: Vec<u64>,
}

impl Default for Throughput {
    fn default() -> Self {
        Self {
            interval_secs: 1,
            bytes_in: Vec::new(),
            bytes_out: Vec::new(),
            connections: Vec::new(),
        }
    }
}

impl Throughput {
    fn rate(&self, series: &[u64]) -> f64 {
        let interval = self.interval_secs.max(1) as f64;
        series.last().map_or(0.0, |v| *v as f64 / interval)
    }

    /// Latest bytes/s client → upstream.
    pub fn in_rate(&self) -> f64 {
        self.rate(&self.bytes_in)
    }

    /// Latest bytes/s upstream → client.
    pub fn out_rate(&self) -> f64 {
        self.rate(&self.bytes_out)
    }

    /// Bytes both ways per sample, oldest first.
    pub fn combined(&self) -> Vec<u64> {
        let len = self.bytes_in.len().max(self.bytes_out.len());
        (0..len)
            .map(|i| {
                self.bytes_in.get(i).copied().unwrap_or(0)
                    + self.bytes_out.get(i).copied().unwrap_or(0)
            })
            .collect()
    }
}

/// One live connection (`GET /v1/connections`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Connection {
    /// Connection id (`c-...`).
    pub id: String,
    /// Route that took it.
    #[serde(deserialize_with = "id_or_empty")]
    pub route_id: String,
    /// Listener address.
    pub listener: String,
    /// Client `ip:port`.
    pub client: String,
    /// Upstream node `ip:port`, if connected.
    pub upstream: Option<String>,
    /// Store key of the upstream (`upstreams/1`), absent for an inline upstream.
    pub upstream_key: Option<String>,
    /// `tcp`, `udp` or `tls`.
    pub protocol: String,
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

/// A stream route as stored in the Admin API: its id and raw value (kept whole so the
/// editor can preserve fields it has no form for).
#[derive(Debug, Clone, PartialEq)]
pub struct AdminRoute {
    /// Id (last segment of the key).
    pub id: String,
    /// The stored JSON.
    pub value: Value,
}

/// An upstream as stored in the Admin API.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct AdminUpstream {
    /// Upstream id.
    #[serde(deserialize_with = "opt_id")]
    pub id: Option<String>,
    /// Optional name.
    pub name: Option<String>,
    /// Balancer type.
    #[serde(rename = "type")]
    pub balancer: Option<String>,
    /// Nodes in either APISIX form.
    pub nodes: model::types::Nodes,
}

/// The id of an Admin API key (`/apisix/stream_routes/1` → `1`).
pub fn id_from_key(key: &str) -> String {
    key.rsplit('/').next().unwrap_or(key).to_owned()
}

/// The routes of an Admin API list answer.
pub fn admin_routes(list: model::envelope::List) -> Vec<AdminRoute> {
    list.list
        .into_iter()
        .map(|item| AdminRoute {
            id: id_from_key(&item.key),
            value: item.value,
        })
        .collect()
}

/// The upstreams of an Admin API list answer; a value that does not parse keeps its id.
pub fn admin_upstreams(list: model::envelope::List) -> Vec<AdminUpstream> {
    list.list
        .into_iter()
        .map(|item| {
            let mut up: AdminUpstream = serde_json::from_value(item.value).unwrap_or_default();
            up.id.get_or_insert_with(|| id_from_key(&item.key));
            up
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_upstreams_keys_name_a_stored_upstream() {
        let up = |key: Option<&str>| RouteUpstream {
            key: key.map(str::to_owned),
            ..RouteUpstream::default()
        };
        assert_eq!(up(Some("upstreams/1")).stored_id(), Some("1"));
        assert_eq!(up(Some("/apisix/upstreams/a")).stored_id(), Some("a"));
        assert_eq!(up(Some("stream_routes/3")).stored_id(), None);
        assert_eq!(up(None).stored_id(), None);
    }
}
