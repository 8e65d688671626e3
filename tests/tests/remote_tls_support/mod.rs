//! Shared by the remote administration tests: a throw-away PKI on disk (a CA and the files of a
//! server leaf), `apisixctl` runs against a test gateway with another server URL or key, and
//! the assertions on their outcome (exit code, one-line reason).

// Each test binary uses a part of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use e2e::gateway::{CtlRun, Gateway, TEST_ADMIN_KEY};
use testkit::certs::{Ca, Leaf};
use testkit::ctl::run_ctl;

/// How long a reload or an audit line may take to show.
pub const SETTLE: Duration = Duration::from_secs(10);

/// A CA and the files of a server leaf it signed, in their own directory.
pub struct Pki {
    pub dir: tempfile::TempDir,
    pub ca: Ca,
    pub ca_file: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Pki {
    /// A CA named `name` and a server leaf for `names`.
    pub fn new(name: &str, names: &[&str]) -> Pki {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = Ca::new(name);
        let ca_file = ca.write(dir.path(), "ca");
        let (cert, key) = ca.leaf(names).write(dir.path(), "server");
        Pki {
            dir,
            ca,
            ca_file,
            cert,
            key,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A client certificate signed by this CA, written as `<name>.pem` / `<name>.key`.
    pub fn client(&self, name: &str) -> (Leaf, PathBuf, PathBuf) {
        let leaf = self.ca.server_and_client_leaf(name);
        let (cert, key) = leaf.write(self.dir.path(), name);
        (leaf, cert, key)
    }
}

pub fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

pub fn assert_ok(run: &CtlRun) {
    assert_eq!(run.code, 0, "apisixctl failed\n{run}");
}

/// Exit 1 and one line on stderr containing `reason`.
pub fn assert_one_line_failure(run: &CtlRun, reason: &str) {
    assert_eq!(run.code, 1, "expected exit 1\n{run}");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stderr\n{run}");
    assert!(lines[0].starts_with("error: "), "{run}");
    assert!(lines[0].contains(reason), "expected {reason:?}\n{run}");
}

/// `apisixctl --server <server> --admin-key <test key> args...` in the gateway's prefix.
pub async fn ctl_at(gw: &Gateway, server: &str, args: &[&str]) -> CtlRun {
    ctl_with_key(gw, server, TEST_ADMIN_KEY, args).await
}

/// [`ctl_at`] with another key.
pub async fn ctl_with_key(gw: &Gateway, server: &str, key: &str, args: &[&str]) -> CtlRun {
    let mut all = vec!["--server", server, "--admin-key", key, "--timeout", "5s"];
    all.extend_from_slice(args);
    run_ctl(gw.prefix(), &all, None).await
}
