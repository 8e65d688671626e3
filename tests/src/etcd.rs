//! A throwaway single-node etcd on free ports in a temp dir, for the etcd store tests.
//! Needs the `etcd-server` package (the `etcd` binary); without it [`Etcd::start`] fails
//! naming the package.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context as _;

use crate::gateway::http_client;
use crate::{ports, tools};

/// How long etcd may take to become healthy.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running (or stopped) etcd.
pub struct Etcd {
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// The client port on 127.0.0.1.
    pub client_port: u16,
    /// The peer port on 127.0.0.1.
    pub peer_port: u16,
    child: Option<Child>,
}

impl Etcd {
    /// Starts etcd and waits until `/health` reports healthy.
    pub async fn start() -> anyhow::Result<Etcd> {
        let bin = tools::require(&["etcd"], "etcd-server")?;
        let dir = tempfile::Builder::new().prefix("e2e-etcd-").tempdir()?;
        let mut etcd = Etcd {
            dir,
            bin,
            client_port: ports::free_port(),
            peer_port: ports::free_port(),
            child: None,
        };
        etcd.start_again().await?;
        Ok(etcd)
    }

    /// `http://127.0.0.1:<client port>`, the value for `deployment.etcd.host`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("etcd.log")
    }

    /// Starts the process (again, on the same data dir and ports) and waits until healthy.
    pub async fn start_again(&mut self) -> anyhow::Result<()> {
        anyhow::ensure!(self.child.is_none(), "etcd is already running");
        let client = self.endpoint();
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let log = self.log_path();
        let child = Command::new(&self.bin)
            .arg("--name=e2e")
            .arg(format!(
                "--data-dir={}",
                self.dir.path().join("data").display()
            ))
            .arg(format!("--listen-client-urls={client}"))
            .arg(format!("--advertise-client-urls={client}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=e2e={peer}"))
            .stdin(Stdio::null())
            .stdout(Stdio::from(tools::append_file(&log)?))
            .stderr(Stdio::from(tools::append_file(&log)?))
            .spawn()
            .with_context(|| format!("spawning {}", self.bin.display()))?;
        self.child = Some(child);
        let http = http_client();
        let url = format!("{client}/health");
        let deadline = std::time::Instant::now() + START_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    anyhow::bail!("etcd exited with {status}:\n{}", tools::file_tail(&log, 30));
                }
            }
            if let Ok(resp) = http.get(&url).send().await {
                if resp.text().await.unwrap_or_default().contains("true") {
                    return Ok(());
                }
            }
            if std::time::Instant::now() >= deadline {
                self.kill9();
                anyhow::bail!(
                    "etcd did not become healthy within {START_TIMEOUT:?}:\n{}",
                    tools::file_tail(&log, 30)
                );
            }
            tokio::time::sleep(crate::wait::POLL_INTERVAL).await;
        }
    }

    /// Kills etcd at once (the "store down" case); [`Etcd::start_again`] brings it back.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Direct key access through etcd's v3 JSON gateway (`/v3/kv/...`), to check the key layout
/// the gateway writes and to write objects the way another APISIX control plane would.
impl Etcd {
    /// Writes `key` = `value`.
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

    /// Reads `key`; `None` when absent.
    pub async fn get(&self, key: &str) -> anyhow::Result<Option<String>> {
        use base64::Engine as _;
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

fn b64(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}
