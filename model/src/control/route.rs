//! `GET /v1/stream_routes[/{id}]`: each loaded stream route with its match conditions, the
//! upstream it resolved to (nodes with health and live sessions) and its live stats.

use serde::{Deserialize, Serialize};

/// One loaded stream route with live stats.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RouteInfo {
    /// Route id.
    #[serde(deserialize_with = "super::id_or_empty")]
    pub id: String,
    /// The route's `name`, if it has one.
    pub name: Option<String>,
    /// Match conditions.
    #[serde(rename = "match")]
    pub matcher: RouteMatch,
    /// The resolved upstream; `None` when the route has no usable upstream.
    pub upstream: Option<RouteUpstream>,
    /// Why `upstream` is `None` (new connections are then closed), e.g.
    /// `failed to find upstream by id: 3`.
    pub upstream_error: Option<String>,
    /// Enabled stream plugins (route plugins over service plugins), by name.
    pub plugins: Vec<String>,
    /// When the route can never match: the earlier routes that take every connection it
    /// would take (`model::shadow`, in the router's order); empty otherwise.
    pub shadowed_by: Vec<String>,
    /// Live counters, kept by route id across route updates.
    pub stats: RouteStats,
}

/// The match conditions of a route; `None` means "any".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RouteUpstream {
    /// Store key: `upstreams/1` for a stored upstream, the owner's key (`stream_routes/3`,
    /// `services/2`) for an inline one.
    pub key: String,
    /// Balancer type (`roundrobin` when unset).
    #[serde(rename = "type")]
    pub balancer: String,
    /// Nodes with health and live sessions.
    pub nodes: Vec<NodeInfo>,
}

impl RouteUpstream {
    /// The id of the stored upstream (`upstreams/1` → `1`); `None` for an inline upstream.
    pub fn stored_id(&self) -> Option<&str> {
        let rest = self
            .key
            .trim_start_matches('/')
            .trim_start_matches("apisix/");
        rest.strip_prefix("upstreams/")
    }
}

/// One upstream node with health.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Whether the node takes connections (health checks and passive health).
    pub healthy: bool,
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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RouteStats {
    /// Live connections.
    pub active: u64,
    /// Connections routed here so far, including those later rejected.
    pub total: u64,
    /// Rejections by reason.
    pub rejected: Rejected,
    /// Bytes client → upstream (grows while connections are live).
    pub bytes_in: u64,
    /// Bytes upstream → client (grows while connections are live).
    pub bytes_out: u64,
    /// Per-second series of the last minute.
    pub throughput: Throughput,
}

/// Routed connections turned away, by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Rejected {
    /// The route had no usable upstream.
    pub no_upstream: u64,
    /// No node of the upstream could be connected.
    pub connect_failed: u64,
    /// A stream plugin refused the connection.
    pub plugin: u64,
}

impl Rejected {
    /// Rejections for every reason.
    pub fn sum(&self) -> u64 {
        self.no_upstream + self.connect_failed + self.plugin
    }
}

/// Per-second series, oldest first (the gateway always sends 60 samples).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
        Throughput {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_upstreams_keys_name_a_stored_upstream() {
        let up = |key: &str| RouteUpstream {
            key: key.to_owned(),
            ..RouteUpstream::default()
        };
        assert_eq!(up("upstreams/1").stored_id(), Some("1"));
        assert_eq!(up("/apisix/upstreams/a").stored_id(), Some("a"));
        assert_eq!(up("stream_routes/3").stored_id(), None);
        assert_eq!(up("").stored_id(), None);
    }

    #[test]
    fn numeric_ids_and_missing_fields_still_parse() {
        let route: RouteInfo =
            serde_json::from_value(serde_json::json!({"id": 7, "extra": 1})).expect("tolerant");
        assert_eq!(route.id, "7");
        assert_eq!(route.stats.throughput.interval_secs, 1);
    }
}
