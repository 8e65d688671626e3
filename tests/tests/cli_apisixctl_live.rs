//! `apisixctl`'s Control API commands against the real gateway and real backends:
//! `stream-route test` (confirmed route and node; failing when the match conditions send the
//! connection elsewhere), `match`, `connections list|kill` on a held connection, `status`,
//! `health` and `ping`. Assertions are on the binary's exit code and its stdout/stderr.

use std::time::Duration;

use e2e::backends::TcpBackend;
use e2e::client;
use e2e::gateway::{run_ctl, CtlRun, Gateway, GatewayConfig, TEST_VIEWER_KEY};
use e2e::wait;
use serde_json::{json, Value};

/// How long a route write may take to reach the data path.
const APPLY: Duration = Duration::from_secs(5);

/// `sr test ID --payload 'ping\n' --expect ping EXTRA...`.
fn test<'a>(id: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["sr", "test", id, "--payload", "ping\\n", "--expect", "ping"];
    args.extend_from_slice(extra);
    args
}

fn assert_run(run: &CtlRun, code: i32) {
    assert_eq!(run.code, code, "unexpected exit code\n{run}");
}

/// The first `/v1/connections?route_id=<route>` entry, polled until one is listed.
async fn listed_connection(gw: &Gateway, route: &str) -> Value {
    wait::until("the connection to be listed", APPLY, || async {
        let reply = gw
            .control_get(&format!("/v1/connections?route_id={route}"))
            .await;
        reply.try_json()?["list"].as_array()?.first().cloned()
    })
    .await
    .expect("the control API lists the held connection")
}

/// Two TCP listeners. Routes, in creation order: `restricted` (port 0, clients in
/// 10.0.0.0/8 only, to `other`), `open` (port 0, to `echo`), `far` (port 1, to `echo`).
async fn routed_gateway(echo: &TcpBackend, other: &TcpBackend) -> Gateway {
    let gw = Gateway::start(GatewayConfig::with_listeners(2, 0))
        .await
        .expect("start gateway");
    let (p0, p1) = (gw.config.tcp_ports[0], gw.config.tcp_ports[1]);
    for (id, body) in [
        (
            "restricted",
            json!({"server_port": p0, "remote_addr": "10.0.0.0/8",
                   "upstream": {"nodes": {other.node(): 1}}}),
        ),
        (
            "open",
            json!({"server_port": p0, "upstream": {"nodes": {echo.node(): 1}}}),
        ),
        (
            "far",
            json!({"server_port": p1, "upstream": {"nodes": {echo.node(): 1}}}),
        ),
    ] {
        gw.put_ok(&format!("/stream_routes/{id}"), body).await;
    }
    client::wait_for_greeting(gw.tcp_addr(0), &echo.name, APPLY)
        .await
        .expect("route open carries traffic");
    client::wait_for_greeting(gw.tcp_addr(1), &echo.name, APPLY)
        .await
        .expect("route far carries traffic");
    gw
}

#[tokio::test]
async fn route_test_confirms_route_and_node_and_fails_when_routed_elsewhere() {
    let echo = TcpBackend::greeting("echo").await;
    let other = TcpBackend::greeting("other").await;
    let gw = routed_gateway(&echo, &other).await;
    let p0 = gw.config.tcp_ports[0].to_string();

    let ok = gw.ctl(&test("open", &[])).await;
    assert_run(&ok, 0);
    assert!(
        ok.stdout.starts_with(&format!("#1 127.0.0.1:{p0}: ok\n")),
        "{ok}"
    );
    assert!(ok.stdout.contains("data        \"echo\\nping\\n\""), "{ok}");
    let route_line = ok
        .stdout
        .lines()
        .find(|l| l.starts_with("  route "))
        .expect("a route line");
    assert!(
        route_line.starts_with(&format!(
            "  route       open via {} (connection c-",
            echo.node()
        )) && route_line.ends_with(") confirmed"),
        "{ok}"
    );

    let json_run = gw.ctl(&test("far", &["-o", "json", "--count", "2"])).await;
    assert_run(&json_run, 0);
    let report: Value = serde_json::from_str(&json_run.stdout).expect("test -o json");
    assert_eq!(report["ok"], true);
    for attempt in report["attempts"].as_array().expect("attempts") {
        assert_eq!(attempt["route"]["id"], "far", "{report}");
        assert_eq!(attempt["route"]["node"], echo.node().as_str(), "{report}");
        assert_eq!(attempt["route"]["confirmed"], true, "{report}");
    }

    // 127.0.0.1 is not in 10.0.0.0/8: the connection falls through to `open`.
    let restricted = gw.ctl(&test("restricted", &[])).await;
    assert_run(&restricted, 1);
    assert!(
        restricted.stdout.contains(&format!(
            "FAIL: routed to stream route open via {} (connection c-",
            echo.node()
        )) && restricted.stdout.contains("), not restricted\n"),
        "{restricted}"
    );
    assert_eq!(restricted.stderr.trim(), "error: 1 of 1 attempts failed");
    assert_eq!(
        other.accepted(),
        0,
        "restricted's node never saw a connection"
    );

    // far listens on the second port; sent to the first, the connection is open's.
    let wrong_port = gw.ctl(&test("far", &["--port", p0.as_str()])).await;
    assert_run(&wrong_port, 1);
    assert!(
        wrong_port
            .stdout
            .contains("FAIL: routed to stream route open via"),
        "{wrong_port}"
    );

    let matched = gw
        .ctl(&["match", "--client", "127.0.0.1", "--server-port", &p0])
        .await;
    assert_run(&matched, 0);
    let lines: Vec<Vec<&str>> = matched
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        matched.stdout.lines().next(),
        Some(format!("stream route open takes tcp 127.0.0.1:0 -> 127.0.0.1:{p0}").as_str()),
        "{matched}"
    );
    let row = |id: &str| {
        lines
            .iter()
            .find(|l| l.first() == Some(&id))
            .map(|l| l[1..].join(" "))
            .unwrap_or_else(|| panic!("no row for {id}\n{matched}"))
    };
    assert_eq!(
        row("restricted"),
        "no remote_addr: 127.0.0.1 is not in 10.0.0.0/8"
    );
    assert_eq!(row("open"), "yes -");
    assert_eq!(row("far"), "no not reached: an earlier route matched");

    let from_ten = gw
        .ctl(&[
            "match",
            "--client",
            "10.1.2.3:4000",
            "--server-port",
            &p0,
            "-o",
            "json",
        ])
        .await;
    assert_run(&from_ten, 0);
    let answer: Value = serde_json::from_str(&from_ten.stdout).expect("match -o json");
    assert_eq!(answer["matched"], "restricted");
    assert_eq!(answer["input"]["server_addr"], "127.0.0.1");

    let nowhere = gw
        .ctl(&["match", "--client", "127.0.0.1", "--server-port", "1"])
        .await;
    assert_run(&nowhere, 0);
    assert!(
        nowhere
            .stdout
            .starts_with("no stream route takes tcp 127.0.0.1:0 -> 127.0.0.1:1\n"),
        "{nowhere}"
    );
}

#[tokio::test]
async fn connections_list_shows_a_held_connection_and_kill_closes_it() {
    let echo = TcpBackend::echo("echo").await;
    let gw = Gateway::start_default().await.expect("start gateway");
    gw.put_ok(
        "/stream_routes/held",
        json!({"upstream": {"nodes": {echo.node(): 1}}}),
    )
    .await;
    // Until the route applies the gateway closes new connections: retry until one echoes.
    let deadline = std::time::Instant::now() + APPLY;
    let mut conn = loop {
        let mut conn = client::connect(gw.tcp_addr(0)).await.expect("connect");
        if client::echo_roundtrip(&mut conn, b"hello\n").await.is_ok() {
            break conn;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "route held did not carry traffic within {APPLY:?}"
        );
        tokio::time::sleep(wait::POLL_INTERVAL).await;
    };
    let local = conn.local_addr().expect("local address").to_string();
    let entry = listed_connection(&gw, "held").await;
    let id = entry["id"].as_str().expect("connection id").to_owned();

    let list = gw.ctl(&["connections", "list"]).await;
    assert_run(&list, 0);
    let header: Vec<&str> = list
        .stdout
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        [
            "ID",
            "ROUTE",
            "PROTO",
            "CLIENT",
            "LISTENER",
            "UPSTREAM",
            "AGE_S",
            "BYTES_IN",
            "BYTES_OUT"
        ]
    );
    let row: Vec<&str> = list
        .stdout
        .lines()
        .find(|l| l.starts_with(&id))
        .unwrap_or_else(|| panic!("no row for {id}\n{list}"))
        .split_whitespace()
        .collect();
    let listener = gw.tcp_addr(0).to_string();
    let node = echo.node();
    assert_eq!(
        row[..6],
        [
            id.as_str(),
            "held",
            "tcp",
            local.as_str(),
            listener.as_str(),
            node.as_str()
        ],
        "{list}"
    );
    assert_eq!(
        row[7..],
        ["6", "6"],
        "bytes each way of one hello\\n round trip\n{list}"
    );

    let filtered = gw
        .ctl(&["conns", "ls", "--client", &local, "-o", "json"])
        .await;
    assert_run(&filtered, 0);
    let answer: Value = serde_json::from_str(&filtered.stdout).expect("list -o json");
    assert_eq!(answer["total"], 1, "{filtered}");
    assert_eq!(answer["list"][0]["id"], id.as_str());
    let none = gw.ctl(&["connections", "list", "--route", "nope"]).await;
    assert_eq!(none.stdout.lines().count(), 1, "header only\n{none}");

    let viewer = run_ctl(
        gw.prefix(),
        &[
            "--control",
            &gw.control_base(),
            "--admin-key",
            TEST_VIEWER_KEY,
            "connections",
            "kill",
            &id,
        ],
        None,
    )
    .await;
    assert_run(&viewer, 1);
    assert_eq!(
        viewer.stderr.trim(),
        "error: 401 failed to check token: invalid method for role viewer"
    );
    client::echo_roundtrip(&mut conn, b"still\n")
        .await
        .expect("a refused kill leaves the connection open");

    let kill = gw.ctl(&["connections", "kill", &id]).await;
    assert_run(&kill, 0);
    assert_eq!(kill.stdout, format!("connection {id} closed\n"));
    client::expect_closed(&mut conn, APPLY)
        .await
        .expect("the client sees EOF after the kill");
    let again = gw.ctl(&["connections", "kill", &id]).await;
    assert_run(&again, 1);
    assert_eq!(
        again.stderr.trim(),
        format!("error: 404 connection[{id}] not found")
    );
}

#[tokio::test]
async fn status_health_and_ping_answer_from_the_real_control_api() {
    let echo = TcpBackend::greeting("echo").await;
    let gw = Gateway::start_default().await.expect("start gateway");

    let status = gw.ctl(&["status"]).await;
    assert_run(&status, 0);
    for want in [
        "version:          0.1.0",
        "role:             traditional",
        "config_provider:  embedded",
        "store_reachable:  true",
    ] {
        assert!(status.stdout.contains(want), "{want:?} missing\n{status}");
    }
    let tcp_row = format!("tcp       {}  false", gw.tcp_addr(0));
    let udp_row = format!("udp       {}  false", gw.udp_addr(0));
    assert!(status.stdout.contains(&tcp_row), "{status}");
    assert!(status.stdout.contains(&udp_row), "{status}");

    let empty = gw.ctl(&["health"]).await;
    assert_run(&empty, 0);
    assert_eq!(
        empty.stdout,
        "no health checkers (no upstream, service or stream route has checks)\n"
    );
    gw.put_ok(
        "/upstreams/checked",
        json!({"nodes": {echo.node(): 1},
               "checks": {"active": {"type": "tcp", "healthy": {"interval": 1, "successes": 1},
                                     "unhealthy": {"interval": 1, "tcp_failures": 1}}}}),
    )
    .await;
    gw.put_ok("/stream_routes/1", json!({"upstream_id": "checked"}))
        .await;
    client::wait_for_greeting(gw.tcp_addr(0), "echo", APPLY)
        .await
        .expect("the checked upstream carries traffic");
    let health = wait::until("a health checker row", APPLY, || async {
        let run = gw.ctl(&["health"]).await;
        (run.code == 0 && run.stdout.contains(&echo.node())).then_some(run)
    })
    .await
    .expect("health lists the checked node");
    let row: Vec<&str> = health
        .stdout
        .lines()
        .find(|l| l.contains(&echo.node()))
        .expect("row")
        .split_whitespace()
        .collect();
    assert_eq!(
        row[..3],
        ["/apisix/upstreams/checked", "tcp", echo.node().as_str()]
    );

    let ping = gw.ctl(&["ping"]).await;
    assert_run(&ping, 0);
    let words: Vec<Vec<&str>> = ping
        .stdout
        .lines()
        .map(|l| l.split_whitespace().take(3).collect())
        .collect();
    let admin = gw.admin_base();
    let control = gw.control_base();
    assert_eq!(
        words,
        [
            vec!["admin", "ok", admin.as_str()],
            vec!["key", "ok", "accepted"],
            vec!["control", "ok", control.as_str()],
        ],
        "{ping}"
    );

    let wrong_key = run_ctl(
        gw.prefix(),
        &[
            "--server",
            &admin,
            "--control",
            &control,
            "--admin-key",
            "wrong",
            "ping",
        ],
        None,
    )
    .await;
    assert_run(&wrong_key, 1);
    assert!(
        wrong_key
            .stdout
            .contains("key      FAIL 401 failed to check token: wrong apikey (from --admin-key)"),
        "{wrong_key}"
    );
    let closed = format!("http://127.0.0.1:{}", e2e::ports::free_port());
    let no_control = run_ctl(
        gw.prefix(),
        &[
            "--server",
            &admin,
            "--control",
            &closed,
            "--admin-key",
            "x",
            "status",
        ],
        None,
    )
    .await;
    assert_run(&no_control, 1);
    assert!(
        no_control
            .stderr
            .starts_with(&format!("error: cannot reach {closed}/v1/status")),
        "{no_control}"
    );
}
