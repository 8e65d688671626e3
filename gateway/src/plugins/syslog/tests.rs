use std::net::SocketAddr;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::json;

use super::entry::{custom_entry, default_entry, rfc5424, RouteIds};
use super::*;
use crate::conn::Transport;
use crate::session::SessionRecord;

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("literal address")
}

fn record() -> SessionRecord {
    SessionRecord {
        route_id: Some("r1".into()),
        listener: addr("127.0.0.1:9100"),
        server: addr("127.0.0.1:9100"),
        client: addr("10.0.0.7:51000"),
        node: Some(addr("127.0.0.1:1995")),
        status: 200,
        bytes_in: 5,
        bytes_out: 7,
        started_at: UNIX_EPOCH + Duration::from_millis(1_764_322_632_345),
        duration: Duration::from_millis(1500),
        transport: Transport::Tcp,
        route_label: None,
        routed: true,
        rejection: None,
        upstream: None,
        route_stats: None,
    }
}

fn route(service: Option<&str>) -> RouteIds {
    RouteIds {
        route_id: "r1".into(),
        service_id: service.map(str::to_owned),
    }
}

#[test]
fn conf_defaults_follow_apisix() {
    let conf = SyslogConf::parse(&json!({"host": "127.0.0.1", "port": 5044})).expect("valid");
    assert_eq!(conf.sock_type, SockType::Tcp);
    assert_eq!(conf.timeout, Duration::from_millis(3000));
    assert_eq!((conf.flush_limit, conf.drop_limit), (4096, 1_048_576));
    assert_eq!(conf.batch_max_size, 1000);
    assert_eq!(conf.inactive_timeout, Duration::from_secs(5));
    assert_eq!(conf.buffer_duration, Duration::from_secs(60));
    assert_eq!(
        (conf.max_retry_count, conf.retry_delay),
        (0, Duration::from_secs(1))
    );
    assert!(!conf.tls);
    let udp = SyslogConf::parse(&json!({"host": "h", "port": 1, "sock_type": "udp"}));
    assert_eq!(udp.expect("valid").sock_type, SockType::Udp);
    assert!(SyslogConf::parse(&json!({"host": "h"})).is_none());
}

#[test]
fn log_format_renders_variables_literals_and_nesting() {
    let format = json!({
        "client": "$remote_addr",
        "port": "$server_port",
        "missing": "$no_such_var",
        "tag": "stream",
        "n": 3,
        "bytes": {"in": "$bytes_received", "out": "$bytes_sent"},
        "deep": {"a": {"b": {"c": {"d": {"e": "$status"}}}}}
    });
    let entry = custom_entry(
        format.as_object().expect("object"),
        &record(),
        &route(Some("s1")),
    );
    assert_eq!(entry["client"], "10.0.0.7");
    assert_eq!(entry["port"], "9100");
    assert!(
        entry.get("missing").is_none(),
        "missing variables are left out"
    );
    assert_eq!(entry["tag"], "stream");
    assert_eq!(entry["n"], 3);
    assert_eq!(entry["bytes"], json!({"in": "5", "out": "7"}));
    assert_eq!(
        entry["deep"]["a"]["b"]["c"]["d"],
        json!({}),
        "depth is capped at 5"
    );
    assert_eq!(entry["route_id"], "r1");
    assert_eq!(entry["service_id"], "s1");
}

#[test]
fn default_entry_carries_the_session() {
    let entry = default_entry(&record(), &route(None));
    assert_eq!(entry["route_id"], "r1");
    assert_eq!(entry["client_ip"], "10.0.0.7");
    assert_eq!(entry["upstream"], "127.0.0.1:1995");
    assert_eq!(entry["status"], 200);
    assert_eq!(
        (entry["bytes_sent"].clone(), entry["bytes_received"].clone()),
        (json!(7), json!(5))
    );
    assert_eq!(entry["protocol"], "TCP");
    assert_eq!(entry["start_time"], 1_764_322_632_345_u64);
    assert!(entry.get("service_id").is_none());
}

#[test]
fn frame_is_rfc5424_like_apisix() {
    let at = UNIX_EPOCH + Duration::from_millis(1_764_322_632_345);
    let line = rfc5424(&json!({"a": 1}), at);
    assert_eq!(
        line,
        format!(
            "<46>1 2025-11-28T09:37:12.345Z - apisix {} - - {{\"a\":1}}\n",
            std::process::id()
        )
    );
}

#[tokio::test]
async fn batches_are_written_when_full_and_the_buffer_waits_for_flush_limit() {
    let server = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = server.local_addr().expect("addr").port();
    let stats = Arc::new(SyslogStats::default());
    let conf = SyslogConf::parse(
        &json!({"host": "127.0.0.1", "port": port, "sock_type": "udp",
        "batch_max_size": 2, "flush_limit": 1}),
    )
    .expect("valid");
    let tx = sender::spawn(conf, 16, stats.clone());
    tx.send("a\n".into()).await.expect("queued");
    tx.send("b\n".into()).await.expect("queued");
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), server.recv(&mut buf))
        .await
        .expect("a datagram within 5 s")
        .expect("recv");
    assert_eq!(&buf[..n], b"a\nb\n", "one batch, one datagram");
    assert_eq!(stats.sent.load(Ordering::Relaxed), 2);

    // Below flush_limit the logger keeps the bytes until the worker ends.
    let conf = SyslogConf::parse(
        &json!({"host": "127.0.0.1", "port": port, "sock_type": "udp",
        "batch_max_size": 1, "flush_limit": 100}),
    )
    .expect("valid");
    let tx = sender::spawn(conf, 16, stats.clone());
    tx.send("c\n".into()).await.expect("queued");
    tx.send("d\n".into()).await.expect("queued");
    let early = tokio::time::timeout(Duration::from_millis(300), server.recv(&mut buf)).await;
    assert!(early.is_err(), "nothing sent below flush_limit");
    drop(tx);
    let n = tokio::time::timeout(Duration::from_secs(5), server.recv(&mut buf))
        .await
        .expect("the rest is written when the worker ends")
        .expect("recv");
    assert_eq!(&buf[..n], b"c\nd\n");
}
