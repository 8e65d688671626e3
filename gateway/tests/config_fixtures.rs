//! Config fixtures: every file under `fixtures/invalid/` must be rejected with exactly the
//! errors its `# expect:` lines give (`{file}` stands for the fixture's path); every file
//! under `fixtures/valid/` must load with exactly the warnings its `# expect-warning:` lines
//! give. The shipped `conf/config.yaml` must load cleanly with the `make run` settings.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use apisix_gateway::config::{self, ConfigProvider, ProxyMode, ProxyProtocolVersion, Role};

fn fixtures(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn expectations(file: &Path, marker: &str) -> Vec<String> {
    let text = std::fs::read_to_string(file).expect("read fixture");
    text.lines()
        .filter_map(|line| line.strip_prefix(marker))
        .map(|rest| rest.trim().replace("{file}", &file.display().to_string()))
        .collect()
}

fn prefix() -> PathBuf {
    PathBuf::from("/srv/gw")
}

#[test]
fn every_invalid_fixture_fails_with_its_exact_errors() {
    let files = fixtures("invalid");
    assert!(
        files.len() >= 15,
        "expected at least 15 invalid fixtures, found {}",
        files.len()
    );
    for file in files {
        let expected = expectations(&file, "# expect:");
        assert!(
            !expected.is_empty(),
            "{} has no `# expect:` line",
            file.display()
        );
        match config::load(&file, Some(&prefix())) {
            Ok(_) => panic!("{} should be rejected", file.display()),
            Err(errors) => {
                assert_eq!(errors.messages, expected, "errors of {}", file.display());
                assert_eq!(errors.to_string(), expected.join("\n"));
            }
        }
    }
}

#[test]
fn every_valid_fixture_loads_with_its_exact_warnings() {
    let files = fixtures("valid");
    assert!(!files.is_empty());
    for file in files {
        let expected = expectations(&file, "# expect-warning:");
        let (_, warnings) = config::load(&file, Some(&prefix()))
            .unwrap_or_else(|e| panic!("{} should load:\n{e}", file.display()));
        assert_eq!(warnings, expected, "warnings of {}", file.display());
    }
}

fn valid(name: &str) -> config::Config {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/valid")
        .join(name);
    config::load(&file, Some(&prefix()))
        .expect("valid fixture")
        .0
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

#[test]
fn full_fixture_sets_every_section() {
    let c = valid("full.yaml");
    assert_eq!(c.proxy_mode, ProxyMode::HttpAndStream);
    assert_eq!(c.stream.tcp.len(), 8);
    let tls = c
        .stream
        .tcp
        .iter()
        .find(|l| l.addr.port() == 9443)
        .expect("tls listener");
    assert!(tls.tls);
    assert_eq!(
        tls.proxy_protocol_to_upstream,
        Some(ProxyProtocolVersion::V1),
        "global default applies"
    );
    let passthrough = c
        .stream
        .tcp
        .iter()
        .find(|l| l.addr.port() == 8443)
        .expect("sni listener");
    assert!(passthrough.sni_preread && passthrough.proxy_protocol);
    assert_eq!(
        passthrough.proxy_protocol_to_upstream,
        Some(ProxyProtocolVersion::V2)
    );
    assert_eq!(
        c.stream.udp,
        [
            addr("0.0.0.0:9200"),
            addr("127.0.0.1:9201"),
            addr("127.0.0.1:9202")
        ]
    );
    assert_eq!(c.control.listen, addr("127.0.0.1:19090"));
    assert_eq!(c.ssl.fallback_sni.as_deref(), Some("default.example.com"));
    let servers: Vec<std::net::SocketAddr> = ["1.1.1.1:53", "8.8.8.8:53"]
        .iter()
        .map(|s| s.parse().expect("server address"))
        .collect();
    assert_eq!(c.dns.servers, servers);
    assert_eq!(c.dns.max_ttl, Some(Duration::from_secs(60)));
    assert!(c.disable_upstream_healthcheck);
    assert_eq!(c.graceful_shutdown_timeout, Duration::from_millis(2500));
    assert_eq!(
        (c.deployment.role, c.deployment.config_provider),
        (Role::Traditional, ConfigProvider::Etcd)
    );
    assert_eq!(c.admin.listen, addr("0.0.0.0:19180"));
    assert_eq!(c.admin.keys.len(), 2);
    assert_eq!(
        c.admin.keys[0].key, "edd1c9f034335f136f87ad84b625c8f1",
        "env default substituted"
    );
    assert_eq!(c.admin.keys[1].role, "viewer");
    assert_eq!(c.admin.allow_admin.as_ref().map(Vec::len), Some(2));
    assert_eq!(c.etcd.hosts.len(), 2);
    assert_eq!(
        (c.etcd.prefix.as_str(), c.etcd.timeout),
        ("/gateway", Duration::from_secs(5))
    );
    assert_eq!(
        c.etcd
            .auth
            .as_ref()
            .map(|a| (a.user.as_str(), a.password.0.as_str())),
        Some(("root", "secret"))
    );
    assert_eq!(
        c.etcd.tls.cert,
        Some(PathBuf::from("/srv/gw/certs/etcd.crt"))
    );
    assert!(!c.etcd.tls.verify);
    assert_eq!(c.etcd.tls.sni.as_deref(), Some("etcd.internal"));
    assert_eq!(c.prometheus.export_addr, addr("0.0.0.0:19091"));
    assert_eq!(
        (
            c.prometheus.export_uri.as_str(),
            c.prometheus.metric_prefix.as_str()
        ),
        ("/metrics", "gw_")
    );
    assert_eq!(
        c.stream.plugins,
        ["ip-restriction", "limit-conn", "prometheus"]
    );
    assert_eq!(c.stream.xrpc_protocols, ["redis"]);
    assert!(c.stream.log.enable_access_log);
    assert_eq!(
        c.stream.log.access_log,
        PathBuf::from("/var/log/gw/stream.log")
    );
    assert_eq!(c.stream.log.access_log_format_escape, "json");
    assert_eq!(c.stream.log.real_ip_from.len(), 2);
}

#[test]
fn data_plane_fixture_has_no_admin() {
    let c = valid("data_plane_etcd.yaml");
    assert_eq!(
        (c.deployment.role, c.deployment.config_provider),
        (Role::DataPlane, ConfigProvider::Etcd)
    );
    assert!(!c.admin.enabled && !c.control.enabled);
}

#[test]
fn etcd_timings_and_the_trusted_ca_are_read() {
    let c = valid("etcd_timings_and_ca.yaml");
    assert_eq!(c.etcd.watch_timeout, Duration::from_secs(20));
    assert_eq!(c.etcd.startup_retry, 4);
    assert_eq!(c.etcd.resync_delay, Duration::from_secs(1));
    assert!(!c.etcd.tls.verify);
    assert!(c.etcd.tls.trusted.system_roots);
    assert_eq!(
        c.etcd.tls.trusted.files,
        [PathBuf::from("/srv/gw/certs/etcd-ca.pem")]
    );
    let defaults = valid("data_plane_etcd.yaml");
    assert_eq!(defaults.etcd.watch_timeout, Duration::from_secs(50));
    assert_eq!(defaults.etcd.startup_retry, 2);
    assert_eq!(defaults.etcd.resync_delay, Duration::from_secs(5));
    assert!(defaults.etcd.tls.trusted.system_roots && defaults.etcd.tls.trusted.files.is_empty());
}

#[test]
fn shipped_config_yaml_is_the_make_run_setup_without_warnings() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf/config.yaml");
    let (c, warnings) =
        config::load(&file, None).unwrap_or_else(|e| panic!("conf/config.yaml:\n{e}"));
    assert_eq!(warnings, Vec::<String>::new());
    assert_eq!(c.proxy_mode, ProxyMode::HttpAndStream);
    let tcp: Vec<SocketAddr> = c.stream.tcp.iter().map(|l| l.addr).collect();
    assert_eq!(tcp, [addr("0.0.0.0:9100")]);
    assert_eq!(c.stream.udp, [addr("0.0.0.0:9200")]);
    assert_eq!(c.admin.listen, addr("127.0.0.1:9180"));
    assert_eq!(c.admin.keys.len(), 1);
    assert_eq!(
        c.admin.keys[0].key, "",
        "the gateway generates the key at first start"
    );
    assert!(c.admin.enabled && c.control.enabled);
    assert_eq!(c.control.listen, addr("127.0.0.1:9090"));
    assert_eq!(c.prometheus.export_addr, addr("127.0.0.1:9091"));
    assert_eq!(
        (c.deployment.role, c.deployment.config_provider),
        (Role::Traditional, ConfigProvider::Embedded)
    );
    let root =
        std::fs::canonicalize(Path::new(env!("CARGO_MANIFEST_DIR")).join("..")).expect("repo root");
    assert_eq!(std::fs::canonicalize(&c.prefix).expect("prefix"), root);
    assert_eq!(c.deployment.data_dir, c.prefix.join("data"));
}
