//! Process lifecycle with live traffic: a reload (SIGHUP or `apisix-gateway reload`) opens a
//! listener added to config.yaml while an established connection keeps working, and SIGTERM
//! stops accepting, lets the live connection finish, then exits 0.

use std::time::Duration;

use e2e::backends::TcpBackend;
use e2e::client;
use e2e::gateway::Gateway;
use e2e::ports;
use serde_json::json;
use tokio::io::AsyncWriteExt;

const APPLY: Duration = Duration::from_secs(5);

async fn gateway_to(backend: &TcpBackend) -> Gateway {
    let gw = Gateway::start_default().await.expect("start gateway");
    gw.put_ok(
        "/stream_routes/1",
        json!({"upstream": {"type": "roundrobin", "nodes": {backend.node(): 1}}}),
    )
    .await;
    client::wait_for_greeting(gw.tcp_addr(0), &backend.name, APPLY)
        .await
        .expect("route live");
    gw
}

/// Adds a TCP listener to config.yaml, triggers a reload with `trigger`, and checks that the
/// new port proxies while a connection opened before the reload keeps echoing.
async fn reload_adds_a_listener(trigger: impl FnOnce(&Gateway)) {
    let backend = TcpBackend::greeting("g").await;
    let mut gw = gateway_to(&backend).await;
    let mut before = client::connect(gw.tcp_addr(0)).await.expect("connect");
    assert_eq!(client::read_line(&mut before).await.expect("greeting"), "g");
    client::echo_roundtrip(&mut before, b"before reload")
        .await
        .expect("echo");

    gw.config.tcp_ports.push(ports::free_port());
    gw.write_config().expect("rewrite config.yaml");
    trigger(&gw);

    client::wait_for_greeting(gw.tcp_addr(1), "g", Duration::from_secs(10))
        .await
        .expect("the added listener proxies after the reload");
    client::echo_roundtrip(&mut before, b"after reload")
        .await
        .expect("the connection opened before the reload still works");
    client::wait_for_greeting(gw.tcp_addr(0), "g", APPLY)
        .await
        .expect("the old listener still proxies");
    assert!(gw.try_exit_status().is_none(), "the gateway must still run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_adds_a_listener_without_dropping_a_live_connection() {
    reload_adds_a_listener(|gw| gw.sighup().expect("send SIGHUP")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_command_adds_a_listener_without_dropping_a_live_connection() {
    reload_adds_a_listener(|gw| {
        let (status, out) = gw.reload_cli().expect("run apisix-gateway reload");
        assert!(
            status.success(),
            "apisix-gateway reload failed ({status}): {out}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_removes_a_listener_that_left_the_config() {
    let backend = TcpBackend::greeting("g").await;
    let mut config = e2e::gateway::GatewayConfig::with_listeners(2, 0);
    config.graceful_shutdown_timeout = Some(5);
    let mut gw = Gateway::start(config).await.expect("start gateway");
    gw.put_ok(
        "/stream_routes/1",
        json!({"upstream": {"type": "roundrobin", "nodes": {backend.node(): 1}}}),
    )
    .await;
    client::wait_for_greeting(gw.tcp_addr(1), "g", APPLY)
        .await
        .expect("route live");
    let removed = gw.tcp_addr(1);
    gw.config.tcp_ports.truncate(1);
    gw.write_config().expect("rewrite config.yaml");
    gw.sighup().expect("SIGHUP");
    e2e::wait::until(
        "the removed listener to close",
        Duration::from_secs(10),
        || async {
            tokio::net::TcpStream::connect(removed)
                .await
                .is_err()
                .then_some(())
        },
    )
    .await
    .expect("removed listener closed");
    client::wait_for_greeting(gw.tcp_addr(0), "g", APPLY)
        .await
        .expect("kept listener works");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_a_live_connection_then_exits_0() {
    let backend = TcpBackend::greeting("g").await;
    let mut gw = gateway_to(&backend).await;
    let mut live = client::connect(gw.tcp_addr(0)).await.expect("connect");
    assert_eq!(client::read_line(&mut live).await.expect("greeting"), "g");

    gw.sigterm().expect("send SIGTERM");
    let addr = gw.tcp_addr(0);
    e2e::wait::until(
        "the listener to stop accepting",
        Duration::from_secs(10),
        || async {
            tokio::net::TcpStream::connect(addr)
                .await
                .is_err()
                .then_some(())
        },
    )
    .await
    .expect("no new connections after SIGTERM");

    client::echo_roundtrip(&mut live, b"still draining")
        .await
        .expect("the live connection keeps working during the drain");
    assert!(
        gw.try_exit_status().is_none(),
        "exited before the live connection finished"
    );
    live.shutdown().await.expect("client shutdown");
    client::expect_closed(&mut live, Duration::from_secs(5))
        .await
        .expect("relay finishes");

    let status = gw
        .wait_exit(Duration::from_secs(15))
        .expect("exit after the drain");
    assert!(status.success(), "exit status after SIGTERM: {status}");
}

#[tokio::test]
async fn reload_warns_that_worker_settings_wait_for_a_restart() {
    let mut config = e2e::gateway::GatewayConfig::with_listeners(1, 0);
    config.worker_processes = Some(1);
    let mut gw = Gateway::start(config).await.expect("start gateway");
    let warning = "worker_processes, worker_connections or worker_rlimit_nofile changed";
    assert!(!gw.log().contains(warning), "{}", gw.log_tail(20));
    gw.config.worker_processes = Some(2);
    gw.write_config().expect("rewrite config.yaml");
    gw.sighup().expect("SIGHUP");
    e2e::wait::until("the restart warning", Duration::from_secs(10), || async {
        gw.log().contains(warning).then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}: {}", gw.log_tail(20)));
}
