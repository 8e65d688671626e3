//! `conf/config.yaml`: APISIX's keys and defaults (REFERENCE.md §1, DESIGN.md §3), loaded
//! into a validated [`Config`]. Loading reports every problem, one line each, naming the key
//! path; unknown keys are warned about.
//!
//! Flow: [`load`] reads the file → YAML → [`env`] substitutes `${{VAR}}` in its values →
//! [`load`](self::load)'s section readers ([`reader::Reader`], [`listen`] for
//! `stream_proxy`, [`logs`] for the error log's keys) → [`checks`] (roles, forced settings,
//! port conflicts). Defaults live in the readers; `conf/config-default.yaml`
//! ([`default_config_yaml`]) documents them and a test keeps the two equal.

pub mod api_access;
mod checks;
pub mod env;
mod listen;
mod load;
mod logs;
mod reader;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub(crate) use self::listen::lua_type;
pub use self::listen::validate_port_or_range;
pub use self::load::{
    DEFAULT_ACCESS_LOG_FORMAT, DEFAULT_KEYRING, DEFAULT_STREAM_PLUGINS, KNOWN_STREAM_PLUGINS,
};
pub use self::logs::{ErrorLogLevel, LineFormat, LogSettings};

use ipnet::IpNet;

use crate::dns::DnsSettings;

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

impl AdminKey {
    /// A key named after its role (`admin` or `viewer`), as the default config writes them.
    pub fn for_role(role: &str, key: &str) -> Self {
        AdminKey {
            name: role.to_owned(),
            key: key.to_owned(),
            role: role.to_owned(),
        }
    }
}

/// `deployment.admin`, with `apisix.enable_admin`.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminConfig {
    /// `apisix.enable_admin` as written; [`Config::admin_enabled`] applies the role.
    pub enabled: bool,
    pub listen: SocketAddr,
    pub key_required: bool,
    pub keys: Vec<AdminKey>,
    /// `None`: key absent, everything allowed.
    pub allow_admin: Option<Vec<IpNet>>,
    /// HTTPS (`deployment.admin.https_admin`), see [`api_access`].
    pub tls: Option<api_access::ApiTls>,
    /// The audit trail (`deployment.admin.audit_log`, ours); `None` = off.
    pub audit_log: Option<PathBuf>,
}

/// `apisix.enable_control` and `apisix.control`.
#[derive(Debug, Clone, PartialEq)]
pub struct ControlConfig {
    pub enabled: bool,
    pub listen: SocketAddr,
    /// TLS on the Control API (`apisix.control.tls`, ours).
    pub tls: Option<api_access::ApiTls>,
}

/// `apisix.ssl.ssl_trusted_certificate` resolved: the CAs that verify the servers this gateway
/// connects to over TLS (upstreams with `tls.verify: true`, and etcd).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedCas {
    /// PEM bundles, resolved against the prefix.
    pub files: Vec<PathBuf>,
    /// Whether the operating system's / bundled roots are trusted too (the word `system`, and
    /// the default when the key is unset).
    pub system_roots: bool,
}

impl Default for TrustedCas {
    fn default() -> Self {
        TrustedCas {
            files: Vec::new(),
            system_roots: true,
        }
    }
}

/// `apisix.ssl` and `apisix.data_encryption`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SslConfig {
    /// `apisix.ssl.fallback_sni` as written.
    pub fallback_sni: Option<String>,
    /// `apisix.ssl.ssl_trusted_certificate`.
    pub trusted: TrustedCas,
    /// `apisix.data_encryption.keyring` (decrypts SSL keys at rest); empty when
    /// `apisix.data_encryption.enable_encrypt_fields` is false.
    pub keyring: Vec<String>,
}

/// `deployment.etcd.tls`, and the CAs of `apisix.ssl.ssl_trusted_certificate`.
#[derive(Debug, Clone, PartialEq)]
pub struct EtcdTls {
    /// The client certificate and key (mutual TLS).
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub verify: bool,
    pub sni: Option<String>,
    /// What verifies the etcd server.
    pub trusted: TrustedCas,
}

impl Default for EtcdTls {
    /// No client certificate, the server verified against the system's CAs.
    fn default() -> Self {
        EtcdTls {
            cert: None,
            key: None,
            verify: true,
            sni: None,
            trusted: TrustedCas::default(),
        }
    }
}

/// `deployment.etcd.user` and `deployment.etcd.password`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdAuth {
    pub user: String,
    pub password: Secret,
}

/// A value kept out of `Debug` output (a password).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"***\"")
    }
}

/// `deployment.etcd`.
#[derive(Debug, Clone, PartialEq)]
pub struct EtcdConfig {
    pub hosts: Vec<String>,
    pub prefix: String,
    pub timeout: Duration,
    /// `user` and `password` (both or neither).
    pub auth: Option<EtcdAuth>,
    pub tls: EtcdTls,
    /// `watch_timeout` (default 50 s): a watch that saw nothing for this long is re-created from
    /// the same revision (no resync, no delay), as APISIX's long-poll watch times out.
    pub watch_timeout: Duration,
    /// `startup_retry` (default 2): how many failed reads at start-up are each logged at error
    /// level before the gateway goes on retrying quietly in the background.
    pub startup_retry: u32,
    /// `resync_delay` (default 5 s): the longest wait before retrying after a failed read or a
    /// lost watch (backoff from 100 ms up to this, plus up to 50 % jitter as in APISIX).
    pub resync_delay: Duration,
    /// `health_check_timeout` (default 10 s): how long a member that failed a request is
    /// tried only after the others (APISIX's key, same meaning).
    pub health_check_timeout: Duration,
}

/// How many workers run the data plane and what each may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerLimits {
    /// `apisix.worker_processes` resolved: data-plane worker threads (`auto` = cores).
    pub processes: usize,
    /// `nginx_config.worker_rlimit_nofile`: the soft open-file limit raised at start (capped
    /// at the hard limit; default 20480).
    pub rlimit_nofile: u64,
    /// `nginx_config.event.worker_connections`: concurrent client sessions per worker (an
    /// accepted TCP connection or a UDP session; default 10620).
    pub connections: usize,
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

/// `deployment`: the role and where the configuration is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    pub role: Role,
    /// `deployment.role_<role>.config_provider`.
    pub config_provider: ConfigProvider,
    /// `deployment.embedded.data_dir`, resolved against the prefix.
    pub data_dir: PathBuf,
}

/// The stream side: the `apisix.stream_proxy` listeners, `stream_plugins`, `xrpc.protocols`
/// and `nginx_config.stream`'s logging and trust settings.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamConfig {
    pub tcp: Vec<TcpListen>,
    pub udp: Vec<SocketAddr>,
    /// The enabled stream plugins, by name.
    pub plugins: Vec<String>,
    pub xrpc_protocols: Vec<String>,
    pub log: StreamLogConfig,
}

/// The whole validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The prefix directory (parent of `conf/`); relative paths resolve against it.
    pub prefix: PathBuf,
    /// The config file this was read from.
    pub path: PathBuf,
    pub proxy_mode: ProxyMode,
    pub admin: AdminConfig,
    pub control: ControlConfig,
    pub deployment: Deployment,
    pub etcd: EtcdConfig,
    pub prometheus: PrometheusConfig,
    pub stream: StreamConfig,
    pub ssl: SslConfig,
    pub graceful_shutdown_timeout: Duration,
    pub workers: WorkerLimits,
    /// `apisix.dns_resolver`, `apisix.dns_resolver_valid` and `apisix.resolver_timeout`: how
    /// upstream node names are resolved.
    pub dns: DnsSettings,
    /// `apisix.disable_upstream_healthcheck`: no active probes and no passive counting, every
    /// node stays healthy (the global kill switch; default false).
    pub disable_upstream_healthcheck: bool,
    /// `apisix.data_plane` (ours): the relay engine, the runtime layout and live stats.
    pub data_plane: DataPlaneSettings,
    /// The error log: `nginx_config.error_log`, `error_log_level`, `apisix.log_format`.
    pub log: LogSettings,
}

/// `apisix.data_plane` (our addition): engine choices that `make bench` compares. Each is read
/// once here (a bench-only environment variable overrides its key) and handed down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataPlaneSettings {
    /// `relay: splice|copy` (`APISIX_GATEWAY_RELAY`).
    pub relay: RelayEngine,
    /// `runtime: multi|percore` (`APISIX_GATEWAY_RUNTIME`).
    pub runtime: RuntimeLayout,
    /// `live_stats: true|false` (`APISIX_GATEWAY_NO_LIVE_STATS=1` turns it off): route stats,
    /// Prometheus counters, the access log and syslog.
    pub live_stats: bool,
    /// `apisix.stream_proxy.busy_poll_us` (ours, the opt-in low-latency mode): after relay
    /// activity the workers poll for readiness instead of sleeping, for this long; `None` = off.
    pub busy_poll: Option<Duration>,
}

impl Default for DataPlaneSettings {
    fn default() -> Self {
        DataPlaneSettings {
            relay: RelayEngine::Splice,
            runtime: RuntimeLayout::MultiThread,
            live_stats: true,
            busy_poll: None,
        }
    }
}

/// Which engine relays plain TCP on both legs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RelayEngine {
    /// `read`/`write` for small exchanges, zero-copy `splice(2)` once a flow turns bulk.
    #[default]
    Splice,
    /// Read/write through the per-worker scratch buffer only.
    Copy,
}

/// How the data plane is laid out on threads (see [`crate::runtime`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RuntimeLayout {
    /// One tokio multi-thread runtime.
    #[default]
    MultiThread,
    /// One `current_thread` runtime per worker with `SO_REUSEPORT` listeners.
    PerCore,
}

/// Everything wrong with a config file: one message per problem, each naming its key path
/// (or APISIX's text for the problem). Displayed one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors {
    /// The messages, in the order found.
    pub messages: Vec<String>,
}

impl ConfigErrors {
    fn new(messages: Vec<String>) -> Self {
        ConfigErrors { messages }
    }

    fn one(message: String) -> Self {
        ConfigErrors {
            messages: vec![message],
        }
    }
}

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.messages.join("\n"))
    }
}

impl std::error::Error for ConfigErrors {}

/// `conf/config-default.yaml`: every key this gateway reads, with its default.
pub fn default_config_yaml() -> &'static str {
    include_str!("../../../conf/config-default.yaml")
}

/// The prefix used when none is given: the parent of the `conf/` directory holding `path`
/// (or the file's own directory when it is not in a directory named `conf`).
pub fn default_prefix(path: &Path) -> PathBuf {
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    match (dir.file_name(), dir.parent()) {
        (Some(name), Some(parent)) if name == "conf" => parent.to_path_buf(),
        _ => dir,
    }
}

fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    match std::env::current_dir() {
        Ok(cwd) => cwd.join(path),
        Err(_) => path.to_path_buf(),
    }
}

/// Reads and validates the config file at `path`. `prefix` (`-p`) overrides the prefix
/// directory that relative paths resolve against (default: [`default_prefix`]). Returns the
/// config and the warnings (unknown keys, ignored settings), or every problem found.
pub fn load(path: &Path, prefix: Option<&Path>) -> Result<(Config, Vec<String>), ConfigErrors> {
    let path = absolute(path);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        ConfigErrors::one(format!(
            "failed to read config file {}: {e}",
            path.display()
        ))
    })?;
    let prefix = prefix
        .map(absolute)
        .unwrap_or_else(|| default_prefix(&path));
    load::from_text(&text, &path, &prefix)
}

/// Validates config text as if it were the file `path`, with `prefix` as the prefix
/// directory (for tests and `apisix-gateway test`).
pub fn from_yaml_str(
    text: &str,
    path: &Path,
    prefix: &Path,
) -> Result<(Config, Vec<String>), ConfigErrors> {
    load::from_text(text, path, prefix)
}

/// `path` as written in config.yaml: absolute, or relative to the `prefix` directory.
pub fn resolve_path(prefix: &Path, path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        prefix.join(p)
    }
}

impl Config {
    /// The configuration an empty config file gives, with `prefix` as the prefix directory.
    pub fn defaults(prefix: &Path) -> Config {
        let path = prefix.join("conf").join("config.yaml");
        load::from_text("", &path, prefix)
            .map(|(config, _)| config)
            .expect("the built-in defaults are valid")
    }

    /// The validation context for stored objects: the enabled plugins and protocols.
    pub fn check_context(&self) -> model::CheckContext {
        model::CheckContext::new(
            self.stream.plugins.clone(),
            self.stream.xrpc_protocols.clone(),
        )
    }

    /// The stream listeners asked for (none unless `proxy_mode` enables stream).
    pub fn stream_listens(&self) -> (&[TcpListen], &[std::net::SocketAddr]) {
        if self.proxy_mode.stream_enabled() {
            (&self.stream.tcp, &self.stream.udp)
        } else {
            (&[], &[])
        }
    }

    /// Whether this process serves the Admin API (`enable_admin`, never on a data plane).
    pub fn admin_enabled(&self) -> bool {
        match self.deployment.role {
            Role::DataPlane => false,
            Role::ControlPlane => true,
            Role::Traditional => self.admin.enabled,
        }
    }
}
