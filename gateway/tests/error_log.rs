//! The error log as operators run it (docs/logging.md), through the real binary:
//! `nginx_config.error_log` to a file, `apisix.log_format: json` (and `--log-format json`) with
//! one object per line, `error_log_level` filtering, a rename + SIGUSR1 moving new lines to a
//! fresh file at the same path (logrotate), the access log's JSON lines, and the drop counter
//! exported as a metric.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use testkit::{backends, client, ports, wait};
use tokio::process::{Child, Command};

const KEY: &str = "error-log-test-key";
const WAIT: Duration = Duration::from_secs(30);

struct Gateway {
    child: Child,
    dir: tempfile::TempDir,
    tcp: u16,
    admin: u16,
    metrics: u16,
}

impl Gateway {
    /// Starts the gateway on free ports with more `apisix` keys and `nginx_config` keys (YAML
    /// lines, indented two spaces) and command-line `args`, and waits for the Admin API.
    async fn start(apisix: &str, nginx_config: &str, args: &[&str]) -> Gateway {
        let dir = tempfile::tempdir().expect("tempdir");
        let (tcp, admin, control, metrics) = (
            ports::free_port(),
            ports::free_port(),
            ports::free_port(),
            ports::free_port(),
        );
        let config = format!(
            "apisix:\n  proxy_mode: http&stream\n  stream_proxy:\n    tcp: [\"127.0.0.1:{tcp}\"]\n  \
             control: {{ip: 127.0.0.1, port: {control}}}\n{apisix}\
             deployment:\n  admin:\n    admin_key: [{{name: admin, key: {KEY}, role: admin}}]\n    \
             admin_listen: {{ip: 127.0.0.1, port: {admin}}}\n\
             plugin_attr:\n  prometheus:\n    export_addr: {{ip: 127.0.0.1, port: {metrics}}}\n\
             nginx_config:\n{nginx_config}"
        );
        let conf = dir.path().join("conf/config.yaml");
        std::fs::create_dir_all(conf.parent().expect("conf dir")).expect("mkdir");
        std::fs::write(&conf, config).expect("write config");
        let child = Command::new(env!("CARGO_BIN_EXE_apisix-gateway"))
            .arg("start")
            .arg("-c")
            .arg(&conf)
            .args(args)
            .env_remove("RUST_LOG")
            .kill_on_drop(true)
            .spawn()
            .expect("apisix-gateway starts");
        let gw = Gateway {
            child,
            dir,
            tcp,
            admin,
            metrics,
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], admin));
        wait::eventually("the admin api listens", WAIT, || async move {
            tokio::net::TcpStream::connect(addr).await.ok()
        })
        .await;
        gw
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn signal(&self, signal: Signal) {
        let pid = self.child.id().expect("running");
        let pid = Pid::from_raw(i32::try_from(pid).expect("pid fits"));
        kill(pid, signal).unwrap_or_else(|e| panic!("kill -{signal} {pid}: {e}"));
    }

    /// SIGTERM, then waits for a clean exit (the log writer flushes on the way out).
    async fn stop(mut self) -> tempfile::TempDir {
        self.signal(Signal::SIGTERM);
        let status = wait::within_for(WAIT, "the gateway exits", self.child.wait())
            .await
            .expect("wait");
        assert!(status.success(), "{status}");
        self.dir
    }
}

/// Every line of `path` parsed as JSON (panics on a line that is not an object).
fn json_lines(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {line}\nin {}", path.display()));
            assert!(value.is_object(), "{line}");
            value
        })
        .collect()
}

async fn lines_with(path: &Path, message: &str) -> Vec<Value> {
    let (path, message) = (path.to_path_buf(), message.to_owned());
    wait::eventually(&format!("{message:?} in the log"), WAIT, || {
        let lines: Vec<Value> = json_lines(&path)
            .into_iter()
            .filter(|l| l["message"] == message.as_str())
            .collect();
        async move { (!lines.is_empty()).then_some(lines) }
    })
    .await
}

#[tokio::test]
async fn json_error_log_is_reopened_on_sigusr1_after_a_rename() {
    let gw = Gateway::start(
        "  log_format: json\n",
        "  error_log: logs/error.log\n  error_log_level: info\n  stream:\n    enable_access_log: true\n    access_log: logs/access.log\n",
        &[],
    )
    .await;
    let log = gw.path("logs/error.log");
    let started = lines_with(&log, "apisix-gateway started").await;
    let line = &started[0];
    for key in ["time", "level", "target", "message"] {
        assert!(line[key].is_string(), "{key} in {line}");
    }
    assert_eq!(line["level"], "info");
    assert_eq!(line["target"], "apisix_gateway::server");
    assert!(line["pid"].is_u64(), "the structured field pid: {line}");
    for line in json_lines(&log) {
        let level = line["level"].as_str().expect("level");
        assert!(
            ["info", "warn", "error"].contains(&level),
            "below info: {line}"
        );
    }

    let rotated = gw.path("logs/error.log.1");
    std::fs::rename(&log, &rotated).expect("rename");
    gw.signal(Signal::SIGUSR1);
    lines_with(&log, "error log reopened").await;
    let old = json_lines(&rotated);
    assert!(old.iter().any(|l| l["message"] == "apisix-gateway started"));
    assert!(!old.iter().any(|l| l["message"] == "error log reopened"));
    assert!(!json_lines(&log)
        .iter()
        .any(|l| l["message"] == "apisix-gateway started"));

    // The access log writes the same format: one object per session.
    let (echo, _closed) = backends::tcp_echo().await;
    let http = reqwest::Client::new();
    let route =
        serde_json::json!({"upstream": {"nodes": {echo.to_string(): 1}, "type": "roundrobin"}});
    let url = format!(
        "http://127.0.0.1:{}/apisix/admin/stream_routes/r1",
        gw.admin
    );
    let put = wait::within(
        "admin put",
        http.put(&url).header("X-API-KEY", KEY).json(&route).send(),
    )
    .await
    .expect("admin answers");
    assert!(put.status().is_success(), "{}", put.status());
    let proxy = SocketAddr::from(([127, 0, 0, 1], gw.tcp));
    wait::eventually("an echo through the route", WAIT, || async move {
        let mut stream = client::connect(proxy).await.ok()?;
        client::echo_roundtrip(&mut stream, b"hello").await.ok()
    })
    .await;
    let access = gw.path("logs/access.log");
    let session = wait::eventually("a 200 line in the access log", WAIT, || {
        let line = json_lines(&access).into_iter().find(|l| l["status"] == 200);
        async move { line }
    })
    .await;
    assert_eq!(session["remote_addr"], "127.0.0.1");
    assert_eq!(session["protocol"], "TCP");
    assert_eq!(session["bytes_received"], 5);
    assert!(session["time"].is_string() && session["session_time"].is_number());

    let metrics = format!("http://127.0.0.1:{}/apisix/prometheus/metrics", gw.metrics);
    let text = wait::within("metrics", async {
        http.get(&metrics).send().await?.text().await
    })
    .await
    .expect("metrics answer");
    assert!(
        text.lines()
            .any(|l| l == "apisix_error_log_dropped_total 0"),
        "{text}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn error_log_level_warn_keeps_warnings_and_drops_info() {
    // `--log-format json` on the command line, over a config that says text; the unknown key
    // makes a warning after the log is set up.
    let gw = Gateway::start(
        "  log_format: text\n  no_such_key: 1\n",
        "  error_log: logs/error.log\n  error_log_level: warn\n",
        &["--log-format", "json"],
    )
    .await;
    let dir = gw.stop().await;
    let lines = json_lines(&dir.path().join("logs/error.log"));
    let warning = lines
        .iter()
        .find(|l| l["message"] == "apisix.no_such_key: unknown key, ignored")
        .unwrap_or_else(|| panic!("no unknown-key warning in {lines:?}"));
    assert_eq!(warning["level"], "warn");
    for line in &lines {
        let level = line["level"].as_str().expect("level");
        assert!(["warn", "error"].contains(&level), "below warn: {line}");
    }
}
