//! A throwaway MariaDB server for the MySQL walkthrough: `mariadb-install-db` into a temp dir,
//! `mariadbd` on a free port bound to 127.0.0.1, a password user created over the unix socket,
//! and the `mariadb` command-line client to talk to it (directly or through the gateway).
//!
//! Needs the `mariadb-server` and `mariadb-client` packages; without them [`MariaDb::start`]
//! fails naming the package.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context as _;

use crate::{ports, tools, wait};

/// The user the tests log in as (over TCP, with a password).
pub const USER: &str = "e2e";
/// Its password.
pub const PASSWORD: &str = "e2e-password";
/// How long the server may take to start.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running MariaDB server.
pub struct MariaDb {
    dir: tempfile::TempDir,
    /// The TCP port it listens on (127.0.0.1).
    pub port: u16,
    child: Option<Child>,
    client_bin: PathBuf,
}

/// The outcome of one client run.
#[derive(Debug, Clone)]
pub struct ClientRun {
    /// The exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// The command line, for printing in the test output.
    pub command: String,
}

impl MariaDb {
    /// Initialises a data directory and starts the server; blocks until it accepts the test user.
    pub fn start() -> anyhow::Result<MariaDb> {
        let server = tools::require(&["mariadbd", "mysqld"], "mariadb-server")?;
        let install = tools::require(
            &["mariadb-install-db", "mysql_install_db"],
            "mariadb-server",
        )?;
        let client_bin = tools::require(&["mariadb", "mysql"], "mariadb-client")?;
        let dir = tempfile::Builder::new().prefix("e2e-mariadb-").tempdir()?;
        let data = dir.path().join("data");
        let log = dir.path().join("mariadb.log");

        let mut cmd = Command::new(&install);
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg("--auth-root-authentication-method=normal")
            .arg("--skip-test-db");
        if tools::running_as_root() {
            cmd.arg("--user=root");
        }
        let out = cmd
            .stdout(Stdio::from(tools::append_file(&log)?))
            .stderr(Stdio::from(tools::append_file(&log)?))
            .status()
            .with_context(|| format!("running {}", install.display()))?;
        anyhow::ensure!(
            out.success(),
            "{} failed ({out}):\n{}",
            install.display(),
            tools::file_tail(&log, 30)
        );

        let port = ports::free_port();
        let mut cmd = Command::new(&server);
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", dir.path().join("sock").display()))
            .arg(format!(
                "--pid-file={}",
                dir.path().join("mariadbd.pid").display()
            ))
            .arg(format!("--port={port}"))
            .arg("--bind-address=127.0.0.1")
            .arg("--skip-log-bin")
            .arg("--innodb-buffer-pool-size=16M")
            .arg(format!("--log-error={}", log.display()));
        if tools::running_as_root() {
            cmd.arg("--user=root");
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::from(tools::append_file(&log)?))
            .stderr(Stdio::from(tools::append_file(&log)?))
            .spawn()
            .with_context(|| format!("spawning {}", server.display()))?;
        let mut db = MariaDb {
            dir,
            port,
            child: Some(child),
            client_bin,
        };
        db.wait_ready_and_create_user()?;
        Ok(db)
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("sock")
    }

    fn wait_ready_and_create_user(&mut self) -> anyhow::Result<()> {
        let socket = self.socket();
        let client = self.client_bin.clone();
        let ready = wait::until_blocking(
            "mariadbd to accept socket connections",
            START_TIMEOUT,
            || {
                if let Some(child) = self.child.as_mut() {
                    if let Ok(Some(status)) = child.try_wait() {
                        return Some(Err(anyhow::anyhow!("mariadbd exited with {status}")));
                    }
                }
                let out = Command::new(&client)
                    .arg("--no-defaults")
                    .arg(format!("--socket={}", socket.display()))
                    .args(["-uroot", "-e", "select 1"])
                    .output()
                    .ok()?;
                out.status.success().then_some(Ok(()))
            },
        );
        let log = self.dir.path().join("mariadb.log");
        match ready {
            Ok(Ok(())) => {}
            Ok(Err(e)) | Err(e) => {
                anyhow::bail!(
                    "{e:#}\n--- mariadb log tail ---\n{}",
                    tools::file_tail(&log, 30)
                )
            }
        }
        let sql = format!(
            "CREATE USER '{USER}'@'%' IDENTIFIED BY '{PASSWORD}'; \
             GRANT ALL PRIVILEGES ON *.* TO '{USER}'@'%'; FLUSH PRIVILEGES;"
        );
        let out = Command::new(&client)
            .arg("--no-defaults")
            .arg(format!("--socket={}", socket.display()))
            .args(["-uroot", "-e", &sql])
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "creating the test user failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    }

    /// Where the server listens.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Runs the `mariadb` client against `addr` over TCP as the test user, executing `sql`
    /// (`--table` output, 10 s connect timeout).
    pub fn client(&self, addr: SocketAddr, sql: &str) -> anyhow::Result<ClientRun> {
        let args = [
            "--no-defaults".to_string(),
            "--protocol=TCP".to_string(),
            format!("--host={}", addr.ip()),
            format!("--port={}", addr.port()),
            format!("--user={USER}"),
            format!("--password={PASSWORD}"),
            "--connect-timeout=10".to_string(),
            "--table".to_string(),
            "-e".to_string(),
            sql.to_string(),
        ];
        let program = self
            .client_bin
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "mariadb".to_string());
        let shown: Vec<String> = args
            .iter()
            .map(|a| {
                if a.starts_with("--password=") {
                    format!("--password={PASSWORD}")
                } else if a.contains(' ') {
                    format!("'{a}'")
                } else {
                    a.clone()
                }
            })
            .collect();
        let command = format!("{program} {}", shown.join(" "));
        let out = Command::new(&self.client_bin)
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {}", self.client_bin.display()))?;
        Ok(ClientRun {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            command,
        })
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
