//! A program running in a detached tmux session on its own server socket (`tmux -L <unique>`),
//! so terminal programs (the `apisix-tui` dashboard) can be driven and read as a user sees
//! them: [`Tmux::start`] opens a `width`×`height` pane running a shell command,
//! [`Tmux::capture`] returns the pane's text, [`Tmux::send_keys`] types keys, and
//! [`Tmux::wait_for`] polls the screen with a deadline. Dropping the handle kills the tmux
//! server it started (and so the program in it).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::{tools, wait};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A tmux server with one session, owned by the test.
#[derive(Debug)]
pub struct Tmux {
    bin: PathBuf,
    socket: String,
    session: String,
}

/// Quotes `arg` for `sh` (single quotes, `'` escaped).
pub fn shell_quote(arg: &str) -> String {
    format!("'{}'", arg.replace('\'', r"'\''"))
}

impl Tmux {
    /// Starts `command` (a shell command line) in a detached `width`×`height` session whose
    /// working directory is `cwd`. Fails naming the `tmux` package when tmux is missing.
    pub fn start(command: &str, cwd: &Path, width: u16, height: u16) -> anyhow::Result<Tmux> {
        let bin = tools::require(&["tmux"], "tmux")?;
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let tmux = Tmux {
            bin,
            socket: format!("e2e-{}-{n}", std::process::id()),
            session: "e2e".to_owned(),
        };
        let cwd = cwd.to_string_lossy();
        let (w, h) = (width.to_string(), height.to_string());
        tmux.run(&[
            "new-session",
            "-d",
            "-s",
            &tmux.session,
            "-x",
            &w,
            "-y",
            &h,
            "-c",
            &cwd,
            command,
        ])?;
        Ok(tmux)
    }

    /// Runs `tmux -u -L <socket> -f /dev/null <args>` and fails on a non-zero exit.
    fn run(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = self.raw(args)?;
        if !out.status.success() {
            anyhow::bail!(
                "tmux {}: {}: {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn raw(&self, args: &[&str]) -> anyhow::Result<Output> {
        Ok(Command::new(&self.bin)
            .args(["-u", "-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .env("LANG", "C.UTF-8")
            .env("LC_ALL", "C.UTF-8")
            .output()?)
    }

    /// The pane's visible text, one line per row.
    pub fn capture(&self) -> anyhow::Result<String> {
        self.run(&["capture-pane", "-p", "-t", &self.session])
    }

    /// Types `keys` (tmux key names, e.g. `?`, `q`, `Enter`, `C-c`).
    pub fn send_keys(&self, keys: &[&str]) -> anyhow::Result<()> {
        let mut args = vec!["send-keys", "-t", self.session.as_str()];
        args.extend_from_slice(keys);
        self.run(&args).map(drop)
    }

    /// `tmux display -p <format>` for the pane (e.g. `#{alternate_on}`, `#{pane_dead}`).
    pub fn display(&self, format: &str) -> anyhow::Result<String> {
        self.run(&["display-message", "-p", "-t", &self.session, format])
            .map(|s| s.trim().to_owned())
    }

    /// Whether the session still exists (`tmux has-session`).
    pub fn has_session(&self) -> bool {
        self.raw(&["has-session", "-t", &self.session])
            .is_ok_and(|o| o.status.success())
    }

    /// Polls the screen until `check` accepts it; the error shows the last screen.
    pub async fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        check: impl Fn(&str) -> bool,
    ) -> anyhow::Result<String> {
        let result = wait::until(what, timeout, || {
            let screen = self.capture().ok();
            let found = screen.filter(|s| check(s));
            async move { found }
        })
        .await;
        result.map_err(|e| {
            let last = self.capture().unwrap_or_else(|e| e.to_string());
            anyhow::anyhow!("{e}; last screen:\n{last}")
        })
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.raw(&["kill-server"]);
    }
}
