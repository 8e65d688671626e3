//! The test gateway's `conf/config.yaml`: APISIX keys rendered from a small struct, with free
//! ports for every listener and known admin keys. Every listener (stream, Admin, Control,
//! metrics) binds [`GatewayConfig::listen_ip`], 127.0.0.1 unless a test runs the gateway on a
//! host of its own ([`GatewayConfig::netns`], see [`crate::netns`]).

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;

use crate::ports::free_port;

/// The admin key (role `admin`) of every test gateway unless a test asks for a generated one.
pub const TEST_ADMIN_KEY: &str = "e2e-admin-key-0123456789abcdef";
/// A second key with role `viewer` (GET only).
pub const TEST_VIEWER_KEY: &str = "e2e-viewer-key-0123456789abcdef";

/// What to put in the test gateway's config.yaml.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayConfig {
    /// The address every listener binds (127.0.0.1 by default; a test host's address when the
    /// gateway runs in a network namespace).
    pub listen_ip: Ipv4Addr,
    /// Run the gateway inside this network namespace (`ip netns exec <netns> ...`); `None`: in
    /// the test's own namespace.
    pub netns: Option<String>,
    /// `apisix.stream_proxy.tcp`, all on `listen_ip` (or every address with `tcp_listen_any`).
    pub tcp_ports: Vec<u16>,
    /// Write the TCP listeners as bare ports (`- 9100`: every address, as `make run` does).
    pub tcp_listen_any: bool,
    /// More `apisix.stream_proxy.tcp` entries on `listen_ip`, in the object form with `tls: true`
    /// (TLS terminated with SSL objects).
    pub tcp_tls_ports: Vec<u16>,
    /// `apisix.stream_proxy.udp`, all on `listen_ip` (or on a wildcard address with
    /// `udp_listen_any`, `[::1]` with `udp_ipv6`).
    pub udp_ports: Vec<u16>,
    /// Write the UDP listeners as bare ports (`- 9200`: `0.0.0.0`), or as `"[::]:9200"` with
    /// `udp_ipv6`.
    pub udp_listen_any: bool,
    /// Listen for UDP on IPv6 (`[::1]`, or `[::]` with `udp_listen_any`) instead of IPv4.
    pub udp_ipv6: bool,
    pub admin_port: u16,
    pub control_port: u16,
    pub prometheus_port: u16,
    /// The admin key; `None` writes `key: ""` so the gateway generates one.
    pub admin_key: Option<String>,
    /// An extra viewer key, if any.
    pub viewer_key: Option<String>,
    /// `apisix.graceful_shutdown_timeout` (seconds), if set.
    pub graceful_shutdown_timeout: Option<u64>,
    /// `apisix.worker_processes`, if set (`auto` otherwise).
    pub worker_processes: Option<usize>,
    /// `apisix.dns_resolver` entries (`IP` or `IP:PORT`), if any (`/etc/resolv.conf`
    /// otherwise).
    pub dns_resolver: Vec<String>,
    /// `apisix.proxy_mode` (`http&stream` by default).
    pub proxy_mode: String,
    /// `deployment.admin.allow_admin` CIDRs (`127.0.0.0/24` by default).
    pub allow_admin: Vec<String>,
    /// `Some(endpoint)`: use `config_provider: etcd` with this `deployment.etcd.host` (see
    /// [`crate::etcd::Etcd::endpoint`]) and prefix `/apisix`; `None`: the embedded store.
    pub etcd_endpoint: Option<String>,
    /// More `deployment.etcd.host` entries, listed after `etcd_endpoint` (the other members of
    /// an etcd cluster, see [`GatewayConfig::use_etcd_cluster`]).
    pub etcd_more_hosts: Vec<String>,
    /// `deployment.etcd.timeout` in seconds (5 by default).
    pub etcd_timeout: u64,
    /// `deployment.etcd.health_check_timeout` in seconds, if set.
    pub etcd_health_check_timeout: Option<u64>,
    /// `config_provider: yaml` on this traditional node: API-driven standalone (the Admin API
    /// serves only `/apisix/admin/configs`). Ignored when `etcd_endpoint` is set.
    pub api_standalone: bool,
    /// Raw YAML appended at the end (top-level keys not otherwise rendered).
    pub extra_yaml: String,
    /// Environment variables for the gateway process (not part of config.yaml), e.g.
    /// `APISIX_GATEWAY_RELAY=copy`.
    pub env: Vec<(String, String)>,
    /// HTTPS on the Admin API (and on the Control API with [`ApiTls::control`]); `None`:
    /// plain HTTP.
    pub api_tls: Option<ApiTls>,
}

/// The TLS of a test gateway's Admin (and Control) API, and how the harness reaches it.
#[derive(Debug, Clone)]
pub struct ApiTls {
    /// `admin_ssl_cert` / `admin_ssl_cert_key` (absolute paths); `None`: the gateway generates
    /// `conf/admin_ssl.crt`.
    pub cert_and_key: Option<(PathBuf, PathBuf)>,
    /// `admin_ssl_ca_cert`: mutual TLS.
    pub ca_cert: Option<PathBuf>,
    /// The Control API gets `apisix.control.tls` with the same files.
    pub control: bool,
    /// The TLS client config of the harness's own requests (readiness, `put_ok`, ...).
    pub client: Arc<rustls::ClientConfig>,
}

impl PartialEq for ApiTls {
    fn eq(&self, other: &Self) -> bool {
        (&self.cert_and_key, &self.ca_cert, self.control)
            == (&other.cert_and_key, &other.ca_cert, other.control)
            && Arc::ptr_eq(&self.client, &other.client)
    }
}

impl GatewayConfig {
    /// One TCP and one UDP stream listener, the test admin and viewer keys, free ports everywhere.
    pub fn new() -> Self {
        Self::with_listeners(1, 1)
    }

    /// `tcp` TCP and `udp` UDP stream listeners on free ports.
    pub fn with_listeners(tcp: usize, udp: usize) -> Self {
        GatewayConfig {
            listen_ip: Ipv4Addr::LOCALHOST,
            netns: None,
            tcp_ports: (0..tcp).map(|_| free_port()).collect(),
            udp_ports: (0..udp).map(|_| free_port()).collect(),
            tcp_listen_any: false,
            tcp_tls_ports: Vec::new(),
            udp_listen_any: false,
            udp_ipv6: false,
            admin_port: free_port(),
            control_port: free_port(),
            prometheus_port: free_port(),
            admin_key: Some(TEST_ADMIN_KEY.to_string()),
            viewer_key: Some(TEST_VIEWER_KEY.to_string()),
            graceful_shutdown_timeout: None,
            worker_processes: None,
            dns_resolver: Vec::new(),
            proxy_mode: "http&stream".to_string(),
            allow_admin: vec!["127.0.0.0/24".to_string()],
            etcd_endpoint: None,
            etcd_more_hosts: Vec::new(),
            etcd_timeout: 5,
            etcd_health_check_timeout: None,
            api_standalone: false,
            extra_yaml: String::new(),
            env: Vec::new(),
            api_tls: None,
        }
    }

    /// `config_provider: etcd` with every member of a cluster in `deployment.etcd.host`, in
    /// this order; `endpoints` must not be empty.
    pub fn use_etcd_cluster(&mut self, endpoints: &[String]) {
        self.etcd_endpoint = endpoints.first().cloned();
        self.etcd_more_hosts = endpoints.iter().skip(1).cloned().collect();
    }

    /// Renders config.yaml.
    pub fn render(&self) -> String {
        let ip = self.listen_ip;
        let mut y = String::new();
        let _ = writeln!(
            y,
            "apisix:\n  proxy_mode: {}\n  enable_admin: true",
            self.proxy_mode
        );
        y.push_str("  enable_control: true\n");
        let _ = writeln!(
            y,
            "  control:\n    ip: {ip}\n    port: {}",
            self.control_port
        );
        if let Some(tls) = self.api_tls.as_ref().filter(|t| t.control) {
            let empty = tls.cert_and_key.is_none() && tls.ca_cert.is_none();
            y.push_str(if empty { "    tls: {}\n" } else { "    tls:\n" });
            if let Some((cert, key)) = &tls.cert_and_key {
                let _ = writeln!(
                    y,
                    "      cert: \"{}\"\n      key: \"{}\"",
                    cert.display(),
                    key.display()
                );
            }
            if let Some(ca) = &tls.ca_cert {
                let _ = writeln!(y, "      ca_cert: \"{}\"", ca.display());
            }
        }
        if let Some(secs) = self.graceful_shutdown_timeout {
            let _ = writeln!(y, "  graceful_shutdown_timeout: {secs}");
        }
        if let Some(n) = self.worker_processes {
            let _ = writeln!(y, "  worker_processes: {n}");
        }
        if !self.dns_resolver.is_empty() {
            y.push_str("  dns_resolver:\n");
            for server in &self.dns_resolver {
                let _ = writeln!(y, "    - \"{server}\"");
            }
        }
        let any_tcp = !self.tcp_ports.is_empty() || !self.tcp_tls_ports.is_empty();
        if any_tcp || !self.udp_ports.is_empty() {
            y.push_str("  stream_proxy:\n");
        }
        if any_tcp {
            y.push_str("    tcp:\n");
            for port in &self.tcp_tls_ports {
                let _ = writeln!(y, "      - addr: \"{ip}:{port}\"\n        tls: true");
            }
            for port in &self.tcp_ports {
                if self.tcp_listen_any {
                    let _ = writeln!(y, "      - {port}");
                } else {
                    let _ = writeln!(y, "      - \"{ip}:{port}\"");
                }
            }
        }
        if !self.udp_ports.is_empty() {
            y.push_str("    udp:\n");
            for port in &self.udp_ports {
                match (self.udp_listen_any, self.udp_ipv6) {
                    (true, false) => writeln!(y, "      - {port}"),
                    (true, true) => writeln!(y, "      - \"[::]:{port}\""),
                    (false, true) => writeln!(y, "      - \"[::1]:{port}\""),
                    (false, false) => writeln!(y, "      - \"{ip}:{port}\""),
                }
                .expect("writing to a String cannot fail");
            }
        }
        y.push_str("deployment:\n  role: traditional\n  role_traditional:\n");
        match &self.etcd_endpoint {
            Some(endpoint) => {
                y.push_str("    config_provider: etcd\n  etcd:\n    host:\n");
                for host in std::iter::once(endpoint).chain(&self.etcd_more_hosts) {
                    let _ = writeln!(y, "      - \"{host}\"");
                }
                let _ = writeln!(y, "    prefix: /apisix\n    timeout: {}", self.etcd_timeout);
                if let Some(secs) = self.etcd_health_check_timeout {
                    let _ = writeln!(y, "    health_check_timeout: {secs}");
                }
            }
            None if self.api_standalone => y.push_str("    config_provider: yaml\n"),
            None => {
                y.push_str("    config_provider: embedded\n  embedded:\n    data_dir: data\n");
            }
        }
        y.push_str("  admin:\n    admin_key_required: true\n    admin_key:\n");
        let key = self.admin_key.as_deref().unwrap_or("");
        let _ = writeln!(
            y,
            "      - name: admin\n        key: \"{key}\"\n        role: admin"
        );
        if let Some(viewer) = &self.viewer_key {
            let _ = writeln!(
                y,
                "      - name: viewer\n        key: \"{viewer}\"\n        role: viewer"
            );
        }
        y.push_str("    allow_admin:\n");
        for cidr in &self.allow_admin {
            let _ = writeln!(y, "      - {cidr}");
        }
        let _ = writeln!(
            y,
            "    admin_listen:\n      ip: {ip}\n      port: {}",
            self.admin_port
        );
        if let Some(tls) = &self.api_tls {
            y.push_str("    https_admin: true\n    admin_api_mtls:\n");
            if let Some((cert, key)) = &tls.cert_and_key {
                let _ = writeln!(
                    y,
                    "      admin_ssl_cert: \"{}\"\n      admin_ssl_cert_key: \"{}\"",
                    cert.display(),
                    key.display()
                );
            }
            if let Some(ca) = &tls.ca_cert {
                let _ = writeln!(y, "      admin_ssl_ca_cert: \"{}\"", ca.display());
            }
        }
        let _ = writeln!(
            y,
            "plugin_attr:\n  prometheus:\n    enable_export_server: true\n    export_addr:\n      ip: {ip}\n      port: {}",
            self.prometheus_port
        );
        y.push_str(&self.extra_yaml);
        y
    }
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self::new()
    }
}
