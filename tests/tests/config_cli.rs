//! The gateway binary's own commands: `apisix-gateway test -c FILE` (exit 0 for a good file;
//! exit 1 with one line per problem for a bad one) and `apisix-gateway version`.

use std::process::{Command, Output};

use e2e::gateway::{gateway_bin, GatewayConfig};

fn run(args: &[&str]) -> Output {
    let bin = gateway_bin().expect("gateway binary");
    Command::new(&bin)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {} {args:?}: {e}", bin.display()))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn write_config(dir: &tempfile::TempDir, yaml: &str) -> String {
    let conf = dir.path().join("conf");
    std::fs::create_dir_all(&conf).expect("mkdir conf");
    let path = conf.join("config.yaml");
    std::fs::write(&path, yaml).expect("write config");
    path.display().to_string()
}

#[test]
fn test_command_accepts_a_good_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_config(&dir, &GatewayConfig::new().render());
    let prefix = dir.path().display().to_string();
    let out = run(&["test", "-c", &path, "-p", &prefix]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "good config rejected: {}",
        text(&out)
    );
}

#[test]
fn test_command_reports_every_problem_one_line_each_and_exits_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = r#"apisix:
  proxy_mode: http&stream
  stream_proxy:
    tcp:
      - 70000
      - "127.0.0.1:9200-9100"
    udp:
      - "127.0.0.1:"
deployment:
  role: traditional
  role_traditional:
    config_provider: embedded
"#;
    let path = write_config(&dir, yaml);
    let prefix = dir.path().display().to_string();
    let out = run(&["test", "-c", &path, "-p", &prefix]);
    let output = text(&out);
    assert_eq!(out.status.code(), Some(1), "bad config accepted: {output}");
    let wanted = [
        "invalid stream_proxy.tcp entry: port out of range (1-65535): 70000",
        "invalid port range (start > end)",
        "missing port",
    ];
    for want in wanted {
        let lines: Vec<&str> = output.lines().filter(|l| l.contains(want)).collect();
        assert_eq!(
            lines.len(),
            1,
            "expected one line with {want:?} in:\n{output}"
        );
    }
}

#[test]
fn test_command_fails_for_a_missing_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir
        .path()
        .join("conf")
        .join("nope.yaml")
        .display()
        .to_string();
    let out = run(&["test", "-c", &missing]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("nope.yaml"),
        "the message names the file: {}",
        text(&out)
    );
}

#[test]
fn version_prints_the_crate_version() {
    let out = run(&["version"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains(env!("CARGO_PKG_VERSION")),
        "version output {:?} lacks {}",
        text(&out),
        env!("CARGO_PKG_VERSION")
    );
}
