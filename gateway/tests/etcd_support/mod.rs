//! Test support for the etcd and standalone-yaml tests: the gateway's view of a real etcd
//! (`testkit::etcd`: a `deployment.etcd` config and a client for it), gateway configs for each
//! role, in-process servers, and a round trip that tolerates a refused connection. The etcd
//! processes, the tagging backend, free ports and bounded waits come from `testkit`.

// Each test binary uses a part of this module, its re-exports from `testkit` included.
#![allow(dead_code, unused_imports)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use apisix_gateway::config::{self, Config, EtcdConfig, EtcdTls};
use apisix_gateway::server::{LifecycleEvent, Server};
use testkit::etcd::EtcdServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use testkit::backends::tag_each_read;
pub use testkit::etcd::{endpoint_addr, EtcdCluster, SwallowRelay};
pub use testkit::ports::free_port;
pub use testkit::wait::eventually;

/// Every network wait is bounded by this.
pub const WAIT: Duration = Duration::from_secs(15);

/// Awaits `fut` or panics after [`WAIT`].
pub async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    testkit::wait::within_for(WAIT, what, fut).await
}

/// A real etcd server ([`EtcdServer`]), killed on drop.
pub struct Etcd(EtcdServer);

fn started(server: anyhow::Result<EtcdServer>) -> Etcd {
    Etcd(server.unwrap_or_else(|e| panic!("starting etcd: {e:#}")))
}

impl Etcd {
    /// Starts etcd on free ports and waits until it answers.
    pub async fn start() -> Etcd {
        started(EtcdServer::start().await)
    }

    /// Starts etcd with its client URL on `client_port` (chosen earlier by the test).
    pub async fn start_on(client_port: u16) -> Etcd {
        started(EtcdServer::start_on(client_port).await)
    }

    /// Starts etcd serving clients over TLS with `cert`/`key`, requiring client certificates
    /// signed by `ca`. Ready once its port accepts connections.
    pub async fn start_tls(cert: &Path, key: &Path, ca: &Path) -> Etcd {
        started(EtcdServer::start_tls(cert, key, Some(ca)).await)
    }

    /// Starts etcd serving clients over TLS with `cert`/`key`, without client certificates.
    pub async fn start_tls_server_only(cert: &Path, key: &Path) -> Etcd {
        started(EtcdServer::start_tls(cert, key, None).await)
    }

    /// `http(s)://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        self.0.endpoint()
    }

    /// A `deployment.etcd` for this server with a short timeout.
    pub fn config(&self, prefix: &str) -> EtcdConfig {
        Etcd::config_for(vec![self.endpoint()], prefix)
    }

    /// A `deployment.etcd` for `hosts` with a short timeout.
    pub fn config_for(hosts: Vec<String>, prefix: &str) -> EtcdConfig {
        EtcdConfig {
            hosts,
            prefix: prefix.to_owned(),
            timeout: Duration::from_secs(2),
            auth: None,
            tls: EtcdTls::default(),
            watch_timeout: Duration::from_secs(50),
            startup_retry: 2,
            resync_delay: Duration::from_secs(1),
            health_check_timeout: Duration::from_secs(10),
        }
    }

    /// A plain etcd-client connected to this server.
    pub async fn client(&self) -> etcd_client::Client {
        within(
            "etcd client connect",
            etcd_client::Client::connect([self.endpoint()], None),
        )
        .await
        .expect("etcd client")
    }

    /// Kills etcd and waits for it to exit.
    pub fn stop(&mut self) {
        self.0.kill9();
    }

    /// Starts etcd again with the same ports and data.
    pub async fn restart(&mut self) {
        self.0
            .restart()
            .await
            .unwrap_or_else(|e| panic!("restarting etcd: {e:#}"));
    }

    /// The etcd log so far (for failure messages).
    pub fn log(&self) -> String {
        self.0.log()
    }
}

/// Sends `msg` through `addr` and returns the reply, or `None` when the connection is refused,
/// closed or silent for a second.
pub async fn try_round_trip(addr: SocketAddr, msg: &[u8]) -> Option<Vec<u8>> {
    let attempt = async {
        let mut conn = TcpStream::connect(addr).await.ok()?;
        conn.write_all(msg).await.ok()?;
        let mut buf = vec![0u8; 1024];
        let n = conn.read(&mut buf).await.ok()?;
        (n > 0).then(|| buf[..n].to_vec())
    };
    tokio::time::timeout(Duration::from_secs(1), attempt)
        .await
        .ok()
        .flatten()
}

/// Writes `conf/config.yaml` with `body` under a new prefix dir and loads it.
pub fn load_config(prefix: &Path, body: &str) -> Config {
    std::fs::create_dir_all(prefix.join("conf")).expect("conf dir");
    let path = prefix.join("conf").join("config.yaml");
    std::fs::write(&path, body).expect("write config");
    let (config, _) = config::load(&path, Some(prefix))
        .unwrap_or_else(|e| panic!("config is valid: {e}\n{body}"));
    config
}

/// The config of a gateway on `etcd_host` with `role`, an Admin API on `admin_port` (unless a
/// data plane) and one TCP stream listener (unless a control plane; bound on port 0).
pub fn gateway_config(
    prefix: &Path,
    role: &str,
    provider: &str,
    etcd_host: &str,
    admin_port: u16,
) -> Config {
    let stream = if role == "control_plane" {
        String::new()
    } else {
        "  stream_proxy:\n    tcp:\n      - \"127.0.0.1:9100\"\n".to_owned()
    };
    let body = format!(
        "apisix:\n  proxy_mode: http&stream\n  enable_control: false\n{stream}\
         deployment:\n  role: {role}\n  role_{role}:\n    config_provider: {provider}\n  \
         admin:\n    admin_key_required: false\n    allow_admin: [127.0.0.0/8]\n    \
         admin_listen: {{ip: 127.0.0.1, port: {admin_port}}}\n  \
         etcd:\n    host: [\"{etcd_host}\"]\n    prefix: /apisix\n    timeout: 2\n"
    );
    let mut config = load_config(prefix, &body);
    for listen in &mut config.stream.tcp {
        listen.addr = "127.0.0.1:0".parse().expect("addr");
    }
    // Never the default metrics port: other gateways (and parallel tests) may hold it.
    config.prometheus.enable_export_server = false;
    config
}

/// An in-process gateway; shut down (and awaited) on [`Gateway::stop`].
pub struct Gateway {
    pub stream: Option<SocketAddr>,
    pub admin: String,
    events: mpsc::Sender<LifecycleEvent>,
    task: JoinHandle<()>,
    _dir: Option<tempfile::TempDir>,
}

impl Gateway {
    /// Starts a server with `config`.
    pub async fn start(config: Config, dir: Option<tempfile::TempDir>) -> Gateway {
        let admin = format!("http://{}", config.admin.listen);
        let server = within("server start", Server::start(config))
            .await
            .expect("server starts");
        let stream = server.listeners().tcp_addrs().first().copied();
        let (events, rx) = mpsc::channel(4);
        let task = tokio::spawn(async move {
            let _ = server.serve(rx).await;
        });
        Gateway {
            stream,
            admin,
            events,
            task,
            _dir: dir,
        }
    }

    /// Shuts the server down.
    pub async fn stop(self) {
        let _ = self.events.send(LifecycleEvent::Shutdown).await;
        within("server stop", self.task).await.expect("server task");
    }

    /// Sends an Admin API request; returns the status and body.
    pub async fn admin_call(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        admin_call(&self.admin, method, path, body).await
    }
}

/// Sends `method base+path` with an optional body; returns the status and body.
pub async fn admin_call(base: &str, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let client = reqwest::Client::builder()
        .timeout(WAIT)
        .build()
        .expect("http client");
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = client.request(method, format!("{base}{path}"));
    if let Some(body) = body {
        request = request.body(body.to_owned());
    }
    let response = request.send().await.expect("admin api answers");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}
