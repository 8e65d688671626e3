//! Running the real `apisixctl`: with none of the APISIX/ADC environment variables it reads,
//! `NO_COLOR=1`, and `$XDG_CONFIG_HOME` and `$HOME` inside the working directory (so no user
//! config file is read), optionally feeding stdin; the result is the exit code, stdout and
//! stderr. [`run_ctl`] / [`run_ctl_env`] run on tokio with a time limit (the e2e tests);
//! [`run_ctl_blocking`] runs on the calling thread (the CLI's own tests).

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::programs::apisixctl_bin;

/// How long one `apisixctl` run may take.
pub const CTL_TIMEOUT: Duration = Duration::from_secs(30);

/// The environment variables `apisixctl` reads; removed so the tests control every input.
pub const CTL_ENV: [&str; 10] = [
    "APISIX_ADMIN_URL",
    "ADC_SERVER",
    "APISIX_ADMIN_KEY",
    "ADC_TOKEN",
    "APISIX_CONTROL_URL",
    "APISIX_PREFIX",
    "ADC_CA_CERT_FILE",
    "ADC_TLS_CLIENT_CERT_FILE",
    "ADC_TLS_CLIENT_KEY_FILE",
    "ADC_TLS_SKIP_VERIFY",
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

impl CtlRun {
    fn from_output(out: std::process::Output) -> CtlRun {
        CtlRun {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// `bin args...` in `cwd` with the clean environment described above, then `env` on top;
/// stdin piped when `piped_stdin`, stdout and stderr piped.
pub fn ctl_command(
    bin: &Path,
    cwd: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    piped_stdin: bool,
) -> Command {
    let mut cmd = Command::new(bin);
    cmd.current_dir(cwd).args(args).env("NO_COLOR", "1");
    for var in CTL_ENV {
        cmd.env_remove(var);
    }
    cmd.env("XDG_CONFIG_HOME", cwd.join(".config"))
        .env("HOME", cwd);
    for (name, value) in env {
        cmd.env(name, value);
    }
    cmd.stdin(if piped_stdin {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    cmd
}

/// Runs `bin args...` in `cwd` on this thread, feeding `stdin` when given; panics when it
/// cannot start.
pub fn run_ctl_blocking(bin: &Path, cwd: &Path, args: &[&str], stdin: Option<&str>) -> CtlRun {
    let mut child = ctl_command(bin, cwd, args, &[], stdin.is_some())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {}: {e}", bin.display()));
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .expect("writing apisixctl's stdin");
    }
    CtlRun::from_output(child.wait_with_output().expect("waiting for apisixctl"))
}

/// Runs the `apisixctl` under test ([`apisixctl_bin`]) in `cwd`, feeding `stdin` when given;
/// panics when it cannot start or exceeds [`CTL_TIMEOUT`].
pub async fn run_ctl(cwd: &Path, args: &[&str], stdin: Option<&str>) -> CtlRun {
    run_ctl_env(cwd, args, stdin, &[]).await
}

/// Like [`run_ctl`], then sets `env` (name, value) on top: for the environment fallbacks and
/// `$XDG_CONFIG_HOME`.
pub async fn run_ctl_env(
    cwd: &Path,
    args: &[&str],
    stdin: Option<&str>,
    env: &[(&str, &str)],
) -> CtlRun {
    use tokio::io::AsyncWriteExt as _;
    let bin = apisixctl_bin().unwrap_or_else(|e| panic!("{e:#}"));
    let mut cmd = tokio::process::Command::from(ctl_command(&bin, cwd, args, env, stdin.is_some()));
    cmd.kill_on_drop(true);
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
    CtlRun::from_output(out)
}
