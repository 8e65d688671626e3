//! `GET /v1/healthcheck[/{type}/{id}]`: APISIX's health checker reports, one per upstream
//! runtime with `checks`, as lua-resty-healthcheck shows them.

use serde::{Deserialize, Serialize};

/// One checker: the list answer holds one per checked upstream runtime.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Checker {
    /// The runtime's store key with the prefix (`/apisix/upstreams/1`).
    pub name: String,
    /// `checks.active.type` (APISIX's default `http` when unset).
    #[serde(rename = "type")]
    pub check_type: String,
    /// Every node with its state.
    pub nodes: Vec<CheckedNode>,
}

/// One node of a [`Checker`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CheckedNode {
    /// The node host.
    pub ip: String,
    /// The probed port (`checks.active.port` or the node's).
    pub port: u16,
    /// `checks.active.host` or the node host.
    pub hostname: String,
    /// `healthy`, `mostly_healthy`, `mostly_unhealthy` or `unhealthy`.
    pub status: String,
    /// The consecutive counts that drive the state.
    pub counter: HealthCounter,
}

impl CheckedNode {
    /// Whether the node takes connections (`healthy` or `mostly_healthy`).
    pub fn is_up(&self) -> bool {
        matches!(self.status.as_str(), "healthy" | "mostly_healthy")
    }
}

/// Consecutive counts: a success clears the failures, a failure clears `success`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HealthCounter {
    /// Consecutive successes.
    pub success: u32,
    /// Consecutive HTTP failures.
    pub http_failure: u32,
    /// Consecutive TCP failures (active probes and passive connect failures).
    pub tcp_failure: u32,
    /// Consecutive timeouts.
    pub timeout_failure: u32,
}
