//! Shared fixtures for the stream plugin and health check tests: a snapshot compiled from
//! stored objects (no store), the proxy listeners with the plugin runtime, and tagged TCP
//! backends, all on loopback port 0. The bounded waits and the certificate come from `testkit`.

// Each test binary uses a part of this module, its re-exports from `testkit` included.
#![allow(dead_code, unused_imports)]

use std::net::SocketAddr;
use std::sync::Arc;

use apisix_gateway::config::TcpListen;
use apisix_gateway::health::passive::PassiveHealth;
use apisix_gateway::plugins::PluginState;
use apisix_gateway::proxy::listener::ListenerSet;
use apisix_gateway::proxy::source::SnapshotRoutes;
use apisix_gateway::proxy::ProxyContext;
use apisix_gateway::session::SessionPipeline;
use apisix_gateway::snapshot::{self, SharedSnapshot};
use apisix_gateway::store::KeyValue;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub use testkit::wait::{within, STEP_TIMEOUT as WAIT};

/// Re-evaluates `check` until it holds, for at most [`WAIT`].
pub async fn eventually(what: &str, check: impl FnMut() -> bool) {
    testkit::wait::eventually_true(what, WAIT, check).await
}

/// Every stream plugin enabled.
pub fn all_plugins() -> Vec<String> {
    model::plugins::all()
        .iter()
        .map(|p| p.name.to_owned())
        .collect()
}

/// Compiles `objects` (`("stream_routes/1", {...})`) into a snapshot.
pub fn compile(objects: &[(&str, Value)]) -> snapshot::Snapshot {
    let items: Vec<KeyValue> = objects
        .iter()
        .enumerate()
        .map(|(i, (key, value))| KeyValue {
            key: format!("/apisix/{key}"),
            value: value.clone(),
            create_revision: i as i64 + 1,
            mod_revision: i as i64 + 1,
            lease: 0,
        })
        .collect();
    let ctx = model::CheckContext::new(all_plugins(), vec![]);
    snapshot::compile(&items, "/apisix", &ctx, None)
}

/// A proxy serving a compiled snapshot with every plugin enabled.
pub struct Gateway {
    pub snapshot: SharedSnapshot,
    /// The stream plugins' state of the compiled snapshot (limit-conn counters, syslog).
    pub plugins: Arc<PluginState>,
    pub proxy: Arc<ProxyContext>,
    pub addrs: Vec<SocketAddr>,
    /// The UDP listener (127.0.0.1).
    pub udp: SocketAddr,
    _listeners: ListenerSet,
}

impl Gateway {
    /// Listens on 127.0.0.1:0 (and `[::1]:0` when `v6`).
    pub async fn start(objects: &[(&str, Value)], v6: bool) -> Gateway {
        let snapshot = snapshot::shared_empty();
        let compiled = compile(objects);
        let plugins = compiled.plugin_state.clone();
        snapshot.store(Arc::new(compiled));
        // Passive health checks are a session sink, registered as the server does.
        let proxy = Arc::new(ProxyContext {
            sessions: Arc::new(SessionPipeline::new().with_sink(Arc::new(PassiveHealth))),
            ..ProxyContext::new(Arc::new(SnapshotRoutes::new(snapshot.clone())))
        });
        let mut listens = vec![entry("127.0.0.1:0")];
        if v6 {
            listens.push(entry("[::1]:0"));
        }
        let mut listeners = ListenerSet::new(proxy.clone());
        let udp: Vec<SocketAddr> = vec!["127.0.0.1:0".parse().expect("addr")];
        listeners.reconcile(&listens, &udp).await.expect("bind");
        let addrs = listeners.tcp_addrs();
        let udp = listeners.udp_addrs()[0];
        Gateway {
            udp,
            snapshot,
            plugins,
            proxy,
            addrs,
            _listeners: listeners,
        }
    }

    /// The IPv4 listener.
    pub fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }
}

fn entry(addr: &str) -> TcpListen {
    TcpListen {
        addr: addr.parse().expect("test address"),
        tls: false,
        sni_preread: false,
        proxy_protocol: false,
        proxy_protocol_to_upstream: None,
    }
}

/// A backend that sends `tag` (one byte) on accept, then echoes until EOF.
pub struct Backend {
    pub addr: SocketAddr,
    pub task: JoinHandle<()>,
}

impl Backend {
    pub async fn start(tag: u8) -> Backend {
        Self::on("127.0.0.1:0".parse().expect("addr"), tag).await
    }

    /// Listens on `addr` (to restart a stopped backend on its port).
    pub async fn on(addr: SocketAddr, tag: u8) -> Backend {
        let listener = TcpListener::bind(addr).await.expect("bind backend");
        let addr = listener.local_addr().expect("backend addr");
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    if stream.write_all(&[tag]).await.is_err() {
                        return;
                    }
                    let (mut r, mut w) = stream.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        Backend { addr, task }
    }

    /// Stops listening (the port is released).
    pub fn stop(&self) {
        self.task.abort();
    }
}

/// Connects to `proxy`, sends `first` (when non-empty) and reads the backend's tag;
/// `None` when the proxy closed the connection instead. The stream is returned open.
pub async fn tag_of(proxy: SocketAddr, first: &[u8]) -> (Option<u8>, TcpStream) {
    let mut stream = within("connect", TcpStream::connect(proxy))
        .await
        .expect("connect to proxy");
    if !first.is_empty() {
        let _ = stream.write_all(first).await;
    }
    let mut tag = [0u8; 1];
    let got = match within("tag or close", stream.read(&mut tag)).await {
        Ok(1) => Some(tag[0]),
        _ => None,
    };
    (got, stream)
}

/// An upstream JSON with these nodes at weight 1.
pub fn nodes(addrs: &[SocketAddr]) -> Value {
    Value::Array(
        addrs
            .iter()
            .map(|a| serde_json::json!({"host": a.ip().to_string(), "port": a.port(), "weight": 1}))
            .collect(),
    )
}

/// A TLS acceptor with a fresh self-signed certificate for `localhost`.
pub fn tls_acceptor() -> tokio_rustls::TlsAcceptor {
    let leaf = testkit::certs::Leaf::self_signed(&["localhost"]);
    let config =
        rustls::ServerConfig::builder_with_provider(Arc::new(apisix_gateway::tls::provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(leaf.chain(), leaf.key())
            .expect("server config");
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}
