//! Builds a [`Config`] from the config text: YAML with its `${{VAR}}` resolved, then one reader per
//! section (`apisix`, `deployment`, `plugin_attr.prometheus`, `stream_plugins`, `xrpc`,
//! `nginx_config.stream`), then the cross-section checks in [`super::checks`].

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use ipnet::IpNet;
use serde_json::Value;

use super::listen::{self, PpDefaults};
use super::reader::{describe, Reader};
use super::*;

/// APISIX's default stream plugin list.
pub const DEFAULT_STREAM_PLUGINS: &[&str] = &[
    "ip-restriction",
    "limit-conn",
    "mqtt-proxy",
    "syslog",
    "traffic-split",
];
/// Stream plugins this gateway knows.
pub const KNOWN_STREAM_PLUGINS: &[&str] = &[
    "ip-restriction",
    "limit-conn",
    "mqtt-proxy",
    "syslog",
    "traffic-split",
    "prometheus",
];
/// APISIX's default `nginx_config.worker_rlimit_nofile`.
pub const DEFAULT_RLIMIT_NOFILE: u64 = 20480;

/// APISIX's default `nginx_config.event.worker_connections`.
pub const DEFAULT_WORKER_CONNECTIONS: usize = 10620;

/// APISIX's default `nginx_config.stream.access_log_format`.
pub const DEFAULT_ACCESS_LOG_FORMAT: &str =
    "$remote_addr [$time_local] $protocol $status $bytes_sent $bytes_received $session_time";

/// `apisix.data_encryption.keyring` default (APISIX's).
pub const DEFAULT_KEYRING: &[&str] = &["qeddd145sfvddff3", "edd1c9f0985e76a2"];

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Parses and validates `text` (the contents of `path`) with `prefix` as the prefix dir.
pub fn from_text(
    text: &str,
    path: &Path,
    prefix: &Path,
) -> Result<(Config, Vec<String>), ConfigErrors> {
    let lookup = |name: &str| std::env::var(name).ok();
    let yaml = env::parse_yaml(text, &lookup).map_err(|e| match e {
        env::EnvYamlError::Yaml(e) => {
            ConfigErrors::one(format!("{}: invalid YAML: {e}", path.display()))
        }
        env::EnvYamlError::Variables(errors) => ConfigErrors::new(errors),
    })?;
    let mut root = serde_json::to_value(&yaml).map_err(|e| {
        ConfigErrors::one(format!("{}: unsupported YAML value: {e}", path.display()))
    })?;
    if root.is_null() {
        root = Value::Object(Default::default());
    }
    if !root.is_object() {
        return Err(ConfigErrors::one(format!(
            "{}: expected a mapping at the top level, got {}",
            path.display(),
            describe(&root)
        )));
    }
    let mut r = Reader::new(&root);
    let mut config = read(&mut r, path, prefix);
    checks::run(&mut r, &mut config);
    for key in r.unknown_keys() {
        r.warn(format!("{key}: unknown key, ignored"));
    }
    if r.errors.is_empty() {
        Ok((config, r.warnings))
    } else {
        Err(ConfigErrors::new(r.errors))
    }
}

fn read(r: &mut Reader<'_>, path: &Path, prefix: &Path) -> Config {
    // Sections are read in the order of conf/config-default.yaml, so errors come out in
    // that order.
    let mode = r.one_of(
        "apisix.proxy_mode",
        &["http", "stream", "http&stream"],
        "http",
    );
    let proxy_mode = match mode.as_str() {
        "stream" => ProxyMode::Stream,
        "http&stream" => ProxyMode::HttpAndStream,
        _ => ProxyMode::Http,
    };
    let (stream_tcp, stream_udp) = stream_proxy(r, proxy_mode);
    let enable_admin = r.bool("apisix.enable_admin", true);
    let enable_control = r.bool("apisix.enable_control", true);
    let control = ControlConfig {
        enabled: enable_control,
        listen: SocketAddr::new(
            r.ip("apisix.control.ip", LOCALHOST),
            r.port("apisix.control.port", 9090),
        ),
        tls: api_access::control_tls(r, prefix),
    };
    let ssl = ssl(r, prefix);
    let dns = DnsSettings {
        servers: dns_resolver(r),
        max_ttl: r
            .integer("apisix.dns_resolver_valid", 0)
            .map(|s| Duration::from_secs(s.unsigned_abs())),
        query_timeout: resolver_timeout(r),
        ..DnsSettings::default()
    };
    let disable_upstream_healthcheck = r.bool("apisix.disable_upstream_healthcheck", false);
    let graceful_shutdown_timeout =
        seconds(r, "apisix.graceful_shutdown_timeout").unwrap_or(Duration::from_secs(30));
    let workers = WorkerLimits {
        processes: worker_processes(r),
        rlimit_nofile: r
            .integer("nginx_config.worker_rlimit_nofile", 1)
            .map_or(DEFAULT_RLIMIT_NOFILE, |n| n.unsigned_abs()),
        connections: r
            .integer("nginx_config.event.worker_connections", 1)
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(DEFAULT_WORKER_CONNECTIONS),
    };
    let data_plane = data_plane(r);
    let (role, config_provider) = role(r);
    let data_dir = r
        .string("deployment.embedded.data_dir")
        .unwrap_or_else(|| "data".into());
    let admin = admin(r, prefix, enable_admin);
    let serves_admin = match role {
        Role::DataPlane => false,
        Role::ControlPlane => true,
        Role::Traditional => enable_admin,
    };
    if serves_admin {
        api_access::warn_clear_text_admin(r, admin.listen.ip(), admin.tls.as_ref());
    }
    Config {
        prefix: prefix.to_path_buf(),
        path: path.to_path_buf(),
        proxy_mode,
        control,
        deployment: Deployment {
            role,
            config_provider,
            data_dir: super::resolve_path(prefix, &data_dir),
        },
        admin,
        etcd: etcd(r, prefix, &ssl.trusted),
        prometheus: prometheus(r),
        stream: StreamConfig {
            tcp: stream_tcp,
            udp: stream_udp,
            plugins: stream_plugins(r),
            xrpc_protocols: xrpc_protocols(r),
            log: stream_log(r, prefix),
        },
        ssl,
        graceful_shutdown_timeout,
        workers,
        dns,
        disable_upstream_healthcheck,
        data_plane,
        log: super::logs::read(r, prefix),
    }
}

/// `apisix.data_plane` (ours), each key overridden by its bench-only environment variable.
fn data_plane(r: &mut Reader<'_>) -> DataPlaneSettings {
    let env = |name: &str| std::env::var(name).ok();
    let relay = r.one_of("apisix.data_plane.relay", &["splice", "copy"], "splice");
    let runtime = r.one_of("apisix.data_plane.runtime", &["multi", "percore"], "multi");
    let live_stats = r.bool("apisix.data_plane.live_stats", true);
    let relay = env("APISIX_GATEWAY_RELAY").unwrap_or(relay);
    let runtime = env("APISIX_GATEWAY_RUNTIME").unwrap_or(runtime);
    DataPlaneSettings {
        relay: if relay == "copy" {
            RelayEngine::Copy
        } else {
            RelayEngine::Splice
        },
        runtime: if runtime == "percore" {
            RuntimeLayout::PerCore
        } else {
            RuntimeLayout::MultiThread
        },
        live_stats: live_stats && env("APISIX_GATEWAY_NO_LIVE_STATS").as_deref() != Some("1"),
        busy_poll: busy_poll(r),
    }
}

/// The longest `apisix.stream_proxy.busy_poll_us` accepted: 10 ms of spinning per burst of
/// activity is already far past any latency gain.
pub const MAX_BUSY_POLL_US: u64 = 10_000;

/// `apisix.stream_proxy.busy_poll_us` (ours): whole microseconds from 0 (off, the default) to
/// [`MAX_BUSY_POLL_US`].
fn busy_poll(r: &mut Reader<'_>) -> Option<Duration> {
    let path = "apisix.stream_proxy.busy_poll_us";
    let value = r.value(path)?;
    match value.as_u64().filter(|us| *us <= MAX_BUSY_POLL_US) {
        Some(0) => None,
        Some(us) => Some(Duration::from_micros(us)),
        None => {
            r.error(format!(
                "{path}: expected an integer from 0 (off) to {MAX_BUSY_POLL_US} (microseconds), got {}",
                describe(value)
            ));
            None
        }
    }
}

/// `apisix.worker_processes`: a count >= 1, or `auto` (the default) = the number of cores.
fn worker_processes(r: &mut Reader<'_>) -> usize {
    let path = "apisix.worker_processes";
    let auto = || std::thread::available_parallelism().map_or(1, |n| n.get());
    match r.value(path) {
        None => auto(),
        Some(Value::String(s)) if s == "auto" => auto(),
        Some(value) => match value.as_u64().and_then(|n| usize::try_from(n).ok()) {
            Some(n) if n >= 1 => n,
            _ => {
                r.error(format!(
                    "{path}: expected an integer >= 1 or \"auto\", got {}",
                    describe(value)
                ));
                auto()
            }
        },
    }
}

fn stream_proxy(r: &mut Reader<'_>, mode: ProxyMode) -> (Vec<TcpListen>, Vec<SocketAddr>) {
    let pp = PpDefaults {
        accept: r.bool("apisix.proxy_protocol.enable_tcp_pp", false),
        to_upstream: r.bool("apisix.proxy_protocol.enable_tcp_pp_to_upstream", false),
    };
    if r.is_set("apisix.stream_proxy.only") {
        r.warn("apisix.stream_proxy.only: no longer used, set apisix.proxy_mode instead");
    }
    if !r.is_set("apisix.stream_proxy") {
        return (Vec::new(), Vec::new());
    }
    if !mode.stream_enabled() {
        r.mark("apisix.stream_proxy.tcp");
        r.mark("apisix.stream_proxy.udp");
        r.warn(
            "apisix.stream_proxy: ignored because apisix.proxy_mode is http \
             (set it to \"http&stream\" or \"stream\" to open stream listeners)",
        );
        return (Vec::new(), Vec::new());
    }
    let tcp = if r.is_set("apisix.stream_proxy.tcp") {
        listen::tcp(r, "apisix.stream_proxy.tcp", pp)
    } else {
        Vec::new()
    };
    let udp = if r.is_set("apisix.stream_proxy.udp") {
        listen::udp(r, "apisix.stream_proxy.udp")
    } else {
        Vec::new()
    };
    (tcp, udp)
}

fn role(r: &mut Reader<'_>) -> (Role, ConfigProvider) {
    let name = r.one_of(
        "deployment.role",
        &["traditional", "data_plane", "control_plane"],
        "traditional",
    );
    for section in ["role_traditional", "role_data_plane", "role_control_plane"] {
        r.mark(&format!("deployment.{section}.config_provider"));
    }
    let (role, allowed, default): (Role, &[&str], Option<&str>) = match name.as_str() {
        "data_plane" => (Role::DataPlane, &["etcd", "yaml"], None),
        "control_plane" => (Role::ControlPlane, &["etcd"], None),
        _ => (
            Role::Traditional,
            &["embedded", "etcd", "yaml"],
            Some("embedded"),
        ),
    };
    let key = format!("deployment.role_{name}.config_provider");
    let provider = match (r.is_set(&key), default) {
        (true, _) => r.one_of(&key, allowed, allowed[0]),
        (false, Some(default)) => default.to_string(),
        (false, None) => {
            r.error(format!(
                "{key}: required when deployment.role is {name} (one of: {})",
                allowed.join(", ")
            ));
            allowed[0].to_string()
        }
    };
    let provider = match provider.as_str() {
        "etcd" => ConfigProvider::Etcd,
        "yaml" => ConfigProvider::Yaml,
        _ => ConfigProvider::Embedded,
    };
    (role, provider)
}

fn admin(r: &mut Reader<'_>, prefix: &Path, enabled: bool) -> AdminConfig {
    let listen = SocketAddr::new(
        r.ip("deployment.admin.admin_listen.ip", LOCALHOST),
        r.port("deployment.admin.admin_listen.port", 9180),
    );
    let key_required = r.bool("deployment.admin.admin_key_required", true);
    if !key_required {
        r.warn(
            "deployment.admin.admin_key_required: false, the Admin API accepts requests \
             without a key; do not do this in production",
        );
    }
    let keys = match r.raw("deployment.admin.admin_key") {
        None => vec![AdminKey::for_role("admin", "")],
        Some(_) => admin_keys(r),
    };
    let allow_admin = match r.raw("deployment.admin.allow_admin") {
        None => Some(vec![IpNet::V4(
            "127.0.0.0/24".parse().expect("a valid CIDR literal"),
        )]),
        Some(Value::Null) => None,
        Some(_) => Some(cidrs(r, "deployment.admin.allow_admin")),
    };
    AdminConfig {
        enabled,
        listen,
        key_required,
        keys,
        allow_admin,
        tls: api_access::admin_tls(r, prefix),
        audit_log: api_access::audit_log(r, prefix),
    }
}

fn admin_keys(r: &mut Reader<'_>) -> Vec<AdminKey> {
    let mut keys = Vec::new();
    for (item_path, item) in r.list_items("deployment.admin.admin_key") {
        let Value::Object(obj) = item else {
            r.error(format!(
                "{item_path}: expected a mapping with name, key and role, got {}",
                describe(item)
            ));
            continue;
        };
        r.mark(&item_path);
        let text = |r: &mut Reader<'_>, field: &str, default: &str| -> String {
            let key = format!("{item_path}.{field}");
            r.mark(&key);
            match obj.get(field) {
                None | Some(Value::Null) => default.to_string(),
                Some(Value::String(s)) => s.clone(),
                // APISIX does `tostring(admin.key)`: numbers are accepted.
                Some(Value::Number(n)) if field == "key" => n.to_string(),
                Some(other) => {
                    r.error(format!("{key}: expected a string, got {}", describe(other)));
                    default.to_string()
                }
            }
        };
        let name = text(r, "name", "");
        let key = text(r, "key", "");
        let role = text(r, "role", "admin");
        if role != "admin" && role != "viewer" {
            r.error(format!(
                "{item_path}.role: invalid value {role:?}, expected one of: admin, viewer"
            ));
        }
        keys.push(AdminKey { name, key, role });
    }
    keys
}

/// A list of CIDRs (a bare IP is one host; `all` is everything), errors per entry.
fn cidrs(r: &mut Reader<'_>, path: &str) -> Vec<IpNet> {
    let Some(items) = r.strings(path) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if item == "all" {
            out.push(IpNet::V4(Default::default()));
            out.push(IpNet::V6(Default::default()));
            continue;
        }
        match item
            .parse::<IpNet>()
            .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
        {
            Ok(net) => out.push(net),
            Err(_) => r.error(format!("{path}[{i}]: invalid CIDR or IP address {item:?}")),
        }
    }
    out
}

/// `deployment.etcd`; `trusted` is `apisix.ssl.ssl_trusted_certificate`, which also verifies
/// the etcd server (as in APISIX).
fn etcd(r: &mut Reader<'_>, prefix: &Path, trusted: &TrustedCas) -> EtcdConfig {
    let hosts = match r.strings("deployment.etcd.host") {
        None => vec!["http://127.0.0.1:2379".to_string()],
        Some(hosts) => {
            if hosts.is_empty() {
                r.error("deployment.etcd.host: expected at least one entry");
            }
            for (i, host) in hosts.iter().enumerate() {
                if !(host.starts_with("http://") || host.starts_with("https://")) {
                    r.error(format!(
                        "deployment.etcd.host[{i}]: {host:?} must start with http:// or https://"
                    ));
                }
            }
            hosts
        }
    };
    let prefix_key = r.absolute_path("deployment.etcd.prefix", "/apisix");
    EtcdConfig {
        hosts,
        prefix: prefix_key,
        timeout: r.whole_seconds("deployment.etcd.timeout", 1, 30),
        auth: etcd_auth(r),
        tls: EtcdTls {
            cert: r
                .string("deployment.etcd.tls.cert")
                .map(|p| super::resolve_path(prefix, &p)),
            key: r
                .string("deployment.etcd.tls.key")
                .map(|p| super::resolve_path(prefix, &p)),
            verify: r.bool("deployment.etcd.tls.verify", true),
            sni: r.string("deployment.etcd.tls.sni"),
            trusted: trusted.clone(),
        },
        watch_timeout: r.whole_seconds("deployment.etcd.watch_timeout", 1, 50),
        startup_retry: r
            .integer("deployment.etcd.startup_retry", 1)
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(2),
        resync_delay: r.whole_seconds("deployment.etcd.resync_delay", 0, 5),
        health_check_timeout: r.whole_seconds("deployment.etcd.health_check_timeout", 1, 10),
    }
}

/// `apisix.ssl` and `apisix.data_encryption`.
fn ssl(r: &mut Reader<'_>, prefix: &Path) -> SslConfig {
    let fallback_sni = r.string("apisix.ssl.fallback_sni");
    let trusted = trusted_cas(prefix, r.string("apisix.ssl.ssl_trusted_certificate"));
    let keyring = if r.bool("apisix.data_encryption.enable_encrypt_fields", true) {
        r.strings("apisix.data_encryption.keyring")
            .unwrap_or_else(|| DEFAULT_KEYRING.iter().map(|k| k.to_string()).collect())
    } else {
        Vec::new()
    };
    SslConfig {
        fallback_sni,
        trusted,
        keyring,
    }
}

/// `deployment.etcd.user` and `password`: both or neither.
fn etcd_auth(r: &mut Reader<'_>) -> Option<EtcdAuth> {
    match (
        r.string("deployment.etcd.user"),
        r.string("deployment.etcd.password"),
    ) {
        (Some(user), Some(password)) => Some(EtcdAuth {
            user,
            password: Secret(password),
        }),
        (None, None) => None,
        (Some(_), None) => {
            r.error("deployment.etcd.password: required when deployment.etcd.user is set");
            None
        }
        (None, Some(_)) => {
            r.error("deployment.etcd.user: required when deployment.etcd.password is set");
            None
        }
    }
}

/// `ssl_trusted_certificate`: comma-separated CA files (resolved against the prefix) and/or
/// the word `system`. Unset means `system`.
fn trusted_cas(prefix: &Path, list: Option<String>) -> TrustedCas {
    let Some(list) = list else {
        return TrustedCas::default();
    };
    let mut cas = TrustedCas {
        files: Vec::new(),
        system_roots: false,
    };
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if item == "system" {
            cas.system_roots = true;
        } else {
            cas.files.push(super::resolve_path(prefix, item));
        }
    }
    cas
}

fn prometheus(r: &mut Reader<'_>) -> PrometheusConfig {
    let export_uri = r.absolute_path(
        "plugin_attr.prometheus.export_uri",
        "/apisix/prometheus/metrics",
    );
    PrometheusConfig {
        enable_export_server: r.bool("plugin_attr.prometheus.enable_export_server", true),
        export_addr: SocketAddr::new(
            r.ip("plugin_attr.prometheus.export_addr.ip", LOCALHOST),
            r.port("plugin_attr.prometheus.export_addr.port", 9091),
        ),
        export_uri,
        metric_prefix: r
            .string("plugin_attr.prometheus.metric_prefix")
            .unwrap_or_else(|| "apisix_".into()),
    }
}

fn stream_plugins(r: &mut Reader<'_>) -> Vec<String> {
    let Some(plugins) = r.strings("stream_plugins") else {
        return DEFAULT_STREAM_PLUGINS
            .iter()
            .map(|s| s.to_string())
            .collect();
    };
    for (i, name) in plugins.iter().enumerate() {
        if !KNOWN_STREAM_PLUGINS.contains(&name.as_str()) {
            r.warn(format!(
                "stream_plugins[{i}]: unknown stream plugin {name:?}, ignored"
            ));
        }
    }
    plugins
}

fn xrpc_protocols(r: &mut Reader<'_>) -> Vec<String> {
    let mut out = Vec::new();
    for (item_path, item) in r.list_items("xrpc.protocols") {
        r.mark(&format!("{item_path}.name"));
        match item.get("name") {
            Some(Value::String(name)) => out.push(name.clone()),
            Some(other) => r.error(format!(
                "{item_path}.name: expected a string, got {}",
                describe(other)
            )),
            None => r.error(format!("{item_path}.name: required")),
        }
    }
    out
}

fn stream_log(r: &mut Reader<'_>, prefix: &Path) -> StreamLogConfig {
    let base = "nginx_config.stream";
    StreamLogConfig {
        enable_access_log: r.bool(&format!("{base}.enable_access_log"), false),
        access_log: super::resolve_path(
            prefix,
            &r.string(&format!("{base}.access_log"))
                .unwrap_or_else(|| "logs/access_stream.log".into()),
        ),
        access_log_format: r
            .string(&format!("{base}.access_log_format"))
            .unwrap_or_else(|| DEFAULT_ACCESS_LOG_FORMAT.into()),
        access_log_format_escape: r.one_of(
            &format!("{base}.access_log_format_escape"),
            &["default", "json"],
            "default",
        ),
        real_ip_from: cidrs(r, &format!("{base}.real_ip_from")),
    }
}

/// `apisix.dns_resolver`: each entry `IP` or `IP:PORT` (`[v6]:PORT`), port 53 by default.
fn dns_resolver(r: &mut Reader<'_>) -> Vec<SocketAddr> {
    let Some(list) = r.strings("apisix.dns_resolver") else {
        return Vec::new();
    };
    if list.is_empty() {
        r.error("apisix.dns_resolver: expected at least one entry");
    }
    let mut servers = Vec::new();
    for (i, server) in list.iter().enumerate() {
        match dns_server_addr(server) {
            Some(addr) => servers.push(addr),
            None => r.error(format!(
                "apisix.dns_resolver[{i}]: invalid DNS server address {server:?}"
            )),
        }
    }
    servers
}

/// A DNS server entry: `IP`, `[IPv6]`, `IP:PORT` or `[IPv6]:PORT`; port 53 when absent.
fn dns_server_addr(entry: &str) -> Option<SocketAddr> {
    const DNS_PORT: u16 = 53;
    let entry = entry.trim();
    entry.parse::<SocketAddr>().ok().or_else(|| {
        let host = entry.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
        let ip = host.unwrap_or(entry).parse::<IpAddr>().ok()?;
        Some(SocketAddr::new(ip, DNS_PORT))
    })
}

/// `apisix.resolver_timeout`: seconds one DNS query waits for an answer (APISIX's key,
/// default 5), above zero.
fn resolver_timeout(r: &mut Reader<'_>) -> Duration {
    const DEFAULT: Duration = Duration::from_secs(5);
    match seconds(r, "apisix.resolver_timeout") {
        Some(t) if t.is_zero() => {
            r.error("apisix.resolver_timeout: expected a number of seconds > 0, got 0");
            DEFAULT
        }
        Some(t) => t,
        None => DEFAULT,
    }
}

/// A non-negative number of seconds (fractions allowed).
fn seconds(r: &mut Reader<'_>, path: &str) -> Option<Duration> {
    let value = r.value(path)?;
    match value.as_f64().filter(|s| *s >= 0.0 && s.is_finite()) {
        Some(s) => Some(Duration::from_secs_f64(s)),
        None => {
            r.error(format!(
                "{path}: expected a number of seconds >= 0, got {}",
                describe(value)
            ));
            None
        }
    }
}
