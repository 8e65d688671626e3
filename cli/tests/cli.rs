//! Runs the real `apisixctl` binary offline: help, completion, validate, usage errors,
//! unreachable servers, a missing dashboard binary.

mod support;

use serde_json::Value;
use support::{apisixctl, apisixctl_stdin, tmp};
use testkit::ports::dead_addr;

#[test]
fn help_documents_exit_codes_and_key_lookup() {
    let dir = tmp();
    let run = apisixctl(dir.path(), &["--help"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("Exit codes:"), "{}", run.stdout);
    assert!(run.stdout.contains("conf/admin_key"));
    for cmd in [
        "stream-route",
        "apply",
        "diff",
        "sync",
        "dump",
        "validate",
        "match",
        "connections",
        "completion",
        "dashboard",
    ] {
        assert!(run.stdout.contains(cmd), "help lacks {cmd}");
    }
}

#[test]
fn completion_scripts_name_the_binary() {
    let dir = tmp();
    for shell in ["bash", "zsh", "fish"] {
        let run = apisixctl(dir.path(), &["completion", shell]);
        assert_eq!(run.code, 0, "{shell}: {}", run.stderr);
        assert!(
            run.stdout.contains("apisixctl"),
            "{shell} script lacks the name"
        );
    }
}

#[test]
fn usage_errors_exit_2() {
    let dir = tmp();
    assert_eq!(
        apisixctl(dir.path(), &["stream-route", "frobnicate"]).code,
        2
    );
    assert_eq!(apisixctl(dir.path(), &["-o", "xml", "status"]).code, 2);
    let bad_node = apisixctl(dir.path(), &["sr", "put", "1", "--node", "no-port"]);
    assert_eq!(bad_node.code, 2);
    assert!(bad_node.stderr.contains("host:port"), "{}", bad_node.stderr);
}

#[test]
fn unreachable_server_exits_1_with_a_clear_message() {
    let dir = tmp();
    let server = format!("http://{}", dead_addr());
    let run = apisixctl(
        dir.path(),
        &["--server", &server, "--timeout", "3s", "upstream", "list"],
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.starts_with("error: cannot reach"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains(&server), "{}", run.stderr);
}

#[test]
fn diff_errors_exit_2_not_1() {
    let dir = tmp();
    let file = dir.path().join("a.yaml");
    std::fs::write(&file, "upstreams:\n  - id: 1\n    nodes: {\"h:1\": 1}\n").expect("write");
    let server = format!("http://{}", dead_addr());
    let run = apisixctl(dir.path(), &["--server", &server, "diff", "-f", "a.yaml"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
}

#[test]
fn validate_reports_every_shape_error_with_its_path() {
    let dir = tmp();
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        "stream_routes:\n  - server_port: 1\n  - id: 7\n    server_port: 2\nroutes: []\nupstreams:\n  - id: 1\n  - id: \"1\"\n#END\n",
    )
    .expect("write");
    let run = apisixctl(dir.path(), &["validate", "-f", "bad.yaml"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("stream_routes[0]: missing id"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("routes: unknown section"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("upstreams[1] (id 1): duplicate id 1"),
        "{}",
        run.stderr
    );
}

#[test]
fn validate_accepts_a_good_file_from_stdin_as_json() {
    let dir = tmp();
    let body = r#"{"upstreams":[{"id":1,"nodes":{"127.0.0.1:80":1}}],"stream_routes":[{"id":1,"upstream_id":1}]}"#;
    let run = apisixctl_stdin(
        dir.path(),
        &["validate", "-f", "-", "-o", "json"],
        Some(body),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out: Value = serde_json::from_str(&run.stdout).expect("json output");
    assert_eq!(out["valid"], true);
    assert_eq!(out["objects"], 2);
}

#[test]
fn dashboard_without_tui_binary_says_where_it_looked() {
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_apisixctl"));
    if exe.with_file_name("apisix-tui").exists() {
        return; // built alongside: nothing to check here
    }
    let dir = tmp();
    let run = apisixctl(dir.path(), &["dashboard"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("apisix-tui not found"),
        "{}",
        run.stderr
    );
}

/// Runs a program the test has just written. Another test thread that forks while the file is
/// still open for writing keeps a write descriptor in its child for a moment, and exec then
/// fails with ETXTBSY ("Text file busy"): retry that case briefly.
fn run_fresh_executable(command: impl Fn() -> std::process::Command) -> std::process::Output {
    for _ in 0..50 {
        match command().output() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other.expect("runs"),
        }
    }
    command().output().expect("runs")
}

#[test]
fn dashboard_execs_the_tui_next_to_it_with_the_same_options() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tmp();
    let bin = dir.path().join("apisixctl");
    std::fs::copy(env!("CARGO_BIN_EXE_apisixctl"), &bin).expect("copy apisixctl");
    let tui = dir.path().join("apisix-tui");
    std::fs::write(
        &tui,
        "#!/bin/sh\necho \"args: $*\"\necho \"key: $APISIX_ADMIN_KEY\"\nexit 3\n",
    )
    .expect("write fake tui");
    std::fs::set_permissions(&tui, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let out = run_fresh_executable(|| {
        let mut command = std::process::Command::new(&bin);
        command
            .current_dir(dir.path())
            .args([
                "--server",
                "http://gw:1",
                "--admin-key",
                "k1",
                "dashboard",
                "--",
                "--readonly",
            ])
            .env_remove("APISIX_CONTROL_URL");
        command
    });
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "the tui's exit code is kept");
    assert!(
        stdout.contains("args: --server http://gw:1 --control http://127.0.0.1:9090 --readonly"),
        "{stdout}"
    );
    assert!(
        stdout.contains("key: k1"),
        "the key goes through the environment: {stdout}"
    );
}
