//! `apisixctl` against a real `apisix-gateway` (found next to the apisixctl binary, so build
//! it first: `cargo build -p apisix-gateway -p apisixctl`). Ignored until the gateway lands on
//! `main`; the coordinator enables them after merging (`cargo test -p apisixctl --test
//! cli_gateway -- --ignored`). The harness is deliberately minimal: free ports, a temp prefix
//! with `conf/config.yaml`, the process killed on drop. The full harness lives in `tests/`.
//! Both tests passed on 2026-11-28 against a gateway built from the `observe` branch (Admin
//! API and embedded store wired; no Control API yet, so `ping` is checked per line).
//! `health_shows_probe_results_of_a_real_gateway` is not ignored: `make test` builds the gateway
//! binary before the tests, and the test fails naming the missing binary otherwise.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::apisixctl;

const KEY: &str = "cli-gateway-test-key";
const START_TIMEOUT: Duration = Duration::from_secs(20);

fn free_port() -> u16 {
    support::closed_port()
}

/// A running gateway with a temp prefix; killed on drop.
struct Gateway {
    child: Child,
    prefix: tempfile::TempDir,
    admin: String,
    control: String,
    tcp_port: u16,
}

impl Gateway {
    fn start() -> Gateway {
        let bin = PathBuf::from(env!("CARGO_BIN_EXE_apisixctl")).with_file_name("apisix-gateway");
        assert!(
            bin.is_file(),
            "build the gateway first: cargo build -p apisix-gateway ({} missing)",
            bin.display()
        );
        let prefix = tempfile::tempdir().expect("tempdir");
        let (admin_port, control_port, prom_port, tcp_port) =
            (free_port(), free_port(), free_port(), free_port());
        let config = format!(
            "apisix:\n  proxy_mode: \"http&stream\"\n  enable_admin: true\n  enable_control: true\n  control:\n    ip: 127.0.0.1\n    port: {control_port}\n  stream_proxy:\n    tcp:\n      - \"127.0.0.1:{tcp_port}\"\n\
deployment:\n  role: traditional\n  role_traditional:\n    config_provider: embedded\n  admin:\n    admin_key_required: true\n    admin_key:\n      - name: admin\n        key: \"{KEY}\"\n        role: admin\n    admin_listen:\n      ip: 127.0.0.1\n      port: {admin_port}\n\
plugin_attr:\n  prometheus:\n    export_addr:\n      ip: 127.0.0.1\n      port: {prom_port}\n"
        );
        std::fs::create_dir_all(prefix.path().join("conf")).expect("mkdir conf");
        let conf = prefix.path().join("conf/config.yaml");
        std::fs::write(&conf, config).expect("write config");
        let log = std::fs::File::create(prefix.path().join("gateway.log")).expect("log file");
        let child = Command::new(&bin)
            .arg("start")
            .arg("-c")
            .arg(&conf)
            .arg("-p")
            .arg(prefix.path())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("gateway starts");
        let mut gw = Gateway {
            child,
            prefix,
            admin: format!("http://127.0.0.1:{admin_port}"),
            control: format!("http://127.0.0.1:{control_port}"),
            tcp_port,
        };
        gw.wait_listening(admin_port);
        gw.wait_listening(tcp_port);
        gw
    }

    /// Polls until the port accepts, bounded by START_TIMEOUT.
    fn wait_listening(&mut self, port: u16) {
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200))
            .is_err()
        {
            let log =
                std::fs::read_to_string(self.prefix.path().join("gateway.log")).unwrap_or_default();
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("gateway exited with {status} during start-up\n{log}");
            }
            assert!(
                Instant::now() < deadline,
                "port {port} not listening within {START_TIMEOUT:?}\n{log}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn ctl(&self, args: &[&str]) -> support::Run {
        let mut all = vec![
            "--server",
            self.admin.as_str(),
            "--control",
            self.control.as_str(),
            "--admin-key",
            KEY,
            "--timeout",
            "5s",
        ];
        all.extend_from_slice(args);
        apisixctl(self.prefix.path(), &all)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An echo server on a free port (one thread per connection).
fn echo_backend() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind echo");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
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

#[test]
#[ignore = "needs apisix-gateway built next to apisixctl; enabled after merge"]
fn put_then_test_routes_through_the_gateway() {
    let gw = Gateway::start();
    let backend = echo_backend();
    let node = format!("127.0.0.1:{backend}");
    let port = gw.tcp_port.to_string();
    let put = gw.ctl(&["sr", "put", "echo", "--server-port", &port, "--node", &node]);
    assert_eq!(put.code, 0, "{}", put.stderr);
    assert_eq!(put.stdout.trim(), "stream_routes/echo created");
    let again = gw.ctl(&["sr", "put", "echo", "--server-port", &port, "--node", &node]);
    assert_eq!(
        again.stdout.trim(),
        "stream_routes/echo unchanged",
        "{}",
        again.stderr
    );

    let test = gw.ctl(&[
        "sr",
        "test",
        "echo",
        "--payload",
        "ping\\n",
        "--expect",
        "ping",
    ]);
    assert_eq!(test.code, 0, "{}\n{}", test.stdout, test.stderr);
    assert!(test.stdout.contains("ok"), "{}", test.stdout);
}

#[test]
#[ignore = "needs apisix-gateway built next to apisixctl; enabled after merge"]
fn apply_diff_dump_round_trip_on_a_real_gateway() {
    let gw = Gateway::start();
    let file = gw.prefix.path().join("declared.yaml");
    std::fs::write(
        &file,
        format!(
            "upstreams:\n  - id: u1\n    nodes: {{\"127.0.0.1:{}\": 1}}\n    labels: {{team: core}}\nstream_routes:\n  - id: 1\n    server_port: {}\n    upstream_id: u1\n    labels: {{team: core}}\n#END\n",
            echo_backend(),
            gw.tcp_port
        ),
    )
    .expect("write");
    let path = file.to_str().expect("utf-8 path");
    assert_eq!(gw.ctl(&["diff", "-f", path]).code, 1);
    let apply = gw.ctl(&["apply", "-f", path]);
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    let diff = gw.ctl(&["diff", "-f", path]);
    assert_eq!(
        diff.code, 0,
        "server defaults must not show as drift: {}",
        diff.stdout
    );
    let dump = gw.ctl(&["dump", "--file", "dumped.yaml"]);
    assert_eq!(dump.code, 0, "{}", dump.stderr);
    let dumped = gw.prefix.path().join("dumped.yaml");
    assert!(std::fs::read_to_string(&dumped)
        .expect("dumped")
        .ends_with("#END\n"));
    let ping = gw.ctl(&["ping"]);
    assert!(ping.stdout.contains("admin    ok"), "{}", ping.stdout);
    assert!(ping.stdout.contains("key      ok"), "{}", ping.stdout);
}

/// The `apisixctl health` row of `node` (`ip:port`): its STATUS column.
fn health_status(table: &str, node: &str) -> Option<String> {
    table
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|cols| cols.get(2) == Some(&node))
        .and_then(|cols| cols.get(3).map(|s| (*s).to_owned()))
}

#[test]
fn health_shows_probe_results_of_a_real_gateway() {
    let gw = Gateway::start();
    let live = format!("127.0.0.1:{}", echo_backend());
    let dead = format!("127.0.0.1:{}", free_port());
    let file = gw.prefix.path().join("checked.yaml");
    std::fs::write(
        &file,
        format!(
            "upstreams:\n  - id: hc\n    nodes: {{\"{live}\": 1, \"{dead}\": 1}}\n    checks:\n      active:\n        type: tcp\n        healthy: {{interval: 1}}\n        unhealthy: {{interval: 1, tcp_failures: 1}}\nstream_routes:\n  - id: hc\n    server_port: {}\n    upstream_id: hc\n",
            gw.tcp_port
        ),
    )
    .expect("write");
    let apply = gw.ctl(&["apply", "-f", file.to_str().expect("utf-8 path")]);
    assert_eq!(apply.code, 0, "{}", apply.stderr);

    let deadline = Instant::now() + Duration::from_secs(15);
    let table = loop {
        let run = gw.ctl(&["health"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        if health_status(&run.stdout, &dead).as_deref() == Some("unhealthy") {
            break run.stdout;
        }
        assert!(
            Instant::now() < deadline,
            "the dead node was not reported unhealthy:\n{}",
            run.stdout
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(table.starts_with("NAME"), "{table}");
    assert!(table.contains("/apisix/upstreams/hc"), "{table}");
    assert_eq!(
        health_status(&table, &live).as_deref(),
        Some("healthy"),
        "{table}"
    );

    let json = gw.ctl(&["health", "-o", "json"]);
    assert_eq!(json.code, 0, "{}", json.stderr);
    let body: serde_json::Value = serde_json::from_str(&json.stdout).expect("json output");
    let nodes = body[0]["nodes"].as_array().expect("nodes");
    let down = nodes
        .iter()
        .find(|n| format!("{}:{}", n["ip"].as_str().unwrap_or(""), n["port"]) == dead)
        .expect("dead node listed");
    assert_eq!(down["status"], "unhealthy");
    assert_eq!(down["counter"]["tcp_failure"], 1);
    assert_eq!(body[0]["type"], "tcp");
}
