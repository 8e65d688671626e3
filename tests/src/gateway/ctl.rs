//! Running the real `apisixctl` against a test gateway: [`Gateway::ctl`] runs it (through
//! `testkit::ctl`, which finds the binary next to the test executable or at `$APISIXCTL_BIN`)
//! with the gateway's Admin and Control URLs and the test admin key, in the gateway's prefix,
//! with a time limit, returning exit code, stdout and stderr.

use testkit::ctl::{run_ctl, CtlRun};

use super::Gateway;

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
