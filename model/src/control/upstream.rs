//! `GET /v1/upstreams` and `GET /v1/upstream/{id}`: APISIX's in-memory upstream objects, plus
//! (ours) `dns`, the live answer of each node host that is a DNS name.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One upstream object as the gateway holds it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UpstreamEntry {
    /// The store key (`/apisix/upstreams/1`).
    pub key: String,
    /// The stored object.
    pub value: Value,
    #[serde(rename = "createdIndex")]
    pub created_index: i64,
    #[serde(rename = "modifiedIndex")]
    pub modified_index: i64,
    #[serde(rename = "orig_modifiedIndex")]
    pub orig_modified_index: i64,
    /// Whether any node host is a name rather than an IP.
    pub has_domain: bool,
    /// Ours: each node host that is a name, as resolved now (config order, once each).
    pub dns: Vec<DnsName>,
}

/// A node host name and its current answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DnsName {
    /// The name as configured.
    pub host: String,
    /// `resolving` (first lookup under way), `resolved`, `stale` (past its TTL, still used
    /// while a refresh runs or lookups fail within the grace period) or `failed` (no usable
    /// answer: its nodes are not picked).
    pub state: String,
    /// The addresses of the last good answer, A records first.
    pub addresses: Vec<String>,
    /// The TTL applied to that answer in seconds: the record TTL, at most
    /// `apisix.dns_resolver_valid`; `null` before the first answer.
    pub ttl: Option<u64>,
    /// Seconds until that answer expires (0 once it has); `null` before the first answer.
    pub expires_in: Option<f64>,
    /// Failed lookups since the last good one.
    pub failures: u64,
    /// The latest failure (`nxdomain: ...`, `timeout: ...`), cleared by a good answer.
    pub last_error: Option<String>,
}

impl DnsName {
    /// Whether connections may use the name (any state but `failed`).
    pub fn is_usable(&self) -> bool {
        self.state != "failed"
    }
}
