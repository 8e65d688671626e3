//! An upstream node on a test host of its own: this crate's `netns_echo` binary (a greeting
//! echo server) running in a network namespace, listening on the host's address, port
//! [`ECHO_PORT`] (the namespace is private, so a fixed port cannot collide).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use anyhow::Context as _;

use crate::netns::{Host, Network};
use crate::{client, tools, wait};

/// The echo server's port on its host.
pub const ECHO_PORT: u16 = 7000;
/// How long the echo server may take to serve.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// The `netns_echo` binary (built with this crate's tests), or `$E2E_NETNS_ECHO_BIN`.
pub fn netns_echo_bin() -> anyhow::Result<PathBuf> {
    tools::target_bin("netns_echo", "E2E_NETNS_ECHO_BIN")
}

/// A running echo node that greets with its name.
#[derive(Debug)]
pub struct EchoHost {
    /// Its name: the greeting line it sends first.
    pub name: String,
    /// Where it listens.
    pub addr: SocketAddr,
    child: Option<Child>,
    log: PathBuf,
    _host: Host,
}

impl EchoHost {
    /// Makes host `echo-<name>` at `198.18.N.<octet>` on `net` and starts the server there.
    pub async fn start(
        net: &Network,
        octet: u8,
        name: &str,
        log_dir: &Path,
    ) -> anyhow::Result<EchoHost> {
        let mut host = Host::create(&format!("echo-{name}"))?;
        let ip: Ipv4Addr = host.attach(net, octet)?;
        let addr = SocketAddr::from((ip, ECHO_PORT));
        let log = log_dir.join(format!("echo-{name}.log"));
        let child = host
            .command(&netns_echo_bin()?)?
            .arg(addr.to_string())
            .arg(name)
            .stdin(Stdio::null())
            .stdout(Stdio::from(tools::append_file(&log)?))
            .stderr(Stdio::from(tools::append_file(&log)?))
            .spawn()
            .with_context(|| format!("spawning netns_echo on {}", host.name()))?;
        let mut echo = EchoHost {
            name: name.to_string(),
            addr,
            child: Some(child),
            log,
            _host: host,
        };
        echo.wait_ready().await?;
        Ok(echo)
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let addr = self.addr;
        let name = self.name.clone();
        let ready = wait::until(&format!("echo {name} on {addr}"), START_TIMEOUT, || {
            let name = name.clone();
            async move {
                let got = tokio::time::timeout(Duration::from_secs(1), client::greeting(addr))
                    .await
                    .ok()?
                    .ok()?;
                (got == name).then_some(())
            }
        })
        .await;
        if let Err(e) = ready {
            let tail = tools::file_tail(&self.log, 20);
            self.kill9();
            anyhow::bail!("{e:#}\n--- netns_echo log ---\n{tail}");
        }
        Ok(())
    }

    /// The node key for an upstream `nodes` hash.
    pub fn node(&self) -> String {
        self.addr.to_string()
    }

    fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for EchoHost {
    fn drop(&mut self) {
        self.kill9();
    }
}
