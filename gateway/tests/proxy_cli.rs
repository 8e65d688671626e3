//! The `apisix-gateway` binary's process commands: `stop` / `reload` through the pid file,
//! `test` on a bad config, `version`.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use tokio::process::Command;

const WAIT: Duration = Duration::from_secs(10);

async fn gateway(args: &[&str]) -> Output {
    let run = Command::new(env!("CARGO_BIN_EXE_apisix-gateway"))
        .args(args)
        .env_remove("RUST_LOG")
        .output();
    tokio::time::timeout(WAIT, run)
        .await
        .expect("apisix-gateway finishes")
        .expect("apisix-gateway runs")
}

fn write_pid(prefix: &Path, pid: u32) {
    let logs = prefix.join("logs");
    std::fs::create_dir_all(&logs).expect("logs dir");
    std::fs::write(logs.join("apisix-gateway.pid"), format!("{pid}\n")).expect("pid file");
}

async fn signal_kills_child(command: &str, signal: i32) {
    use std::os::unix::process::ExitStatusExt;
    let prefix = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new("sleep")
        .arg("30")
        .kill_on_drop(true)
        .spawn()
        .expect("spawn sleep");
    write_pid(prefix.path(), child.id().expect("child pid"));
    let prefix_arg = prefix.path().to_str().expect("utf-8 temp path");
    let out = gateway(&[command, "-p", prefix_arg]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("child ends after the signal")
        .expect("wait");
    assert_eq!(status.signal(), Some(signal));
}

#[tokio::test]
async fn stop_sends_sigterm_to_the_pid_in_the_pid_file() {
    signal_kills_child("stop", libc::SIGTERM).await;
}

#[tokio::test]
async fn reload_sends_sighup_to_the_pid_in_the_pid_file() {
    signal_kills_child("reload", libc::SIGHUP).await;
}

#[tokio::test]
async fn stop_without_a_pid_file_fails_clearly() {
    let prefix = tempfile::tempdir().expect("tempdir");
    let prefix_arg = prefix.path().to_str().expect("utf-8 temp path");
    let out = gateway(&["stop", "-p", prefix_arg]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no pid file at"), "{stderr}");
}

#[tokio::test]
async fn test_command_rejects_a_missing_config_file() {
    let prefix = tempfile::tempdir().expect("tempdir");
    let missing = prefix.path().join("conf/config.yaml");
    let out = gateway(&["test", "-c", missing.to_str().expect("utf-8")]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(!out.stderr.is_empty());
}

#[tokio::test]
async fn version_prints_the_crate_version() {
    let out = gateway(&["version"]).await;
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("apisix-gateway {}", env!("CARGO_PKG_VERSION"))
    );
}
