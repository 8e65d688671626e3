//! `conf/config.yaml`: APISIX's keys and defaults (REFERENCE.md §1, DESIGN.md §3), loaded
//! into a validated [`Config`]. Loading reports every problem, one line each, naming the key
//! path; unknown keys are warned about.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;

/// `apisix.proxy_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyMode {
    Http,
    Stream,
    HttpAndStream,
}

impl ProxyMode {
    /// Stream proxying (and stream route writes) are on.
    pub fn stream_enabled(self) -> bool {
        matches!(self, ProxyMode::Stream | ProxyMode::HttpAndStream)
    }
}

/// `deployment.role`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Traditional,
    DataPlane,
    ControlPlane,
}

/// `deployment.role_*.config_provider`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigProvider {
    Embedded,
    Etcd,
    Yaml,
}

/// PROXY protocol version sent to upstreams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyProtocolVersion {
    V1,
    V2,
}

/// One TCP stream listener (ranges are expanded into one entry per port).
#[derive(Debug, Clone, PartialEq)]
pub struct TcpListen {
    pub addr: SocketAddr,
    /// Terminate TLS with SSL objects (`tls: true`).
    pub tls: bool,
    /// Peek the ClientHello SNI without terminating TLS (`sni_preread: true`, ours).
    pub sni_preread: bool,
    /// Accept a PROXY protocol header.
    pub proxy_protocol: bool,
    /// Send a PROXY protocol header upstream.
    pub proxy_protocol_to_upstream: Option<ProxyProtocolVersion>,
}

/// One admin key (`deployment.admin.admin_key[]`).
#[derive(Debug, Clone, PartialEq)]
pub struct AdminKey {
    pub name: String,
    pub key: String,
    /// `admin` (all methods) or `viewer` (GET only).
    pub role: String,
}

/// `deployment.admin`.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminConfig {
    pub listen: SocketAddr,
    pub key_required: bool,
    pub keys: Vec<AdminKey>,
    /// `None`: key absent, everything allowed.
    pub allow_admin: Option<Vec<IpNet>>,
}

/// `deployment.etcd`.
#[derive(Debug, Clone, PartialEq)]
pub struct EtcdConfig {
    pub hosts: Vec<String>,
    pub prefix: String,
    pub timeout: Duration,
    pub user: Option<String>,
    pub password: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub tls_verify: bool,
    pub tls_sni: Option<String>,
}

/// `plugin_attr.prometheus`.
#[derive(Debug, Clone, PartialEq)]
pub struct PrometheusConfig {
    pub enable_export_server: bool,
    pub export_addr: SocketAddr,
    pub export_uri: String,
    pub metric_prefix: String,
}

/// `nginx_config.stream` logging and trust settings.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamLogConfig {
    pub enable_access_log: bool,
    pub access_log: PathBuf,
    pub access_log_format: String,
    /// `default` or `json`.
    pub access_log_format_escape: String,
    pub real_ip_from: Vec<IpNet>,
}

/// The whole validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The prefix directory (parent of `conf/`); relative paths resolve against it.
    pub prefix: PathBuf,
    /// The config file this was read from.
    pub path: PathBuf,
    pub proxy_mode: ProxyMode,
    pub stream_tcp: Vec<TcpListen>,
    pub stream_udp: Vec<SocketAddr>,
    pub enable_admin: bool,
    pub enable_control: bool,
    pub control_addr: SocketAddr,
    pub admin: AdminConfig,
    pub role: Role,
    pub config_provider: ConfigProvider,
    /// `deployment.embedded.data_dir`, resolved against the prefix.
    pub data_dir: PathBuf,
    pub etcd: EtcdConfig,
    pub prometheus: PrometheusConfig,
    pub stream_plugins: Vec<String>,
    pub xrpc_protocols: Vec<String>,
    pub stream_log: StreamLogConfig,
    pub fallback_sni: Option<String>,
    pub graceful_shutdown_timeout: Duration,
    pub dns_resolver: Vec<String>,
    pub dns_resolver_valid: Option<Duration>,
}
