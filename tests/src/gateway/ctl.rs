//! Running the real `apisixctl` against a test gateway: [`apisixctl_bin`] finds the binary the
//! same way as [`super::gateway_bin`] (next to the test executable, or `$APISIXCTL_BIN`), and
//! [`Gateway::ctl`] runs it with the gateway's Admin and Control URLs and the test admin key,
//! in the gateway's prefix, with a time limit, returning exit code, stdout and stderr.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use super::Gateway;

/// How long one `apisixctl` run may take.
pub const CTL_TIMEOUT: Duration = Duration::from_secs(30);

/// The environment variables `apisixctl` reads; removed so the tests control every input.
const CTL_ENV: [&str; 6] = [
    "APISIX_ADMIN_URL",
    "ADC_SERVER",
    "APISIX_ADMIN_KEY",
    "ADC_TOKEN",
    "APISIX_CONTROL_URL",
    "APISIX_PREFIX",
];

/// The result of one `apisixctl` run.
#[derive(Debug, Clone)]
pub struct CtlRun {
    /// The exit code (-1 when killed by a signal).
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Display for CtlRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// The `apisixctl` binary under test.
pub fn apisixctl_bin() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("APISIXCTL_BIN") {
        return Ok(PathBuf::from(path));
    }
    let bin = super::gateway_bin()?.with_file_name("apisixctl");
    if !bin.is_file() {
        anyhow::bail!(
            "apisixctl binary {} not found: run `cargo build --workspace --bins` first \
             (or set APISIXCTL_BIN)",
            bin.display()
        );
    }
    Ok(bin)
}

/// Runs `apisixctl args...` in `cwd` with no APISIX/ADC environment and `NO_COLOR=1`, feeding
/// `stdin` when given; panics when it cannot start or exceeds [`CTL_TIMEOUT`].
pub async fn run_ctl(cwd: &Path, args: &[&str], stdin: Option<&str>) -> CtlRun {
    run_ctl_env(cwd, args, stdin, &[]).await
}

/// Like [`run_ctl`], then sets `env` (name, value) on top: for the environment fallbacks and
/// `$XDG_CONFIG_HOME`. `$XDG_CONFIG_HOME` and `$HOME` point into `cwd` unless given, so no
/// user config file is read.
pub async fn run_ctl_env(
    cwd: &Path,
    args: &[&str],
    stdin: Option<&str>,
    env: &[(&str, &str)],
) -> CtlRun {
    use tokio::io::AsyncWriteExt as _;
    let bin = apisixctl_bin().unwrap_or_else(|e| panic!("{e:#}"));
    let mut cmd = tokio::process::Command::new(&bin);
    cmd.current_dir(cwd).args(args).env("NO_COLOR", "1");
    for var in CTL_ENV {
        cmd.env_remove(var);
    }
    cmd.env("XDG_CONFIG_HOME", cwd.join(".config"))
        .env("HOME", cwd);
    for (name, value) in env {
        cmd.env(name, value);
    }
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {}: {e}", bin.display()));
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .await
            .expect("writing apisixctl's stdin");
    }
    let out = tokio::time::timeout(CTL_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("apisixctl {args:?} did not finish within {CTL_TIMEOUT:?}"))
        .expect("waiting for apisixctl");
    CtlRun {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

impl Gateway {
    /// The global options that point `apisixctl` at this gateway with the admin key.
    pub fn ctl_globals(&self) -> Vec<String> {
        let mut out = vec![
            "--server".to_owned(),
            self.admin_base(),
            "--control".to_owned(),
            self.control_base(),
            "--timeout".to_owned(),
            "5s".to_owned(),
        ];
        if let Some(key) = &self.config.admin_key {
            out.extend(["--admin-key".to_owned(), key.clone()]);
        }
        out
    }

    /// Runs `apisixctl <globals> args...` in the prefix directory (relative file names in
    /// `args` are resolved there).
    pub async fn ctl(&self, args: &[&str]) -> CtlRun {
        let globals = self.ctl_globals();
        let mut all: Vec<&str> = globals.iter().map(String::as_str).collect();
        all.extend_from_slice(args);
        run_ctl(self.prefix(), &all, None).await
    }
}
