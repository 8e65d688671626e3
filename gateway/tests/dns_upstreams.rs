//! Upstream nodes given by DNS name, through an in-process gateway whose `apisix.dns_resolver`
//! is a real DNS server on 127.0.0.1 (`testkit::dns`): A and AAAA answers, an answer that
//! changes under a live connection, a name that does not exist next to one that does, and a
//! server that stops answering. The routes come from the standalone YAML file; the Control
//! API's `/v1/upstreams` and the metrics are read over HTTP as a user would.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use apisix_gateway::config::{Config, ConfigProvider, ProxyMode, Role, TcpListen};
use apisix_gateway::server::Server;
use model::control::{DnsName, UpstreamEntry};
use testkit::backends::TcpBackend;
use testkit::client;
use testkit::dns::DnsServer;
use testkit::ports::free_port;
use testkit::wait::{eventually, within};

/// How long a change may take to show (a 1 s TTL, a 1 s file poll, a few lookups).
const LIMIT: Duration = Duration::from_secs(15);

/// A gateway on a YAML file of routes, resolving names with `dns`.
struct Harness {
    _server: Server,
    _dir: tempfile::TempDir,
    tcp: SocketAddr,
    control: String,
    metrics: String,
    http: reqwest::Client,
}

fn config(prefix: &Path, dns: &DnsServer) -> Config {
    let local = |port| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
    let mut config = Config::defaults(prefix);
    config.proxy_mode = ProxyMode::Stream;
    config.stream.tcp = vec![TcpListen {
        addr: local(0),
        tls: false,
        sni_preread: false,
        proxy_protocol: false,
        proxy_protocol_to_upstream: None,
    }];
    config.stream.udp = Vec::new();
    config.admin.enabled = false;
    config.deployment.role = Role::Traditional;
    config.deployment.config_provider = ConfigProvider::Yaml;
    config.control.listen = local(free_port());
    config.prometheus.export_addr = local(free_port());
    config.stream.plugins = Vec::new();
    config.dns.servers = vec![dns.addr];
    config.dns.query_timeout = Duration::from_millis(300);
    config
}

impl Harness {
    /// Starts with one route to upstream `1`, whose body is `upstream` (YAML, indented under
    /// the list item).
    async fn start(dns: &DnsServer, upstream: &str) -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = config(dir.path(), dns);
        std::fs::create_dir_all(dir.path().join("conf")).expect("conf dir");
        std::fs::write(
            dir.path().join("conf/apisix.yaml"),
            format!(
                "stream_routes:\n  - id: 1\n    upstream_id: 1\nupstreams:\n  - id: 1\n{upstream}#END\n"
            ),
        )
        .expect("write apisix.yaml");
        let control = format!("http://{}", config.control.listen);
        let metrics = format!(
            "http://{}{}",
            config.prometheus.export_addr, config.prometheus.export_uri
        );
        let server = within("gateway start", Server::start(config))
            .await
            .expect("gateway starts");
        let tcp = server.listeners().tcp_addrs()[0];
        Harness {
            _server: server,
            _dir: dir,
            tcp,
            control,
            metrics,
            http: reqwest::Client::new(),
        }
    }

    /// `GET /v1/upstreams`, typed.
    async fn upstreams(&self) -> Vec<UpstreamEntry> {
        let url = format!("{}/v1/upstreams", self.control);
        let reply = within("GET /v1/upstreams", self.http.get(&url).send())
            .await
            .expect("control api answers");
        within("upstreams body", reply.json())
            .await
            .expect("a list of upstream entries")
    }

    /// The DNS state of `host` in upstream `1`.
    async fn dns_name(&self, host: &str) -> Option<DnsName> {
        let upstreams = self.upstreams().await;
        let entry = upstreams.iter().find(|u| u.key == "/apisix/upstreams/1")?;
        entry.dns.iter().find(|n| n.host == host).cloned()
    }

    /// `apisix_upstream_dns_failures_total{host, reason}` (0 when absent).
    async fn dns_failures(&self, host: &str, reason: &str) -> u64 {
        let reply = within("scrape", self.http.get(&self.metrics).send())
            .await
            .expect("metrics answer");
        let text = within("metrics body", reply.text()).await.expect("text");
        let series =
            format!("apisix_upstream_dns_failures_total{{host=\"{host}\",reason=\"{reason}\"}} ");
        text.lines()
            .find_map(|line| line.strip_prefix(&series))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    }

    /// The greeting of a new connection, `None` when the gateway closed it.
    async fn greeting(&self) -> Option<String> {
        client::greeting(self.tcp).await.ok()
    }
}

fn one_node(host: &str, port: u16, retries: u32) -> String {
    format!(
        "    type: roundrobin\n    retries: {retries}\n    nodes:\n      - {{host: {host}, port: {port}, weight: 1}}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_answer_moves_new_connections_and_leaves_open_ones_up() {
    let (first, second) = TcpBackend::greeting_pair("first", "second").await;
    let port = first.addr.port();
    let dns = DnsServer::start(1).await;
    dns.set("db.test", &[IpAddr::V4(Ipv4Addr::LOCALHOST)]);
    let gw = Harness::start(&dns, &one_node("db.test", port, 0)).await;

    let mut open = eventually("a connection through db.test", LIMIT, || async {
        let mut stream = client::connect(gw.tcp).await.ok()?;
        let line = client::read_line(&mut stream).await.ok()?;
        (line == "first").then_some(stream)
    })
    .await;
    let name = gw
        .dns_name("db.test")
        .await
        .expect("db.test in /v1/upstreams");
    assert_eq!(name.addresses, ["127.0.0.1"]);
    assert_eq!(name.ttl, Some(1));
    assert!(
        name.is_usable() && name.expires_in.is_some_and(|s| s <= 1.0),
        "{name:?}"
    );

    dns.set("db.test", &[IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))]);
    eventually("new connections reach the new address", LIMIT, || async {
        (gw.greeting().await? == "second").then_some(())
    })
    .await;
    client::echo_roundtrip(&mut open, b"still here")
        .await
        .expect("the connection opened before the change stays up");
    assert_eq!(first.active(), 1, "the old backend keeps its connection");
    let name = gw.dns_name("db.test").await.expect("db.test");
    assert_eq!(name.addresses, ["127.0.0.2"]);
    drop(second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_with_only_an_aaaa_record_is_reached_over_ipv6() {
    let backend = TcpBackend::greeting_on("six", "[::1]:0".parse().expect("addr")).await;
    let dns = DnsServer::start(30).await;
    dns.set("six.test", &[IpAddr::V6(Ipv6Addr::LOCALHOST)]);
    let gw = Harness::start(&dns, &one_node("six.test", backend.addr.port(), 0)).await;
    let got = eventually("a connection through six.test", LIMIT, || gw.greeting()).await;
    assert_eq!(got, "six");
    let name = gw.dns_name("six.test").await.expect("six.test");
    assert_eq!(
        (name.addresses, name.ttl),
        (vec!["::1".to_owned()], Some(30))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_that_does_not_exist_is_left_out_and_counted() {
    let good = TcpBackend::greeting_on("good", "127.0.0.1:0".parse().expect("addr")).await;
    let dns = DnsServer::start(30).await;
    dns.set("good.test", &[IpAddr::V4(Ipv4Addr::LOCALHOST)]);
    let port = good.addr.port();
    // No retries: a connection that picked the missing node would fail.
    let upstream = format!(
        "    type: roundrobin\n    retries: 0\n    nodes:\n      - {{host: missing.test, port: {port}, weight: 1}}\n      - {{host: good.test, port: {port}, weight: 1}}\n"
    );
    let gw = Harness::start(&dns, &upstream).await;
    eventually("the failed lookup to be counted", LIMIT, || async {
        (gw.dns_failures("missing.test", "nxdomain").await >= 1).then_some(())
    })
    .await;
    let missing = gw.dns_name("missing.test").await.expect("missing.test");
    assert_eq!(missing.state, "failed");
    assert!(missing.addresses.is_empty() && missing.ttl.is_none());
    assert!(missing
        .last_error
        .as_deref()
        .is_some_and(|e| e.starts_with("nxdomain")));
    for i in 0..20 {
        let got = gw.greeting().await;
        assert_eq!(got.as_deref(), Some("good"), "connection {i}");
    }
    assert_eq!(good.accepted(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dns_server_that_stops_answering_leaves_the_last_answer_in_use() {
    let backend = TcpBackend::greeting_on("kept", "127.0.0.1:0".parse().expect("addr")).await;
    let dns = DnsServer::start(1).await;
    dns.set("quiet.test", &[IpAddr::V4(Ipv4Addr::LOCALHOST)]);
    let gw = Harness::start(&dns, &one_node("quiet.test", backend.addr.port(), 0)).await;
    eventually("a connection through quiet.test", LIMIT, || gw.greeting()).await;

    dns.go_silent(true);
    eventually("a timed-out lookup to be counted", LIMIT, || async {
        (gw.dns_failures("quiet.test", "timeout").await >= 1).then_some(())
    })
    .await;
    assert_eq!(gw.greeting().await.as_deref(), Some("kept"));
    let name = gw.dns_name("quiet.test").await.expect("quiet.test");
    assert_eq!(name.state, "stale", "{name:?}");
    assert_eq!(name.addresses, ["127.0.0.1"]);
    assert!(name.failures >= 1 && name.last_error.is_some());
}
