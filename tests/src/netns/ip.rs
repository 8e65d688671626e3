//! Running `ip` (iproute2) with a deadline: every network-namespace, link and address change
//! of the test bed goes through [`run`]. A command that fails names its arguments and `ip`'s
//! own message; one that does not finish within [`IP_TIMEOUT`] is killed.

use std::io::Read as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::{tools, wait};

/// The longest one `ip` command may take.
pub const IP_TIMEOUT: Duration = Duration::from_secs(10);

/// The `ip` program (package `iproute2`).
pub fn ip_bin() -> anyhow::Result<PathBuf> {
    tools::require(&["ip"], "iproute2")
}

/// Runs `ip <args>` and returns its stdout; an error (with stderr) unless it exits 0.
pub fn run(args: &[&str]) -> anyhow::Result<String> {
    let mut child = Command::new(ip_bin()?)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| anyhow::anyhow!("ip {}: {e}", args.join(" ")))?;
    // `ip` prints a few lines at most: far below a pipe buffer, so waiting before reading
    // cannot block on a full pipe.
    let status = wait::until_blocking(&format!("ip {}", args.join(" ")), IP_TIMEOUT, || {
        child.try_wait().ok().flatten()
    });
    let status = match status {
        Ok(status) => status,
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
    };
    let mut out = String::new();
    let mut err = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = stdout.read_to_string(&mut out);
    }
    if let Some(mut stderr) = child.stderr.take() {
        let _ = stderr.read_to_string(&mut err);
    }
    anyhow::ensure!(
        status.success(),
        "ip {}: {status}: {}",
        args.join(" "),
        err.trim()
    );
    Ok(out)
}

/// Like [`run`], ignoring failures: for tear-down, where the object may already be gone.
pub fn run_quietly(args: &[&str]) {
    let _ = run(args);
}
