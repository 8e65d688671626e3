//! The `syslog` stream plugin against real syslog receivers: a UDP socket and a TCP listener
//! bound in the test get one RFC 5424 message per finished session with the session's fields;
//! a dead receiver never slows connections down (entries are dropped and counted instead).

mod plugins_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use apisix_gateway::plugins::syslog::SyslogLogger;
use apisix_gateway::proxy::listener::ListenerSet;
use apisix_gateway::proxy::source::SnapshotRoutes;
use apisix_gateway::proxy::ProxyContext;
use apisix_gateway::snapshot::{self, SharedSnapshot};
use plugins_support::*;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

/// A proxy with the session sink running the syslog plugin.
struct SyslogGateway {
    addr: std::net::SocketAddr,
    proxy: Arc<ProxyContext>,
    syslog: Arc<SyslogLogger>,
    _snapshot: SharedSnapshot,
    _listeners: ListenerSet,
}

impl SyslogGateway {
    async fn start(objects: &[(&str, Value)]) -> SyslogGateway {
        let snapshot = snapshot::shared_empty();
        let compiled = compile(objects);
        let syslog = compiled.plugin_state.syslog.clone();
        snapshot.store(Arc::new(compiled));
        let proxy = Arc::new(ProxyContext::new(Arc::new(SnapshotRoutes::new(
            snapshot.clone(),
        ))));
        let mut listeners = ListenerSet::new(proxy.clone());
        let listen = apisix_gateway::config::TcpListen {
            addr: "127.0.0.1:0".parse().expect("addr"),
            tls: false,
            sni_preread: false,
            proxy_protocol: false,
            proxy_protocol_to_upstream: None,
        };
        listeners.reconcile(&[listen], &[]).await.expect("bind");
        SyslogGateway {
            addr: listeners.tcp_addrs()[0],
            proxy,
            syslog,
            _snapshot: snapshot,
            _listeners: listeners,
        }
    }

    fn syslog(&self) -> &SyslogLogger {
        &self.syslog
    }
}

/// One session: connect, read the tag, send `payload`, read the echo, close.
async fn session(proxy: std::net::SocketAddr, payload: &[u8]) -> TcpStream {
    let (tag, mut stream) = tag_of(proxy, b"").await;
    assert_eq!(tag, Some(b'A'), "proxied to the backend");
    within("send", stream.write_all(payload))
        .await
        .expect("send");
    let mut echo = vec![0u8; payload.len()];
    within("echo", stream.read_exact(&mut echo))
        .await
        .expect("echo");
    stream
}

/// `<46>1 <time> - apisix <pid> - - <json>` → the JSON.
fn parse_frame(line: &str) -> Value {
    let parts: Vec<&str> = line.trim_end().splitn(8, ' ').collect();
    assert_eq!(parts.len(), 8, "{line}");
    assert_eq!(parts[0], "<46>1", "PRI of SYSLOG.INFO, version 1");
    assert!(
        parts[1].ends_with('Z') && parts[1].contains('T'),
        "rfc3339 time: {line}"
    );
    assert_eq!(
        (parts[2], parts[3], parts[5], parts[6]),
        ("-", "apisix", "-", "-")
    );
    assert_eq!(parts[4], std::process::id().to_string());
    serde_json::from_str(parts[7]).expect("json entry")
}

#[tokio::test]
async fn udp_receiver_gets_each_session_with_the_conf_log_format() {
    let receiver = UdpSocket::bind("127.0.0.1:0").await.expect("bind udp");
    let port = receiver.local_addr().expect("addr").port();
    let backend = Backend::start(b'A').await;
    let syslog = json!({"host": "127.0.0.1", "port": port, "sock_type": "udp",
        "batch_max_size": 1, "flush_limit": 1,
        "log_format": {"client": "$remote_addr", "sent": "$bytes_sent",
            "received": "$bytes_received", "status": "$status", "node": "$upstream_addr",
            "kind": "stream"}});
    let gw = SyslogGateway::start(&[(
        "stream_routes/r1",
        json!({"upstream": {"nodes": nodes(&[backend.addr]), "type": "roundrobin"},
            "plugins": {"syslog": syslog}}),
    )])
    .await;

    drop(session(gw.addr, b"hello").await);
    let mut buf = vec![0u8; 65536];
    let n = within("syslog datagram", receiver.recv(&mut buf))
        .await
        .expect("recv");
    let entry = parse_frame(&String::from_utf8_lossy(&buf[..n]));
    assert_eq!(entry["client"], "127.0.0.1");
    assert_eq!(entry["received"], "5", "client → upstream bytes");
    assert_eq!(entry["sent"], "6", "tag + echo back to the client");
    assert_eq!(entry["status"], "200");
    assert_eq!(entry["node"], backend.addr.to_string());
    assert_eq!(entry["kind"], "stream");
    assert_eq!(entry["route_id"], "r1");
    eventually("sent counted", || gw.syslog().sent() == 1).await;
}

#[tokio::test]
async fn tcp_receiver_gets_batched_lines_with_the_metadata_log_format() {
    let receiver = TcpListener::bind("127.0.0.1:0").await.expect("bind tcp");
    let port = receiver.local_addr().expect("addr").port();
    let backend = Backend::start(b'A').await;
    let syslog = json!({"host": "127.0.0.1", "port": port, "batch_max_size": 3,
        "flush_limit": 1});
    let gw = SyslogGateway::start(&[
        (
            "stream_routes/r2",
            json!({"upstream": {"nodes": nodes(&[backend.addr]), "type": "roundrobin"},
                "plugins": {"syslog": syslog}}),
        ),
        (
            "plugin_metadata/syslog",
            json!({"log_format": {"client": "$remote_addr", "port": "$remote_port",
                "@timestamp": "$time_iso8601"}}),
        ),
    ])
    .await;

    let mut client_ports = Vec::new();
    for i in 0..3u8 {
        let stream = session(gw.addr, &[b'x'; 3][..=usize::from(i)]).await;
        client_ports.push(stream.local_addr().expect("client addr").port().to_string());
    }
    let (conn, _) = within("syslog connection", receiver.accept())
        .await
        .expect("accept");
    let mut lines = BufReader::new(conn).lines();
    let mut ports = Vec::new();
    for _ in 0..3 {
        let line = within("syslog line", lines.next_line())
            .await
            .expect("read")
            .expect("a line per session");
        let entry = parse_frame(&line);
        assert_eq!(entry["client"], "127.0.0.1");
        assert!(entry["@timestamp"]
            .as_str()
            .is_some_and(|t| t.ends_with("+00:00")));
        assert_eq!(entry["route_id"], "r2");
        ports.push(entry["port"].as_str().expect("port").to_owned());
    }
    ports.sort();
    client_ports.sort();
    assert_eq!(
        ports, client_ports,
        "one entry per session, each with its client port"
    );
}

#[tokio::test]
async fn a_dead_receiver_does_not_slow_connections_and_drops_are_counted() {
    // A closed port: every send fails and is retried, keeping the worker busy.
    let dead = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = dead.local_addr().expect("addr").port();
    drop(dead);
    let backend = Backend::start(b'A').await;
    let syslog = json!({"host": "127.0.0.1", "port": port, "batch_max_size": 1,
        "flush_limit": 1, "max_retry_count": 5, "retry_delay": 1, "timeout": 3000});
    let gw = SyslogGateway::start(&[
        (
            "stream_routes/r3",
            json!({"upstream": {"nodes": nodes(&[backend.addr]), "type": "roundrobin"},
                "plugins": {"syslog": syslog}}),
        ),
        ("plugin_metadata/syslog", json!({"max_pending_entries": 2})),
    ])
    .await;

    let started = Instant::now();
    for _ in 0..30 {
        let one = Instant::now();
        drop(session(gw.addr, b"ping").await);
        assert!(
            one.elapsed() < Duration::from_secs(1),
            "a session took {:?}",
            one.elapsed()
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "30 sessions took {:?}",
        started.elapsed()
    );
    eventually("full queue drops counted", || gw.syslog().dropped() > 0).await;
    assert_eq!(gw.syslog().sent(), 0);
}

#[tokio::test]
async fn disabled_or_unconfigured_routes_send_nothing() {
    let receiver = UdpSocket::bind("127.0.0.1:0").await.expect("bind udp");
    let port = receiver.local_addr().expect("addr").port();
    let backend = Backend::start(b'A').await;
    let up = json!({"nodes": nodes(&[backend.addr]), "type": "roundrobin"});
    let disabled = json!({"host": "127.0.0.1", "port": port, "sock_type": "udp",
        "batch_max_size": 1, "flush_limit": 1, "_meta": {"disable": true}});
    let gw = SyslogGateway::start(&[(
        "stream_routes/off",
        json!({"upstream": up, "plugins": {"syslog": disabled}}),
    )])
    .await;
    drop(session(gw.addr, b"x").await);
    eventually("session finished", || {
        gw.proxy.sessions.sessions_finished() == 1
    })
    .await;
    let mut buf = [0u8; 512];
    let got = tokio::time::timeout(Duration::from_millis(500), receiver.recv(&mut buf)).await;
    assert!(got.is_err(), "a disabled plugin sends nothing");
}

#[tokio::test]
async fn tls_receiver_gets_the_message_over_tls() {
    let acceptor = tls_acceptor();
    let receiver = TcpListener::bind("127.0.0.1:0").await.expect("bind tls");
    let port = receiver.local_addr().expect("addr").port();
    let backend = Backend::start(b'A').await;
    let syslog = json!({"host": "localhost", "port": port, "tls": true,
        "batch_max_size": 1, "flush_limit": 1, "log_format": {"client": "$remote_addr"}});
    let gw = SyslogGateway::start(&[(
        "stream_routes/tls",
        json!({"upstream": {"nodes": nodes(&[backend.addr]), "type": "roundrobin"},
            "plugins": {"syslog": syslog}}),
    )])
    .await;
    drop(session(gw.addr, b"x").await);
    let (conn, _) = within("syslog connection", receiver.accept())
        .await
        .expect("accept");
    let tls = within("tls handshake", acceptor.accept(conn))
        .await
        .expect("handshake");
    let mut lines = BufReader::new(tls).lines();
    let line = within("syslog line", lines.next_line())
        .await
        .expect("read")
        .expect("a line");
    assert_eq!(parse_frame(&line)["client"], "127.0.0.1");
}
