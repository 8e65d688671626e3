//! Overload protection through the real gateway: `nginx_config.event.worker_connections`
//! caps concurrent client sessions per worker. At the cap the listener stops accepting, so new
//! clients wait in the kernel backlog (connected, not served, never reset) and the gateway
//! spends no CPU; as soon as sessions end, the waiting clients are served. The time at the cap
//! shows in `/v1/status` and in the Prometheus export.

use std::time::{Duration, Instant};

use e2e::backends::TcpBackend;
use e2e::client;
use e2e::gateway::{Gateway, GatewayConfig};
use e2e::tools::cpu_time;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CAP: usize = 50;
const CLIENTS: usize = 80;
const CLOSED: usize = 30;

/// `/v1/status`'s `sessions` object.
async fn sessions(gw: &Gateway) -> Value {
    let status: Value = reqwest::get(format!("{}/v1/status", gw.control_base()))
        .await
        .expect("control api answers")
        .json()
        .await
        .expect("status is JSON");
    status["sessions"].clone()
}

/// Reads exactly `n` bytes within `wait`; `None` when nothing came in time.
async fn reply(stream: &mut TcpStream, n: usize, wait: Duration) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; n];
    match tokio::time::timeout(wait, stream.read_exact(&mut buf)).await {
        Ok(Ok(_)) => Some(buf),
        Ok(Err(e)) => panic!("the connection failed instead of waiting: {e}"),
        Err(_) => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_worker_connections_clients_wait_in_the_backlog_and_are_served_when_slots_free() {
    let echo = TcpBackend::echo("echo").await;
    let mut config = GatewayConfig::new();
    config.worker_processes = Some(1);
    config.extra_yaml = format!("nginx_config:\n  event:\n    worker_connections: {CAP}\n");
    let gw = Gateway::start(config).await.expect("start gateway");
    gw.put_ok(
        "/stream_routes/1",
        json!({"upstream": {"type": "roundrobin", "nodes": {echo.node(): 1}}}),
    )
    .await;
    e2e::wait::until("the route is live", Duration::from_secs(5), || async {
        let mut s = client::connect(gw.tcp_addr(0)).await.ok()?;
        client::echo_roundtrip(&mut s, b"x").await.ok()
    })
    .await
    .expect("route live");
    assert_eq!(sessions(&gw).await["capacity"], json!(CAP));

    // 80 clients connect (the kernel completes every handshake) and each sends one byte.
    let mut clients = Vec::with_capacity(CLIENTS);
    for i in 0..CLIENTS {
        let mut s = client::connect(gw.tcp_addr(0)).await.expect("connect");
        s.write_all(&[i as u8]).await.expect("send");
        clients.push(s);
        // In order: the accept queue is first come, first served.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut served = 0;
    for (i, s) in clients.iter_mut().enumerate() {
        let wait = if i < CAP {
            Duration::from_secs(3)
        } else {
            Duration::from_millis(200)
        };
        if let Some(back) = reply(s, 1, wait).await {
            assert_eq!(back, [i as u8], "client {i}: its own byte back");
            served += 1;
        }
    }
    assert_eq!(served, CAP, "exactly worker_connections clients are served");

    // At the cap the accept loop waits: no CPU is spent.
    let pid = gw.pid().expect("gateway pid");
    let (cpu_before, wall) = (cpu_time(pid), Instant::now());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let spent = cpu_time(pid) - cpu_before;
    assert!(
        spent < wall.elapsed() / 10,
        "the gateway spent {spent:?} of CPU in {:?} at the cap",
        wall.elapsed()
    );

    // 30 served clients leave: the 30 waiting ones are served within a second.
    let waiting: Vec<TcpStream> = clients.split_off(CAP);
    clients.truncate(CAP - CLOSED);
    let freed = Instant::now();
    for (j, mut s) in waiting.into_iter().enumerate() {
        let left = Duration::from_secs(1).saturating_sub(freed.elapsed());
        let back = reply(&mut s, 1, left.max(Duration::from_millis(1))).await;
        assert_eq!(
            back,
            Some(vec![(CAP + j) as u8]),
            "waiting client {j} is served within a second of the slots freeing"
        );
        clients.push(s);
    }
    // Every client still relays: nothing was reset.
    for (i, s) in clients.iter_mut().enumerate() {
        client::echo_roundtrip(s, b"again")
            .await
            .unwrap_or_else(|e| panic!("client {i} after the cap: {e}"));
    }

    let limit = sessions(&gw).await;
    assert!(
        limit["at_cap_secs"].as_f64().expect("at_cap_secs") >= 2.0,
        "time at the cap is counted: {limit}"
    );
    let export = format!(
        "http://{}:{}/apisix/prometheus/metrics",
        gw.config.listen_ip, gw.config.prometheus_port
    );
    let metrics = reqwest::get(export)
        .await
        .expect("export server answers")
        .text()
        .await
        .expect("metrics text");
    let at_cap_ms: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("apisix_stream_connection_limit_milliseconds_total "))
        .expect("the time-at-cap counter is exported")
        .trim()
        .parse()
        .expect("a number");
    assert!(at_cap_ms >= 2000.0, "{at_cap_ms} ms at the cap");
}
