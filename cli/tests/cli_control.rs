//! Runs the real `apisixctl` binary against the in-process Admin and Control API double
//! (`support::MockAdmin`) for the live commands: `stream-route test` against real local TCP
//! backends, `connections`, `match`, `status`, `ping`, `health` (with DNS names).

mod support;

use serde_json::{json, Value};
use support::{apisixctl, tmp, with_server, MockAdmin};

/// A listener that echoes, or closes at once when `echo` is false.
fn backend(echo: bool) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            if !echo {
                continue; // dropped: closed without data
            }
            std::thread::spawn(move || {
                let mut buf = [0u8; 1024];
                while let Ok(n) = conn.read(&mut buf) {
                    if n == 0 || conn.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    port
}

fn with_both<'a>(mock: &'a MockAdmin, args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["--control", mock.url.as_str()];
    all.extend(with_server(mock, args));
    all
}

#[test]
fn route_test_passes_when_reply_matches_and_control_confirms_the_route() {
    let mock = MockAdmin::start();
    let dir = tmp();
    let port = backend(true);
    mock.insert("stream_routes", "1", json!({"server_port": port}));
    let ok = apisixctl(
        dir.path(),
        &with_both(
            &mock,
            &[
                "sr",
                "test",
                "1",
                "--payload",
                "hello\\n",
                "--expect",
                "hello",
                "--count",
                "2",
            ],
        ),
    );
    assert_eq!(ok.code, 0, "{}\n{}", ok.stdout, ok.stderr);
    assert_eq!(ok.stdout.matches(": ok").count(), 2, "{}", ok.stdout);
    assert_eq!(
        ok.stdout
            .matches(" route 1 (connection c-1) confirmed: ok\n")
            .count(),
        2,
        "{}",
        ok.stdout
    );
    assert!(
        ok.stdout.contains("\n2 attempts, 2 ok, 0 failed\n"),
        "{}",
        ok.stdout
    );

    let wrong = apisixctl(
        dir.path(),
        &with_both(
            &mock,
            &[
                "sr",
                "test",
                "1",
                "--payload",
                "x",
                "--expect",
                "nope",
                "--read-timeout",
                "300ms",
            ],
        ),
    );
    assert_eq!(wrong.code, 1);
    assert!(
        wrong.stdout.contains("reply does not contain \"nope\""),
        "{}",
        wrong.stdout
    );

    mock.set_connection_route("2");
    let elsewhere = apisixctl(
        dir.path(),
        &with_both(&mock, &["sr", "test", "1", "--payload", "x"]),
    );
    assert_eq!(elsewhere.code, 1);
    assert!(
        elsewhere
            .stdout
            .contains("routed to stream route 2 (connection c-1), not 1"),
        "{}",
        elsewhere.stdout
    );
}

#[test]
fn route_test_fails_when_closed_without_data() {
    let mock = MockAdmin::start();
    let dir = tmp();
    let port = backend(false);
    mock.insert("stream_routes", "1", json!({"server_port": port}));
    let run = apisixctl(
        dir.path(),
        &with_both(&mock, &["sr", "test", "1", "-o", "json"]),
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let out: Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(out["ok"], false);
    assert!(out["attempts"][0]["error"]
        .as_str()
        .expect("error text")
        .contains("closed without data"));
}

#[test]
fn control_commands_pass_filters_and_render_tables() {
    let mock = MockAdmin::start();
    let dir = tmp();
    let conns = apisixctl(
        dir.path(),
        &with_both(
            &mock,
            &["connections", "list", "--route", "1", "-o", "json"],
        ),
    );
    assert_eq!(conns.code, 0, "{}", conns.stderr);
    let out: Value = serde_json::from_str(&conns.stdout).expect("json");
    assert_eq!(out["list"][0]["query"], "route_id=1");
    let table = apisixctl(dir.path(), &with_both(&mock, &["conns", "ls"]));
    assert!(
        table.stdout.starts_with("ID   ROUTE  PROTO  CLIENT"),
        "{}",
        table.stdout
    );

    let matched = apisixctl(
        dir.path(),
        &with_both(
            &mock,
            &[
                "match",
                "--client",
                "10.0.0.1",
                "--server-port",
                "9100",
                "--sni",
                "a.com",
                "-o",
                "json",
            ],
        ),
    );
    assert_eq!(matched.code, 0, "{}", matched.stderr);
    let out: Value = serde_json::from_str(&matched.stdout).expect("json");
    // Without --server-addr the Control API host stands in (no listener on 9100).
    assert_eq!(
        out["query"],
        "client=10.0.0.1&server_port=9100&server_addr=127.0.0.1&sni=a.com"
    );

    let status = apisixctl(dir.path(), &with_both(&mock, &["status"]));
    assert!(
        status.stdout.contains("version:") && status.stdout.contains("PROTOCOL"),
        "{}",
        status.stdout
    );
    let kill = apisixctl(
        dir.path(),
        &with_both(&mock, &["connections", "kill", "c-1"]),
    );
    assert_eq!(kill.stdout.trim(), "connection c-1 closed");
    let ping = apisixctl(dir.path(), &with_both(&mock, &["ping"]));
    assert_eq!(ping.code, 0, "{}", ping.stdout);
}

#[test]
fn health_lists_each_dns_name_and_leaves_out_what_the_gateway_does_not_answer() {
    let mock = MockAdmin::start();
    let dir = tmp();
    mock.set_control(
        "upstreams",
        json!([{"key": "/apisix/upstreams/1", "value": {}, "has_domain": true,
                "dns": [{"host": "db.test", "state": "resolved", "addresses": ["10.0.0.1", "::1"],
                         "ttl": 30, "expires_in": 12.5, "failures": 0, "last_error": null}]}]),
    );
    // No /v1/stream_routes (as APISIX): the stored upstreams' names still show.
    let run = apisixctl(dir.path(), &["--control", mock.url.as_str(), "health"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.starts_with("no health checkers"),
        "{}",
        run.stdout
    );
    let row: Vec<&str> = run
        .stdout
        .lines()
        .find(|l| l.contains("db.test"))
        .expect("a row for db.test")
        .split_whitespace()
        .collect();
    assert_eq!(
        row,
        [
            "/apisix/upstreams/1",
            "db.test",
            "resolved",
            "10.0.0.1,::1",
            "30",
            "12.5",
            "0",
            "-"
        ]
    );
    assert!(
        run.stderr
            .contains("DNS names of inline upstreams left out"),
        "{}",
        run.stderr
    );

    mock.set_control(
        "stream_routes",
        json!({"list": [{"id": "7", "upstream": {"key": "stream_routes/7", "type": "roundrobin",
                "nodes": [], "dns": [{"host": "inline.test", "state": "failed", "failures": 2,
                "last_error": "nxdomain: the name does not exist"}]}}], "total": 1}),
    );
    let run = apisixctl(dir.path(), &["--control", mock.url.as_str(), "health"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let inline = run
        .stdout
        .lines()
        .find(|l| l.contains("inline.test"))
        .expect("a row for the inline upstream's name");
    assert!(
        inline.starts_with("stream_routes/7") && inline.contains(" failed "),
        "{inline}"
    );
    assert!(run.stderr.is_empty(), "{}", run.stderr);
}
