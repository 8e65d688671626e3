//! The real `apisix-gateway` process in a temporary prefix.
//!
//! [`Gateway::start`] writes `<prefix>/conf/config.yaml` (see [`config`]), spawns
//! `apisix-gateway start -c <prefix>/conf/config.yaml -p <prefix>` with stdout and stderr
//! appended to `<prefix>/logs/e2e-gateway.log`, and waits until the Admin API answers and every
//! TCP stream listener accepts. Lifecycle controls: [`Gateway::kill9`], [`Gateway::restart`],
//! [`Gateway::sigterm`], [`Gateway::sighup`], [`Gateway::reload_cli`]. Dropping the handle kills
//! the process; when the test is panicking it prints the tail of the log first. [`ctl`] runs the
//! real `apisixctl` against it ([`Gateway::ctl`]).
//!
//! With [`GatewayConfig::netns`] set, the process runs inside that network namespace
//! (`ip netns exec <ns> apisix-gateway ...`, see [`crate::netns`]) and every address below is on
//! [`GatewayConfig::listen_ip`].
//!
//! The binary is found next to the test executable (`target/<profile>/apisix-gateway`, the
//! parent of `deps/`), or at `$APISIX_GATEWAY_BIN`. Run `cargo build --workspace --bins` first
//! (`make test` does).

pub mod admin;
pub mod config;
pub mod ctl;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use reqwest::Method;
use tokio::io::AsyncWriteExt as _;

pub use admin::{check_reply, http_client, AdminHandle, AdminRequest, Expect, KeyAuth, Reply};
pub use config::{ApiTls, GatewayConfig, TEST_ADMIN_KEY, TEST_VIEWER_KEY};
pub use testkit::ctl::{run_ctl, run_ctl_env, CtlRun};
pub use testkit::programs::{apisixctl_bin, gateway_bin};

use crate::{tools, wait};

/// How long a gateway may take to come up (first start compiles nothing, but CI machines are slow).
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a gateway may take to exit after SIGTERM with no live connections.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(40);

/// A running (or stopped) test gateway.
pub struct Gateway {
    prefix: tempfile::TempDir,
    /// The config currently written to `<prefix>/conf/config.yaml`.
    pub config: GatewayConfig,
    child: Option<Child>,
    client: reqwest::Client,
}

impl Gateway {
    /// Starts a gateway with one TCP and one UDP listener and the test admin keys.
    pub async fn start_default() -> anyhow::Result<Gateway> {
        Gateway::start(GatewayConfig::new()).await
    }

    /// Writes `config` into a fresh temp prefix, spawns the gateway and waits until it serves.
    pub async fn start(config: GatewayConfig) -> anyhow::Result<Gateway> {
        let prefix = tempfile::Builder::new().prefix("e2e-gateway-").tempdir()?;
        std::fs::create_dir_all(prefix.path().join("conf"))?;
        std::fs::create_dir_all(prefix.path().join("logs"))?;
        let client = match &config.api_tls {
            None => http_client(),
            Some(tls) => admin::https_client(tls.client.clone()),
        };
        let mut gw = Gateway {
            prefix,
            config,
            child: None,
            client,
        };
        gw.write_config()?;
        gw.spawn_and_wait().await?;
        Ok(gw)
    }

    /// The prefix directory (parent of `conf/`).
    pub fn prefix(&self) -> &Path {
        self.prefix.path()
    }

    /// `<prefix>/conf/config.yaml`.
    pub fn config_path(&self) -> PathBuf {
        self.prefix().join("conf").join("config.yaml")
    }

    /// The file that collects the gateway's stdout and stderr.
    pub fn log_path(&self) -> PathBuf {
        self.prefix().join("logs").join("e2e-gateway.log")
    }

    /// The `i`-th TCP stream listener.
    pub fn tcp_addr(&self, i: usize) -> SocketAddr {
        SocketAddr::from((self.config.listen_ip, self.config.tcp_ports[i]))
    }

    /// The `i`-th UDP stream listener (`[::1]:<port>` with `udp_ipv6`).
    pub fn udp_addr(&self, i: usize) -> SocketAddr {
        let port = self.config.udp_ports[i];
        if self.config.udp_ipv6 {
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port))
        } else {
            SocketAddr::from((self.config.listen_ip, port))
        }
    }

    /// `http://<listen ip>:<admin port>` (`https://` with [`GatewayConfig::api_tls`]).
    pub fn admin_base(&self) -> String {
        let scheme = if self.config.api_tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!(
            "{scheme}://{}:{}",
            self.config.listen_ip, self.config.admin_port
        )
    }

    /// `http://<listen ip>:<control port>` (`https://` when the Control API has TLS).
    pub fn control_base(&self) -> String {
        let tls = self.config.api_tls.as_ref().is_some_and(|t| t.control);
        let scheme = if tls { "https" } else { "http" };
        format!(
            "{scheme}://{}:{}",
            self.config.listen_ip, self.config.control_port
        )
    }

    /// The process id while the gateway runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Rewrites `<prefix>/conf/config.yaml` from [`Gateway::config`].
    pub fn write_config(&self) -> anyhow::Result<()> {
        std::fs::write(self.config_path(), self.config.render())?;
        Ok(())
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let bin = gateway_bin()?;
        let log = tools::append_file(&self.log_path())?;
        let log_err = log.try_clone()?;
        let rust_log = std::env::var("E2E_RUST_LOG").unwrap_or_else(|_| "info".to_string());
        let mut command = match &self.config.netns {
            Some(ns) => crate::netns::exec_in(ns, &bin)?,
            None => Command::new(&bin),
        };
        let child = command
            .arg("start")
            .arg("-c")
            .arg(self.config_path())
            .arg("-p")
            .arg(self.prefix())
            .env("RUST_LOG", rust_log)
            .env("NO_COLOR", "1")
            .envs(self.config.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .spawn()
            .map_err(|e| anyhow::anyhow!("spawning {}: {e}", bin.display()))?;
        self.child = Some(child);
        Ok(())
    }

    async fn spawn_and_wait(&mut self) -> anyhow::Result<()> {
        self.spawn()?;
        if let Err(e) = self.wait_ready().await {
            let tail = self.log_tail(60);
            self.kill9();
            anyhow::bail!("gateway did not become ready: {e:#}\n--- gateway log tail ---\n{tail}");
        }
        Ok(())
    }

    /// Waits until the Admin API answers `HEAD /apisix/admin` and every TCP listener accepts.
    pub async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let url = format!("{}/apisix/admin", self.admin_base());
        let client = self.client.clone();
        let deadline = std::time::Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.try_exit_status() {
                anyhow::bail!("gateway exited during start-up with {status}");
            }
            let probe = client
                .head(&url)
                .timeout(Duration::from_millis(500))
                .send()
                .await;
            if probe.is_ok() {
                break;
            }
            if std::time::Instant::now() >= deadline {
                anyhow::bail!("admin API {url} did not answer within {START_TIMEOUT:?}");
            }
            tokio::time::sleep(wait::POLL_INTERVAL).await;
        }
        for i in 0..self.config.tcp_ports.len() {
            let addr = self.tcp_addr(i);
            let mut probe = wait::until(
                &format!("stream listener {addr}"),
                START_TIMEOUT,
                || async move { tokio::net::TcpStream::connect(addr).await.ok() },
            )
            .await?;
            // Half-close the probe and wait for the gateway to finish with it, so that it can
            // never be routed (and reach a backend) after the test has started counting.
            let _ = probe.shutdown().await;
            let _ = crate::client::expect_closed(&mut probe, Duration::from_secs(3)).await;
        }
        Ok(())
    }

    /// The exit status if the process has exited (reaping it), `None` while it runs.
    pub fn try_exit_status(&mut self) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        match child.try_wait() {
            Ok(Some(status)) => {
                self.child = None;
                Some(status)
            }
            _ => None,
        }
    }

    fn signal(&self, sig: Signal) -> anyhow::Result<()> {
        let pid = self
            .pid()
            .ok_or_else(|| anyhow::anyhow!("gateway is not running"))?;
        let pid = i32::try_from(pid).map_err(|_| anyhow::anyhow!("pid {pid} out of range"))?;
        kill(Pid::from_raw(pid), sig)?;
        Ok(())
    }

    /// Sends SIGTERM (graceful shutdown) and returns at once; see [`Gateway::wait_exit`].
    pub fn sigterm(&self) -> anyhow::Result<()> {
        self.signal(Signal::SIGTERM)
    }

    /// Sends SIGHUP (reload config.yaml).
    pub fn sighup(&self) -> anyhow::Result<()> {
        self.signal(Signal::SIGHUP)
    }

    /// Sends SIGUSR1 (reopen the log files).
    pub fn sigusr1(&self) -> anyhow::Result<()> {
        self.signal(Signal::SIGUSR1)
    }

    /// Runs `apisix-gateway reload -p <prefix> -c <config>`; returns its exit status and output.
    pub fn reload_cli(&self) -> anyhow::Result<(ExitStatus, String)> {
        let out = Command::new(gateway_bin()?)
            .arg("reload")
            .arg("-p")
            .arg(self.prefix())
            .arg("-c")
            .arg(self.config_path())
            .output()?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok((out.status, text))
    }

    /// Waits (polling, up to `timeout`) for the process to exit and returns its status.
    pub fn wait_exit(&mut self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        if self.child.is_none() {
            anyhow::bail!("gateway is not running");
        }
        wait::until_blocking("gateway exit", timeout, || self.try_exit_status())
    }

    /// SIGKILL: the process dies at once, without any clean-up (durability tests).
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Graceful stop (SIGTERM, wait up to [`STOP_TIMEOUT`], then SIGKILL).
    pub fn stop(&mut self) -> anyhow::Result<ExitStatus> {
        self.sigterm()?;
        match self.wait_exit(STOP_TIMEOUT) {
            Ok(status) => Ok(status),
            Err(e) => {
                self.kill9();
                Err(e)
            }
        }
    }

    /// Stops the gateway gracefully if it runs, then starts it again on the same prefix and config.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        if self.child.is_some() {
            self.stop()?;
        }
        self.spawn_and_wait().await
    }

    /// Starts the gateway again after [`Gateway::kill9`] or an exit (same prefix and config).
    pub async fn start_again(&mut self) -> anyhow::Result<()> {
        if self.child.is_some() {
            anyhow::bail!("gateway is still running");
        }
        self.spawn_and_wait().await
    }

    /// The last `lines` lines of the gateway's log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// The whole log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            eprintln!(
                "--- apisix-gateway log tail ({}) ---\n{}\n--- end of log ---",
                self.log_path().display(),
                self.log_tail(80)
            );
        }
        if std::env::var_os("E2E_KEEP_PREFIX").is_some() {
            let path = std::mem::replace(
                &mut self.prefix,
                tempfile::tempdir().expect("creating a placeholder temp dir"),
            )
            .keep();
            eprintln!("e2e: kept gateway prefix {}", path.display());
        }
    }
}

/// Admin API shortcuts.
impl Gateway {
    /// A request to `/apisix/admin<path>` with the test admin key in `X-API-KEY`.
    pub fn admin_request(&self, method: Method, path: &str) -> AdminRequest {
        AdminRequest::new(
            self.client.clone(),
            method,
            format!("{}/apisix/admin{path}", self.admin_base()),
            self.admin_auth(),
        )
    }

    /// A cheap, cloneable handle on the Admin API (for requests from spawned tasks).
    pub fn admin_handle(&self) -> AdminHandle {
        AdminHandle::new(
            self.client.clone(),
            format!("{}/apisix/admin", self.admin_base()),
            self.admin_auth(),
        )
    }

    /// The configured admin key as an `X-API-KEY` header (none when the config has none).
    fn admin_auth(&self) -> KeyAuth {
        match &self.config.admin_key {
            Some(key) => KeyAuth::Header(key.clone()),
            None => KeyAuth::None,
        }
    }

    /// `method /apisix/admin<path>` with an optional JSON body, with the admin key.
    pub async fn admin(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Reply {
        let req = self.admin_request(method, path);
        match body {
            Some(body) => req.json(&body).send().await,
            None => req.send().await,
        }
    }

    /// `GET /apisix/admin<path>`.
    pub async fn get(&self, path: &str) -> Reply {
        self.admin(Method::GET, path, None).await
    }

    /// `PUT /apisix/admin<path>` with a JSON body.
    pub async fn put(&self, path: &str, body: serde_json::Value) -> Reply {
        self.admin(Method::PUT, path, Some(body)).await
    }

    /// `DELETE /apisix/admin<path>`.
    pub async fn delete(&self, path: &str) -> Reply {
        self.admin(Method::DELETE, path, None).await
    }

    /// PUT that must succeed (200 or 201); panics with the reply otherwise.
    pub async fn put_ok(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        let reply = self.put(path, body).await;
        assert!(
            reply.status == 200 || reply.status == 201,
            "PUT {path} failed: {} {}",
            reply.status,
            reply.text
        );
        reply.json()
    }

    /// Every stored object of the stream-relevant resources, as `(key, value, modifiedIndex)`
    /// lists: used to assert that a rejected write changed nothing.
    pub async fn store_dump(&self) -> Vec<(String, serde_json::Value)> {
        let mut out = Vec::new();
        for res in [
            "stream_routes",
            "upstreams",
            "services",
            "ssls",
            "plugin_metadata",
        ] {
            let reply = self.get(&format!("/{res}")).await;
            out.push((
                format!("{res} {}", reply.status),
                reply.try_json().unwrap_or_default(),
            ));
        }
        out
    }

    /// `GET <control base><path>` on the Control API.
    pub async fn control_get(&self, path: &str) -> Reply {
        AdminRequest::new(
            self.client.clone(),
            Method::GET,
            format!("{}{path}", self.control_base()),
            KeyAuth::None,
        )
        .send()
        .await
    }

    /// `DELETE <control API><path>` with the admin key (e.g. killing a connection).
    pub async fn control_delete(&self, path: &str) -> Reply {
        AdminRequest::new(
            self.client.clone(),
            Method::DELETE,
            format!("{}{path}", self.control_base()),
            self.admin_auth(),
        )
        .send()
        .await
    }
}
