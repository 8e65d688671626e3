//! Self-tests of the harness pieces that do not need the gateway: backends, free ports, the
//! MariaDB and etcd helpers. If these fail, the other e2e failures are not the gateway's fault.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use e2e::backends::{TcpBackend, UdpEcho};
use e2e::etcd::EtcdServer as Etcd;
use e2e::mariadb::MariaDb;
use e2e::{client, ports};
use tokio::io::AsyncWriteExt;

#[test]
fn free_ports_are_distinct_and_bindable() {
    let a = ports::free_port();
    let b = ports::free_port();
    assert_ne!(a, b);
    std::net::TcpListener::bind(("127.0.0.1", a)).expect("free port is bindable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn greeting_backend_greets_echoes_and_counts_connections() {
    let backend = TcpBackend::greeting("alpha").await;
    let mut stream = client::connect(backend.addr).await.expect("connect");
    assert_eq!(
        client::read_line(&mut stream).await.expect("greeting"),
        "alpha"
    );
    client::echo_roundtrip(&mut stream, b"ping")
        .await
        .expect("echo");
    assert_eq!(backend.accepted(), 1);
    stream.shutdown().await.expect("shutdown");
    client::expect_closed(&mut stream, Duration::from_secs(5))
        .await
        .expect("backend closes after client EOF");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_bound_to_loopback_alias_reaches_backend() {
    let backend = TcpBackend::greeting("beta").await;
    let name = client::greeting_from(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 5)), backend.addr)
        .await
        .expect("connect from 127.0.0.5");
    assert_eq!(name, "beta");
}

#[tokio::test]
async fn udp_echo_answers_with_the_same_bytes() {
    let backend = UdpEcho::start().await;
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    sock.send_to(b"hello", backend.addr).await.expect("send");
    let mut buf = [0u8; 64];
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
        .await
        .expect("reply within 5 s")
        .expect("recv");
    assert_eq!(&buf[..n], b"hello");
    assert_eq!(backend.datagrams(), 1);
}

#[test]
fn mariadb_server_answers_select_1_directly() {
    let db = MariaDb::start().expect("start MariaDB (needs mariadb-server, mariadb-client)");
    let run = db.client(db.addr(), "select 1").expect("run client");
    assert_eq!(run.code, Some(0), "client failed: {}", run.stderr);
    assert!(
        run.stdout.contains('1'),
        "unexpected output: {}",
        run.stdout
    );
}

#[tokio::test]
async fn etcd_becomes_healthy_and_restarts() {
    let mut etcd = Etcd::start().await.expect("start etcd (needs etcd-server)");
    etcd.kill9();
    etcd.start_again()
        .await
        .expect("etcd restarts on the same data dir");
    assert!(etcd.endpoint().starts_with("http://127.0.0.1:"));
}

#[test]
fn rendered_config_names_every_listener_and_key() {
    let config = e2e::gateway::GatewayConfig::with_listeners(2, 1);
    let yaml = config.render();
    for port in config.tcp_ports.iter().chain(&config.udp_ports) {
        assert!(yaml.contains(&format!("\"127.0.0.1:{port}\"")), "{yaml}");
    }
    assert!(yaml.contains("proxy_mode: http&stream"));
    assert!(yaml.contains("config_provider: embedded"));
    assert!(yaml.contains(e2e::gateway::TEST_ADMIN_KEY));
    let mut etcd = config.clone();
    etcd.etcd_endpoint = Some("http://127.0.0.1:2379".into());
    assert!(etcd.render().contains("config_provider: etcd"));
}

#[tokio::test]
async fn etcd_keys_can_be_written_and_read_through_the_json_gateway() {
    let etcd = Etcd::start().await.expect("start etcd (needs etcd-server)");
    etcd.put("/apisix/upstreams/1", r#"{"nodes":{"127.0.0.1:1995":1}}"#)
        .await
        .expect("put");
    let got = etcd.get("/apisix/upstreams/1").await.expect("get");
    assert_eq!(got.as_deref(), Some(r#"{"nodes":{"127.0.0.1:1995":1}}"#));
    assert_eq!(etcd.get("/apisix/upstreams/2").await.expect("get"), None);
}
