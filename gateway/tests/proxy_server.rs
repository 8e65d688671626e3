//! The server lifecycle in process: pid file, listeners from the config, shutdown.

mod proxy_support;

use std::path::Path;
use std::time::Duration;

use apisix_gateway::config::{Config, ProxyMode};
use apisix_gateway::server::{pidfile, LifecycleEvent, Server};
use apisix_gateway::session::RejectReason;
use proxy_support::*;
use tokio::net::TcpStream;

/// The built-in defaults, with one TCP and one UDP listener on 127.0.0.1 port 0 and nothing
/// else listening (no Admin API, Control API or export server on the well-known ports).
fn config(prefix: &Path) -> Config {
    let mut config = Config::defaults(prefix);
    config.proxy_mode = ProxyMode::Stream;
    config.stream.tcp = vec![tcp_entry("127.0.0.1:0")];
    config.stream.udp = vec!["127.0.0.1:0".parse().expect("addr")];
    config.admin.enabled = false;
    config.control.enabled = false;
    config.prometheus.enable_export_server = false;
    config.stream.plugins = vec![];
    config.graceful_shutdown_timeout = Duration::from_secs(5);
    config
}

#[tokio::test]
async fn server_binds_listeners_writes_pid_file_and_stops_cleanly() {
    let prefix = tempfile::tempdir().expect("tempdir");
    let server = within("start", Server::start(config(prefix.path())))
        .await
        .expect("server starts");
    let pid_path = pidfile::pid_file_path(prefix.path());
    assert_eq!(
        pidfile::read_pid(&pid_path).expect("pid file"),
        std::process::id() as i32
    );
    let tcp = server.listeners().tcp_addrs();
    let udp = server.listeners().udp_addrs();
    assert_eq!((tcp.len(), udp.len()), (1, 1));
    let proxy = server.proxy().clone();

    // The snapshot is empty: a connection finds no route and is closed without data.
    let mut stream = within("connect", TcpStream::connect(tcp[0]))
        .await
        .expect("connect");
    assert!(read_until_closed(&mut stream)
        .await
        .expect("closed")
        .is_empty());
    assert_eq!(proxy.stats.rejected_total(RejectReason::NoRoute), 1);

    let (events_tx, events) = tokio::sync::mpsc::channel(4);
    let serving = tokio::spawn(server.serve(events));
    // An unreadable config on reload is logged and ignored: the listener stays.
    events_tx
        .send(LifecycleEvent::Reload)
        .await
        .expect("send reload");
    events_tx
        .send(LifecycleEvent::Shutdown)
        .await
        .expect("send shutdown");
    within("shutdown", serving)
        .await
        .expect("serve task")
        .expect("clean exit");
    assert!(!pid_path.exists(), "pid file removed on exit");
    assert!(
        TcpStream::connect(tcp[0]).await.is_err(),
        "tcp listener closed"
    );
}

#[tokio::test]
async fn a_port_taken_without_reuseport_stops_start_up_with_the_address() {
    let prefix = tempfile::tempdir().expect("tempdir");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind blocker");
    let addr = taken.local_addr().expect("addr");
    let mut cfg = config(prefix.path());
    cfg.stream.tcp = vec![tcp_entry(&addr.to_string())];
    cfg.stream.udp = vec![];
    let err = Server::start(cfg).await.expect_err("port in use");
    assert!(
        err.to_string()
            .starts_with(&format!("failed to listen on tcp {addr}: ")),
        "{err}"
    );
    assert!(
        !pidfile::pid_file_path(prefix.path()).exists(),
        "pid file removed after a failed start"
    );
}
