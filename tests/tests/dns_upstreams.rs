//! DNS names as upstream nodes through the real `apisix-gateway` binary, with
//! `apisix.dns_resolver: ["127.0.0.1:<port>"]` pointing at a DNS server the test runs
//! (`testkit::dns`): a name whose answer changes under a live connection, next to a name that
//! does not exist; `/v1/upstreams`, the metrics and `apisixctl health` show both.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use e2e::backends::TcpBackend;
use e2e::client;
use e2e::dns::DnsServer;
use e2e::gateway::{Gateway, GatewayConfig};
use e2e::wait;
use serde_json::{json, Value};

/// How long a change may take to show (a 1 s TTL, lookups, the Admin API write).
const LIMIT: Duration = Duration::from_secs(15);

/// The row of `host` in the DNS table of `apisixctl health`, split on whitespace.
fn dns_row(table: &str, host: &str) -> Option<Vec<String>> {
    table
        .lines()
        .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .find(|cols| cols.get(1).map(String::as_str) == Some(host))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_follow_their_answers_and_show_in_the_control_api_metrics_and_apisixctl() {
    let (first, second) = TcpBackend::greeting_pair("first", "second").await;
    let port = first.addr.port();
    let dns = DnsServer::start(1).await;
    dns.set("db.test", &[IpAddr::V4(Ipv4Addr::LOCALHOST)]);
    let mut config = GatewayConfig::new();
    config.dns_resolver = vec![dns.server_entry()];
    let metrics_url = format!(
        "http://127.0.0.1:{}/apisix/prometheus/metrics",
        config.prometheus_port
    );
    let gw = Gateway::start(config).await.expect("start gateway");
    // No retries: a connection that picked the missing name would fail.
    gw.put_ok(
        "/upstreams/1",
        json!({"type": "roundrobin", "retries": 0, "nodes": [
            {"host": "db.test", "port": port, "weight": 1},
            {"host": "missing.test", "port": port, "weight": 1}
        ]}),
    )
    .await;
    gw.put_ok("/stream_routes/1", json!({"upstream_id": "1"}))
        .await;

    let mut open = wait::until("a connection through db.test", LIMIT, || async {
        let mut stream = client::connect(gw.tcp_addr(0)).await.ok()?;
        let line = client::read_line(&mut stream).await.ok()?;
        (line == "first").then_some(stream)
    })
    .await
    .expect("db.test reaches the first backend");
    for i in 0..10 {
        let got = client::greeting(gw.tcp_addr(0)).await.ok();
        assert_eq!(
            got.as_deref(),
            Some("first"),
            "connection {i}: only db.test is used"
        );
    }

    dns.set("db.test", &[IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))]);
    wait::until("new connections reach the new address", LIMIT, || async {
        let got = client::greeting(gw.tcp_addr(0)).await.ok()?;
        (got == "second").then_some(())
    })
    .await
    .expect("the changed answer is used");
    client::echo_roundtrip(&mut open, b"still here")
        .await
        .expect("the connection opened before the change stays up");

    let reply = gw.control_get("/v1/upstreams").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let upstreams = reply.json();
    let names = upstreams[0]["dns"].as_array().expect("dns list").clone();
    let by_host = |host: &str| -> Value {
        names
            .iter()
            .find(|n| n["host"] == host)
            .cloned()
            .unwrap_or_else(|| panic!("{host} in /v1/upstreams: {upstreams}"))
    };
    assert_eq!(by_host("db.test")["addresses"], json!(["127.0.0.2"]));
    assert_eq!(by_host("db.test")["ttl"], 1);
    assert_eq!(by_host("missing.test")["state"], "failed");

    let scrape = reqwest::get(&metrics_url)
        .await
        .expect("metrics answer")
        .text()
        .await
        .expect("metrics text");
    assert!(
        scrape.lines().any(|l| l.starts_with(
            "apisix_upstream_dns_failures_total{host=\"missing.test\",reason=\"nxdomain\"}"
        )),
        "{scrape}"
    );

    let run = gw.ctl(&["health"]).await;
    assert_eq!(run.code, 0, "{run}");
    let db = dns_row(&run.stdout, "db.test").unwrap_or_else(|| panic!("db.test row\n{run}"));
    assert_eq!(db[0], "/apisix/upstreams/1", "{run}");
    assert!(matches!(db[2].as_str(), "resolved" | "stale"), "{run}");
    assert_eq!(
        (db[3].as_str(), db[4].as_str()),
        ("127.0.0.2", "1"),
        "{run}"
    );
    let missing = dns_row(&run.stdout, "missing.test").expect("missing.test row");
    assert_eq!(
        (missing[2].as_str(), missing[3].as_str()),
        ("failed", "-"),
        "{run}"
    );
    drop(second);
}
