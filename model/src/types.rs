//! Typed views of stored objects, read by the data plane after [`crate::validate`] accepted
//! them. Field names are APISIX's. Unknown fields are ignored here (validation rejects them at
//! write time); plugin configs stay JSON because each plugin parses its own.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// An APISIX id: a string, or an integer in the body (`"id": 1`).
pub fn id_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn opt_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    Ok(v.as_ref().and_then(id_string))
}

/// Parses a stored, validated object into one of the types here. Whole floats (`80.0`) become
/// integers first: APISIX (Lua) accepts them wherever an integer is expected, serde does not.
pub fn from_stored<T: serde::de::DeserializeOwned>(value: &Value) -> Result<T, serde_json::Error> {
    let mut value = value.clone();
    integral_floats_to_ints(&mut value);
    serde_json::from_value(value)
}

fn integral_floats_to_ints(value: &mut Value) {
    match value {
        Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64() {
                if f.fract() == 0.0 && f.abs() < 9.0e15 {
                    *value = Value::from(f as i64);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_floats_to_ints),
        Value::Object(map) => map.values_mut().for_each(integral_floats_to_ints),
        _ => {}
    }
}

/// A stream route (REFERENCE.md §3).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StreamRoute {
    #[serde(deserialize_with = "opt_id")]
    pub id: Option<String>,
    pub name: Option<String>,
    pub desc: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub remote_addr: Option<String>,
    pub server_addr: Option<String>,
    pub server_port: Option<u16>,
    pub sni: Option<String>,
    pub snis: Option<Vec<String>>,
    pub upstream: Option<Upstream>,
    #[serde(deserialize_with = "opt_id")]
    pub upstream_id: Option<String>,
    #[serde(deserialize_with = "opt_id")]
    pub service_id: Option<String>,
    pub plugins: BTreeMap<String, Value>,
    pub protocol: Option<Value>,
    pub create_time: Option<i64>,
    pub update_time: Option<i64>,
}

/// A service: the parts a stream route inherits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Service {
    #[serde(deserialize_with = "opt_id")]
    pub id: Option<String>,
    pub name: Option<String>,
    pub upstream: Option<Upstream>,
    #[serde(deserialize_with = "opt_id")]
    pub upstream_id: Option<String>,
    pub plugins: BTreeMap<String, Value>,
    pub labels: BTreeMap<String, String>,
}

/// An upstream (REFERENCE.md §4).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Upstream {
    #[serde(deserialize_with = "opt_id")]
    pub id: Option<String>,
    pub name: Option<String>,
    pub nodes: Nodes,
    /// `roundrobin` (default), `chash`, `least_conn`, `ewma`.
    #[serde(rename = "type")]
    pub balancer: Option<String>,
    pub hash_on: Option<String>,
    pub key: Option<String>,
    pub retries: Option<u32>,
    pub retry_timeout: Option<f64>,
    pub timeout: Option<Timeout>,
    pub scheme: Option<String>,
    pub tls: Option<UpstreamTls>,
    pub checks: Option<Value>,
    pub labels: BTreeMap<String, String>,
}

/// `upstream.timeout`, seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Timeout {
    pub connect: f64,
    pub send: f64,
    pub read: f64,
}

/// `upstream.tls`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UpstreamTls {
    pub client_cert: Option<String>,
    pub client_key: Option<String>,
    #[serde(deserialize_with = "opt_id")]
    pub client_cert_id: Option<String>,
    pub verify: Option<bool>,
}

/// `upstream.nodes`: the hash form `{"host:port": weight}` or the array form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Nodes {
    Hash(BTreeMap<String, u32>),
    List(Vec<Node>),
}

impl Default for Nodes {
    fn default() -> Self {
        Nodes::List(Vec::new())
    }
}

/// One upstream node in array form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub host: String,
    #[serde(default)]
    pub port: Option<u16>,
    pub weight: u32,
    #[serde(default)]
    pub priority: i64,
    #[serde(default)]
    pub metadata: Option<Value>,
}

impl Nodes {
    /// The nodes in array form. Hash keys are split at the last `:` (`[v6]:port` keeps its
    /// brackets in `host`); a key without a port gets `port: None`.
    pub fn to_list(&self) -> Vec<Node> {
        match self {
            Nodes::List(list) => list.clone(),
            Nodes::Hash(map) => map
                .iter()
                .map(|(addr, weight)| {
                    let (host, port) = split_host_port(addr);
                    Node {
                        host,
                        port,
                        weight: *weight,
                        priority: 0,
                        metadata: None,
                    }
                })
                .collect(),
        }
    }
}

/// Splits `host:port`, `[v6]:port`, `host` into host and optional port.
pub fn split_host_port(addr: &str) -> (String, Option<u16>) {
    if let Some(rest) = addr.strip_prefix('[') {
        if let Some((host, tail)) = rest.split_once(']') {
            let port = tail.strip_prefix(':').and_then(|p| p.parse().ok());
            return (format!("[{host}]"), port);
        }
    }
    match addr.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host.to_owned(), port.parse().ok()),
        _ => (addr.to_owned(), None),
    }
}

/// An SSL object (certificates for TLS termination, or a client cert).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Ssl {
    #[serde(deserialize_with = "opt_id")]
    pub id: Option<String>,
    pub cert: Option<String>,
    pub key: Option<String>,
    pub certs: Vec<String>,
    pub keys: Vec<String>,
    pub snis: Vec<String>,
    pub sni: Option<String>,
    /// `server` (default) or `client`.
    #[serde(rename = "type")]
    pub ssl_type: Option<String>,
    /// 1 enabled (default), 0 disabled.
    pub status: Option<i64>,
    pub ssl_protocols: Vec<String>,
    pub client: Option<Value>,
    pub labels: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_nodes_split_host_and_port() {
        let nodes: Nodes =
            serde_json::from_value(serde_json::json!({"127.0.0.1:80": 1, "[::1]:81": 2}))
                .expect("valid nodes");
        let list = nodes.to_list();
        assert_eq!(list[0].host, "127.0.0.1");
        assert_eq!(list[0].port, Some(80));
        assert_eq!(list[1].host, "[::1]");
        assert_eq!(list[1].port, Some(81));
    }

    #[test]
    fn whole_floats_parse_as_integers() {
        let route: StreamRoute = from_stored(&serde_json::json!({
            "server_port": 80.0,
            "upstream": {"nodes": {"127.0.0.1:80": 1.0}}
        }))
        .expect("valid route");
        assert_eq!(route.server_port, Some(80));
    }

    #[test]
    fn integer_ids_become_strings() {
        let route: StreamRoute =
            serde_json::from_value(serde_json::json!({"id": 7, "upstream_id": 3}))
                .expect("valid route");
        assert_eq!(route.id.as_deref(), Some("7"));
        assert_eq!(route.upstream_id.as_deref(), Some("3"));
    }
}
