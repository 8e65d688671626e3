//! A real single-member etcd on free ports in a temp dir: plain http, or TLS with or without
//! client certificates. [`EtcdServer::kill9`] and [`EtcdServer::start_again`] keep its ports
//! and data (a restart is a real restart); it is killed on drop. Ready means `/health` says
//! `true` (plain) or the client port accepts connections (TLS). Keys can be read and written
//! through etcd's v3 JSON gateway, the way another APISIX control plane would.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use base64::Engine as _;

use crate::ports::free_port;
use crate::programs::{append_file, etcd_bin, file_tail};
use crate::wait::{POLL_INTERVAL, STEP_TIMEOUT};

/// How long etcd may take to become ready.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running (or killed) etcd.
pub struct EtcdServer {
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// The client port on 127.0.0.1.
    pub client_port: u16,
    /// The peer port on 127.0.0.1.
    pub peer_port: u16,
    /// Extra etcd flags (TLS); empty for plain http.
    tls_args: Vec<String>,
    child: Option<Child>,
}

impl EtcdServer {
    /// Starts etcd on free ports and waits until it is ready.
    pub async fn start() -> anyhow::Result<EtcdServer> {
        EtcdServer::launch(free_port(), Vec::new()).await
    }

    /// Starts etcd with its client URL on `client_port` (chosen earlier by the test).
    pub async fn start_on(client_port: u16) -> anyhow::Result<EtcdServer> {
        EtcdServer::launch(client_port, Vec::new()).await
    }

    /// Starts etcd serving clients over TLS with `cert`/`key`, requiring client certificates
    /// signed by `client_ca` when given.
    pub async fn start_tls(
        cert: &Path,
        key: &Path,
        client_ca: Option<&Path>,
    ) -> anyhow::Result<EtcdServer> {
        let mut tls_args = vec![
            format!("--cert-file={}", cert.display()),
            format!("--key-file={}", key.display()),
        ];
        if let Some(ca) = client_ca {
            tls_args.push(format!("--trusted-ca-file={}", ca.display()));
            tls_args.push("--client-cert-auth".to_owned());
        }
        EtcdServer::launch(free_port(), tls_args).await
    }

    async fn launch(client_port: u16, tls_args: Vec<String>) -> anyhow::Result<EtcdServer> {
        let mut etcd = EtcdServer {
            dir: tempfile::Builder::new().prefix("testkit-etcd-").tempdir()?,
            bin: etcd_bin()?,
            client_port,
            peer_port: free_port(),
            tls_args,
            child: None,
        };
        etcd.start_again().await?;
        Ok(etcd)
    }

    /// `http(s)://127.0.0.1:<client port>`, the value for `deployment.etcd.host`.
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls_args.is_empty() {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://127.0.0.1:{}", self.client_port)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("etcd.log")
    }

    /// The etcd log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Starts the process (again, on the same data dir and ports) and waits until ready.
    pub async fn start_again(&mut self) -> anyhow::Result<()> {
        anyhow::ensure!(self.child.is_none(), "etcd is already running");
        let client = self.endpoint();
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let log = self.log_path();
        let child = Command::new(&self.bin)
            .arg("--name=default")
            .arg(format!(
                "--data-dir={}",
                self.dir.path().join("data").display()
            ))
            .arg(format!("--listen-client-urls={client}"))
            .arg(format!("--advertise-client-urls={client}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=default={peer}"))
            .args(&self.tls_args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(append_file(&log)?))
            .stderr(Stdio::from(append_file(&log)?))
            .spawn()
            .with_context(|| format!("spawning {}", self.bin.display()))?;
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    anyhow::bail!("etcd exited with {status}:\n{}", file_tail(&log, 30));
                }
            }
            if self.ready().await {
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.kill9();
                anyhow::bail!(
                    "etcd did not become ready within {START_TIMEOUT:?}:\n{}",
                    file_tail(&log, 30)
                );
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    async fn ready(&self) -> bool {
        if !self.tls_args.is_empty() {
            return tokio::net::TcpStream::connect(("127.0.0.1", self.client_port))
                .await
                .is_ok();
        }
        let health = http_client()
            .get(format!("{}/health", self.endpoint()))
            .send()
            .await;
        match health {
            Ok(resp) => resp.text().await.unwrap_or_default().contains("true"),
            Err(_) => false,
        }
    }

    /// Kills etcd at once (the "store down" case) and waits for it to exit.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills etcd and starts it again with the same ports and data.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.kill9();
        self.start_again().await
    }

    /// Writes `key` = `value` through the v3 JSON gateway (plain http only).
    pub async fn put(&self, key: &str, value: &str) -> anyhow::Result<()> {
        let body = serde_json::json!({"key": b64(key), "value": b64(value)});
        let resp = http_client()
            .post(format!("{}/v3/kv/put", self.endpoint()))
            .json(&body)
            .send()
            .await?;
        anyhow::ensure!(
            resp.status().is_success(),
            "etcd put {key}: {}",
            resp.status()
        );
        Ok(())
    }

    /// Reads `key` through the v3 JSON gateway; `None` when absent.
    pub async fn get(&self, key: &str) -> anyhow::Result<Option<String>> {
        let body = serde_json::json!({"key": b64(key)});
        let resp: serde_json::Value = http_client()
            .post(format!("{}/v3/kv/range", self.endpoint()))
            .json(&body)
            .send()
            .await?
            .json()
            .await?;
        let Some(value) = resp["kvs"][0]["value"].as_str() else {
            return Ok(None);
        };
        let bytes = base64::engine::general_purpose::STANDARD.decode(value)?;
        Ok(Some(String::from_utf8(bytes)?))
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(STEP_TIMEOUT)
        .build()
        .expect("building an http client")
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}
