//! `apisixctl health` against the real gateway's active TCP checks: a file applied with
//! `apisixctl apply` (one live node, one dead), then the table and the JSON output report the
//! dead node unhealthy with its failure counter and the live one healthy. Ported from
//! `cli/tests/cli_gateway.rs` on `main`, where it ran with a minimal harness.

use std::time::Duration;

use e2e::backends::TcpBackend;
use e2e::gateway::{CtlRun, Gateway};
use e2e::wait;

/// How long the checker may take to mark the dead node down (1 s probes, 1 failure).
const PROBES: Duration = Duration::from_secs(15);

fn assert_run(run: &CtlRun, code: i32) {
    assert_eq!(run.code, code, "unexpected exit code\n{run}");
}

/// The STATUS column of `node`'s row (`ip:port`) in an `apisixctl health` table.
fn health_status(table: &str, node: &str) -> Option<String> {
    table
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|cols| cols.get(2) == Some(&node))
        .and_then(|cols| cols.get(3).map(|s| (*s).to_owned()))
}

#[tokio::test]
async fn health_reports_a_dead_node_unhealthy_and_a_live_one_healthy() {
    let echo = TcpBackend::echo("live").await;
    let gw = Gateway::start_default().await.expect("start gateway");
    let live = echo.node();
    let dead = e2e::ports::dead_addr().to_string();
    std::fs::write(
        gw.prefix().join("checked.yaml"),
        format!(
            "upstreams:\n  - id: hc\n    nodes: {{\"{live}\": 1, \"{dead}\": 1}}\n    checks:\n      \
             active:\n        type: tcp\n        healthy: {{interval: 1}}\n        \
             unhealthy: {{interval: 1, tcp_failures: 1}}\nstream_routes:\n  - id: hc\n    \
             server_port: {}\n    upstream_id: hc\n",
            gw.config.tcp_ports[0]
        ),
    )
    .expect("write checked.yaml");
    assert_run(&gw.ctl(&["apply", "-f", "checked.yaml"]).await, 0);

    let table = wait::until("the dead node reported unhealthy", PROBES, || async {
        let run = gw.ctl(&["health"]).await;
        (run.code == 0 && health_status(&run.stdout, &dead).as_deref() == Some("unhealthy"))
            .then_some(run.stdout)
    })
    .await
    .expect("apisixctl health reports the dead node unhealthy");
    assert!(table.starts_with("NAME"), "{table}");
    assert!(table.contains("/apisix/upstreams/hc"), "{table}");
    assert_eq!(
        health_status(&table, &live).as_deref(),
        Some("healthy"),
        "{table}"
    );

    let json = gw.ctl(&["health", "-o", "json"]).await;
    assert_run(&json, 0);
    let body: serde_json::Value = serde_json::from_str(&json.stdout).expect("json output");
    assert_eq!(body[0]["type"], "tcp", "{json}");
    let nodes = body[0]["nodes"].as_array().expect("nodes array");
    let down = nodes
        .iter()
        .find(|n| format!("{}:{}", n["ip"].as_str().unwrap_or(""), n["port"]) == dead)
        .expect("the dead node is listed");
    assert_eq!(down["status"], "unhealthy", "{json}");
    assert_eq!(down["counter"]["tcp_failure"], 1, "{json}");
}
