//! `apisixctl stream-route test --tls` and `--count` against the real gateway: SNI routes on a
//! `tls: true` listener (certificates from an rcgen CA stored through the Admin API). The test
//! passes on the route its SNI selects (certificate unverified, then verified with `--ca`),
//! fails when `--sni` sends the connection to another route or the CA does not match, and
//! `--count` prints one line per attempt and a min/median/max summary.

use std::time::Duration;

use e2e::backends::TcpBackend;
use e2e::gateway::{CtlRun, Gateway, GatewayConfig};
use e2e::{client, ports};
use serde_json::{json, Value};
use testkit::certs::Ca;

const APPLY: Duration = Duration::from_secs(5);

fn assert_run(run: &CtlRun, code: i32) {
    assert_eq!(run.code, code, "unexpected exit code\n{run}");
}

/// A self-signed CA (PEM) and a leaf for `names` signed by it (cert PEM, key PEM).
fn ca_and_leaf(names: &[&str]) -> (String, String, String) {
    let ca = Ca::new("cli ca");
    let leaf = ca.leaf(names);
    (ca.pem(), leaf.cert_pem, leaf.key_pem)
}

#[tokio::test]
async fn tls_test_confirms_the_sni_route_verifies_with_ca_and_fails_elsewhere() {
    let db = TcpBackend::greeting("db").await;
    let other = TcpBackend::greeting("other").await;
    let mut config = GatewayConfig::with_listeners(1, 0);
    config.tcp_tls_ports = vec![ports::free_port()];
    let tls_port = config.tcp_tls_ports[0];
    let gw = Gateway::start(config).await.expect("start gateway");
    let (ca_pem, cert, key) = ca_and_leaf(&["db.example.test", "other.example.test"]);
    let (wrong_ca, _, _) = ca_and_leaf(&["db.example.test"]);
    std::fs::write(gw.prefix().join("ca.pem"), &ca_pem).expect("write ca.pem");
    std::fs::write(gw.prefix().join("wrong-ca.pem"), &wrong_ca).expect("write wrong-ca.pem");
    gw.put_ok(
        "/ssls/1",
        json!({"cert": cert, "key": key, "snis": ["db.example.test", "other.example.test"]}),
    )
    .await;
    for (id, sni, node) in [
        ("db", "db.example.test", db.node()),
        ("other", "other.example.test", other.node()),
    ] {
        gw.put_ok(
            &format!("/stream_routes/{id}"),
            json!({"sni": sni, "upstream": {"nodes": {node: 1}}}),
        )
        .await;
    }
    let probe = [
        "sr",
        "test",
        "db",
        "--tls",
        "--payload",
        "ping\\n",
        "--expect",
        "ping",
    ];
    // The routes reach the data path asynchronously: retry the first test until it passes.
    let first = e2e::wait::until("the tls route to apply", APPLY, || async {
        let run = gw.ctl(&probe).await;
        (run.code == 0).then_some(run)
    })
    .await
    .expect("stream-route test --tls passes on the db route");
    // No server_port on the route: the first tls listener from /v1/status, SNI from the route.
    assert!(
        first
            .stdout
            .starts_with(&format!("#1 127.0.0.1:{tls_port}: ok\n")),
        "{first}"
    );
    assert!(
        first.stdout.contains("(TLSv1_3, certificate not verified)"),
        "{first}"
    );
    let route_line = format!("  route       db via {} (connection ", db.node());
    assert!(first.stdout.contains(&route_line), "{first}");
    assert!(first.stdout.contains("confirmed\n"), "{first}");

    let mut verified = probe.to_vec();
    verified.extend(["--ca", "ca.pem", "--sni", "db.example.test"]);
    let run = gw.ctl(&verified).await;
    assert_run(&run, 0);
    assert!(run.stdout.contains("certificate verified)"), "{run}");

    let mut elsewhere = probe.to_vec();
    elsewhere.extend(["--sni", "other.example.test"]);
    let run = gw.ctl(&elsewhere).await;
    assert_run(&run, 1);
    let want = format!("FAIL: routed to stream route other via {}", other.node());
    assert!(run.stdout.contains(&want), "{run}");
    assert_eq!(run.stderr, "error: 1 of 1 attempts failed\n", "{run}");

    let mut untrusted = probe.to_vec();
    untrusted.extend(["--ca", "wrong-ca.pem"]);
    let run = gw.ctl(&untrusted).await;
    assert_run(&run, 1);
    assert!(run.stdout.contains("FAIL: tls handshake: "), "{run}");
    assert!(run.stdout.contains("invalid peer certificate"), "{run}");
}

#[tokio::test]
async fn count_prints_each_attempt_and_a_min_median_max_summary() {
    let echo = TcpBackend::greeting("echo").await;
    let gw = Gateway::start(GatewayConfig::with_listeners(1, 0))
        .await
        .expect("start gateway");
    gw.put_ok(
        "/stream_routes/r",
        json!({"server_port": gw.config.tcp_ports[0], "upstream": {"nodes": {echo.node(): 1}}}),
    )
    .await;
    client::wait_for_greeting(gw.tcp_addr(0), "echo", APPLY)
        .await
        .expect("the route carries traffic");
    let args = [
        "sr",
        "test",
        "r",
        "--payload",
        "ping\\n",
        "--expect",
        "ping",
        "--count",
        "5",
    ];

    let run = gw.ctl(&args).await;
    assert_run(&run, 0);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 5 + 4, "{run}");
    for (n, line) in lines[..5].iter().enumerate() {
        assert!(line.starts_with(&format!("#{} connect ", n + 1)), "{run}");
        assert!(line.ends_with(": ok"), "{run}");
        assert!(line.contains(" route r via "), "{run}");
    }
    assert_eq!(lines[5], "5 attempts, 5 ok, 0 failed", "{run}");
    assert!(
        lines[6]
            .split_whitespace()
            .eq(["MIN", "MEDIAN", "MAX", "SAMPLES"]),
        "{run}"
    );
    assert!(lines[7].starts_with("connect "), "{run}");
    assert!(lines[8].starts_with("round trip "), "{run}");
    assert!(lines[8].ends_with(" 5"), "{run}");

    let mut json_args = vec!["-o", "json"];
    json_args.extend(args);
    let run = gw.ctl(&json_args).await;
    assert_run(&run, 0);
    let out: Value = serde_json::from_str(&run.stdout).expect("json output");
    assert_eq!(out["attempts"].as_array().map(Vec::len), Some(5), "{run}");
    let summary = &out["summary"];
    assert_eq!(summary["attempts"], 5, "{run}");
    assert_eq!(summary["failed"], 0, "{run}");
    for measure in ["connect", "round_trip"] {
        let s = &summary[measure];
        assert_eq!(s["samples"], 5, "{run}");
        let (min, med, max) = (
            s["min_ms"].as_f64().expect("min"),
            s["median_ms"].as_f64().expect("median"),
            s["max_ms"].as_f64().expect("max"),
        );
        assert!(min <= med && med <= max, "{measure}: {s}");
    }
    assert_eq!(summary["tls"], Value::Null, "{run}");
}
