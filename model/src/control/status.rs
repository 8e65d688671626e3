//! `GET /v1/status`: what the gateway runs (version, role, configuration source and revision)
//! and its stream listeners.

use serde::{Deserialize, Serialize};

/// `GET /v1/status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Status {
    /// Gateway version (`CARGO_PKG_VERSION`).
    pub version: String,
    /// Seconds since the gateway started.
    pub uptime_secs: f64,
    /// `traditional`, `data_plane` or `control_plane`.
    pub role: String,
    /// `embedded`, `etcd` or `yaml`.
    pub config_provider: String,
    /// Whether the configuration store answers (`false` without a store).
    pub store_reachable: bool,
    /// The store revision of the configuration in force.
    pub config_revision: i64,
    /// The configured stream listeners, TCP first (none unless `proxy_mode` enables stream).
    pub listeners: Vec<Listener>,
    /// Client sessions against `nginx_config.event.worker_connections`.
    pub sessions: SessionLimit,
}

/// The session cap of [`Status`]: every worker's slots together.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SessionLimit {
    /// `worker_connections` × workers.
    pub capacity: u64,
    /// Slots taken by live sessions (an accepted TCP connection or a UDP session).
    pub in_use: u64,
    /// Seconds spent with every slot of a worker taken (new clients waited in the kernel
    /// backlog meanwhile), summed over workers.
    pub at_cap_secs: f64,
}

/// One stream listener of [`Status`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Listener {
    /// `tcp` or `udp`.
    pub protocol: String,
    /// The configured `ip:port`.
    pub addr: String,
    /// TLS is terminated on this listener.
    pub tls: bool,
    /// The SNI is read from the ClientHello without terminating TLS.
    pub sni_preread: bool,
    /// A PROXY protocol header is expected.
    pub proxy_protocol: bool,
}

impl Listener {
    /// The port of [`Listener::addr`], when it parses.
    pub fn port(&self) -> Option<u16> {
        self.addr.rsplit(':').next()?.parse().ok()
    }
}
