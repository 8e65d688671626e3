//! Unit tests of config loading: defaults, listener forms, role rules, warnings.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

fn parse(text: &str) -> Result<(Config, Vec<String>), ConfigErrors> {
    from_yaml_str(text, Path::new("/gw/conf/config.yaml"), Path::new("/gw"))
}

fn ok(text: &str) -> Config {
    let (config, _) = parse(text).unwrap_or_else(|e| panic!("config should load:\n{e}"));
    config
}

fn errors(text: &str) -> Vec<String> {
    parse(text).expect_err("config should be rejected").messages
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

fn stream(tcp: &str) -> String {
    format!("apisix:\n  proxy_mode: http&stream\n  stream_proxy:\n    tcp: {tcp}\n")
}

#[test]
fn empty_file_gives_apisix_defaults_with_our_loopback_admin() {
    let c = ok("");
    assert_eq!(c.proxy_mode, ProxyMode::Http);
    assert!(c.stream.tcp.is_empty() && c.stream.udp.is_empty());
    assert!(c.admin.enabled && c.control.enabled);
    assert_eq!(c.control.listen, addr("127.0.0.1:9090"));
    assert_eq!(c.admin.listen, addr("127.0.0.1:9180"));
    assert!(c.admin.key_required);
    assert_eq!(
        c.admin.keys,
        [AdminKey {
            name: "admin".into(),
            key: "".into(),
            role: "admin".into()
        }]
    );
    assert_eq!(
        c.admin.allow_admin,
        Some(vec!["127.0.0.0/24".parse().expect("cidr")])
    );
    assert_eq!(
        (c.deployment.role, c.deployment.config_provider),
        (Role::Traditional, ConfigProvider::Embedded)
    );
    assert_eq!(c.deployment.data_dir, PathBuf::from("/gw/data"));
    assert_eq!(c.etcd.hosts, ["http://127.0.0.1:2379"]);
    assert_eq!(
        (c.etcd.prefix.as_str(), c.etcd.timeout),
        ("/apisix", Duration::from_secs(30))
    );
    assert!(c.etcd.tls.verify);
    assert_eq!(c.prometheus.export_addr, addr("127.0.0.1:9091"));
    assert_eq!(c.prometheus.export_uri, "/apisix/prometheus/metrics");
    assert_eq!(c.prometheus.metric_prefix, "apisix_");
    assert!(c.prometheus.enable_export_server);
    assert_eq!(c.stream.plugins, DEFAULT_STREAM_PLUGINS);
    assert!(c.stream.xrpc_protocols.is_empty());
    assert!(!c.stream.log.enable_access_log);
    assert_eq!(
        c.stream.log.access_log,
        PathBuf::from("/gw/logs/access_stream.log")
    );
    assert_eq!(c.stream.log.access_log_format, DEFAULT_ACCESS_LOG_FORMAT);
    assert_eq!(c.stream.log.access_log_format_escape, "default");
    assert_eq!(c.graceful_shutdown_timeout, Duration::from_secs(30));
    assert_eq!((c.ssl.fallback_sni, c.dns.max_ttl), (None, None));
    assert!(c.dns.servers.is_empty());
    assert_eq!(c.dns.query_timeout, Duration::from_secs(5));
    assert!(!c.disable_upstream_healthcheck);
}

#[test]
fn config_default_yaml_matches_the_built_in_defaults_without_warnings() {
    let (from_file, warnings) = parse(default_config_yaml()).expect("config-default.yaml loads");
    assert_eq!(warnings, Vec::<String>::new());
    assert_eq!(from_file, ok(""));
    assert_eq!(Config::defaults(Path::new("/gw")), ok(""));
}

#[test]
fn tcp_entries_in_every_form_expand_to_listeners() {
    let c = ok(&stream(
        r#"[9100, "127.0.0.1:9101", "[::1]:9102", "9103-9105", "127.0.0.2:9106-9107",
            {addr: 9108, tls: true}, {addr: "9109", sni_preread: true, proxy_protocol: true},
            {addr: 9110, proxy_protocol_to_upstream: v2}, {addr: 9111, proxy_protocol_to_upstream: true}]"#,
    ));
    let addrs: Vec<String> = c.stream.tcp.iter().map(|l| l.addr.to_string()).collect();
    assert_eq!(
        addrs,
        [
            "0.0.0.0:9100",
            "127.0.0.1:9101",
            "[::1]:9102",
            "0.0.0.0:9103",
            "0.0.0.0:9104",
            "0.0.0.0:9105",
            "127.0.0.2:9106",
            "127.0.0.2:9107",
            "0.0.0.0:9108",
            "0.0.0.0:9109",
            "0.0.0.0:9110",
            "0.0.0.0:9111",
        ]
    );
    let by_port = |p: u16| {
        c.stream
            .tcp
            .iter()
            .find(|l| l.addr.port() == p)
            .expect("listener")
    };
    assert!(by_port(9108).tls && !by_port(9108).sni_preread);
    assert!(by_port(9109).sni_preread && by_port(9109).proxy_protocol);
    assert_eq!(
        by_port(9110).proxy_protocol_to_upstream,
        Some(ProxyProtocolVersion::V2)
    );
    assert_eq!(
        by_port(9111).proxy_protocol_to_upstream,
        Some(ProxyProtocolVersion::V1)
    );
    assert_eq!(by_port(9100).proxy_protocol_to_upstream, None);
}

#[test]
fn global_proxy_protocol_is_the_per_port_default() {
    let text = format!(
        "{}  proxy_protocol:\n    enable_tcp_pp: true\n    enable_tcp_pp_to_upstream: true\n",
        stream("[9100, {addr: 9101, proxy_protocol: false, proxy_protocol_to_upstream: false}]")
    );
    let c = ok(&text);
    assert!(c.stream.tcp[0].proxy_protocol);
    assert_eq!(
        c.stream.tcp[0].proxy_protocol_to_upstream,
        Some(ProxyProtocolVersion::V1)
    );
    assert!(!c.stream.tcp[1].proxy_protocol);
    assert_eq!(c.stream.tcp[1].proxy_protocol_to_upstream, None);
}

#[test]
fn udp_entries_accept_ports_addresses_and_ranges() {
    let c = ok("apisix:\n  proxy_mode: stream\n  stream_proxy:\n    udp: [9200, \"127.0.0.1:9201\", \"9300-9301\"]\n");
    assert_eq!(
        c.stream.udp,
        [
            addr("0.0.0.0:9200"),
            addr("127.0.0.1:9201"),
            addr("0.0.0.0:9300"),
            addr("0.0.0.0:9301")
        ]
    );
}

#[test]
fn port_validation_uses_apisix_texts() {
    let cases = [
        (
            "[70000]",
            "invalid stream_proxy.tcp entry: port out of range (1-65535): 70000",
        ),
        (
            "[0]",
            "invalid stream_proxy.tcp entry: port out of range (1-65535): 0",
        ),
        (
            "[80.5]",
            "invalid stream_proxy.tcp entry: port must be an integer, got: 80.5",
        ),
        (
            "[\"9200-9100\"]",
            "invalid stream_proxy.tcp entry: invalid port range (start > end): 9200-9100",
        ),
        (
            "[\"1-70000\"]",
            "invalid stream_proxy.tcp entry: port out of range (1-65535): 70000",
        ),
        (
            "[\"127.0.0.1:\"]",
            "invalid stream_proxy.tcp entry: missing port: 127.0.0.1:",
        ),
        (
            "[\"127.0.0.1:80.5\"]",
            "invalid stream_proxy.tcp entry: invalid port format: 127.0.0.1:80.5",
        ),
        (
            "[\"[::1]:99999\"]",
            "invalid stream_proxy.tcp entry: port out of range (1-65535): 99999",
        ),
        (
            "[{addr: true}]",
            "invalid stream_proxy.tcp entry: invalid port value type: boolean",
        ),
        (
            "[[9100]]",
            "invalid stream_proxy.tcp entry: invalid port value type: table",
        ),
    ];
    for (tcp, expected) in cases {
        assert_eq!(errors(&stream(tcp)), [expected], "tcp: {tcp}");
    }
}

#[test]
fn listen_forms_nginx_would_judge_are_rejected_with_the_key_path() {
    assert_eq!(
        errors(&stream("[\"unix:/tmp/x.sock\"]")),
        ["apisix.stream_proxy.tcp[0]: invalid listen address \"unix:/tmp/x.sock\": expected an IP address and a port"]
    );
    assert_eq!(
        errors(&stream("[{tls: true}]")),
        ["apisix.stream_proxy.tcp[0].addr: required"]
    );
}

#[test]
fn localhost_listen_means_loopback() {
    assert_eq!(
        ok(&stream("[\"localhost:9100\"]")).stream.tcp[0].addr,
        addr("127.0.0.1:9100")
    );
}

#[test]
fn stream_proxy_is_ignored_with_a_warning_in_http_mode() {
    let (c, warnings) = parse("apisix:\n  stream_proxy:\n    tcp: [70000]\n").expect("loads");
    assert!(c.stream.tcp.is_empty());
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0].starts_with("apisix.stream_proxy: ignored because apisix.proxy_mode is http")
    );
}

#[test]
fn stream_mode_turns_admin_and_control_off_like_apisix() {
    let (c, warnings) = parse("apisix:\n  proxy_mode: stream\n").expect("loads");
    assert!(!c.admin.enabled && !c.control.enabled);
    assert!(warnings
        .iter()
        .any(|w| w.starts_with("apisix.proxy_mode: \"stream\" has no http subsystem")));
}

#[test]
fn data_plane_forces_admin_off_and_needs_a_provider() {
    let (c, warnings) = parse(
        "apisix:\n  enable_admin: true\ndeployment:\n  role: data_plane\n  role_data_plane:\n    config_provider: yaml\n",
    )
    .expect("loads");
    assert!(!c.admin.enabled);
    assert_eq!(
        (c.deployment.role, c.deployment.config_provider),
        (Role::DataPlane, ConfigProvider::Yaml)
    );
    assert_eq!(
        warnings,
        ["apisix.enable_admin: ignored, a data_plane never serves the Admin API"]
    );
    assert_eq!(
        errors("deployment:\n  role: data_plane\n"),
        ["deployment.role_data_plane.config_provider: required when deployment.role is data_plane (one of: etcd, yaml)"]
    );
}

#[test]
fn control_plane_forces_admin_on() {
    let c = ok("apisix:\n  enable_admin: false\ndeployment:\n  role: control_plane\n  role_control_plane:\n    config_provider: etcd\n");
    assert!(c.admin.enabled);
    assert_eq!(c.deployment.config_provider, ConfigProvider::Etcd);
}

#[test]
fn allow_admin_absent_null_and_listed() {
    assert_eq!(
        ok("deployment:\n  admin:\n    allow_admin: ~\n")
            .admin
            .allow_admin,
        None
    );
    let listed = ok("deployment:\n  admin:\n    allow_admin: [10.0.0.0/8, 192.168.1.7, all]\n");
    let nets: Vec<String> = listed
        .admin
        .allow_admin
        .expect("some")
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(nets, ["10.0.0.0/8", "192.168.1.7/32", "0.0.0.0/0", "::/0"]);
}

#[test]
fn admin_keys_accept_numbers_like_apisix_tostring() {
    let c =
        ok("deployment:\n  admin:\n    admin_key:\n      - {name: a, key: 12345, role: viewer}\n");
    assert_eq!(
        c.admin.keys,
        [AdminKey {
            name: "a".into(),
            key: "12345".into(),
            role: "viewer".into()
        }]
    );
}

#[test]
fn unknown_keys_are_warned_and_apisix_only_keys_are_not() {
    let (_, warnings) = parse(
        "apisix:\n  node_listen: [9080]\n  proxy_mod: stream\n  ssl:\n    ssl_protocols: TLSv1.3\n\
         nginx_config:\n  worker_processes: auto\nplugins: [cors]\nfoo: 1\n\
         deployment:\n  admin:\n    admin_key:\n      - {name: a, key: b, role: admin, colour: red}\n",
    )
    .expect("loads");
    assert_eq!(
        warnings,
        [
            "apisix.proxy_mod: unknown key, ignored",
            "foo: unknown key, ignored",
            "deployment.admin.admin_key[0].colour: unknown key, ignored",
        ]
    );
}

#[test]
fn relative_paths_resolve_against_the_prefix() {
    let c = ok("deployment:\n  embedded:\n    data_dir: state/db\n  etcd:\n    tls:\n      cert: certs/c.pem\n      key: /abs/k.pem\n");
    assert_eq!(c.deployment.data_dir, PathBuf::from("/gw/state/db"));
    assert_eq!(c.etcd.tls.cert, Some(PathBuf::from("/gw/certs/c.pem")));
    assert_eq!(c.etcd.tls.key, Some(PathBuf::from("/abs/k.pem")));
}

#[test]
fn default_prefix_is_the_parent_of_conf() {
    assert_eq!(
        default_prefix(Path::new("/opt/gw/conf/config.yaml")),
        PathBuf::from("/opt/gw")
    );
    assert_eq!(
        default_prefix(Path::new("/tmp/x/gw.yaml")),
        PathBuf::from("/tmp/x")
    );
}

#[test]
fn env_substitution_happens_before_parsing() {
    let c = ok(&format!(
        "apisix:\n  control:\n    port: ${{{{APISIX_GW_TEST_SURELY_UNSET:=9999}}}}\n{}",
        ""
    ));
    assert_eq!(c.control.listen.port(), 9999);
    assert_eq!(
        errors("apisix:\n  control:\n    port: ${{APISIX_GW_TEST_SURELY_UNSET}}\n"),
        ["failed to handle configuration: can't find environment variable APISIX_GW_TEST_SURELY_UNSET"]
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let all = errors(
        "apisix:\n  enable_admin: yes\n  control:\n    port: 70000\ndeployment:\n  etcd:\n    timeout: 0\n",
    );
    assert_eq!(
        all,
        [
            "apisix.enable_admin: expected a boolean, got \"yes\"",
            "apisix.control.port: expected a port (1-65535), got 70000",
            "deployment.etcd.timeout: expected an integer >= 1, got 0",
        ]
    );
    assert_eq!(
        ConfigErrors {
            messages: all.clone()
        }
        .to_string(),
        all.join("\n")
    );
}

#[test]
fn load_reads_a_file_and_derives_the_prefix() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("conf")).expect("mkdir");
    let file = dir.path().join("conf/config.yaml");
    std::fs::write(&file, "deployment:\n  embedded:\n    data_dir: d\n").expect("write");
    let (c, _) = load(&file, None).expect("loads");
    assert_eq!(c.prefix, dir.path());
    assert_eq!(c.deployment.data_dir, dir.path().join("d"));
    let (c, _) = load(&file, Some(Path::new("/srv/other"))).expect("loads");
    assert_eq!(c.deployment.data_dir, PathBuf::from("/srv/other/d"));
    let missing = load(&dir.path().join("nope.yaml"), None).expect_err("missing file");
    assert!(
        missing
            .to_string()
            .starts_with("failed to read config file "),
        "{missing}"
    );
}

#[test]
fn ports_accept_numeric_strings_like_apisix_tonumber() {
    let c = ok("apisix:\n  control:\n    port: \"19090\"\n");
    assert_eq!(c.control.listen.port(), 19090);
}

#[test]
fn disabling_the_admin_key_is_warned_about() {
    let (c, warnings) =
        parse("deployment:\n  admin:\n    admin_key_required: false\n").expect("loads");
    assert!(!c.admin.key_required);
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0].starts_with("deployment.admin.admin_key_required: false"),
        "{warnings:?}"
    );
}

#[test]
fn worker_processes_is_a_count_or_auto_for_the_cores() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(ok("apisix:\n  worker_processes: 3\n").workers.processes, 3);
    assert_eq!(
        ok("apisix:\n  worker_processes: auto\n").workers.processes,
        cores
    );
    assert_eq!(ok("apisix: {}\n").workers.processes, cores);
    assert_eq!(
        errors("apisix:\n  worker_processes: 0\n"),
        ["apisix.worker_processes: expected an integer >= 1 or \"auto\", got 0"]
    );
    assert_eq!(
        errors("apisix:\n  worker_processes: many\n"),
        ["apisix.worker_processes: expected an integer >= 1 or \"auto\", got \"many\""]
    );
}

#[test]
fn data_plane_settings_are_read_once_with_their_defaults() {
    let defaults = ok("").data_plane;
    assert_eq!(defaults, DataPlaneSettings::default());
    assert_eq!(defaults.relay, RelayEngine::Splice);
    assert_eq!(defaults.runtime, RuntimeLayout::MultiThread);
    assert!(defaults.live_stats);
    let set = ok(
        "apisix:\n  data_plane:\n    relay: copy\n    runtime: percore\n    live_stats: false\n",
    )
    .data_plane;
    assert_eq!(
        set,
        DataPlaneSettings {
            relay: RelayEngine::Copy,
            runtime: RuntimeLayout::PerCore,
            live_stats: false,
            busy_poll: None,
        }
    );
    assert_eq!(
        errors("apisix:\n  data_plane:\n    relay: zerocopy\n"),
        ["apisix.data_plane.relay: invalid value \"zerocopy\", expected one of: splice, copy"]
    );
}

#[test]
fn busy_poll_is_off_by_default_and_takes_whole_microseconds_up_to_the_bound() {
    assert_eq!(ok("").data_plane.busy_poll, None);
    let key = |v: &str| format!("apisix:\n  stream_proxy:\n    busy_poll_us: {v}\n");
    assert_eq!(ok(&key("0")).data_plane.busy_poll, None);
    assert_eq!(
        ok(&key("50")).data_plane.busy_poll,
        Some(Duration::from_micros(50))
    );
    assert_eq!(
        ok(&key("10000")).data_plane.busy_poll,
        Some(Duration::from_micros(10_000))
    );
    for (bad, shown) in [
        ("-1", "-1"),
        ("2.5", "2.5"),
        ("fast", "\"fast\""),
        ("10001", "10001"),
    ] {
        assert_eq!(
            errors(&key(bad)),
            [format!(
                "apisix.stream_proxy.busy_poll_us: expected an integer from 0 (off) to 10000 (microseconds), got {shown}"
            )],
            "{bad}"
        );
    }
}

#[test]
fn dns_resolver_entries_take_port_53_unless_given_and_bad_ones_are_named() {
    let c = ok("apisix:\n  dns_resolver: [10.0.0.2, \"10.0.0.3:5353\", \"::1\", \"[::1]\", \"[::1]:54\"]\n  resolver_timeout: 1.5\n");
    assert_eq!(
        c.dns.servers,
        [
            addr("10.0.0.2:53"),
            addr("10.0.0.3:5353"),
            addr("[::1]:53"),
            addr("[::1]:53"),
            addr("[::1]:54")
        ]
    );
    assert_eq!(c.dns.query_timeout, Duration::from_millis(1500));
    let errs = errors(
        "apisix:\n  dns_resolver: [dns.example, \"10.0.0.1:99999\"]\n  resolver_timeout: 0\n",
    );
    assert_eq!(
        errs,
        [
            "apisix.dns_resolver[0]: invalid DNS server address \"dns.example\"",
            "apisix.dns_resolver[1]: invalid DNS server address \"10.0.0.1:99999\"",
            "apisix.resolver_timeout: expected a number of seconds > 0, got 0",
        ]
    );
}
